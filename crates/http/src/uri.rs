//! URL-path arithmetic exactly as Apache httpd 2.4 does it: normalising the
//! request path, %-decoding it, matching alias prefixes, splitting
//! SCRIPT_NAME from PATH_INFO and re-escaping paths for redirects.
//!
//! Everything here is pure (bytes in, bytes out) so that the odd corners of
//! Apache's behaviour (`/app//x`, `/./`, `%2F`, `%61pp`) are unit-tested.
//! Paths are handled as bytes because a decoded path may not be UTF-8
//! (`%C3` alone); the environ carries such bytes as latin-1, as mod_wsgi does.

/// Why a request path was refused, with the status Apache answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PathError {
    /// Bad %-escape or a `..` above the root: 400 (AH10244).
    BadRequest,
    /// `%2F` (AllowEncodedSlashes Off): 404 (AH00026).
    EncodedSlash,
    /// `%00`: 404 (AH00026 too, worded for `%2f`).
    NulByte,
}

fn hex(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

fn is_unreserved(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~')
}

/// Whether [`normalize`] and [`unescape_path`] would leave `path` as it
/// is: an origin-form path without `%`, `//` or a dot segment start.
pub fn is_plain_path(path: &[u8]) -> bool {
    path.first() == Some(&b'/')
        && !path.contains(&b'%')
        && !path
            .windows(2)
            .any(|w| w[0] == b'/' && (w[1] == b'/' || w[1] == b'.'))
}

/// Apache's `ap_normalize_path` with NOT_ABOVE_ROOT | MERGE_SLASHES |
/// DECODE_UNRESERVED: decode %-escapes of unreserved characters, collapse
/// `//`, drop `/./` and resolve `/x/../`.  `None` means 400.
pub fn normalize(path: &[u8]) -> Option<Vec<u8>> {
    if path == b"*" {
        return Some(path.to_vec());
    }
    if path.first() != Some(&b'/') {
        return None;
    }
    // First pass: decode the unreserved escapes, so that `%2e%2e` is a dot
    // segment just as Apache sees it.
    let mut src = Vec::with_capacity(path.len());
    let mut ok = true;
    let mut i = 0;
    while i < path.len() {
        let b = path[i];
        if b == b'%' {
            match (
                path.get(i + 1).and_then(|&h| hex(h)),
                path.get(i + 2).and_then(|&l| hex(l)),
            ) {
                (Some(h), Some(l)) if is_unreserved(h * 16 + l) => {
                    src.push(h * 16 + l);
                    i += 3;
                    continue;
                }
                (Some(_), Some(_)) => {}
                _ => ok = false,
            }
        }
        src.push(b);
        i += 1;
    }
    // Second pass: segment arithmetic on the output buffer.
    let mut out: Vec<u8> = Vec::with_capacity(src.len());
    let mut l = 0;
    while l < src.len() {
        let at_segment_start = out.last().is_none_or(|&c| c == b'/');
        if at_segment_start {
            if src[l] == b'/' && !out.is_empty() {
                while l < src.len() && src[l] == b'/' {
                    l += 1;
                }
                continue;
            }
            if src[l] == b'.' {
                let next = src.get(l + 1).copied();
                if next.is_none() || next == Some(b'/') {
                    l += if next.is_some() { 2 } else { 1 };
                    continue;
                }
                let after = src.get(l + 2).copied();
                if next == Some(b'.') && (after.is_none() || after == Some(b'/')) {
                    if out.len() > 1 {
                        out.pop();
                        while out.last().is_some_and(|&c| c != b'/') {
                            out.pop();
                        }
                    } else {
                        ok = false;
                    }
                    l += if after.is_some() { 3 } else { 2 };
                    continue;
                }
            }
        }
        out.push(src[l]);
        l += 1;
    }
    ok.then_some(out)
}

/// Apache's `ap_unescape_url_ex` with KEEP_UNRESERVED off (they are
/// already decoded) and FORBID_SLASHES (AllowEncodedSlashes Off).
pub fn unescape_path(path: &[u8]) -> Result<Vec<u8>, PathError> {
    let mut out = Vec::with_capacity(path.len());
    let (mut bad_escape, mut slash, mut nul) = (false, false, false);
    let mut i = 0;
    while i < path.len() {
        if path[i] == b'%' {
            if let (Some(h), Some(l)) = (
                path.get(i + 1).and_then(|&h| hex(h)),
                path.get(i + 2).and_then(|&l| hex(l)),
            ) {
                let c = h * 16 + l;
                slash |= c == b'/';
                nul |= c == 0;
                out.push(c);
                i += 3;
                continue;
            }
            bad_escape = true;
        }
        out.push(path[i]);
        i += 1;
    }
    if bad_escape {
        Err(PathError::BadRequest)
    } else if slash {
        Err(PathError::EncodedSlash)
    } else if nul {
        Err(PathError::NulByte)
    } else {
        Ok(out)
    }
}

/// `ap_unescape_url_keep2f`: [`unescape_path`] for `AllowEncodedSlashes
/// On` (`decode`: `%2F` becomes `/`) or `NoDecode` (`%2F` stays as sent).
/// `%00` is still refused.
pub fn unescape_path_keep_slashes(path: &[u8], decode: bool) -> Result<Vec<u8>, PathError> {
    let mut out = Vec::with_capacity(path.len());
    let mut i = 0;
    while i < path.len() {
        if path[i] == b'%' {
            let (Some(h), Some(l)) = (
                path.get(i + 1).and_then(|&h| hex(h)),
                path.get(i + 2).and_then(|&l| hex(l)),
            ) else {
                return Err(PathError::BadRequest);
            };
            let c = h * 16 + l;
            if c == 0 {
                return Err(PathError::NulByte);
            }
            if c == b'/' && !decode {
                out.extend_from_slice(&path[i..i + 3]);
            } else {
                out.push(c);
            }
            i += 3;
            continue;
        }
        out.push(path[i]);
        i += 1;
    }
    Ok(out)
}

/// Plain %-decoding for query-less strings where errors are tolerated.
pub fn unescape_lossy(s: &[u8]) -> Vec<u8> {
    percent_encoding::percent_decode(s).collect()
}

/// mod_alias's `alias_matches`: a `/` in the alias matches one or more `/`
/// in the URI, and the match must end at a segment boundary.  Returns the
/// number of URI bytes consumed (0: no match).
pub fn alias_matches(uri: &[u8], alias: &[u8]) -> usize {
    let (mut a, mut u) = (0, 0);
    while a < alias.len() {
        if alias[a] == b'/' {
            if uri.get(u) != Some(&b'/') {
                return 0;
            }
            while alias.get(a) == Some(&b'/') {
                a += 1;
            }
            while uri.get(u) == Some(&b'/') {
                u += 1;
            }
        } else {
            if uri.get(u) != Some(&alias[a]) {
                return 0;
            }
            a += 1;
            u += 1;
        }
    }
    let alias_ends_in_slash = alias.last() == Some(&b'/');
    if !alias_ends_in_slash && u < uri.len() && uri[u] != b'/' {
        return 0;
    }
    u
}

/// Collapse runs of `/` into one (Apache's `ap_no2slash`).
pub fn no2slash(s: &[u8]) -> std::borrow::Cow<'_, [u8]> {
    if !s.windows(2).any(|w| w == b"//") {
        return std::borrow::Cow::Borrowed(s);
    }
    let mut out = Vec::with_capacity(s.len());
    for &b in s {
        if b == b'/' && out.last() == Some(&b'/') {
            continue;
        }
        out.push(b);
    }
    std::borrow::Cow::Owned(out)
}

