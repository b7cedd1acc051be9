//! Unit tests of `head_scan.rs` and its request-line parser; the expected
//! answers were checked against Apache 2.4.71 (LimitRequestLine 200,
//! LimitRequestFieldSize 100, LimitRequestFields 5 where limits matter).

use super::*;

const SMALL: Limits = Limits {
    line: 200,
    field_size: 100,
    fields: 5,
    require_http10: false,
    registered_methods_only: false,
};
const DEFAULT: Limits = Limits {
    line: 8190,
    field_size: 8190,
    fields: 100,
    require_http10: false,
    registered_methods_only: false,
};

fn scan(limits: Limits, raw: &[u8]) -> Scan {
    HeadScanner::new(limits).scan(raw)
}

fn rejected(limits: Limits, raw: &[u8]) -> Rejection {
    match scan(limits, raw) {
        Scan::Reject(r) => r,
        other => panic!("not rejected: {other:?} for {:?}", raw.escape_ascii()),
    }
}

fn complete(limits: Limits, raw: &[u8]) -> Head {
    match scan(limits, raw) {
        Scan::Complete(h) => h,
        other => panic!("not complete: {other:?} for {:?}", raw.escape_ascii()),
    }
}

/// A request line of exactly `n` bytes (CRLF not counted).
fn line_of(n: usize) -> Vec<u8> {
    let mut v = b"GET /".to_vec();
    v.resize(n - 9, b'a');
    v.extend_from_slice(b" HTTP/1.1\r\nHost: x\r\n\r\n");
    v
}

#[test]
fn request_line_limit_is_limit_plus_one() {
    complete(SMALL, &line_of(200));
    complete(SMALL, &line_of(201));
    let r = rejected(SMALL, &line_of(202));
    assert_eq!(r.status, 414);
    assert_eq!(
        r.log,
        "AH00565: request failed: client's request-line exceeds LimitRequestLine (longer than 200)"
    );
    assert_eq!(r.level, Level::Info);
    // Refused before the line ends, as soon as it cannot fit.
    let mut partial = b"GET /".to_vec();
    partial.resize(203, b'a');
    assert_eq!(rejected(SMALL, &partial).status, 414);
    partial.truncate(202);
    assert_eq!(scan(SMALL, &partial), Scan::Incomplete);
}

#[test]
fn field_size_limit() {
    let head = |n: usize| {
        let mut v = b"GET / HTTP/1.1\r\nHost: x\r\nX-A: ".to_vec();
        v.resize(v.len() + n - 5, b'v');
        v.extend_from_slice(b"\r\n\r\n");
        v
    };
    complete(SMALL, &head(101));
    let r = rejected(SMALL, &head(102));
    assert_eq!(r.status, 400);
    assert_eq!(r.notes, Some(FIELD_SIZE_NOTE));
    assert_eq!(
        r.log,
        "AH00561: Request header exceeds LimitRequestFieldSize: X-A"
    );
    assert_eq!(r.the_request.as_deref(), Some("GET / HTTP/1.1"));
    // A long name is cut at 80 bytes in the log.
    let mut v = b"GET / HTTP/1.1\r\n".to_vec();
    v.resize(v.len() + 9000, b'N');
    let r = rejected(DEFAULT, &v);
    assert_eq!(
        r.log.len(),
        "AH00561: Request header exceeds LimitRequestFieldSize: ".len() + 80
    );
}

#[test]
fn field_count_limit() {
    let head = |k: usize| {
        let mut v = b"GET / HTTP/1.1\r\nHost: x\r\n".to_vec();
        for i in 0..k - 1 {
            v.extend_from_slice(format!("X-{i}: v\r\n").as_bytes());
        }
        v.extend_from_slice(b"\r\n");
        v
    };
    complete(SMALL, &head(5));
    let r = rejected(SMALL, &head(6));
    assert_eq!(r.status, 400);
    assert_eq!(r.notes, Some(FIELD_COUNT_NOTE));
    assert_eq!(
        r.log,
        "AH00563: Number of request headers exceeds LimitRequestFields"
    );
    let unlimited = Limits { fields: 0, ..SMALL };
    complete(unlimited, &head(50));
}

