//! Request bodies through `wsgi.input` (oracle case 19): read(), read(n),
//! readline(), readlines(), iteration, large bodies, `Expect:
//! 100-continue`, chunked bodies (411 unless `WSGIChunkedRequest On`) and
//! `LimitRequestBody` (413).

use std::time::Duration;

use crate::support::{TestServer, server};

const INPUT_APP: &str = r#"
def esc(b):
    return b.decode("latin-1").replace("\\", "\\\\").replace("\n", "\\n")

def application(environ, start_response):
    p = environ["PATH_INFO"]
    inp = environ["wsgi.input"]
    out = []
    if p == "/echo":
        step = int(environ.get("HTTP_X_STEP", "-1"))
        data = b"".join(iter(lambda: inp.read(step), b"")) if step > 0 else inp.read()
        start_response("200 OK", [("Content-Type", "application/octet-stream"), ("Content-Length", str(len(data)))])
        return [data]
    if p == "/read":
        out.append("read=" + esc(inp.read()))
        out.append("again=" + esc(inp.read()))
    elif p == "/read-n":
        parts = []
        while True:
            b = inp.read(4)
            if not b:
                break
            parts.append(esc(b))
        out.append("parts=" + "|".join(parts))
    elif p == "/read-more-than-length":
        out.append("read=" + esc(inp.read(1000)))
        out.append("then=" + esc(inp.read(1000)))
    elif p == "/readline":
        out.append("line1=" + esc(inp.readline()))
        out.append("line2=" + esc(inp.readline()))
        out.append("limited=" + esc(inp.readline(3)))
        out.append("rest=" + esc(inp.read()))
        out.append("after_eof=" + esc(inp.readline()))
    elif p == "/readlines":
        out.append("lines=" + "|".join(esc(l) for l in inp.readlines()))
    elif p == "/until-error":
        got = 0
        try:
            while True:
                b = inp.read(8192)
                if not b:
                    break
                got += len(b)
            out.append("error=none")
        except IOError as e:
            out.append("error=" + str(e))
        out.append("got=%d" % got)
    elif p == "/iterate":
        out.append("lines=" + "|".join(esc(l) for l in inp))
    out.append("CONTENT_LENGTH=" + environ.get("CONTENT_LENGTH", "<unset>"))
    out.append("REQUEST_METHOD=" + environ["REQUEST_METHOD"])
    body = ("\n".join(out) + "\n").encode("latin-1")
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
    return [body]
"#;

fn input_site(extra: &str) -> TestServer {
    server(&format!("WSGIScriptAlias /in @DIR@/input.wsgi\n{extra}"))
        .file("input.wsgi", INPUT_APP)
        .start()
}

const LINES: &[u8] = b"first line\nsecond line\nthird\nlast-no-newline";

#[test]
fn read_all_then_eof() {
    let s = input_site("");
    let r = s.post("/in/read", b"hello body");
    assert_eq!(r.status, 200, "{}", r.describe());
    assert_eq!(r.var("read"), "hello body");
    assert_eq!(r.var("again"), "");
    assert_eq!(r.var("CONTENT_LENGTH"), "10");
    let r = s.send_body("PUT", "/in/read", b"put-data");
    assert_eq!(
        (r.var("read").as_str(), r.var("REQUEST_METHOD").as_str()),
        ("put-data", "PUT")
    );
    let r = s.get("/in/read");
    assert_eq!(
        (r.var("read").as_str(), r.var("CONTENT_LENGTH").as_str()),
        ("", "<unset>")
    );
}

#[test]
fn read_in_pieces_and_past_the_end() {
    let s = input_site("");
    assert_eq!(
        s.post("/in/read-n", b"abcdefghij").var("parts"),
        "abcd|efgh|ij"
    );
    let r = s.post("/in/read-more-than-length", b"12345");
    assert_eq!(
        (r.var("read").as_str(), r.var("then").as_str()),
        ("12345", "")
    );
}

