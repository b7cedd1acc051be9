//! mod_auth_basic's reading of an `Authorization: Basic` line, with APR's
//! lenient base64 (also what mod_auth_digest's nonces are decoded with).

/// mod_auth_basic's `get_basic_auth`: the first word must be `Basic` (any
/// case); the rest, after blanks, is decoded as APR does and split at the
/// first colon.  None: another scheme.
pub fn basic_credentials(line: &[u8]) -> Option<(String, String)> {
    let (scheme, rest) = match line.iter().position(|&b| b == b' ') {
        Some(i) => (&line[..i], &line[i + 1..]),
        None => (line, &line[line.len()..]),
    };
    if !scheme.eq_ignore_ascii_case(b"Basic") {
        return None;
    }
    // ap_getword skips the run of separators after the word.
    let start = rest
        .iter()
        .position(|&b| b != b' ' && b != b'\t')
        .unwrap_or(rest.len());
    let mut decoded = apr_base64_decode(&rest[start..]);
    // The result is a C string: it ends at the first NUL.
    if let Some(nul) = decoded.iter().position(|&b| b == 0) {
        decoded.truncate(nul);
    }
    let (user, password) = match decoded.iter().position(|&b| b == b':') {
        Some(i) => (&decoded[..i], &decoded[i + 1..]),
        None => (&decoded[..], &decoded[decoded.len()..]),
    };
    Some((
        String::from_utf8_lossy(user).into_owned(),
        String::from_utf8_lossy(password).into_owned(),
    ))
}

/// `apr_base64_decode`.  Hand-written on purpose: APR decodes the longest
/// prefix of base64 characters and ignores everything from the first other
/// byte on (`=` padding included), so `Basic !!!` is the empty user, not an
/// error.  Strict decoders (the `base64` crate) refuse such input, and the
/// answers (401 "user not found" rather than 400) depend on it.
pub fn apr_base64_decode(input: &[u8]) -> Vec<u8> {
    fn six(b: u8) -> Option<u8> {
        match b {
            b'A'..=b'Z' => Some(b - b'A'),
            b'a'..=b'z' => Some(b - b'a' + 26),
            b'0'..=b'9' => Some(b - b'0' + 52),
            b'+' => Some(62),
            b'/' => Some(63),
            _ => None,
        }
    }
    let values: Vec<u8> = input.iter().map_while(|&b| six(b)).collect();
    let mut out = Vec::with_capacity(values.len() * 3 / 4 + 3);
    for chunk in values.chunks(4) {
        match *chunk {
            [a, b, c, d] => {
                out.push(a << 2 | b >> 4);
                out.push(b << 4 | c >> 2);
                out.push(c << 6 | d);
            }
            [a, b, c] => {
                out.push(a << 2 | b >> 4);
                out.push(b << 4 | c >> 2);
            }
            [a, b] => out.push(a << 2 | b >> 4),
            // One lone character is an error APR ignores.
            _ => {}
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn basic_lines() {
        assert_eq!(
            basic_credentials(b"Basic YWxpY2U6d29uZGVybGFuZA=="),
            Some(("alice".into(), "wonderland".into()))
        );
        assert_eq!(
            basic_credentials(b"basic   Ym9vbTp4"),
            Some(("boom".into(), "x".into()))
        );
        assert_eq!(
            basic_credentials(b"Basic !!!notbase64"),
            Some((String::new(), String::new()))
        );
        // No colon: all user, empty password.
        assert_eq!(
            basic_credentials(b"Basic YWxpY2U="),
            Some(("alice".into(), String::new()))
        );
        assert_eq!(basic_credentials(b"Bearer abc"), None);
        assert_eq!(
            basic_credentials(b"Basic"),
            Some((String::new(), String::new()))
        );
    }

    #[test]
    fn apr_decoding_stops_at_the_first_foreign_byte() {
        assert_eq!(apr_base64_decode(b"YWJj"), b"abc");
        assert_eq!(apr_base64_decode(b"YWI="), b"ab");
        assert_eq!(apr_base64_decode(b"YWJj!ZGVm"), b"abc");
        assert_eq!(apr_base64_decode(b"Y"), b"");
    }
}
