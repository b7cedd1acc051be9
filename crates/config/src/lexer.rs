//! Turns configuration text into logical lines and lines into words, with
//! exactly Apache's rules (`ap_cfg_getline` and `ap_getword_conf` in
//! httpd's server/util.c).  Nothing here knows what a directive means.
//!
//! * A physical line ending in `\` (before the newline) is joined with the
//!   next one; the backslash and the newline vanish, nothing is inserted.
//! * Leading and trailing white space of the logical line is dropped.
//! * A logical line whose first character is `#` is a comment.  A `#`
//!   anywhere else is an ordinary character (`Foo bar # x` has three
//!   arguments), as in Apache.
//! * A word is either quoted with `"` or `'` (then `\"`/`\'` and `\\`
//!   inside are escapes, and white space is kept) or runs to the next white
//!   space (then only `\\` is an escape).

/// One logical line of a configuration file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Line {
    /// The text, continuations joined, trimmed, never empty, never a comment.
    pub text: String,
    /// The 1-based number of the *last* physical line of this logical line:
    /// Apache counts lines as it reads, so that is the number it reports.
    pub line: usize,
}

/// Splits `text` into logical lines, dropping blank lines and comments.
pub fn logical_lines(text: &str) -> Vec<Line> {
    let mut lines = Vec::new();
    let mut pending = String::new();
    let mut number = 0;
    let mut physical = text.split('\n').peekable();
    while let Some(raw) = physical.next() {
        // `split` yields an empty tail after a final newline; it is not a line.
        if raw.is_empty() && physical.peek().is_none() {
            break;
        }
        number += 1;
        let raw = raw.strip_suffix('\r').unwrap_or(raw);
        if let Some(joined) = raw.strip_suffix('\\') {
            pending.push_str(joined);
            continue;
        }
        pending.push_str(raw);
        push_logical(&mut lines, &mut pending, number);
    }
    // A continuation on the very last line simply ends there (as Apache's
    // reader does at EOF).
    push_logical(&mut lines, &mut pending, number);
    lines
}

fn push_logical(lines: &mut Vec<Line>, pending: &mut String, number: usize) {
    let text = pending.trim_matches(is_space);
    if !text.is_empty() && !text.starts_with('#') {
        lines.push(Line {
            text: text.to_owned(),
            line: number,
        });
    }
    pending.clear();
}

/// `apr_isspace`: the C locale's white space.
pub fn is_space(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\n' | '\r' | '\x0b' | '\x0c')
}

/// Takes the next word off the front of `rest` (Apache's `ap_getword_conf`).
/// Returns `""` when nothing is left; an explicitly empty quoted word (`""`)
/// also gives `""`, which is why callers check arity the way Apache does.
pub fn next_word(rest: &mut &str) -> String {
    let s = rest.trim_start_matches(is_space);
    let mut chars = s.char_indices();
    let Some((_, first)) = chars.next() else {
        *rest = s;
        return String::new();
    };
    let (word, after) = if first == '"' || first == '\'' {
        let body = &s[1..];
        let mut end = body.len();
        let mut it = body.char_indices();
        while let Some((i, c)) = it.next() {
            if c == first {
                end = i;
                break;
            }
            if c == '\\'
                && matches!(body[i + 1..].chars().next(), Some(n) if n == first || n == '\\')
            {
                it.next();
            }
        }
        let word = unescape(&body[..end], Some(first));
        // Skip the closing quote when there is one (an unterminated quote
        // runs to the end of the line, as in Apache).
        let after = body.get(end + first.len_utf8()..).unwrap_or("");
        (word, after)
    } else {
        let end = s.find(is_space).unwrap_or(s.len());
        (unescape(&s[..end], None), &s[end..])
    };
    *rest = after.trim_start_matches(is_space);
    word
}

/// Apache's `substring_conf`: `\\` is always an escape for `\`; inside a
/// quoted word `\<quote>` is an escape for the quote.  Other backslashes stay.
fn unescape(s: &str, quote: Option<char>) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\\'
            && let Some(&n) = chars.peek()
            && (n == '\\' || Some(n) == quote)
        {
            out.push(n);
            chars.next();
            continue;
        }
        out.push(c);
    }
    out
}

/// All words of `s`, stopping at the end of the text.  Empty quoted words
/// are kept (as `""`) so arity checks can see them.
pub fn words(s: &str) -> Vec<String> {
    let mut rest = s;
    let mut out = Vec::new();
    while !rest.is_empty() {
        out.push(next_word(&mut rest));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn texts(s: &str) -> Vec<(String, usize)> {
        logical_lines(s)
            .into_iter()
            .map(|l| (l.text, l.line))
            .collect()
    }

    #[test]
    fn comments_blank_lines_and_trimming() {
        let got = texts("# c\n\n   Foo bar   \n\t# indented comment\nBaz # not a comment\n");
        assert_eq!(
            got,
            vec![("Foo bar".into(), 3), ("Baz # not a comment".into(), 5)]
        );
    }

    #[test]
    fn continuation_joins_without_adding_space_and_reports_last_line() {
        let got = texts("A /x \\\n    /y\nB\\\nC\n");
        assert_eq!(got, vec![("A /x     /y".into(), 2), ("BC".into(), 4)]);
    }

    #[test]
    fn continued_comment_swallows_next_line() {
        assert_eq!(texts("# c \\\nFoo\nBar"), vec![("Bar".into(), 3)]);
    }

    #[test]
    fn crlf_and_trailing_continuation_at_eof() {
        assert_eq!(
            texts("A b\r\nC \\"),
            vec![("A b".into(), 1), ("C".into(), 2)]
        );
    }

    #[test]
    fn words_plain_and_quoted() {
        assert_eq!(words(r#"a "b c" 'd e' f"#), vec!["a", "b c", "d e", "f"]);
    }

    #[test]
    fn escapes_follow_ap_getword_conf() {
        assert_eq!(words(r#""a \"q\" \\ \n""#), vec![r#"a "q" \ \n"#]);
        assert_eq!(words(r"x\\y x\y"), vec![r"x\y", r"x\y"]);
        assert_eq!(words(r#"'it\'s' "it\'s""#), vec!["it's", r"it\'s"]);
    }

    #[test]
    fn empty_quoted_word_and_unterminated_quote() {
        assert_eq!(words(r#"a "" b"#), vec!["a", "", "b"]);
        assert_eq!(words(r#""open to end"#), vec!["open to end"]);
    }

    #[test]
    fn quote_glued_to_next_word_splits() {
        assert_eq!(words(r#""a"b"#), vec!["a", "b"]);
    }

    #[test]
    fn next_word_on_blank_is_empty() {
        let mut rest = "   ";
        assert_eq!(next_word(&mut rest), "");
        assert_eq!(rest, "");
    }

    #[test]
    fn non_ascii_is_safe() {
        assert_eq!(words("é \"ü\\\" ß\""), vec!["é", "ü\" ß"]);
    }
}