#[test]
fn readline_readlines_and_iteration() {
    let s = input_site("");
    let r = s.post("/in/readline", LINES);
    assert_eq!(r.var("line1"), "first line\n");
    assert_eq!(r.var("line2"), "second line\n");
    assert_eq!(r.var("limited"), "thi");
    assert_eq!(r.var("rest"), "rd\nlast-no-newline");
    assert_eq!(r.var("after_eof"), "");
    let expected = "first line\n|second line\n|third\n|last-no-newline";
    assert_eq!(s.post("/in/readlines", LINES).var("lines"), expected);
    assert_eq!(s.post("/in/iterate", LINES).var("lines"), expected);
}

#[test]
fn large_binary_body_is_echoed_intact() {
    let s = input_site("");
    let body: Vec<u8> = (0..64 * 1024u32)
        .map(|i| (i.wrapping_mul(31) % 251) as u8)
        .collect();
    let r = s.post("/in/echo", &body);
    assert_eq!(r.status, 200, "{}", r.describe());
    assert_eq!(r.body.len(), body.len());
    assert!(r.body == body, "echoed body differs");
}

#[test]
fn expect_100_continue_gets_an_interim_answer() {
    let s = input_site("");
    let mut c = s.connect();
    c.send(format!(
        "POST /in/read HTTP/1.1\r\nHost: localhost:{}\r\nExpect: 100-continue\r\nContent-Length: 4\r\nConnection: close\r\n\r\n",
        s.port()
    ));
    // The body is not sent until the server asks for it.
    let interim = c
        .read_head()
        .expect("an interim answer before the body is sent");
    assert_eq!(interim.status, 100, "{}", interim.describe());
    c.send("abcd");
    let r = c.read_response(false);
    assert_eq!(r.status, 200, "{}", r.describe());
    assert_eq!(r.var("read"), "abcd");
}

#[test]
fn expect_100_continue_with_the_body_already_sent() {
    let s = input_site("");
    let r = s.request(format!(
        "POST /in/read HTTP/1.1\r\nHost: localhost:{}\r\nExpect: 100-continue\r\nContent-Length: 4\r\nConnection: close\r\n\r\nabcd",
        s.port()
    ));
    assert_eq!(r.status, 200, "{}", r.describe());
    assert_eq!(r.var("read"), "abcd");
}

fn chunked_request(port: u16) -> String {
    format!(
        "POST /in/read HTTP/1.1\r\nHost: localhost:{port}\r\nTransfer-Encoding: chunked\r\nContent-Type: text/plain\r\n\
         Connection: close\r\n\r\n5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n"
    )
}

#[test]
fn chunked_request_is_refused_by_default() {
    let s = input_site("");
    let r = s.request(chunked_request(s.port()));
    assert_eq!(r.status, 411, "{}", r.describe());
    assert_eq!(r.title().as_deref(), Some("411 Length Required"));
    let line = s.wait_for_log(
        &["Received request requiring chunked transfer encoding, but optional support for chunked transfer encoding has not been enabled."],
        Duration::from_secs(5),
    );
    assert!(line.is_some(), "{}", s.error_log());
}

#[test]
fn chunked_request_is_read_with_wsgi_chunked_request_on() {
    let s = input_site("WSGIChunkedRequest On\n");
    let r = s.request(chunked_request(s.port()));
    assert_eq!(r.status, 200, "{}", r.describe());
    assert_eq!(r.var("read"), "hello world");
    assert_eq!(r.var("CONTENT_LENGTH"), "<unset>");
}

#[test]
fn limit_request_body_gives_413() {
    let s = input_site("LimitRequestBody 10\n");
    let r = s.post("/in/read", b"0123456789abcdefghij");
    assert_eq!(r.status, 413, "{}", r.describe());
    assert_eq!(r.title().as_deref(), Some("413 Request Entity Too Large"));
    // A body within the limit still works.
    let r = s.post("/in/read", b"0123456789");
    assert_eq!((r.status, r.var("read").as_str()), (200, "0123456789"));
}

fn pattern(len: usize, seed: u32) -> Vec<u8> {
    (0..len as u32)
        .map(|i| (i.wrapping_mul(31).wrapping_add(seed) % 251) as u8)
        .collect()
}

fn post_head(port: u16, path: &str, length: usize, extra: &str) -> String {
    format!(
        "POST {path} HTTP/1.1\r\nHost: localhost:{port}\r\nContent-Length: {length}\r\n{extra}\r\n"
    )
}

