//! Requests Apache refuses before any handler runs (malformed request line,
//! LimitRequestLine/FieldSize/Fields, HTTP/1.1 without Host) and
//! connection handling: keep-alive with several requests on one
//! connection, `Connection: close`, HTTP/1.0.

use std::time::Duration;

use crate::support::{TestServer, apps, server};

fn site() -> TestServer {
    server("WSGIScriptAlias /app @DIR@/env.wsgi\n")
        .file("env.wsgi", apps::ENVIRON)
        .start()
}

fn assert_error(s: &TestServer, raw: &[u8], status: u16, what: &str) {
    let r = s.request(raw);
    assert_eq!(r.status, status, "{what}: {}", r.describe());
    assert_eq!(
        r.header("Content-Type"),
        Some("text/html; charset=iso-8859-1"),
        "{what}: an Apache error page"
    );
    // And the server is still fine.
    assert_eq!(s.get("/app").status, 200, "after {what}");
}

#[test]
fn malformed_request_line_is_400() {
    let s = site();
    assert_error(
        &s,
        b"GET /app FOO/1.1\r\nHost: localhost\r\n\r\n",
        400,
        "unknown protocol",
    );
    assert_error(
        &s,
        b"GET /app HTTP/1.1 extra\r\nHost: localhost\r\n\r\n",
        400,
        "trailing text",
    );
}

#[test]
fn overlong_request_line_is_414() {
    let s = site();
    let raw = format!(
        "GET /app/{} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n",
        "a".repeat(9000)
    );
    let r = s.request(raw);
    assert_eq!(r.status, 414, "{}", r.describe());
    assert_eq!(r.title().as_deref(), Some("414 Request-URI Too Long"));
    assert_eq!(s.get("/app").status, 200);
}

#[test]
fn oversize_header_field_is_400() {
    let s = site();
    let raw = format!(
        "GET /app HTTP/1.1\r\nHost: localhost\r\nX-Big: {}\r\nConnection: close\r\n\r\n",
        "b".repeat(9000)
    );
    assert_error(&s, raw.as_bytes(), 400, "header over LimitRequestFieldSize");
}

#[test]
fn too_many_header_fields_is_400() {
    let s = site();
    let mut raw = String::from("GET /app HTTP/1.1\r\nHost: localhost\r\n");
    for i in 0..120 {
        raw.push_str(&format!("X-H{i}: v\r\n"));
    }
    raw.push_str("Connection: close\r\n\r\n");
    assert_error(
        &s,
        raw.as_bytes(),
        400,
        "more than LimitRequestFields headers",
    );
}

#[test]
fn configured_limits_apply() {
    let s =
        server("LimitRequestFields 5\nLimitRequestLine 200\nWSGIScriptAlias /app @DIR@/env.wsgi\n")
            .file("env.wsgi", apps::ENVIRON)
            .start();
    let mut raw = String::from("GET /app HTTP/1.1\r\nHost: localhost\r\n");
    for i in 0..6 {
        raw.push_str(&format!("X-H{i}: v\r\n"));
    }
    raw.push_str("\r\n");
    assert_eq!(
        s.request(raw).status,
        400,
        "6 headers over LimitRequestFields 5"
    );
    let raw = format!(
        "GET /app/{} HTTP/1.1\r\nHost: localhost\r\n\r\n",
        "a".repeat(300)
    );
    assert_eq!(s.request(raw).status, 414, "over LimitRequestLine 200");
    assert_eq!(s.get("/app/short").status, 200);
}

#[test]
fn http11_without_host_is_400() {
    let s = site();
    assert_error(
        &s,
        b"GET /app HTTP/1.1\r\nConnection: close\r\n\r\n",
        400,
        "HTTP/1.1 without Host",
    );
}

#[test]
fn http10_without_host_is_served() {
    let s = site();
    let r = s.request("GET /app/old HTTP/1.0\r\n\r\n");
    assert_eq!(r.status, 200, "{}", r.describe());
    assert_eq!(r.var("SERVER_PROTOCOL"), "HTTP/1.0");
}

#[test]
fn keep_alive_serves_several_requests_on_one_connection() {
    let s = site();
    let mut c = s.connect();
    let host = format!("localhost:{}", s.port());
    c.send(format!("GET /app/one HTTP/1.1\r\nHost: {host}\r\n\r\n"));
    let first = c.read_response(false);
    assert_eq!(first.status, 200, "{}", first.describe());
    assert_eq!(first.var("PATH_INFO"), "/one");
    c.send(format!("GET /app/two HTTP/1.1\r\nHost: {host}\r\n\r\n"));
    let second = c.read_response(false);
    assert_eq!(second.status, 200, "{}", second.describe());
    assert_eq!(second.var("PATH_INFO"), "/two");
    assert_eq!(
        first.var("REMOTE_PORT"),
        second.var("REMOTE_PORT"),
        "same connection"
    );
    // Pipelined: two requests in one write, answered in order.
    c.send(format!("GET /app/p1 HTTP/1.1\r\nHost: {host}\r\n\r\nGET /app/p2 HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n"));
    assert_eq!(c.read_response(false).var("PATH_INFO"), "/p1");
    assert_eq!(c.read_response(false).var("PATH_INFO"), "/p2");
    assert!(
        c.closed_within(Duration::from_secs(5)),
        "Connection: close must end the connection"
    );
}

#[test]
fn connection_close_and_http10_end_the_connection() {
    let s = site();
    let mut c = s.connect();
    c.send(format!(
        "GET /app HTTP/1.1\r\nHost: localhost:{}\r\nConnection: close\r\n\r\n",
        s.port()
    ));
    assert_eq!(c.read_response(false).status, 200);
    assert!(
        c.closed_within(Duration::from_secs(5)),
        "closed after Connection: close"
    );

    let mut c = s.connect();
    c.send("GET /app HTTP/1.0\r\n\r\n");
    assert_eq!(c.read_response(false).status, 200);
    assert!(
        c.closed_within(Duration::from_secs(5)),
        "HTTP/1.0 without keep-alive is closed"
    );
}