/// Where PATH_INFO starts in the URI (Apache's `ap_find_path_info`): walk
/// both strings from the end while they agree, treating a run of slashes in
/// the URI as one, then move forward to the next segment boundary.
pub fn find_path_info(uri: &[u8], path_info: &[u8]) -> usize {
    let mut lu = uri.len() as isize;
    let mut lp = path_info.len() as isize;
    loop {
        if lu == 0 || lp == 0 {
            lu -= 1;
            break;
        }
        lu -= 1;
        lp -= 1;
        let (cu, cp) = (uri[lu as usize], path_info[lp as usize]);
        if cu != cp {
            break;
        }
        if cp == b'/' {
            while lu > 0 && uri[(lu - 1) as usize] == b'/' {
                lu -= 1;
            }
        }
    }
    let mut pos = usize::try_from(lu.max(0)).unwrap_or(0);
    while pos < uri.len() && uri[pos] != b'/' {
        pos += 1;
    }
    pos
}

/// `ap_escape_uri` (`ap_os_escape_path(.., 1)`): escape what may not appear
/// in a path, for Location headers built from a decoded URI.
pub fn escape_path(path: &[u8]) -> String {
    let mut out = String::with_capacity(path.len());
    for &b in path {
        let keep = b.is_ascii_alphanumeric() || b"$-_.+!*'(),:@&=/~".contains(&b);
        if keep {
            out.push(char::from(b));
        } else {
            out.push('%');
            out.push(char::from(b"0123456789abcdef"[usize::from(b >> 4)]));
            out.push(char::from(b"0123456789abcdef"[usize::from(b & 15)]));
        }
    }
    out
}

