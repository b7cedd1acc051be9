//! Rules of Apache's core about a connection and its request heads,
//! checked against Apache 2.4.71 + mod_wsgi 4.9.4: the statuses after
//! which the connection ends (`ap_status_drops_connection`), an `Expect`
//! other than 100-continue (417, then the connection ends), the same
//! Content-Length twice (400: Apache merges it to "2, 2"), and `OPTIONS *`
//! (an empty 200 without `Allow`).

use std::time::Duration;

use crate::support::{TestServer, server};

/// Answers with the status named by PATH_INFO (`/app/503` -> 503).
const STATUS_APP: &str = r#"
def application(environ, start_response):
    code = environ["PATH_INFO"].lstrip("/") or "200"
    start_response(code + " Chosen", [("Content-Type", "text/plain"), ("Content-Length", "2")])
    return [b"ok"]
"#;

fn site() -> TestServer {
    server("WSGIScriptAlias /app @DIR@/status.wsgi\n")
        .file("status.wsgi", STATUS_APP)
        .start()
}

fn get(s: &TestServer, path: &str, extra: &str) -> String {
    format!(
        "GET {path} HTTP/1.1\r\nHost: localhost:{}\r\n{extra}\r\n",
        s.port()
    )
}

#[test]
fn some_statuses_end_the_connection_as_apache_does() {
    let s = site();
    for (code, ends) in [
        (200, false),
        (400, true),
        (404, false),
        (408, true),
        (411, true),
        (413, true),
        (414, true),
        (417, false),
        (500, true),
        (501, true),
        (502, false),
        (503, true),
    ] {
        let mut c = s.connect();
        c.send(get(&s, &format!("/app/{code}"), ""));
        let r = c.read_response(false);
        assert_eq!(r.status, code, "{}", r.describe());
        assert_eq!(
            r.header("Connection") == Some("close"),
            ends,
            "{}",
            r.describe()
        );
        if ends {
            assert!(
                c.closed_within(Duration::from_secs(4)),
                "{code}: still open"
            );
        } else {
            c.send(get(&s, "/app/200", ""));
            assert_eq!(c.read_response(false).status, 200, "{code}: not reused");
        }
    }
}

#[test]
fn unmet_expectation_is_417_and_ends_the_connection() {
    let s = site();
    let mut c = s.connect();
    c.send(format!(
        "POST /app/200 HTTP/1.1\r\nHost: localhost:{}\r\nExpect: 200-ok\r\nContent-Length: 1\r\n\r\nx",
        s.port()
    ));
    c.send(get(&s, "/app/200", ""));
    let r = c.read_response(false);
    assert_eq!(r.status, 417, "{}", r.describe());
    assert_eq!(r.title().as_deref(), Some("417 Expectation Failed"));
    assert!(
        r.text()
            .contains("The client sent<pre>\n    Expect: 200-ok\n</pre>"),
        "{}",
        r.describe()
    );
    // Apache answers nothing more on this connection (the pipelined GET
    // is not served), and says so in its log at info.
    assert!(c.closed_within(Duration::from_secs(4)), "{}", r.describe());
    assert!(
        s.wait_for_log(
            &[
                "[core:info]",
                "AH00570: client sent an unrecognized expectation value of Expect: 200-ok"
            ],
            Duration::from_secs(5)
        )
        .is_some(),
        "{}",
        s.error_log()
    );
    // 100-continue in any case, and an empty field, are not refused.
    let r = s.request(get(&s, "/app/200", "Expect: 100-Continue\r\n"));
    assert_eq!(r.status, 200, "{}", r.describe());
    let r = s.request(get(&s, "/app/200", "Expect: \r\n"));
    assert_eq!(r.status, 200, "{}", r.describe());
}

#[test]
fn the_same_content_length_twice_is_refused() {
    let s = site();
    let mut c = s.connect();
    c.send(format!(
        "POST /app/200 HTTP/1.1\r\nHost: localhost:{}\r\nContent-Length: 2\r\nContent-Length: 2\r\n\r\nhi",
        s.port()
    ));
    let r = c.read_response(false);
    assert_eq!(r.status, 400, "{}", r.describe());
    assert_eq!(r.header("Connection"), Some("close"));
    assert!(c.closed_within(Duration::from_secs(4)));
}

#[test]
fn options_star_is_an_empty_200_and_other_methods_on_star_are_400() {
    let s = site();
    let mut c = s.connect();
    c.send(format!(
        "OPTIONS * HTTP/1.1\r\nHost: localhost:{}\r\n\r\n",
        s.port()
    ));
    let r = c.read_response(false);
    assert_eq!(r.status, 200, "{}", r.describe());
    assert_eq!(r.header("Content-Length"), Some("0"));
    assert_eq!(r.header("Allow"), None);
    assert_eq!(r.header("Content-Type"), None);
    // The connection goes on.
    c.send(get(&s, "/app/200", ""));
    assert_eq!(c.read_response(false).status, 200);
    let r = s.request(format!(
        "GET * HTTP/1.1\r\nHost: localhost:{}\r\n\r\n",
        s.port()
    ));
    assert_eq!(r.status, 400, "{}", r.describe());
}

