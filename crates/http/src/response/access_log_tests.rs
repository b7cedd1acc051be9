//! Tests of every `LogFormat` code against what mod_log_config prints.

use super::*;
use http::HeaderValue;

struct Owned {
    req: HeaderMap,
    resp: HeaderMap,
    env: Vec<(String, String)>,
    notes: Vec<(String, String)>,
}

fn owned() -> Owned {
    let mut req = HeaderMap::new();
    req.insert("user-agent", HeaderValue::from_static("curl/8 \"quoted\""));
    req.append("accept", HeaderValue::from_static("a"));
    req.append("accept", HeaderValue::from_static("b"));
    req.insert("cookie", HeaderValue::from_static("a=1; Sess = xyz ; c="));
    let mut resp = HeaderMap::new();
    resp.insert(
        "content-type",
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    resp.append("set-cookie", HeaderValue::from_static("a=1"));
    resp.append("set-cookie", HeaderValue::from_static("b=2"));
    resp.insert("x-one", HeaderValue::from_static("1"));
    Owned {
        req,
        resp,
        env: vec![("HTTPS".into(), "on".into())],
        notes: vec![("mod_wsgi.x".into(), "n1".into())],
    }
}

fn record(o: &Owned) -> LogRecord<'_> {
    LogRecord {
        remote_addr: "127.0.0.1:5555".parse().ok(),
        local_addr: "127.0.0.2:8080".parse().ok(),
        request_line: "GET /a%20b?x=1 HTTP/1.1",
        method: "GET",
        uri_path: "/a b",
        query: Some("x=1"),
        protocol: "HTTP/1.1",
        status_original: 302,
        status_final: 200,
        bytes_sent: 1234,
        bytes_in: 80,
        bytes_out: 1400,
        request_headers: &o.req,
        response_headers: &o.resp,
        env: &o.env,
        notes: &o.notes,
        user: None,
        // 2026-11-25 21:07:57.123456 UTC
        start: UNIX_EPOCH + Duration::from_micros(1_795_640_877_123_456),
        duration: Duration::from_micros(2_500_250),
        pid: 4242,
        tid: 255,
        server_hostname: "www.example.com",
        server_name: "alias.example.com",
        canonical_port: 80,
        filename: Some("/srv/app.wsgi"),
        handler: Some("wsgi-script"),
        keepalive_requests: 3,
        conn_status: ConnStatus::KeepAlive,
    }
}

fn fmt(format: &str, r: &LogRecord<'_>) -> String {
    Formatter::parse(format).expect("valid format").format(r)
}

#[test]
fn common_log_format() {
    let o = owned();
    let r = record(&o);
    assert_eq!(
        fmt("%h %l %u %t \"%r\" %>s %b", &r),
        "127.0.0.1 - - [25/Nov/2026:21:07:57 +0000] \"GET /a%20b?x=1 HTTP/1.1\" 200 1234"
    );
}

#[test]
fn every_simple_code() {
    let o = owned();
    let r = record(&o);
    let cases = [
        ("%a %A", "127.0.0.1 127.0.0.2"),
        ("%{c}a %{c}h", "127.0.0.1 127.0.0.1"),
        ("%s %<s %>s", "302 302 200"),
        ("%b %B", "1234 1234"),
        ("%D", "2500250"),
        ("%T %{ms}T %{us}T %{s}T %{bogus}T", "2 2500 2500250 2 bogus"),
        ("%U%q", "/a b?x=1"),
        ("%m %H %f %R", "GET HTTP/1.1 /srv/app.wsgi wsgi-script"),
        ("%v %V", "www.example.com alias.example.com"),
        (
            "%p %{canonical}p %{local}p %{remote}p %{x}p",
            "80 80 8080 5555 x",
        ),
        ("%P %{pid}P %{tid}P %{hextid}P", "4242 4242 255 ff"),
        ("%k %X %L", "3 + -"),
        ("%I %O %S", "80 1400 1480"),
        ("%{User-Agent}i", "curl/8 \\\"quoted\\\""),
        ("%{accept}i %{missing}i", "a, b -"),
        (
            "%{Content-Type}o %{Set-Cookie}o %{X-One}o %{x-none}o",
            "text/html a=1, b=2 1 -",
        ),
        ("%{https}e %{none}e %{MOD_WSGI.X}n", "on - n1"),
        ("%{sess}C %{a}C %{c}C %{zz}C", "xyz 1 - -"),
        ("100%% \\t\\n\\\\ \\\" \\q", "100% \t\n\\ \" \\q"),
    ];
    for (format, want) in cases {
        assert_eq!(fmt(format, &r), want, "{format}");
    }
    assert_eq!(fmt("%^ti %^to %^FB", &r), "- - -");
}