/// A body that arrives in pieces, with pauses, is read whole: the Python
/// thread reads what has arrived straight into the `bytes` object and
/// waits for the rest (reads of 64 KiB, and of odd sizes across pieces).
#[test]
fn body_arriving_in_pieces_is_read_whole() {
    let s = input_site("");
    for step in ["65536", "7000"] {
        let body = pattern(100_000, 7);
        let mut c = s.connect();
        let head = post_head(
            s.port(),
            "/in/echo",
            body.len(),
            &format!("X-Step: {step}\r\n"),
        );
        c.send(head);
        for piece in [&body[..20_000], &body[20_000..50_000], &body[50_000..]] {
            std::thread::sleep(Duration::from_millis(150));
            c.send(piece);
        }
        let r = c.read_response(false);
        assert_eq!(r.status, 200, "{}", r.describe());
        assert_eq!(r.body.len(), body.len(), "step {step}");
        assert!(r.body == body, "step {step}: echoed body differs");
    }
}

/// Requests sent back to back on one connection: reading one body never
/// takes bytes of the next request.
#[test]
fn pipelined_bodies_stay_apart() {
    let s = input_site("");
    let (a, b) = (pattern(40_000, 1), pattern(50_000, 2));
    let mut c = s.connect();
    let mut all = post_head(s.port(), "/in/echo", a.len(), "").into_bytes();
    all.extend_from_slice(&a);
    all.extend_from_slice(post_head(s.port(), "/in/echo", b.len(), "X-Step: 4096\r\n").as_bytes());
    all.extend_from_slice(&b);
    c.send(all);
    for expected in [&a, &b] {
        let r = c.read_response(false);
        assert_eq!(r.status, 200, "{}", r.describe());
        assert!(
            r.body == *expected,
            "body of {} bytes differs",
            expected.len()
        );
    }
}

/// A connection that sent a 50,000-byte POST to /in/until-error and only
/// `sent` bytes of its body.
fn part_of_a_body(s: &TestServer, sent: usize) -> crate::support::Conn {
    let mut c = s.connect();
    c.send(post_head(
        s.port(),
        "/in/until-error",
        50_000,
        "Connection: close\r\n",
    ));
    c.send(pattern(sent, 3));
    c
}

/// A client that stops sending its body: the read fails with Apache's
/// timeout message once `Timeout` passes, and the application answers.
#[test]
fn a_stalled_body_read_times_out() {
    let s = input_site("Timeout 1\n");
    let mut c = part_of_a_body(&s, 40_000);
    c.set_timeout(Duration::from_secs(10));
    let r = c.read_response(false);
    assert_eq!(r.status, 200, "{}", r.describe());
    // Reads of 8192: four whole ones; the fifth fails, losing the 7232
    // bytes it had (as mod_wsgi's `read` does).
    assert_eq!(r.var("got"), "32768");
    assert_eq!(
        r.var("error"),
        "Apache/mod_wsgi request data read error: The timeout specified has expired."
    );
}

/// A client that closes its sending side mid-body: the read fails, the
/// application still answers on the half-open connection.
#[test]
fn a_body_cut_short_fails_the_read() {
    let s = input_site("");
    let mut c = part_of_a_body(&s, 10_000);
    c.shutdown_write();
    let r = c.read_response(false);
    assert_eq!(r.status, 200, "{}", r.describe());
    assert_eq!(r.var("got"), "8192");
    assert!(
        r.var("error")
            .starts_with("Apache/mod_wsgi request data read error: "),
        "{}",
        r.describe()
    );
    // The server is still there.
    assert_eq!(s.post("/in/read", b"ok").var("read"), "ok");
}

/// A read larger than what is made up front (4 MiB) collects the body's
/// chunks as they arrive instead: still whole.
#[test]
fn a_read_of_a_very_large_body_is_whole() {
    let s = input_site("");
    let body = pattern(5 * 1024 * 1024 + 3, 5);
    let r = s.post("/in/echo", &body);
    assert_eq!(r.status, 200, "{}", r.describe());
    assert_eq!(r.body.len(), body.len());
    assert!(r.body == body, "echoed body differs");
}