/// Host refusals are 400s that Apache logs at debug only (a client's
/// mistake is no server error): AH00569 for HTTP/1.1 without a host name
/// (an empty field included), AH00550 for a malformed one, repeated fields
/// merged first.
#[test]
fn host_refusals_are_debug_lines() {
    let s = server(
        "LogLevel debug\n\
         WSGIScriptAlias /app @DIR@/status.wsgi\n",
    )
    .file("status.wsgi", STATUS_APP)
    .start();
    for (head, line) in [
        ("GET /app/200 HTTP/1.1\r\nHost:\r\n\r\n", "AH00569"),
        (
            "GET /app/200 HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n",
            "AH00550: Client sent malformed Host header: a, b",
        ),
        (
            "GET /app/200 HTTP/1.1\r\nHost: a b\r\n\r\n",
            "AH00550: Client sent malformed Host header: a b",
        ),
    ] {
        let r = s.request(head);
        assert_eq!(r.status, 400, "{head:?}: {}", r.describe());
        assert_eq!(r.header("Connection"), Some("close"));
        assert!(
            s.wait_for_log(&[line], Duration::from_secs(5)).is_some(),
            "{head:?}: {}",
            s.error_log()
        );
    }
    assert!(
        s.wait_for_log(
            &["[core:debug]", "AH00569: client sent HTTP/1.1 request without hostname (see RFC2616 section 14.23): /app/200"],
            Duration::from_secs(5)
        )
        .is_some(),
        "{}",
        s.error_log()
    );
    assert!(!s.error_log().contains("[core:error]"), "{}", s.error_log());
    // HTTP/1.0 needs no host name, an empty field included.
    let r = s.request("GET /app/200 HTTP/1.0\r\nHost:\r\n\r\n");
    assert_eq!(r.status, 200, "{}", r.describe());
}

/// TRACE is the core's, not the application's: the head echoed back as
/// message/http (`TraceEnable On`, the default), a 413 with a body, a 405
/// under `TraceEnable Off`, the body echoed too under `Extended`; a
/// virtual host may set its own.
#[test]
fn trace_is_answered_by_the_core() {
    let s = server(
        "<VirtualHost *:@PORT@>\n\
             ServerName localhost\n\
             WSGIScriptAlias /app @DIR@/status.wsgi\n\
         </VirtualHost>\n\
         <VirtualHost *:@PORT@>\n\
             ServerName extended.test\n\
             TraceEnable extended\n\
             WSGIScriptAlias /app @DIR@/status.wsgi\n\
         </VirtualHost>\n",
    )
    .file("status.wsgi", STATUS_APP)
    .start();
    let head = format!(
        "TRACE /app/200?q=1 HTTP/1.1\r\nHost: localhost:{}\r\nX-Forwarded-For: a\r\nX-Forwarded-For: b\r\n\r\n",
        s.port()
    );
    let r = s.request(&head);
    assert_eq!(r.status, 200, "{}", r.describe());
    assert_eq!(r.header("Content-Type"), Some("message/http"));
    assert_eq!(
        r.text(),
        format!(
            "TRACE /app/200?q=1 HTTP/1.1\r\nHost: localhost:{}\r\nX-Forwarded-For: a, b\r\n\r\n",
            s.port()
        )
    );
    let with_body = |host: &str| {
        format!("TRACE /app/200 HTTP/1.1\r\nHost: {host}\r\nContent-Length: 3\r\n\r\nabc")
    };
    let r = s.request(with_body("localhost"));
    assert_eq!(r.status, 413, "{}", r.describe());
    assert!(
        s.wait_for_log(
            &[
                "[http:info]",
                "AH01595: TRACE with body is not allowed for /app/200"
            ],
            Duration::from_secs(5)
        )
        .is_some(),
        "{}",
        s.error_log()
    );
    // The virtual host's `TraceEnable extended` echoes the body.
    let r = s.request(with_body("extended.test"));
    assert_eq!(r.status, 200, "{}", r.describe());
    assert_eq!(
        r.text(),
        "TRACE /app/200 HTTP/1.1\r\nHost: extended.test\r\nContent-Length: 3\r\n\r\nabc"
    );

    let off = server(
        "TraceEnable off\n\
         WSGIScriptAlias /app @DIR@/status.wsgi\n",
    )
    .file("status.wsgi", STATUS_APP)
    .start();
    let r = off.request(format!(
        "TRACE /app/200 HTTP/1.1\r\nHost: localhost:{}\r\n\r\n",
        off.port()
    ));
    assert_eq!(r.status, 405, "{}", r.describe());
    assert_eq!(r.header("Allow"), Some(""));
    assert_eq!(r.title().as_deref(), Some("405 Method Not Allowed"));
}
