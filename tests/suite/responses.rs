//! How application answers reach the client (oracle case 18): iterables,
//! generators and `close()`, `write()`, `wsgi.file_wrapper`, the
//! application's Content-Length (short and long), HEAD, status lines with
//! custom reasons, invalid statuses, headers, exc_info.

use std::time::Duration;

use crate::support::{TestServer, server, wait_until};

const APP: &str = r#"
import os, sys

DATA = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data.txt")
CLOSED = os.path.join(os.path.dirname(os.path.abspath(__file__)), "closed.log")

def mark(name):
    with open(CLOSED, "a") as f:
        f.write(name + "\n")

class Closing:
    def __init__(self, chunks):
        self.chunks = chunks
    def __iter__(self):
        return iter(self.chunks)
    def close(self):
        mark("closing-iterable")

def gen_with_finally():
    try:
        yield b"gen-part-1;"
        yield b"gen-part-2;"
    finally:
        mark("generator-finally")

class FileLike:
    def __init__(self):
        self.f = open(DATA, "rb")
    def read(self, n=-1):
        return self.f.read(n)
    def close(self):
        mark("file-wrapper-filelike")
        self.f.close()

def application(environ, start_response):
    p = environ.get("PATH_INFO", "")
    text = [("Content-Type", "text/plain")]
    if p == "/list":
        start_response("200 OK", text)
        return [b"one;", b"two;", b"three"]
    if p == "/generator":
        def gen():
            start_response("200 OK", text + [("X-Gen", "yes")])
            yield b"a"
            yield b""
            yield b"b"
            yield b"c"
        return gen()
    if p == "/empty":
        start_response("200 OK", text)
        return []
    if p == "/close":
        start_response("200 OK", text)
        return Closing([b"x", b"y"])
    if p == "/gen-close":
        start_response("200 OK", text)
        return gen_with_finally()
    if p == "/write":
        write = start_response("200 OK", text)
        write(b"written-1;")
        write(b"written-2;")
        return [b"returned"]
    if p == "/file-wrapper":
        start_response("200 OK", text)
        return environ["wsgi.file_wrapper"](open(DATA, "rb"), 8)
    if p == "/file-wrapper-short-cl":
        start_response("200 OK", text + [("Content-Length", "10")])
        return environ["wsgi.file_wrapper"](open(DATA, "rb"))
    if p == "/file-wrapper-closed":
        start_response("200 OK", text)
        return environ["wsgi.file_wrapper"](FileLike(), 16)
    if p == "/content-length":
        start_response("200 OK", text + [("Content-Length", "5")])
        return [b"hello"]
    if p == "/content-length-short":
        start_response("200 OK", text + [("Content-Length", "10")])
        return [b"hello"]
    if p == "/content-length-long":
        start_response("200 OK", text + [("Content-Length", "3")])
        return [b"hello", b" world"]
    if p == "/headers":
        start_response("200 OK", text + [("X-Multi", "one"), ("X-Multi", "two"), ("X-Empty", ""),
                                         ("Set-Cookie", "a=1"), ("Set-Cookie", "b=2")])
        return [b"headers"]
    if p == "/status-custom":
        start_response("299 Something Custom", text)
        return [b"custom"]
    if p == "/status-404":
        start_response("404 Not Here", text)
        return [b"app 404 body"]
    if p == "/status-204":
        start_response("204 No Content", [])
        return []
    if p == "/status-noreason":
        start_response("200", text)
        return [b"no reason"]
    if p == "/bad-status":
        start_response("OK", text)
        return [b"bad status"]
    if p == "/bad-header-value":
        start_response("200 OK", text + [("X-Bad", "a\r\nInjected: yes")])
        return [b"bad header"]
    if p == "/str-body":
        start_response("200 OK", text)
        return ["a str, not bytes"]
    if p == "/no-start-response":
        return [b"never started"]
    if p == "/exc-info":
        start_response("200 OK", text + [("X-First", "1")])
        try:
            raise ValueError("replaced")
        except ValueError:
            start_response("500 Replaced Error", [("Content-Type", "text/plain"), ("X-Second", "2")], sys.exc_info())
        return [b"error page from app"]
    if p == "/large":
        start_response("200 OK", text)
        return [b"0123456789abcdef" * 4096 for _ in range(4)]
    start_response("404 Not Found", text)
    return [b"no such test"]
"#;

const DATA: &str = "file wrapper content: 0123456789 abcdefghijklmnopqrstuvwxyz";

fn resp_site() -> TestServer {
    server("WSGIScriptAlias /r @DIR@/resp.wsgi\n")
        .file("resp.wsgi", APP)
        .file("data.txt", DATA)
        .start()
}

fn assert_body(s: &TestServer, path: &str, status: u16, body: &str) -> crate::support::Response {
    let r = s.get(path);
    assert_eq!(
        (r.status, r.text().as_str()),
        (status, body),
        "GET {path}: {}",
        r.describe()
    );
    assert!(!r.truncated, "GET {path}: {}", r.describe());
    r
}

