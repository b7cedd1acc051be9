//! `ap_parse_request_line` (server/protocol.c) with `HttpProtocolOptions
//! Strict`, Apache 2.4's default: splitting and checking a request line,
//! and the debug line Apache logs for each way it can be wrong.

use super::{Rejection, escape_log, field_name, is_space, is_tchar, is_vchar_obstext};
use crate::uri::push_latin1;
use wsgid_log::Level;

/// What `ap_parse_request_line` made of a request line.
#[derive(Debug)]
pub(super) struct RequestLine<'a> {
    pub(super) method: &'a [u8],
    pub(super) the_request: String,
    pub(super) http09: bool,
    pub(super) error: Option<Rejection>,
}

/// The `HttpProtocolOptions` settings that change what is refused.
pub(super) struct Rules<'a> {
    /// `Require1.0` (default `Allow0.9`).
    pub(super) require_http10: bool,
    /// `RegisteredMethods` (default `LenientMethods`): the methods
    /// registered besides Apache's own.
    pub(super) registered_only: Option<&'a [String]>,
}

/// `ap_parse_request_line` with `HttpProtocolOptions Strict` (the default).
pub(super) fn parse_request_line<'a>(line: &'a [u8], rules: &Rules<'_>) -> RequestLine<'a> {
    #[derive(PartialEq)]
    enum E {
        None,
        BadMethod,
        BadWhitespace,
        ExcessWhitespace,
        MissingUri,
        BadUri,
        BadProtocol,
        BadMethod09,
        Reject09,
    }
    let mut err = E::None;
    let n = line.len();
    let at = |i: usize| line.get(i).copied().unwrap_or(0);
    let mut m = 0;
    if is_space(at(0)) {
        err = E::BadWhitespace;
        while m < n && is_space(at(m)) {
            m += 1;
        }
    }
    let method_start = m;
    let mut ll = m + line[m..].iter().take_while(|&&b| is_tchar(b)).count();
    let mut ll_some = true;
    if (ll == method_start || (ll < n && !is_space(at(ll)))) && err == E::None {
        err = E::BadMethod;
        match line[ll..].iter().position(|&b| is_space(b)) {
            Some(p) => ll += p,
            None => ll_some = false,
        }
    }
    let method_end = if ll_some { ll } else { n };
    let method = &line[method_start..method_end];
    let (mut uri, mut protocol): (&[u8], &[u8]) = (b"", b"");
    'parse: {
        if !ll_some {
            if err == E::None {
                err = E::MissingUri;
            }
            break 'parse;
        }
        if is_space(at(ll + 1)) && err == E::None {
            err = E::ExcessWhitespace;
        }
        let mut u = ll;
        while u < n && is_space(at(u)) {
            if at(u) != b' ' && err == E::None {
                err = E::BadWhitespace;
            }
            u += 1;
        }
        if u >= n && err == E::None {
            err = E::MissingUri;
        }
        let mut e = u + line[u..]
            .iter()
            .take_while(|&&b| is_vchar_obstext(b))
            .count();
        if e == u || (e < n && !is_space(at(e))) {
            err = E::BadUri;
            match line[e..].iter().position(|&b| is_space(b)) {
                Some(p) => e += p,
                None => {
                    uri = &line[u..];
                    break 'parse;
                }
            }
        }
        uri = &line[u..e];
        if e >= n {
            break 'parse;
        }
        if is_space(at(e + 1)) && err == E::None {
            err = E::ExcessWhitespace;
        }
        let mut p = e;
        while p < n && is_space(at(p)) {
            if at(p) != b' ' && err == E::None {
                err = E::BadWhitespace;
            }
            p += 1;
        }
        let pe = p + line[p..]
            .iter()
            .take_while(|&&b| is_vchar_obstext(b))
            .count();
        protocol = &line[p..pe];
        if pe < n && !is_space(at(pe)) {
            err = E::BadProtocol;
        } else if pe < n {
            err = E::ExcessWhitespace;
        }
    }
    // One allocation: the parts are latin-1, nearly always ASCII.
    let mut the_request = String::with_capacity(method.len() + uri.len() + protocol.len() + 2);
    push_latin1(&mut the_request, method);
    for part in [uri, protocol] {
        if !part.is_empty() {
            the_request.push(' ');
            push_latin1(&mut the_request, part);
        }
    }
    let digits = |p: &[u8]| {
        p.len() == 8
            && p[4] == b'/'
            && p[5].is_ascii_digit()
            && p[6] == b'.'
            && p[7].is_ascii_digit()
            && p[5] != b'0'
    };
    // `HTTP/d.d` with d ≥ 1 is served (versions past 1.1 as HTTP/1.1); no
    // protocol at all is HTTP/0.9.
    let http09 = protocol.is_empty();
    let http = digits(protocol) && &protocol[..4] == b"HTTP";
    if !(http09 || http) && err == E::None {
        // Lower-case `http/1.1` (refused in Strict mode) or anything else.
        err = E::BadProtocol;
    }
    let mut status_bad_uri = false;
    {
        // ap_parse_uri: the target must be a path, `*` for OPTIONS, or an
        // absolute URI.
        let mut u = uri;
        while u.starts_with(b"//") {
            u = &u[1..];
        }
        let has_scheme = u.iter().position(|&b| b == b':').is_some_and(|c| {
            c > 0
                && u[..c]
                    .iter()
                    .all(|b| b.is_ascii_alphanumeric() || b"+-.".contains(b))
        });
        let path_ok = u.is_empty()
            || u.first() == Some(&b'/')
            || has_scheme
            || (method == b"OPTIONS" && u == b"*");
        if method != b"CONNECT" && !path_ok {
            status_bad_uri = true;
        }
    }
    if http09 && err == E::None {
        if rules.require_http10 {
            err = E::Reject09;
        } else if method != b"GET" {
            err = E::BadMethod09;
        }
    }
    // After the deferred errors, before the URI's (as Apache orders them).
    let unregistered = err == E::None
        && rules.registered_only.is_some_and(|extra| {
            let name = String::from_utf8_lossy(method);
            !wsgid_config::method_set::is_built_in(&name) && !extra.iter().any(|m| *m == name)
        });
    let field = |b: &[u8]| escape_log(field_name(b));
    let log = match err {
        E::None if unregistered => {
            return RequestLine {
                method,
                the_request,
                http09: false,
                error: Some(Rejection::new(
                    501,
                    Level::Debug,
                    format!(
                        "AH02423: HTTP Request Line; Unrecognized HTTP method: '{}' \
                         (disallowed by RegisteredMethods)",
                        field(method)
                    ),
                )),
            };
        }
        E::None if status_bad_uri => Some(format!(
            "AH03450: HTTP Request Line; Unable to parse URI: '{}'",
            field(uri)
        )),
        E::None if uri.contains(&b'#') => {
            Some("AH02421: HTTP Request Line; URI must not contain a fragment".into())
        }
        E::None if has_userinfo(uri) => {
            Some("AH02422: HTTP Request Line; URI must not contain a username/password".into())
        }
        E::None => None,
        E::BadMethod => Some(format!(
            "AH03445: HTTP Request Line; Invalid method token: '{}'",
            field(method)
        )),
        E::BadMethod09 => Some(format!(
            "AH03444: HTTP Request Line; Invalid method token: '{}' \
             (only GET is allowed for HTTP/0.9 requests)",
            field(method)
        )),
        E::Reject09 => Some("AH02401: HTTP Request Line; Rejected HTTP/0.9 request".into()),
        E::MissingUri => Some("AH03446: HTTP Request Line; Missing URI".into()),
        E::BadUri => Some(format!(
            "AH03454: HTTP Request Line; URI incorrectly encoded: '{}'",
            field(uri)
        )),
        E::BadWhitespace => Some("AH03447: HTTP Request Line; Invalid whitespace".into()),
        E::ExcessWhitespace => Some(
            "AH03448: HTTP Request Line; Excess whitespace \
             (disallowed by HttpProtocolOptions Strict)"
                .into(),
        ),
        E::BadProtocol => Some(format!(
            "AH02418: HTTP Request Line; Unrecognized protocol '{}' \
             (perhaps whitespace was injected?)",
            field(protocol)
        )),
    };
    RequestLine {
        method,
        the_request,
        http09: http09 && log.is_none(),
        error: log.map(|l| Rejection::new(400, Level::Debug, l)),
    }
}

/// `user@` or `user:pass@` in the authority of an absolute URI.
fn has_userinfo(uri: &[u8]) -> bool {
    let Some(rest) = uri
        .windows(3)
        .position(|w| w == b"://")
        .map(|i| &uri[i + 3..])
    else {
        return false;
    };
    let authority = rest
        .split(|&b| b == b'/' || b == b'?')
        .next()
        .unwrap_or_default();
    authority.contains(&b'@')
}
