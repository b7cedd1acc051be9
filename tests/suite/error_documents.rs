//! `ErrorDocument`, as Apache 2.4.71 + mod_wsgi 4.9.4 answered the same
//! configuration (the repository's oracle case `33-error-documents`): a
//! local path is an internal redirect (the REDIRECT_* variables, the
//! error's status kept by a static document, an application's own status),
//! a message is the page, a full URL a 302, `default` Apache's page, and an
//! error inside the document gives the first error's page saying so.

use crate::support::{TestServer, assert_refused_lines, server};

const DOC_APP: &str = r#"
def application(environ, start_response):
    p = environ.get("PATH_INFO", "")
    if "fail" in p:
        start_response("404 Not Found", [("Content-Type", "text/plain")])
        return [b"app 404 page\n"]
    if "boom" in p:
        raise RuntimeError("boom")
    body = "".join("%s=%s\n" % (k, v) for k, v in sorted(environ.items())
                   if k.startswith("REDIRECT_") or k in ("REQUEST_METHOD", "REQUEST_URI", "PATH_INFO"))
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [body.encode()]
"#;

const SITE: &str = r#"
WSGIScriptAlias /doc @DIR@/doc.wsgi
<Location /doc/ov>
    WSGIErrorOverride On
</Location>
Alias /files/ @DIR@/docs/
<Directory @DIR@/docs>
    Require all granted
</Directory>
Redirect gone /gone
ErrorDocument 404 /doc/handler
ErrorDocument 410 /files/err.txt
ErrorDocument 500 "Custom text 500"
<Location /files/ext>
    ErrorDocument 404 http://example.com/not-found
</Location>
<Location /files/plain>
    ErrorDocument 404 default
</Location>
<Location /files/loop>
    ErrorDocument 404 /files/loop/missing-too
</Location>
"#;

fn site() -> TestServer {
    server(SITE)
        .file("doc.wsgi", DOC_APP)
        .file("docs/err.txt", "static error document\n")
        .start()
}

#[test]
fn a_local_document_is_an_internal_redirect_with_the_redirect_variables() {
    let s = site();
    let r = s.get("/files/missing?q=1");
    assert_eq!(r.status, 200, "{}", r.describe());
    let env = r.kv();
    for (k, v) in [
        ("REDIRECT_STATUS", "404"),
        ("REDIRECT_URL", "/files/missing"),
        ("REDIRECT_QUERY_STRING", "q=1"),
        ("REDIRECT_REQUEST_METHOD", "GET"),
        ("REQUEST_METHOD", "GET"),
        ("REQUEST_URI", "/files/missing?q=1"),
        ("PATH_INFO", "/handler"),
    ] {
        assert_eq!(
            env.get(k).map(String::as_str),
            Some(v),
            "{k}: {}",
            r.describe()
        );
    }
    let post = s.request(format!(
        "POST /files/missing HTTP/1.1\r\nHost: localhost:{}\r\nContent-Length: 3\r\nConnection: close\r\n\r\na=b",
        s.port()
    ));
    let env = post.kv();
    assert_eq!(
        env.get("REQUEST_METHOD").map(String::as_str),
        Some("GET"),
        "{}",
        post.describe()
    );
    assert_eq!(
        env.get("REDIRECT_REQUEST_METHOD").map(String::as_str),
        Some("POST"),
        "{}",
        post.describe()
    );
    // A static document keeps the error's status.
    let gone = s.get("/gone");
    assert_eq!(gone.status, 410, "{}", gone.describe());
    assert_eq!(gone.text(), "static error document\n");
}

#[test]
fn messages_urls_and_default_replace_the_page_as_apache_does() {
    let s = site();
    let r = s.get("/doc/boom");
    assert_eq!(r.status, 500, "{}", r.describe());
    assert_eq!(r.text(), "Custom text 500");
    assert_eq!(
        r.header("Content-Type"),
        Some("text/html; charset=iso-8859-1")
    );
    let r = s.get("/files/ext/missing");
    assert_eq!(r.status, 302, "{}", r.describe());
    assert_eq!(r.header("Location"), Some("http://example.com/not-found"));
    let r = s.get("/files/plain/missing");
    assert_eq!(r.status, 404, "{}", r.describe());
    assert_eq!(r.title().as_deref(), Some("404 Not Found"));
    let r = s.get("/files/loop/missing");
    assert_eq!(r.status, 404, "{}", r.describe());
    assert!(
        r.text().contains(
            "<p>Additionally, a 404 Not Found\nerror was encountered while trying to use an ErrorDocument to handle the request.</p>"
        ),
        "{}",
        r.describe()
    );
}

#[test]
fn wsgi_error_override_is_for_daemon_mode_only() {
    // mod_wsgi 4.9 checks WSGIErrorOverride where it reads a daemon's
    // answer; in embedded mode the application's page goes out.
    let s = site();
    let r = s.get("/doc/ov/fail");
    assert_eq!(r.status, 404, "{}", r.describe());
    assert_eq!(r.text(), "app 404 page\n");
}

#[test]
fn bad_error_document_lines_are_refused_as_apache_refuses_them() {
    assert_refused_lines(&[
        ("ErrorDocument 600 x", "Unsupported HTTP response code 600"),
        ("ErrorDocument abc /x", "Unsupported HTTP response code abc"),
        ("ErrorDocument 404", "ErrorDocument takes two arguments"),
    ]);
}

#[test]
fn a_daemons_error_page_is_overridden_and_its_document_served() {
    let s = server(&format!(
        "{SITE}WSGIScriptAlias /daemon @DIR@/doc.wsgi\nWSGIDaemonProcess edocs threads=2\n\
         <Location /daemon>\n    WSGIProcessGroup edocs\n    WSGIErrorOverride On\n</Location>\n"
    ))
    .file("doc.wsgi", DOC_APP)
    .file("docs/err.txt", "static error document\n")
    .start();
    let r = s.get("/daemon/fail");
    assert_eq!(r.status, 200, "{}", r.describe());
    let env = r.kv();
    assert_eq!(
        env.get("REDIRECT_STATUS").map(String::as_str),
        Some("404"),
        "{}",
        r.describe()
    );
    assert_eq!(
        env.get("REDIRECT_URL").map(String::as_str),
        Some("/daemon/fail")
    );
    // mod_wsgi had put the request's CGI variables in subprocess_env.
    assert_eq!(
        env.get("REDIRECT_SCRIPT_NAME").map(String::as_str),
        Some("/daemon")
    );
    assert_eq!(
        env.get("REDIRECT_PATH_INFO").map(String::as_str),
        Some("/fail")
    );
}
