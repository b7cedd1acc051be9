//! `RequestReadTimeout` (mod_reqtimeout): each stage of a request (its
//! head, its body) must arrive within its timeout, moved later by
//! `MinRate` up to its maximum; the wait for a kept connection's next
//! request is not part of the head's stage.  Oracle case
//! `tests/oracle/52-request-read-timeout` pins the answers against Apache.

use std::time::Duration;

use crate::support::{Conn, server};

const APP: &str = r#"
def application(environ, start_response):
    if environ["PATH_INFO"] == "/ignore":
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"not read\n"]
    try:
        body = b"read %d\n" % len(environ["wsgi.input"].read())
    except OSError as e:
        body = b"failed\n"
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [body]
"#;

/// Send `head` in pieces of `piece` bytes every `every`.
fn trickle(c: &mut Conn, head: &str, piece: usize, every: Duration) {
    for chunk in head.as_bytes().chunks(piece) {
        c.send(chunk);
        std::thread::sleep(every);
    }
}

fn slow_head() -> String {
    // About 600 bytes.
    let filler = "x".repeat(60);
    let mut head = String::from("GET /app HTTP/1.1\r\nHost: localhost\r\n");
    for i in 0..9 {
        head.push_str(&format!("X-Filler-{i}: {filler}\r\n"));
    }
    head.push_str("Connection: close\r\n\r\n");
    head
}

#[test]
fn min_rate_keeps_a_slow_but_steady_head_alive() {
    let s = server(
        "RequestReadTimeout header=1-4,MinRate=100 body=5\n\
         WSGIScriptAlias /app @DIR@/app.wsgi\n",
    )
    .file("app.wsgi", APP)
    .start();
    // ~600 bytes over ~2 s: 1 s, plus 1 s per 100 bytes, is enough.
    let mut c = Conn::open(s.port());
    trickle(&mut c, &slow_head(), 60, Duration::from_millis(200));
    let r = c.read_response(false);
    assert_eq!(r.status, 200, "{}\n{}", r.describe(), s.error_log());
}

#[test]
fn without_min_rate_the_same_head_times_out() {
    let s = server(
        "LogLevel info\nRequestReadTimeout header=1 body=5\n\
         WSGIScriptAlias /app @DIR@/app.wsgi\n",
    )
    .file("app.wsgi", APP)
    .start();
    let mut c = Conn::open(s.port());
    trickle(&mut c, &slow_head(), 60, Duration::from_millis(200));
    let r = c.read_response(false);
    assert_eq!(r.status, 408, "{}", r.describe());
    assert!(
        s.wait_for_log(
            &["[reqtimeout:info]", "AH01382: Request header read timeout"],
            Duration::from_secs(5)
        )
        .is_some(),
        "{}",
        s.error_log()
    );
}

#[test]
fn the_keep_alive_wait_is_not_part_of_the_head_stage() {
    let s = server(
        "KeepAliveTimeout 10\nRequestReadTimeout header=1 body=1\n\
         WSGIScriptAlias /app @DIR@/app.wsgi\n",
    )
    .file("app.wsgi", APP)
    .start();
    let mut c = Conn::open(s.port());
    let req = "GET /app HTTP/1.1\r\nHost: localhost\r\n\r\n";
    c.send(req);
    assert_eq!(c.read_response(false).status, 200);
    // Idle for longer than header=1, then a whole request.
    std::thread::sleep(Duration::from_millis(1500));
    c.send(req);
    let r = c.read_response(false);
    assert_eq!(r.status, 200, "{}\n{}", r.describe(), s.error_log());
}

#[test]
fn a_body_that_stops_is_a_read_error_and_ends_the_connection() {
    let s = server(
        "RequestReadTimeout header=5 body=1\n\
         WSGIDaemonProcess d threads=2\n\
         WSGIScriptAlias /app @DIR@/app.wsgi\n\
         WSGIScriptAlias /daemon @DIR@/app.wsgi process-group=d\n",
    )
    .file("app.wsgi", APP)
    .start();
    for path in ["/app", "/daemon"] {
        let mut c = Conn::open(s.port());
        c.send(format!(
            "POST {path} HTTP/1.1\r\nHost: localhost\r\nContent-Length: 100\r\n\r\n0123456789"
        ));
        let r = c.read_response(false);
        assert_eq!(r.status, 200, "{path}: {}", r.describe());
        assert_eq!(r.text(), "failed\n", "{path}");
        assert_eq!(r.header("Connection"), Some("close"), "{path}");
    }
}

/// A body the application left unread is discarded after the response
/// within the body stage too, not `Timeout` (60 s).
#[test]
fn discarding_an_unread_body_is_bounded_by_the_body_stage() {
    let s = server(
        "Timeout 60\nLogLevel info\nRequestReadTimeout header=5 body=1\n\
         WSGIScriptAlias /app @DIR@/app.wsgi\n",
    )
    .file("app.wsgi", APP)
    .start();
    let mut c = Conn::open(s.port());
    c.send("POST /app/ignore HTTP/1.1\r\nHost: localhost\r\nContent-Length: 100\r\n\r\n0123456789");
    let r = c.read_response(false);
    assert_eq!(r.text(), "not read\n", "{}", r.describe());
    assert!(
        c.closed_within(Duration::from_secs(10)),
        "{}",
        s.error_log()
    );
    assert!(
        s.wait_for_log(
            &["AH01382: Request body read timeout"],
            Duration::from_secs(5)
        )
        .is_some(),
        "{}",
        s.error_log()
    );
}