/// Bytes as the latin-1 string mod_wsgi hands to Python for CGI values.
pub fn latin1(bytes: &[u8]) -> String {
    latin1_cow(bytes).into_owned()
}

/// Latin-1 text (one character per byte) back to its bytes; a character
/// above U+00FF becomes `?`.
pub fn latin1_bytes(s: &str) -> Vec<u8> {
    s.chars()
        .map(|c| u8::try_from(u32::from(c)).unwrap_or(b'?'))
        .collect()
}

/// Back to bytes: latin-1 characters are one byte, others their UTF-8.
pub fn from_latin1(s: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(s.len());
    for c in s.chars() {
        match u8::try_from(u32::from(c)) {
            Ok(b) => out.push(b),
            Err(_) => out.extend_from_slice(c.encode_utf8(&mut [0; 4]).as_bytes()),
        }
    }
    out
}

/// Append `bytes` read as latin-1 (one character per byte) to `out`.
pub fn push_latin1(out: &mut String, bytes: &[u8]) {
    match std::str::from_utf8(bytes) {
        Ok(s) if s.is_ascii() => out.push_str(s),
        _ => out.extend(bytes.iter().map(|&b| char::from(b))),
    }
}

/// [`latin1`] without a copy when the bytes are ASCII (nearly always).
pub fn latin1_cow(bytes: &[u8]) -> std::borrow::Cow<'_, str> {
    match std::str::from_utf8(bytes) {
        Ok(s) if s.is_ascii() => std::borrow::Cow::Borrowed(s),
        _ => std::borrow::Cow::Owned(bytes.iter().map(|&b| char::from(b)).collect()),
    }
}

/// A file-system path as latin-1 text of its bytes (how paths appear in
/// the environ and are compared with request file names).
pub fn path_latin1(p: &std::path::Path) -> std::borrow::Cow<'_, str> {
    use std::os::unix::ffi::OsStrExt;
    latin1_cow(p.as_os_str().as_bytes())
}