#[test]
fn malformed_request_lines() {
    let cases: &[(&[u8], &str)] = &[
        (
            b"GET /app FOO/1.1",
            "AH02418: HTTP Request Line; Unrecognized protocol 'FOO/1.1' (perhaps whitespace was injected?)",
        ),
        (
            b"GET /app HTTP/1.1 extra",
            "AH03448: HTTP Request Line; Excess whitespace (disallowed by HttpProtocolOptions Strict)",
        ),
        (
            b"GET  /app HTTP/1.1",
            "AH03448: HTTP Request Line; Excess whitespace (disallowed by HttpProtocolOptions Strict)",
        ),
        (
            b"\x01\x02garbage",
            "AH03445: HTTP Request Line; Invalid method token: '\\x01\\x02garbage'",
        ),
        (
            b"G(T /app HTTP/1.1",
            "AH03445: HTTP Request Line; Invalid method token: 'G(T'",
        ),
        (
            b"GET",
            "AH03454: HTTP Request Line; URI incorrectly encoded: ''",
        ),
        (
            b"G(T",
            "AH03445: HTTP Request Line; Invalid method token: 'G(T'",
        ),
        (
            b"GET /app http/1.1",
            "AH02418: HTTP Request Line; Unrecognized protocol 'http/1.1' (perhaps whitespace was injected?)",
        ),
        (
            b"GET /app HTTP/0.9",
            "AH02418: HTTP Request Line; Unrecognized protocol 'HTTP/0.9' (perhaps whitespace was injected?)",
        ),
        (
            b"GET /app HTTP/1.10",
            "AH02418: HTTP Request Line; Unrecognized protocol 'HTTP/1.10' (perhaps whitespace was injected?)",
        ),
        (
            b"GET\t/app\tHTTP/1.1",
            "AH03447: HTTP Request Line; Invalid whitespace",
        ),
        (
            b"GET index.html HTTP/1.1",
            "AH03450: HTTP Request Line; Unable to parse URI: 'index.html'",
        ),
        (
            b"GET /in\x01dex HTTP/1.1",
            "AH03454: HTTP Request Line; URI incorrectly encoded: '/in\\x01dex'",
        ),
        (
            b"GET /a#b HTTP/1.1",
            "AH02421: HTTP Request Line; URI must not contain a fragment",
        ),
        (
            b"GET http://u:p@x/ HTTP/1.1",
            "AH02422: HTTP Request Line; URI must not contain a username/password",
        ),
        (
            b"HEAD /",
            "AH03444: HTTP Request Line; Invalid method token: 'HEAD' (only GET is allowed for HTTP/0.9 requests)",
        ),
        (
            b" GET / HTTP/1.1",
            "AH03447: HTTP Request Line; Invalid whitespace",
        ),
    ];
    for (line, log) in cases {
        let mut raw = line.to_vec();
        raw.extend_from_slice(b"\r\nHost: x\r\n\r\n");
        let r = rejected(DEFAULT, &raw);
        assert_eq!(r.status, 400, "{:?}", line.escape_ascii());
        assert_eq!(r.notes, None);
        assert_eq!(r.level, Level::Debug);
        assert_eq!(r.log, *log, "{:?}", line.escape_ascii());
    }
    // Apache logs the request line rebuilt with single spaces.
    let r = rejected(DEFAULT, b"GET /app HTTP/1.1 extra\r\n\r\n");
    assert_eq!(r.the_request.as_deref(), Some("GET /app HTTP/1.1"));
    assert!(!r.header_only);
    assert!(rejected(DEFAULT, b"HEAD /app FOO/1.1\r\n\r\n").header_only);
}

