//! Every request head of a connection, not only the first, is read with
//! Apache's rules: a bad later head gets the same page as a bad first one,
//! the first head waits `Timeout` while later ones wait `KeepAliveTimeout`
//! for their first byte (then `Timeout`, ending in a 408), HTTP/0.9 simple
//! requests are served as Apache 2.4 serves them (body only, then close),
//! and pipelined requests are answered in order.  Expected answers were
//! checked against Apache 2.4.71.

use std::time::{Duration, Instant};

use crate::support::{TestServer, apps, server};

fn site(extra: &str) -> TestServer {
    server(&format!("{extra}WSGIScriptAlias /app @DIR@/env.wsgi\n"))
        .file("env.wsgi", apps::ENVIRON)
        .start()
}

fn get(s: &TestServer, path: &str) -> String {
    format!(
        "GET {path} HTTP/1.1\r\nHost: localhost:{}\r\n\r\n",
        s.port()
    )
}

/// The answer to `bad` sent as the first request of a connection, and as
/// the second one after a good request.
fn first_and_later(
    s: &TestServer,
    bad: &str,
) -> (crate::support::Response, crate::support::Response) {
    let first = s.request(bad);
    let mut c = s.connect();
    c.send(get(s, "/app/one"));
    let ok = c.read_response(false);
    assert_eq!(ok.status, 200, "{}", ok.describe());
    c.send(bad);
    let later = c.read_response(false);
    assert!(
        c.closed_within(Duration::from_secs(4)),
        "a refused head ends the connection"
    );
    (first, later)
}

#[test]
fn malformed_later_head_gets_apaches_400_page() {
    let s = site("");
    let bad = format!(
        "GET /app HTTP/1.1\r\nHost: localhost:{}\r\nNoColon\r\n\r\n",
        s.port()
    );
    let (first, later) = first_and_later(&s, &bad);
    assert_eq!(first.status, 400, "{}", first.describe());
    assert_eq!(later.status, 400, "{}", later.describe());
    assert_eq!(later.title().as_deref(), Some("400 Bad Request"));
    assert_eq!(
        later.header("Content-Type"),
        Some("text/html; charset=iso-8859-1")
    );
    assert_eq!(later.body, first.body, "the same page as for a first head");

    let (first, later) = first_and_later(&s, "GET /app FOO/1.1\r\nHost: x\r\n\r\n");
    assert_eq!((first.status, later.status), (400, 400));
    assert_eq!(later.body, first.body);
}

#[test]
fn oversize_later_header_gets_the_first_heads_answer() {
    let s = site("LimitRequestFieldSize 100\nLimitRequestLine 200\n");
    let big = format!(
        "GET /app HTTP/1.1\r\nHost: localhost:{}\r\nX-Big: {}\r\n\r\n",
        s.port(),
        "b".repeat(200)
    );
    let (first, later) = first_and_later(&s, &big);
    assert_eq!(
        (first.status, later.status),
        (400, 400),
        "{}",
        later.describe()
    );
    assert!(
        later
            .text()
            .contains("Size of a request header field exceeds server limit."),
        "{}",
        later.describe()
    );
    assert_eq!(later.body, first.body);

    let long = format!("GET /app/{} HTTP/1.1\r\nHost: x\r\n\r\n", "a".repeat(300));
    let (first, later) = first_and_later(&s, &long);
    assert_eq!(
        (first.status, later.status),
        (414, 414),
        "{}",
        later.describe()
    );
    assert_eq!(later.body, first.body);
}

#[test]
fn first_head_waits_timeout_later_ones_keepalive_timeout() {
    let s = site("Timeout 2\nKeepAliveTimeout 1\n");
    let mut c = s.connect();
    // Past KeepAliveTimeout before the first byte: still served.
    std::thread::sleep(Duration::from_millis(1400));
    c.send(get(&s, "/app/first"));
    let r = c.read_response(false);
    assert_eq!(r.status, 200, "{}", r.describe());
    // Idle after a response: closed after KeepAliveTimeout, not Timeout.
    let t = Instant::now();
    assert!(c.closed_within(Duration::from_secs(3)));
    let waited = t.elapsed();
    assert!(
        waited >= Duration::from_millis(700) && waited < Duration::from_millis(1800),
        "idle keep-alive connection closed after {waited:?}"
    );
}

