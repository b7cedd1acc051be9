//! "Did you mean ...?" for unknown directive names: the known name with the
//! smallest case-insensitive edit distance, when it is close enough to be a
//! likely typo.

use crate::registry;

/// A hint line for an unknown `name`, or None when nothing is close.
pub fn did_you_mean(name: &str) -> Option<String> {
    let lower = name.to_ascii_lowercase();
    // Allow one edit per four characters, at least one, at most three.
    let budget = (lower.chars().count() / 4).clamp(1, 3);
    let mut best: Option<(usize, &str)> = None;
    for known in registry::names() {
        // Sections only suggest sections and plain names plain names.
        if known.starts_with('<') != name.starts_with('<') {
            continue;
        }
        let d = distance(&lower, &known.to_ascii_lowercase());
        if d <= budget && best.is_none_or(|(b, n)| d < b || (d == b && known < n)) {
            best = Some((d, known));
        }
    }
    best.map(|(_, n)| format!("Did you mean '{n}'?"))
}

/// Levenshtein distance with adjacent transpositions counted as one edit.
fn distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    let mut prev2: Vec<usize> = Vec::new();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for i in 1..=a.len() {
        let mut cur = vec![i; b.len() + 1];
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut v = (prev[j] + 1).min(cur[j - 1] + 1).min(prev[j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                v = v.min(prev2[j - 2] + 1);
            }
            cur[j] = v;
        }
        prev2 = std::mem::replace(&mut prev, cur);
    }
    prev[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn typos_get_a_hint() {
        assert_eq!(
            did_you_mean("WSGIScriptAlais").as_deref(),
            Some("Did you mean 'WSGIScriptAlias'?")
        );
        assert_eq!(
            did_you_mean("wsgidaemonproces").as_deref(),
            Some("Did you mean 'WSGIDaemonProcess'?")
        );
        assert_eq!(
            did_you_mean("<Directroy").as_deref(),
            Some("Did you mean '<Directory'?")
        );
    }

    #[test]
    fn far_names_get_none() {
        assert_eq!(did_you_mean("Frobnicate"), None);
        assert_eq!(did_you_mean("X"), None);
    }

    #[test]
    fn distance_counts_transpositions_once() {
        assert_eq!(distance("abcd", "abdc"), 1);
        assert_eq!(distance("", "abc"), 3);
        assert_eq!(distance("kitten", "sitting"), 3);
    }
}