/// Expand `$0`..`$9` in a regex target (`ap_pregsub`); `\$` is a literal `$`.
pub fn pregsub(template: &str, caps: &regex::bytes::Captures<'_>) -> Vec<u8> {
    let t = template.as_bytes();
    let mut out = Vec::with_capacity(t.len());
    let mut i = 0;
    while i < t.len() {
        match (t[i], t.get(i + 1)) {
            (b'$', Some(d)) if d.is_ascii_digit() => {
                if let Some(m) = caps.get(usize::from(d - b'0')) {
                    out.extend_from_slice(m.as_bytes());
                }
                i += 2;
            }
            (b'\\', Some(&c)) if c == b'$' || c == b'&' => {
                out.push(c);
                i += 2;
            }
            (b'&', _) => {
                if let Some(m) = caps.get(0) {
                    out.extend_from_slice(m.as_bytes());
                }
                i += 1;
            }
            (b, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn n(s: &str) -> Option<String> {
        normalize(s.as_bytes()).map(|v| latin1(&v))
    }

    #[test]
    fn normalize_like_apache() {
        assert_eq!(n("/app//x//y").as_deref(), Some("/app/x/y"));
        assert_eq!(n("/app/./x/../y").as_deref(), Some("/app/y"));
        assert_eq!(n("/%61pp/z").as_deref(), Some("/app/z"));
        assert_eq!(n("/a/%2e%2e/b").as_deref(), Some("/b"));
        assert_eq!(n("/a/b/..").as_deref(), Some("/a/"));
        assert_eq!(n("/a%2Fb").as_deref(), Some("/a%2Fb"));
        assert_eq!(n("//app").as_deref(), Some("/app"));
        assert_eq!(n("/"), Some("/".into()));
        assert_eq!(n("/../x"), None);
        assert_eq!(n("/a%zz"), None);
        assert_eq!(n("x"), None);
        assert_eq!(n("*").as_deref(), Some("*"));
    }

    #[test]
    fn plain_paths_are_left_as_they_are() {
        for p in ["/", "/hello", "/a/b.c/d.", "/a/b/", "/x..y/z~"] {
            assert!(is_plain_path(p.as_bytes()), "{p}");
            assert_eq!(n(p).as_deref(), Some(p));
            assert_eq!(unescape_path(p.as_bytes()), Ok(p.as_bytes().to_vec()));
        }
        for p in ["*", "x", "//a", "/a//b", "/a/./b", "/a/..", "/.x", "/a%20b"] {
            assert!(!is_plain_path(p.as_bytes()), "{p}");
        }
    }

    #[test]
    fn unescape_forbids_slashes_and_nul() {
        assert_eq!(
            unescape_path(b"/a%20b").map(|v| latin1(&v)),
            Ok("/a b".into())
        );
        assert_eq!(unescape_path(b"/caf%C3%A9").map(|v| v.len()), Ok(6));
        assert_eq!(unescape_path(b"/a%2Fb"), Err(PathError::EncodedSlash));
        assert_eq!(
            unescape_path_keep_slashes(b"/a%2Fb%41", true).as_deref(),
            Ok(&b"/a/bA"[..])
        );
        assert_eq!(
            unescape_path_keep_slashes(b"/a%2fb%41", false).as_deref(),
            Ok(&b"/a%2fbA"[..])
        );
        assert_eq!(
            unescape_path_keep_slashes(b"/a%00", true),
            Err(PathError::NulByte)
        );
        assert_eq!(unescape_path(b"/a%00"), Err(PathError::NulByte));
        assert_eq!(unescape_path(b"/a%2"), Err(PathError::BadRequest));
    }

    #[test]
    fn alias_prefix_matching() {
        assert_eq!(alias_matches(b"/app", b"/app"), 4);
        assert_eq!(alias_matches(b"/app/x", b"/app"), 4);
        assert_eq!(alias_matches(b"/application", b"/app"), 0);
        assert_eq!(alias_matches(b"/APP", b"/app"), 0);
        assert_eq!(alias_matches(b"/wsgi", b"/wsgi/"), 0);
        assert_eq!(alias_matches(b"/wsgi/x", b"/wsgi/"), 6);
        assert_eq!(alias_matches(b"//app//x", b"/app"), 5);
        assert_eq!(alias_matches(b"/anything", b"/"), 1);
    }

    #[test]
    fn path_info_split() {
        assert_eq!(find_path_info(b"/app/x/y", b"/x/y"), 4);
        assert_eq!(find_path_info(b"/app/", b"/"), 4);
        assert_eq!(find_path_info(b"/", b"/"), 0);
        assert_eq!(find_path_info(b"/static", b"/static"), 0);
        assert_eq!(
            find_path_info(b"/wsgi/env.wsgi/extra/path", b"/extra/path"),
            14
        );
    }

    #[test]
    fn escaping_and_substitution() {
        assert_eq!(escape_path(b"/a b/c%"), "/a%20b/c%25");
        let re = regex::bytes::Regex::new("^/two/([a-z]+)/([a-z]+)").expect("regex");
        let caps = re.captures(b"/two/abc/env/more").expect("match");
        assert_eq!(latin1(&pregsub("/s/$2.wsgi", &caps)), "/s/env.wsgi");
    }
}