#[test]
fn later_head_in_progress_times_out_with_408() {
    let s = site("Timeout 2\nKeepAliveTimeout 1\n");
    let mut c = s.connect();
    c.send(get(&s, "/app/first"));
    assert_eq!(c.read_response(false).status, 200);
    // The head started: Timeout (2 s) now bounds it, not KeepAliveTimeout.
    std::thread::sleep(Duration::from_millis(300));
    let t = Instant::now();
    c.send("GET /app/second HTTP/1.1\r\nHost: x\r\n");
    let r = c.read_response(false);
    let waited = t.elapsed();
    assert_eq!(r.status, 408, "{}", r.describe());
    assert_eq!(r.title().as_deref(), Some("408 Request Timeout"));
    assert!(
        waited >= Duration::from_millis(1500),
        "408 after {waited:?}, before Timeout"
    );
    assert!(c.closed_within(Duration::from_secs(3)));
    assert!(
        s.wait_for_log_in(
            "access.log",
            &["\"GET /app/second HTTP/1.1\" 408"],
            Duration::from_secs(2)
        )
        .is_some(),
        "access log: {}",
        s.read_file("access.log")
    );
}

#[test]
fn http09_simple_request_gets_the_body_alone() {
    let s = site("");
    let mut c = s.connect();
    c.send("GET /app/old\r\n");
    let raw = c.read_to_close();
    let text = String::from_utf8_lossy(&raw);
    assert!(
        !text.starts_with("HTTP/"),
        "no status line for HTTP/0.9: {text}"
    );
    let kv = crate::support::http::parse_kv(&text);
    assert_eq!(
        kv.get("SERVER_PROTOCOL").map(String::as_str),
        Some("HTTP/0.9")
    );
    assert_eq!(kv.get("PATH_INFO").map(String::as_str), Some("/old"));
    // Only GET exists in HTTP/0.9: anything else is a 400 with a head.
    let r = s.request("HEAD /app\r\n");
    assert_eq!(r.status, 400, "{}", r.describe());
}

#[test]
fn pipelined_requests_are_answered_in_order() {
    let s = site("WSGIChunkedRequest On\n");
    let host = format!("localhost:{}", s.port());
    let mut c = s.connect();
    // A body nobody reads, a chunked one, then a last request: each body
    // is skipped and the next head found after it.
    c.send(format!(
        "POST /app/p1 HTTP/1.1\r\nHost: {host}\r\nContent-Length: 5\r\n\r\nhello\
         POST /app/p2 HTTP/1.1\r\nHost: {host}\r\nTransfer-Encoding: chunked\r\n\r\n\
         3\r\nabc\r\n0\r\nX-Trailer: 1\r\n\r\n\
         GET /app/p3 HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n"
    ));
    for want in ["/p1", "/p2", "/p3"] {
        let r = c.read_response(false);
        assert_eq!(r.status, 200, "{want}: {}", r.describe());
        assert_eq!(r.var("PATH_INFO"), want);
    }
    assert!(c.closed_within(Duration::from_secs(4)));
}

#[test]
fn obs_text_in_the_target_is_taken_as_sent() {
    let s = site("");
    let raw = b"GET /app/\xe9?q=\xe8 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
    let r = s.request(raw);
    assert_eq!(r.status, 200, "{}", r.describe());
    let has = |needle: &[u8]| r.body.windows(needle.len()).any(|w| w == needle);
    assert!(has(b"\nPATH_INFO=/\xe9\n"), "{}", r.describe());
    assert!(has(b"\nQUERY_STRING=q=\xe8\n"), "{}", r.describe());
    assert!(has(b"\nREQUEST_URI=/app/\xe9?q=\xe8\n"), "{}", r.describe());
}

#[test]
fn partly_read_body_is_drained_and_the_connection_reused() {
    // The application reads a little of a large body (so the body is
    // pumped while it runs), then answers; the rest is skipped and the
    // next request on the connection is served at once.
    let s = server("WSGIScriptAlias /app @DIR@/part.wsgi\n")
        .file(
            "part.wsgi",
            "def application(environ, start_response):\n    \
             got = environ['wsgi.input'].read(10)\n    \
             body = b'read=%d' % len(got)\n    \
             start_response('200 OK', [('Content-Type', 'text/plain'), ('Content-Length', str(len(body)))])\n    \
             return [body]\n",
        )
        .start();
    let host = format!("localhost:{}", s.port());
    let mut c = s.connect();
    let body = vec![b'x'; 600 * 1024];
    let mut raw = format!(
        "POST /app/a HTTP/1.1\r\nHost: {host}\r\nContent-Length: {}\r\n\r\n",
        body.len()
    )
    .into_bytes();
    raw.extend_from_slice(&body);
    c.send(&raw);
    let r = c.read_response(false);
    assert_eq!(
        (r.status, r.text().as_str()),
        (200, "read=10"),
        "{}",
        r.describe()
    );
    let t = Instant::now();
    c.send(get(&s, "/app/b"));
    let r = c.read_response(false);
    assert_eq!(r.status, 200, "{}", r.describe());
    assert!(
        t.elapsed() < Duration::from_secs(2),
        "second answer after {:?}",
        t.elapsed()
    );
}

