//! Shell-style wildcard matching (`*`, `?`, `[a-z]`, `[!x]`), as Apache's
//! `apr_fnmatch` does it for `<Directory>`, `<Files>`, `<Location>` patterns
//! and `ServerAlias` names.  Regex sections use the `regex` crate instead.

/// Whether `pattern` contains a wildcard character (Apache's `apr_fnmatch_test`).
pub fn has_wildcard(pattern: &str) -> bool {
    pattern.bytes().any(|b| matches!(b, b'*' | b'?' | b'['))
}

/// Match `text` against `pattern`.  With `pathname`, `*`, `?` and classes
/// never match `/` (FNM_PATHNAME); with `casefold`, ASCII case is ignored.
pub fn fnmatch(pattern: &[u8], text: &[u8], pathname: bool, casefold: bool) -> bool {
    let fold = |b: u8| if casefold { b.to_ascii_lowercase() } else { b };
    // Iterative matcher with single-star backtracking; with FNM_PATHNAME a
    // star cannot cross a slash, so backtracking stops at one.
    let (mut p, mut t) = (0usize, 0usize);
    let mut star: Option<(usize, usize)> = None;
    while t < text.len() {
        if p < pattern.len() {
            match pattern[p] {
                b'*' => {
                    star = Some((p, t));
                    p += 1;
                    continue;
                }
                b'?' if !(pathname && text[t] == b'/') => {
                    p += 1;
                    t += 1;
                    continue;
                }
                b'[' => {
                    if let Some((matched, next)) = class(pattern, p, text[t], casefold) {
                        if matched && !(pathname && text[t] == b'/') {
                            p = next;
                            t += 1;
                            continue;
                        }
                    } else if text[t] == b'[' {
                        p += 1;
                        t += 1;
                        continue;
                    }
                }
                b'\\' if p + 1 < pattern.len() && fold(pattern[p + 1]) == fold(text[t]) => {
                    p += 2;
                    t += 1;
                    continue;
                }
                c if c != b'*' && c != b'?' && fold(c) == fold(text[t]) => {
                    p += 1;
                    t += 1;
                    continue;
                }
                _ => {}
            }
        }
        match star {
            Some((sp, st)) if !(pathname && text[st] == b'/') => {
                star = Some((sp, st + 1));
                p = sp + 1;
                t = st + 1;
            }
            _ => return false,
        }
    }
    pattern[p..].iter().all(|&c| c == b'*')
}

/// Evaluate a `[...]` class at `pattern[start]`; `None` when unterminated.
fn class(pattern: &[u8], start: usize, c: u8, casefold: bool) -> Option<(bool, usize)> {
    let fold = |b: u8| if casefold { b.to_ascii_lowercase() } else { b };
    let mut i = start + 1;
    let negate = matches!(pattern.get(i), Some(b'!' | b'^'));
    if negate {
        i += 1;
    }
    let mut matched = false;
    let mut first = true;
    while i < pattern.len() {
        let lo = pattern[i];
        if lo == b']' && !first {
            return Some((matched != negate, i + 1));
        }
        first = false;
        if pattern.get(i + 1) == Some(&b'-') && pattern.get(i + 2).is_some_and(|&h| h != b']') {
            let hi = pattern[i + 2];
            if fold(lo) <= fold(c) && fold(c) <= fold(hi) {
                matched = true;
            }
            i += 3;
        } else {
            if fold(lo) == fold(c) {
                matched = true;
            }
            i += 1;
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::fnmatch;

    #[test]
    fn stars_and_classes() {
        assert!(fnmatch(b"*.wild.example", b"x.wild.example", false, true));
        assert!(!fnmatch(b"*.wild.example", b"wild.example", false, true));
        assert!(fnmatch(b"secret.wsgi", b"secret.wsgi", true, false));
        assert!(fnmatch(b"*.py", b"app.py", true, false));
        assert!(!fnmatch(b"/a/*", b"/a/b/c", true, false));
        assert!(fnmatch(b"/a/*/c", b"/a/b/c", true, false));
        assert!(fnmatch(b"[a-c]?x", b"bzx", true, false));
        assert!(!fnmatch(b"[!a-c]?x", b"bzx", true, false));
        assert!(fnmatch(b"ONE.example", b"one.EXAMPLE", false, true));
        assert!(fnmatch(b"*", b"", false, false));
    }
}
