//! `WSGIDaemonProcess` options of mod_wsgi 4.x that mod_wsgi-express puts
//! in the configurations it generates: `header-buffer-size` (the longest
//! response header line the front end takes from the daemon),
//! `response-socket-timeout` (the bound of each write of the daemon's
//! response to the client), `cpu-priority`, `script-user` /
//! `script-group`.  Oracle case `tests/oracle/50-daemon-options` pins the
//! same against Apache.

use std::time::Duration;

use crate::support::{Conn, server, wait_until};

/// `/?size=N` answers with an `X-Big` header of N bytes and, in the body,
/// the process's nice value; `/?stream=N` streams N MiB.
const APP: &str = r#"
import os

def application(environ, start_response):
    q = dict(p.split("=", 1) for p in environ["QUERY_STRING"].split("&") if "=" in p)
    headers = [("Content-Type", "text/plain")]
    if "stream" in q:
        block = b"x" * (1 << 20)
        start_response("200 OK", headers + [("Content-Length", str(int(q["stream"]) << 20))])
        return (block for _ in range(int(q["stream"])))
    if "size" in q:
        headers.append(("X-Big", "a" * int(q["size"])))
    body = b"nice=%d\n" % os.getpriority(os.PRIO_PROCESS, 0)
    start_response("200 OK", headers)
    return [body]
"#;

#[test]
fn header_lines_longer_than_the_header_buffer_are_a_500() {
    let s = server(
        "WSGIDaemonProcess plain threads=2\n\
         WSGIDaemonProcess roomy threads=2 header-buffer-size=65536\n\
         WSGIScriptAlias /plain @DIR@/app.wsgi process-group=plain\n\
         WSGIScriptAlias /roomy @DIR@/app.wsgi process-group=roomy\n",
    )
    .file("app.wsgi", APP)
    .start();
    // "X-Big: " + value: at most 32768 - 3 bytes by default.
    let r = s.get("/plain?size=32758");
    assert_eq!(r.status, 200, "{}", r.describe());
    assert_eq!(r.header("X-Big").map(str::len), Some(32758));
    assert_eq!(s.get("/plain?size=32759").status, 500);
    let logged = wait_until(Duration::from_secs(5), || {
        s.error_log()
            .contains(
                "Truncated or oversized response headers received from daemon process 'plain'",
            )
            .then_some(())
    });
    assert!(logged.is_some(), "{}", s.error_log());
    assert_eq!(s.get("/roomy?size=65526").status, 200);
    assert_eq!(s.get("/roomy?size=65527").status, 500);
}

#[test]
fn cpu_priority_sets_the_daemon_processes_nice_value() {
    let s = server(
        "WSGIDaemonProcess low threads=1 cpu-priority=7\n\
         WSGIDaemonProcess usual threads=1\n\
         WSGIScriptAlias /low @DIR@/app.wsgi process-group=low\n\
         WSGIScriptAlias /usual @DIR@/app.wsgi process-group=usual\n",
    )
    .file("app.wsgi", APP)
    .start();
    let usual: i32 = s.get("/usual").var("nice").parse().expect("nice");
    let low: i32 = s.get("/low").var("nice").parse().expect("nice");
    assert_eq!(low, 7, "{}", s.error_log());
    assert_ne!(usual, low);
}

/// A client that stops reading: with `response-socket-timeout=1` the
/// server gives up on it (Timeout is 60 s, and the other group's response
/// still arrives whole once the client reads again).
#[test]
fn response_socket_timeout_bounds_writes_to_a_client_that_stopped_reading() {
    let s = server(
        "Timeout 60\n\
         WSGIDaemonProcess quick threads=1 response-socket-timeout=1\n\
         WSGIDaemonProcess patient threads=1\n\
         WSGIScriptAlias /quick @DIR@/app.wsgi process-group=quick\n\
         WSGIScriptAlias /patient @DIR@/app.wsgi process-group=patient\n",
    )
    .file("app.wsgi", APP)
    .start();
    // More than the socket buffers on both sides hold.
    const MIB: usize = 48;
    let ask = |path: &str| {
        let mut c = Conn::open(s.port());
        c.send(format!(
            "GET {path}?stream={MIB} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"
        ));
        c
    };
    let mut quick = ask("/quick");
    let mut patient = ask("/patient");
    std::thread::sleep(Duration::from_secs(4));
    let got_quick = quick.read_to_close().len();
    let got_patient = patient.read_to_close().len();
    assert!(
        got_quick < MIB << 20,
        "quick: {got_quick} bytes: the write did not time out"
    );
    assert!(
        got_patient > MIB << 20,
        "patient: {got_patient} bytes\n{}",
        s.error_log()
    );
}
