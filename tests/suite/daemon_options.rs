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

/// mod_wsgi's graceful restart signal sent to a daemon process: an idle
/// process stops at once, a busy one lets its requests finish within
/// `eviction-timeout`; either way the master starts a new one.
#[test]
fn sigusr1_evicts_a_daemon_process_after_its_requests() {
    use nix::sys::signal::{Signal, kill};
    use nix::unistd::Pid;
    let s = server(
        "WSGIDaemonProcess d threads=2 eviction-timeout=10 graceful-timeout=1\n\
         WSGIScriptAlias /app @DIR@/slow.wsgi process-group=d\n",
    )
    .file("slow.wsgi", crate::suite::daemon::SLOW_APP)
    .start();
    let pid = |s: &crate::support::TestServer| -> i32 {
        s.get("/app/fast").var("pid").parse().expect("pid")
    };
    let first = pid(&s);
    // The thread that answered may still be finishing the request (then
    // the process waits for it, logging the other wording): give it time.
    std::thread::sleep(Duration::from_millis(500));
    kill(Pid::from_raw(first), Signal::SIGUSR1).expect("signal");
    let second = wait_until(Duration::from_secs(10), || {
        let p = pid(&s);
        (p != first).then_some(p)
    })
    .expect("a new daemon process after an idle eviction");
    let log = s.error_log();
    assert!(
        log.contains("Process eviction requested, triggering immediate shutdown 'd'.")
            || log.contains("Process eviction requested, waiting for requests to complete 'd'."),
        "{log}"
    );
    // Busy: the 6 s request outlives graceful-timeout=1 (and the 3 s the
    // interpreter then gets to stop) but not eviction-timeout=10, and is
    // answered.
    std::thread::scope(|scope| {
        let slow = scope.spawn(|| s.get("/app/slow?6"));
        std::thread::sleep(Duration::from_millis(500));
        kill(Pid::from_raw(second), Signal::SIGUSR1).expect("signal");
        let r = slow.join().expect("thread");
        assert_eq!(r.status, 200, "{}\n{}", r.describe(), s.error_log());
        assert_eq!(r.var("pid"), second.to_string());
    });
    assert!(
        s.error_log()
            .contains("Process eviction requested, waiting for requests to complete 'd'."),
        "{}",
        s.error_log()
    );
    assert!(
        !s.error_log().contains("Aborting process"),
        "{}",
        s.error_log()
    );
    let third = wait_until(Duration::from_secs(10), || {
        let p = pid(&s);
        (p != second).then_some(p)
    });
    assert!(third.is_some(), "{}", s.error_log());
}

/// A configuration in the shape mod_wsgi-express 4.9 writes (its own
/// wording here, not the template): the version and reqtimeout modules,
/// `<IfVersion>`, `RequestReadTimeout`, `WSGIServerMetrics Off`, a
/// daemon group with every option express sets (most at their defaults),
/// and the handler script that `RewriteRule .* - [H=wsgi-handler]` sends
/// every non-static URL of the document root to.
#[test]
fn a_configuration_shaped_like_mod_wsgi_express_loads_and_serves() {
    let s = server(
        "LoadModule version_module modules/mod_version.so\n\
         LoadModule reqtimeout_module modules/mod_reqtimeout.so\n\
         <IfVersion < 2.4>\nWSGIDaemonProcess never-defined\n</IfVersion>\n\
         <IfVersion >= 2.2.15>\n\
         RequestReadTimeout header=15-30,MinRate=500 body=15,MinRate=500\n\
         </IfVersion>\n\
         WSGIServerMetrics Off\n\
         WSGIDaemonProcess localhost:8000 display-name='(wsgi:localhost:8000:0)' \\\n\
            home='@DIR@' threads=5 maximum-requests=0 python-path='' \\\n\
            lang='C.UTF-8' locale='C.UTF-8' listen-backlog=100 queue-timeout=45 \\\n\
            socket-timeout=60 connect-timeout=15 request-timeout=60 \\\n\
            inactivity-timeout=0 startup-timeout=15 deadlock-timeout=60 \\\n\
            graceful-timeout=15 eviction-timeout=0 restart-interval=0 \\\n\
            cpu-time-limit=0 shutdown-timeout=5 send-buffer-size=0 \\\n\
            receive-buffer-size=0 header-buffer-size=0 response-buffer-size=0 \\\n\
            response-socket-timeout=0 server-metrics=Off\n\
         WSGICallableObject 'application'\n\
         WSGIPassAuthorization On\n\
         Alias / '@DIR@/htdocs/'\n\
         <Directory '@DIR@/htdocs/'>\n\
            Require all granted\n\
            RewriteEngine On\n\
            RewriteCond %{REQUEST_FILENAME} !-f\n\
            RewriteRule .* - [H=wsgi-handler]\n\
         </Directory>\n\
         WSGIHandlerScript wsgi-handler '@DIR@/handler.wsgi' \\\n\
            process-group='localhost:8000' application-group=%{GLOBAL}\n",
    )
    .file("htdocs/static.txt", "a static file\n")
    .file(
        "handler.wsgi",
        r#"
import mod_wsgi

def handle_request(environ, start_response):
    body = "%s %s metrics=%r\n" % (
        environ["mod_wsgi.process_group"], environ["PATH_INFO"] or environ["SCRIPT_NAME"],
        mod_wsgi.server_metrics())
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [body.encode()]
"#,
    )
    .start();
    let r = s.get("/static.txt");
    assert_eq!(r.status, 200, "{}\n{}", r.describe(), s.error_log());
    assert_eq!(r.text(), "a static file\n");
    let r = s.get("/some/page");
    assert_eq!(r.status, 200, "{}\n{}", r.describe(), s.error_log());
    assert!(
        r.text().starts_with("localhost:8000 ") && r.text().ends_with(" metrics=None\n"),
        "{}",
        r.text()
    );
}
