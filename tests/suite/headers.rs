//! mod_headers: `Header` (onsuccess and always) and `RequestHeader`, with
//! the values, conditions and table operations Apache 2.4.71 gave for the
//! same configuration (checked side by side; see the repository's oracle
//! case `32-headers`).

use crate::support::{TestServer, assert_refused_lines, server};

/// Echoes the HTTP_* variables it sees; answers with the status named by
/// PATH_INFO and two `X-App` lines and an `X-Multi` of its own.
const APP: &str = r#"
def application(environ, start_response):
    code = environ["PATH_INFO"].strip("/").split("/")[0] or "200"
    if not code.isdigit():
        code = "200"
    body = "".join("%s=%s\n" % (k, v) for k, v in sorted(environ.items())
                   if k.startswith("HTTP_") or k == "FOO").encode()
    start_response(code + " Chosen", [("Content-Type", "text/plain"), ("X-App", "one"),
                                      ("X-App", "two"), ("X-Multi", "a, b")])
    return [body]
"#;

const SITE: &str = r#"
WSGIScriptAlias /app @DIR@/app.wsgi
Alias /files/ @DIR@/files/
<Directory @DIR@/files>
    Require all granted
</Directory>
Redirect /old http://example.com/new
Header set X-Srv "server %%pct %{FOO}e|%{NOPE}e|\tz"
Header always set X-Always yes
Header append X-App three
Header merge X-Multi b
Header merge X-Multi c
Header add X-Add 1
Header add X-Add 2
Header setifempty X-App never
Header setifempty X-New fresh
Header unset X-Gone
Header set X-Env-Cond yes env=FOO
Header set X-Env-Not yes env=!FOO
Header echo ^X-Echo
Header edit X-App o 0
Header edit* X-Multi "([a-z])" "<$1>"
Header set X-Time "%t %D"
RequestHeader set X-Req "req-value"
RequestHeader append Accept "text/x-more"
RequestHeader unset User-Agent
RequestHeader merge X-M "m1"
<Location /app/env>
    SetEnv FOO bar
    Header set X-Loc loc
</Location>
"#;

fn site() -> TestServer {
    server(SITE)
        .file("app.wsgi", APP)
        .file("files/f.txt", "0123456789")
        .start()
}

const SENT: &[&str] = &[
    "X-Echo-1: e1",
    "X-Echox: e2",
    "X-M: m0, m1",
    "User-Agent: ua",
    "Accept: a/b",
];

#[test]
fn header_rules_edit_an_applications_response_whatever_its_status() {
    let s = site();
    for path in ["/app/200", "/app/404", "/app/500"] {
        let r = s.get_with(path, SENT);
        let d = r.describe();
        assert_eq!(r.header("X-Always"), Some("yes"), "{d}");
        assert_eq!(
            r.header("X-Srv"),
            Some("server %pct (null)|(null)|\tz"),
            "{d}"
        );
        // append joins onto the first line; edit rewrites each line once.
        assert_eq!(r.header_all("X-App"), ["0ne, three", "tw0"], "{d}");
        // merge skips a token already there; edit* rewrites every match.
        assert_eq!(r.header_all("X-Multi"), ["<a>, <b>, <c>"], "{d}");
        assert_eq!(r.header_all("X-Add"), ["1", "2"], "{d}");
        assert_eq!(r.header("X-New"), Some("fresh"), "{d}");
        assert_eq!(r.header("X-Env-Not"), Some("yes"), "{d}");
        assert_eq!(r.header("X-Env-Cond"), None, "{d}");
        assert_eq!(r.header("X-Echo-1"), Some("e1"), "{d}");
        assert_eq!(r.header("X-Echox"), Some("e2"), "{d}");
        let time = r.header("X-Time").unwrap_or_default();
        let (t, dur) = time.split_once(' ').unwrap_or_default();
        assert!(
            t.strip_prefix("t=")
                .is_some_and(|v| v.len() >= 16 && v.bytes().all(|b| b.is_ascii_digit())),
            "{d}"
        );
        assert!(
            dur.strip_prefix("D=")
                .is_some_and(|v| v.parse::<u64>().is_ok()),
            "{d}"
        );
        // The core's headers stay the core's.
        assert!(
            r.header("Server").is_some_and(|v| v.starts_with("wsgid")),
            "{d}"
        );
        // RequestHeader ran before the environ was built.
        let env = r.kv();
        assert_eq!(
            env.get("HTTP_X_REQ").map(String::as_str),
            Some("req-value"),
            "{d}"
        );
        assert_eq!(
            env.get("HTTP_ACCEPT").map(String::as_str),
            Some("a/b, text/x-more"),
            "{d}"
        );
        assert_eq!(
            env.get("HTTP_X_M").map(String::as_str),
            Some("m0, m1"),
            "{d}"
        );
        assert!(!env.contains_key("HTTP_USER_AGENT"), "{d}");
    }
}