/// Wait until `closed.log` lists `name` (close() may run after the last byte).
fn assert_closed(s: &TestServer, name: &str) {
    let seen = wait_until(Duration::from_secs(5), || {
        s.read_file("closed.log")
            .lines()
            .any(|l| l == name)
            .then_some(())
    });
    assert!(
        seen.is_some(),
        "close() was not called for {name}; closed.log: {:?}",
        s.read_file("closed.log")
    );
}

#[test]
fn iterables_and_generators() {
    let s = resp_site();
    let r = assert_body(&s, "/r/list", 200, "one;two;three");
    assert_eq!(r.header("Content-Type"), Some("text/plain"));
    let r = assert_body(&s, "/r/generator", 200, "abc");
    assert_eq!(
        r.header("X-Gen"),
        Some("yes"),
        "headers given inside the generator"
    );
    let r = assert_body(&s, "/r/empty", 200, "");
    assert_eq!(r.header("Content-Length"), Some("0"));
    let r = assert_body(&s, "/r/large", 200, &"0123456789abcdef".repeat(4096 * 4));
    assert_eq!(r.body.len(), 262_144);
}

#[test]
fn close_is_called_on_iterables_generators_and_file_wrappers() {
    let s = resp_site();
    assert_body(&s, "/r/close", 200, "xy");
    assert_closed(&s, "closing-iterable");
    assert_body(&s, "/r/gen-close", 200, "gen-part-1;gen-part-2;");
    assert_closed(&s, "generator-finally");
    assert_body(&s, "/r/file-wrapper-closed", 200, DATA);
    assert_closed(&s, "file-wrapper-filelike");
}

#[test]
fn write_callable_comes_before_the_returned_body() {
    let s = resp_site();
    assert_body(&s, "/r/write", 200, "written-1;written-2;returned");
}

#[test]
fn file_wrapper_serves_a_file() {
    let s = resp_site();
    let r = assert_body(&s, "/r/file-wrapper", 200, DATA);
    assert_eq!(r.header("Content-Length"), Some("59"), "{}", r.describe());
    let r = assert_body(&s, "/r/file-wrapper-short-cl", 200, "file wrapp");
    assert_eq!(r.header("Content-Length"), Some("10"));
}

#[test]
fn application_content_length_is_enforced() {
    let s = resp_site();
    assert_body(&s, "/r/content-length", 200, "hello");
    // More body than announced: cut at Content-Length, not an error.
    let r = assert_body(&s, "/r/content-length-long", 200, "hel");
    assert_eq!(r.header("Content-Length"), Some("3"));
    // Less body than announced: the connection ends early.
    let r = s.get("/r/content-length-short");
    assert_eq!(r.status, 200, "{}", r.describe());
    assert_eq!(r.header("Content-Length"), Some("10"));
    assert_eq!(r.text(), "hello");
    assert!(r.truncated, "{}", r.describe());
}

#[test]
fn head_answers_have_no_body() {
    let s = resp_site();
    for (path, cl) in [
        ("/r/list", None),
        ("/r/content-length", Some("5")),
        ("/r/generator", None),
    ] {
        let mut c = s.connect();
        c.send(format!(
            "HEAD {path} HTTP/1.1\r\nHost: localhost:{}\r\nConnection: close\r\n\r\n",
            s.port()
        ));
        let r = c.read_response(true);
        assert_eq!(r.status, 200, "HEAD {path}: {}", r.describe());
        assert_eq!(r.header("Content-Type"), Some("text/plain"), "HEAD {path}");
        assert_eq!(
            r.header("Content-Length"),
            cl,
            "HEAD {path}: {}",
            r.describe()
        );
        let rest = c.read_to_close();
        assert!(
            rest.is_empty(),
            "HEAD {path}: bytes after the head: {:?}",
            String::from_utf8_lossy(&rest)
        );
    }
}

#[test]
fn status_lines_keep_the_application_reason() {
    let s = resp_site();
    let r = assert_body(&s, "/r/status-custom", 299, "custom");
    assert_eq!(r.reason, "Something Custom");
    let r = assert_body(&s, "/r/status-404", 404, "app 404 body");
    assert_eq!(r.reason, "Not Here");
    let r = s.get("/r/status-204");
    assert_eq!(
        (r.status, r.reason.as_str(), r.body.len()),
        (204, "No Content", 0),
        "{}",
        r.describe()
    );
}