#[test]
fn line_ending_and_nul_errors() {
    let r = rejected(DEFAULT, b"GET / HTTP/1.1\nHost: x\n\n");
    assert_eq!(
        (r.status, r.log.as_str()),
        (400, "AH00566: request failed: malformed request line")
    );
    let r = rejected(DEFAULT, b"GET /a\0b HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_eq!(r.status, 400);
    let r = rejected(DEFAULT, b"GET / HTTP/1.1\r\nHost: x\nX: b\r\n\r\n");
    assert_eq!(r.status, 400);
    assert!(r.log.starts_with("Failed to read request header line"));
    assert_eq!(
        rejected(DEFAULT, b"GET / HTTP/1.1\r\nX-A: a\0b\r\n\r\n").status,
        400
    );
}

#[test]
fn malformed_header_lines() {
    let cases: &[(&[u8], &str)] = &[
        (
            b"NoColonHere",
            "AH02426: Request header field name is malformed: NoColonHere",
        ),
        (
            b"X-A : v",
            "AH02426: Request header field name is malformed: X-A : v",
        ),
        (
            b": v",
            "AH02426: Request header field name is malformed: : v",
        ),
        (
            b"X(A: v",
            "AH02426: Request header field name is malformed: X(A: v",
        ),
        (
            b"X-A: a\x01b",
            "AH02427: Request header value is malformed: a\\x01b",
        ),
        (
            b"X-A: a\rb",
            "AH02427: Request header value is malformed: a\\rb",
        ),
    ];
    for (field, log) in cases {
        let mut raw = b"GET / HTTP/1.1\r\nHost: x\r\n".to_vec();
        raw.extend_from_slice(field);
        raw.extend_from_slice(b"\r\n\r\n");
        let r = rejected(DEFAULT, &raw);
        assert_eq!(r.status, 400);
        assert_eq!(r.notes, None);
        assert_eq!(r.log, *log, "{:?}", field.escape_ascii());
    }
    // Obs-text, tabs and a missing space after the colon are fine.
    complete(
        DEFAULT,
        b"GET / HTTP/1.1\r\nHost: x\r\nX-A: \xe9\tb\r\nX-B:c\r\n\r\n",
    );
}

#[test]
fn folding() {
    let h = complete(
        DEFAULT,
        b"GET / HTTP/1.1\r\nHost: x\r\nX-A: a  \r\n \t b\r\n\r\n",
    );
    assert!(h.folded);
    assert_eq!(
        unfold(b"GET / HTTP/1.1\r\nHost: x\r\nX-A: a  \r\n \t b\r\n\r\n"),
        b"GET / HTTP/1.1\r\nHost: x\r\nX-A: a b\r\n\r\n"
    );
    let r = rejected(DEFAULT, b"GET / HTTP/1.1\r\n X-A: b\r\nHost: x\r\n\r\n");
    assert_eq!(
        r.log,
        "AH03442: Line folding encountered before first header line"
    );
    let r = rejected(DEFAULT, b"GET / HTTP/1.1\r\nX-A: b\r\n \t\r\n\r\n");
    assert_eq!(r.log, "AH03443: Empty folded line encountered");
    let mut raw = b"GET / HTTP/1.1\r\nHost: x\r\nX-A: ".to_vec();
    raw.resize(raw.len() + 60, b'a');
    raw.extend_from_slice(b"\r\n ");
    raw.resize(raw.len() + 60, b'b');
    raw.extend_from_slice(b"\r\n\r\n");
    let r = rejected(SMALL, &raw);
    assert_eq!(r.notes, Some(FIELD_SIZE_NOTE));
    assert_eq!(
        r.log,
        "AH00562: Request header exceeds LimitRequestFieldSize after folding: X-A"
    );
}

#[test]
fn accepted_heads() {
    let h = complete(DEFAULT, b"\r\n\r\nGET / HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_eq!(h.len, 31);
    let h = complete(DEFAULT, b"GET / HTTP/1.2\r\nHost: x\r\n\r\n");
    assert!(!h.http09);
    complete(DEFAULT, b"OPTIONS * HTTP/1.1\r\nHost: x\r\n\r\n");
    complete(DEFAULT, b"GET http://x/a?b HTTP/1.1\r\nHost: x\r\n\r\n");
    complete(DEFAULT, b"GET //a HTTP/1.0\r\n\r\n");
    // HTTP/0.9: a head of one line.
    let h = complete(DEFAULT, b"GET /\r\nrest");
    assert_eq!((h.len, h.http09), (7, true));
    // Eleven blank lines are one too many.
    let mut raw = b"\r\n".repeat(11);
    raw.extend_from_slice(b"GET / HTTP/1.1\r\n\r\n");
    assert_eq!(rejected(DEFAULT, &raw).status, 400);
}

#[test]
fn pipelined_bytes_are_not_consumed() {
    let first = b"POST /a HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\n";
    let mut raw = first.to_vec();
    raw.extend_from_slice(b"abcGET /b HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_eq!(complete(DEFAULT, &raw).len, first.len());
}

#[test]
fn incremental_feeding() {
    let raw = b"GET /app HTTP/1.1\r\nHost: localhost\r\nX-A: v\r\n\r\n";
    let mut s = HeadScanner::new(DEFAULT);
    for end in 1..raw.len() {
        assert_eq!(s.scan(&raw[..end]), Scan::Incomplete, "at {end}");
        assert_eq!(s.in_fields(), end >= 19);
    }
    assert_eq!(
        s.scan(raw),
        Scan::Complete(Head {
            len: raw.len(),
            http09: false,
            folded: false,
            fields: 2
        })
    );
}

#[test]
fn merged_fields_checks() {
    let headers = |fields: &[(&str, &str)]| {
        let mut h = http::HeaderMap::new();
        for (k, v) in fields {
            h.append(
                http::HeaderName::from_bytes(k.as_bytes()).expect("name"),
                http::HeaderValue::from_str(v).expect("value"),
            );
        }
        h
    };
    let a = "a".repeat(60);
    let r = check_merged(&headers(&[("x-a", &a), ("x-a", &a)]), SMALL).expect("merged");
    assert_eq!(
        r.log,
        "AH00560: Request header exceeds LimitRequestFieldSize after merging: x-a"
    );
    assert_eq!(
        check_merged(&headers(&[("x-a", "1"), ("x-a", "2")]), SMALL),
        None
    );
    assert_eq!(check_merged(&headers(&[("x-a", &a)]), SMALL), None);
}

#[test]
fn byte_classes_match_the_grammar() {
    for b in 0..=255u8 {
        let tchar = b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b);
        let content = b == b'\t' || b == b' ' || (0x21..=0x7e).contains(&b) || b >= 0x80;
        assert_eq!(super::is_tchar(b), tchar, "tchar {b:#x}");
        assert_eq!(super::is_field_content(b), content, "field-content {b:#x}");
    }
}

#[test]
fn http_protocol_options_refusals() {
    let strict = Limits {
        require_http10: true,
        registered_methods_only: true,
        ..DEFAULT
    };
    let refusal = |raw: &[u8], extra: &[&str]| {
        let methods: std::sync::Arc<[String]> = extra.iter().map(|m| (*m).to_owned()).collect();
        match HeadScanner::new(strict)
            .with_extension_methods(methods)
            .scan(raw)
        {
            Scan::Reject(r) => Some((r.status, r.log)),
            _ => None,
        }
    };
    assert_eq!(
        refusal(b"GET /\r\n", &[]),
        Some((
            400,
            "AH02401: HTTP Request Line; Rejected HTTP/0.9 request".to_owned()
        ))
    );
    assert_eq!(
        refusal(b"FROB / HTTP/1.1\r\nHost: a\r\n\r\n", &[]).map(|r| r.0),
        Some(501)
    );
    assert_eq!(
        refusal(b"FROB / HTTP/1.1\r\nHost: a\r\n\r\n", &["FROB"]),
        None
    );
    assert_eq!(
        refusal(b"PROPFIND / HTTP/1.1\r\nHost: a\r\n\r\n", &[]),
        None
    );
    // A refusal earlier in the line wins (Apache's order).
    assert_eq!(
        refusal(b"FROB  / HTTP/1.1\r\nHost: a\r\n\r\n", &[]).map(|r| r.0),
        Some(400)
    );
}