#[test]
fn pipelined_bodies_of_every_size_arrive_whole_and_in_order() {
    // Bodies smaller and larger than a head read, and than one body read,
    // sent back to back in one write: each body buffer also holds the
    // start of the next request, and buffers go back to the pool and are
    // reused while earlier chunks may still be held.
    let s = server("WSGIScriptAlias /app @DIR@/sum.wsgi\n")
        .file(
            "sum.wsgi",
            "import hashlib\n\
             def application(environ, start_response):\n    \
             data = environ['wsgi.input'].read()\n    \
             body = b'%d %s' % (len(data), hashlib.md5(data).hexdigest().encode())\n    \
             start_response('200 OK', [('Content-Type', 'text/plain'), ('Content-Length', str(len(body)))])\n    \
             return [body]\n",
        )
        .start();
    let host = format!("localhost:{}", s.port());
    let sizes = [10usize, 20_000, 70_000, 16 * 1024, 300_000, 65_536, 1];
    let bodies: Vec<Vec<u8>> = sizes
        .iter()
        .enumerate()
        .map(|(i, &n)| (0..n).map(|j| ((j * 31 + i * 7) % 251) as u8).collect())
        .collect();
    let mut c = s.connect();
    for round in 0..2 {
        let mut raw = Vec::new();
        for b in &bodies {
            raw.extend_from_slice(
                format!(
                    "POST /app/r{round} HTTP/1.1\r\nHost: {host}\r\nContent-Length: {}\r\n\r\n",
                    b.len()
                )
                .as_bytes(),
            );
            raw.extend_from_slice(b);
        }
        c.send(&raw);
        for b in &bodies {
            let r = c.read_response(false);
            let digest: String = {
                use md5::Digest as _;
                md5::Md5::digest(b)
                    .iter()
                    .map(|x| format!("{x:02x}"))
                    .collect()
            };
            let want = format!("{} {digest}", b.len());
            assert_eq!((r.status, r.text()), (200, want), "{}", r.describe());
        }
    }
}

#[test]
fn shutdown_finishes_the_request_in_flight_and_closes_idle_connections() {
    let s = server("WSGIScriptAlias /app @DIR@/slow.wsgi\n")
        .file(
            "slow.wsgi",
            "import time\n\
             def application(environ, start_response):\n    \
             if environ['PATH_INFO'] == '/slow':\n        time.sleep(1.0)\n    \
             start_response('200 OK', [('Content-Type', 'text/plain'), ('Content-Length', '2')])\n    \
             return [b'ok']\n",
        )
        .start();
    let mut idle = s.connect();
    idle.send(get(&s, "/app/fast"));
    assert_eq!(idle.read_response(false).status, 200);
    let mut busy = s.connect();
    busy.send(get(&s, "/app/slow"));
    std::thread::sleep(Duration::from_millis(300));
    assert!(crate::support::procs::signal(
        s.master_pid(),
        crate::support::procs::Sig::Term
    ));
    assert!(
        idle.closed_within(Duration::from_secs(3)),
        "an idle keep-alive connection closes at shutdown"
    );
    let r = busy.read_response(false);
    assert_eq!(
        (r.status, r.text().as_str()),
        (200, "ok"),
        "{}",
        r.describe()
    );
    assert_eq!(r.header("Connection"), Some("close"), "{}", r.describe());
    assert!(busy.closed_within(Duration::from_secs(3)));
}

#[test]
fn later_protocol_versions_are_served_and_shown_as_sent() {
    let s = site("");
    for proto in ["HTTP/1.2", "HTTP/2.0"] {
        let r = s.request(format!(
            "GET /app/v {proto}\r\nHost: x\r\nConnection: close\r\n\r\n"
        ));
        assert_eq!(r.status, 200, "{proto}: {}", r.describe());
        assert_eq!(r.var("SERVER_PROTOCOL"), proto);
    }
}

#[test]
fn unfinished_first_request_line_is_closed_silently_and_logged() {
    let s = site("Timeout 1\nKeepAliveTimeout 1\n");
    let mut c = s.connect();
    c.send("GET /ap");
    c.set_timeout(Duration::from_secs(4));
    let got = c.read_to_close();
    assert!(
        got.is_empty(),
        "no answer: {:?}",
        String::from_utf8_lossy(&got)
    );
    assert!(
        s.wait_for_log_in("access.log", &["\"-\" 408 -"], Duration::from_secs(2))
            .is_some(),
        "access log: {}",
        s.read_file("access.log")
    );
}