#[test]
fn invalid_status_or_header_is_500_with_the_reason_logged() {
    let s = resp_site();
    let cases = [
        (
            "/r/status-noreason",
            "ValueError: no space following status code",
        ),
        (
            "/r/bad-status",
            "ValueError: status code is not a 3 digit integer",
        ),
        (
            "/r/bad-header-value",
            "ValueError: carriage return/line feed character present in header value",
        ),
        (
            "/r/str-body",
            "TypeError: sequence of byte string values expected, value of type str found",
        ),
        (
            "/r/no-start-response",
            "RuntimeError: response has not been started",
        ),
    ];
    for (path, logged) in cases {
        let r = s.get(path);
        assert_eq!(r.status, 500, "GET {path}: {}", r.describe());
        assert_eq!(
            r.title().as_deref(),
            Some("500 Internal Server Error"),
            "GET {path}"
        );
        assert!(
            r.header("Injected").is_none(),
            "GET {path}: header injection"
        );
        let line = s.wait_for_log(&["[wsgi:error]", logged], Duration::from_secs(5));
        assert!(
            line.is_some(),
            "GET {path}: no {logged:?} in:\n{}",
            s.error_log()
        );
    }
}

#[test]
fn repeated_headers_are_kept_in_order() {
    let s = resp_site();
    let r = assert_body(&s, "/r/headers", 200, "headers");
    assert_eq!(r.header_all("X-Multi"), ["one", "two"]);
    assert_eq!(r.header_all("Set-Cookie"), ["a=1", "b=2"]);
    assert_eq!(r.header("X-Empty"), Some(""));
}

#[test]
fn exc_info_replaces_the_pending_response() {
    let s = resp_site();
    let r = assert_body(&s, "/r/exc-info", 500, "error page from app");
    assert_eq!(r.reason, "Replaced Error");
    assert_eq!(r.header("X-Second"), Some("2"));
    assert_eq!(
        r.header("X-First"),
        None,
        "headers of the replaced start_response must go"
    );
}

#[test]
fn http10_and_keep_alive_framing() {
    let s = resp_site();
    // HTTP/1.0: no chunking; the body ends with the connection.
    let r = s.request(format!(
        "GET /r/generator HTTP/1.0\r\nHost: localhost:{}\r\n\r\n",
        s.port()
    ));
    assert_eq!(
        (r.status, r.text().as_str()),
        (200, "abc"),
        "{}",
        r.describe()
    );
    assert!(
        !r.chunked,
        "no chunked encoding for HTTP/1.0: {}",
        r.describe()
    );
    // HTTP/1.1 keep-alive, no length known: chunked, and complete.
    let mut c = s.connect();
    c.send(format!(
        "GET /r/generator HTTP/1.1\r\nHost: localhost:{}\r\n\r\n",
        s.port()
    ));
    let r = c.read_response(false);
    assert_eq!(
        (r.status, r.text().as_str()),
        (200, "abc"),
        "{}",
        r.describe()
    );
    assert!(r.chunked && !r.truncated, "{}", r.describe());
}

/// Answers with the Content-Type given in the query string (`NONE`: none).
const TYPE_APP: &str = r#"
from urllib.parse import unquote

def application(environ, start_response):
    ctype = unquote(environ["QUERY_STRING"])
    headers = [("Content-Length", "2")]
    if ctype != "NONE":
        headers.append(("Content-Type", ctype))
    start_response("200 OK", headers)
    return [b"ok"]
"#;

/// `AddDefaultCharset` appends `; charset=` to a text/plain or text/html
/// type that names none (wherever the words stand, in any case), for the
/// application's answers, static files and not Apache's own pages; `On`
/// means iso-8859-1, `Off` in a section turns it off there.  Answers
/// recorded from Apache 2.4.71 + mod_wsgi 4.9.4.
#[test]
fn add_default_charset() {
    let s = server(
        "AddDefaultCharset UTF-8\n\
         WSGIScriptAlias /t @DIR@/type.wsgi\n\
         WSGIScriptAlias /on @DIR@/type.wsgi\n\
         WSGIScriptAlias /off @DIR@/type.wsgi\n\
         <Location /on>\n\
             AddDefaultCharset On\n\
         </Location>\n\
         <Location /off>\n\
             AddDefaultCharset Off\n\
         </Location>\n\
         Alias /static/ @DIR@/static/\n\
         <Directory @DIR@/static>\n\
             Require all granted\n\
         </Directory>\n",
    )
    .file("type.wsgi", TYPE_APP)
    .file("static/notes.txt", "notes\n")
    .start();
    for (path, expected) in [
        ("/t?text/plain", Some("text/plain; charset=UTF-8")),
        ("/t?TEXT/HTML", Some("TEXT/HTML; charset=UTF-8")),
        ("/t?text/html;%20q=1", Some("text/html; q=1; charset=UTF-8")),
        ("/t?xtext/plainfoo", Some("xtext/plainfoo; charset=UTF-8")),
        ("/t?text/plain;CHARSET=x", Some("text/plain;CHARSET=x")),
        ("/t?application/json", Some("application/json")),
        ("/t?NONE", None),
        ("/on?text/plain", Some("text/plain; charset=iso-8859-1")),
        ("/off?text/plain", Some("text/plain")),
        ("/static/notes.txt", Some("text/plain; charset=UTF-8")),
        ("/static/missing", Some("text/html; charset=iso-8859-1")),
    ] {
        let r = s.get(path);
        assert_eq!(
            r.header("Content-Type"),
            expected,
            "{path}: {}",
            r.describe()
        );
    }
}