#[test]
fn conditions_see_the_requests_environment_and_sections_add_their_rules() {
    let s = site();
    let r = s.get_with("/app/env", SENT);
    let d = r.describe();
    assert_eq!(r.header("X-Env-Cond"), Some("yes"), "{d}");
    assert_eq!(r.header("X-Env-Not"), None, "{d}");
    assert_eq!(r.header("X-Srv"), Some("server %pct bar|(null)|\tz"), "{d}");
    assert_eq!(r.header("X-Loc"), Some("loc"), "{d}");
    assert_eq!(s.get("/app/200").header("X-Loc"), None);
}

#[test]
fn static_files_get_the_rules_and_apaches_own_pages_only_the_always_ones() {
    let s = site();
    let r = s.get_with("/files/f.txt", SENT);
    let d = r.describe();
    assert_eq!(r.status, 200, "{d}");
    assert_eq!(r.header("X-Always"), Some("yes"), "{d}");
    assert_eq!(r.header("X-Add"), Some("1"), "{d}");
    assert_eq!(r.header_all("X-App"), ["three"], "{d}");
    for path in ["/files/missing", "/old"] {
        let r = s.get_with(path, SENT);
        let d = r.describe();
        assert!(r.status == 404 || r.status == 302, "{d}");
        assert_eq!(r.header("X-Always"), Some("yes"), "{d}");
        for onsuccess in ["X-Add", "X-Srv", "X-New", "X-Echo-1"] {
            assert_eq!(r.header(onsuccess), None, "{path}: {d}");
        }
    }
}

#[test]
fn bad_header_lines_are_refused_with_mod_headers_messages() {
    assert_refused_lines(&[
        ("Header set X-A", "Header requires three arguments"),
        ("Header set X-A v foo", "Unknown parameter: foo"),
        (
            "Header edit X-A v",
            "Header edit requires a match and a substitution",
        ),
        (
            "RequestHeader echo X-A",
            "Header echo only valid on Header directives",
        ),
        ("Header set X-A %q", "Unrecognized header format %q"),
        ("Header note X-A n", "not implemented yet in wsgid"),
        ("Header set X-A v early", "not implemented yet in wsgid"),
    ]);
}

#[test]
fn htaccess_files_add_header_rules_under_allowoverride_fileinfo() {
    let s = server(
        "Alias /files/ @DIR@/files/\n<Directory @DIR@/files>\n    Require all granted\n    AllowOverride FileInfo\n</Directory>\n",
    )
    .file("files/f.txt", "0123456789")
    .file("files/.htaccess", "Header set X-From-Htaccess yes\nRequestHeader set X-Ignored 1\n")
    .start();
    let r = s.get("/files/f.txt");
    assert_eq!(r.status, 200, "{}", r.describe());
    assert_eq!(r.header("X-From-Htaccess"), Some("yes"), "{}", r.describe());
}