#[test]
fn times() {
    let o = owned();
    let r = record(&o);
    assert_eq!(fmt("%t", &r), "[25/Nov/2026:21:07:57 +0000]");
    assert_eq!(fmt("%{begin}t", &r), "[25/Nov/2026:21:07:57 +0000]");
    assert_eq!(fmt("%{end}t", &r), "[25/Nov/2026:21:07:59 +0000]");
    assert_eq!(fmt("%{%Y-%m-%dT%H:%M:%S}t", &r), "2026-11-25T21:07:57");
    assert_eq!(fmt("%{end:%H:%M:%S}t", &r), "21:07:59");
    assert_eq!(fmt("%{sec}t %{msec}t", &r), "1795640877 1795640877123");
    assert_eq!(fmt("%{usec}t", &r), "1795640877123456");
    assert_eq!(fmt("%{msec_frac}t %{usec_frac}t", &r), "123 123456");
    assert_eq!(fmt("%{end:usec_frac}t", &r), "623706");
}

#[test]
fn user_and_missing_values() {
    let o = owned();
    let mut r = record(&o);
    assert_eq!(fmt("%u", &r), "-");
    r.user = Some("");
    assert_eq!(fmt("%u", &r), "\"\"");
    r.user = Some("bob\"x");
    assert_eq!(fmt("%u", &r), "bob\\\"x");
    r.bytes_sent = 0;
    assert_eq!(fmt("%b %B", &r), "- 0");
    r.query = None;
    r.filename = None;
    r.remote_addr = None;
    assert_eq!(fmt("[%q] %f %h", &r), "[] - -");
    r.query = Some("");
    assert_eq!(fmt("[%q]", &r), "[?]");
    r.conn_status = ConnStatus::Aborted;
    assert_eq!(fmt("%X", &r), "X");
}

#[test]
fn escaping_of_request_values() {
    let o = owned();
    let mut r = record(&o);
    // Request text is latin-1: `é` sent as UTF-8 arrives as two chars.
    r.request_line = "GET /\u{1}\u{7f}\u{8}\u{b}\r\t\u{c3}\u{a9} HTTP/1.1";
    assert_eq!(
        fmt("%r", &r),
        "GET /\\x01\\x7f\\b\\v\\r\\t\\xc3\\xa9 HTTP/1.1"
    );
    r.uri_path = "/a\\b\"";
    assert_eq!(fmt("%U", &r), "/a\\\\b\\\"");
}

#[test]
fn status_conditions() {
    let o = owned();
    let r = record(&o);
    // Conditions always test the final status (200 here).
    assert_eq!(fmt("%200{User-Agent}i", &r), "curl/8 \\\"quoted\\\"");
    assert_eq!(fmt("%404,500{accept}i", &r), "-");
    assert_eq!(fmt("%!200{accept}i", &r), "-");
    assert_eq!(fmt("%!404{accept}i", &r), "a, b");
    assert_eq!(fmt("%302s", &r), "-");
    assert_eq!(fmt("%200s %200>s", &r), "302 200");
}

#[test]
fn parse_errors() {
    assert_eq!(
        Formatter::parse("%h %Z").err().as_deref(),
        Some("Unrecognized LogFormat directive %Z")
    );
    assert_eq!(
        Formatter::parse("%{Referer").err().as_deref(),
        Some("Ran off end of LogFormat parsing args to some directive")
    );
    assert_eq!(
        Formatter::parse("%>").err().as_deref(),
        Some("Ran off end of LogFormat parsing args to some directive")
    );
    assert!(Formatter::parse("%^zz").is_err());
    assert!(Formatter::parse("").is_ok_and(|f| f.items.is_empty()));
}
