//! Daemon mode's kept connections: a front-end worker sends request after
//! request on the same connection to a daemon process, and everything
//! that ends a daemon process (SIGKILL, `maximum-requests`) still loses no
//! request and runs none twice; a group of two processes still spreads
//! its load; requests beyond the group's threads wait in the front end.  And `wsgi.file_wrapper` files handed over as descriptors.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use crate::support::{TestServer, procs, server};

/// Answers `pid=`; `/slow` first sleeps (seconds in the query string);
/// an `X-Id` request header is appended to `runs.log` (one line per time
/// the application ran for it).
const APP: &str = r#"
import os, time

def application(environ, start_response):
    rid = environ.get("HTTP_X_ID")
    if rid:
        with open(os.path.join(os.path.dirname(__file__), "runs.log"), "a") as f:
            f.write(rid + "\n")
    if environ["PATH_INFO"] == "/slow":
        time.sleep(float(environ.get("QUERY_STRING") or "0.3"))
    body = ("pid=%d\n" % os.getpid()).encode()
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
    return [body]
"#;

/// A server with [`APP`] at `/app`, run by daemon group `group` made with
/// `options`.
fn app_in_group(group: &str, options: &str) -> TestServer {
    server(&format!(
        "WSGIDaemonProcess {group} {options}\n\
         WSGIScriptAlias /app @DIR@/app.wsgi process-group={group}\n"
    ))
    .file("app.wsgi", APP)
    .start()
}

/// A server with `app` at `/b`, run by daemon group `d` made with
/// `options`.
fn app_at_b(app: &str, options: &str) -> TestServer {
    server(&format!(
        "WSGIDaemonProcess d {options}\n\
         WSGIScriptAlias /b @DIR@/b.wsgi process-group=d\n"
    ))
    .file("b.wsgi", app)
    .start()
}

fn pid_of(s: &TestServer, path: &str) -> i32 {
    let r = s.get(path);
    assert_eq!(r.status, 200, "{}\n{}", r.describe(), s.error_log());
    r.var("pid").parse().expect("pid")
}

/// `n` requests for `path` at once (one connection each): the PIDs that
/// served them.
fn pids_at_once<C: FromIterator<i32>>(s: &TestServer, n: usize, path: &str) -> C {
    std::thread::scope(|scope| {
        let hs: Vec<_> = (0..n).map(|_| scope.spawn(|| pid_of(s, path))).collect();
        hs.into_iter().map(|h| h.join().expect("thread")).collect()
    })
}

/// The inodes of the connected sockets that `pid` holds on the daemon
/// group socket of the server whose master is `master` (group 1): the
/// daemon's ends of its connections from front-end workers (an accepted
/// socket carries the listening socket's path in `/proc/net/unix`).
fn daemon_connections(pid: i32, master: i32) -> BTreeSet<u64> {
    let suffix = format!(".{master}.1.sock");
    let table = std::fs::read_to_string("/proc/net/unix").expect("/proc/net/unix");
    let on_group_socket: BTreeSet<u64> = table
        .lines()
        .skip(1)
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            // Num RefCount Protocol Flags Type St Inode Path; St 03: connected.
            (f.len() >= 8 && f[5] == "03" && f[7].ends_with(&suffix))
                .then(|| f[6].parse().ok())
                .flatten()
        })
        .collect();
    let Ok(fds) = std::fs::read_dir(format!("/proc/{pid}/fd")) else {
        return BTreeSet::new();
    };
    fds.filter_map(|e| {
        let link = std::fs::read_link(e.ok()?.path()).ok()?;
        let text = link.to_str()?;
        text.strip_prefix("socket:[")?
            .strip_suffix(']')?
            .parse()
            .ok()
    })
    .filter(|inode| on_group_socket.contains(inode))
    .collect()
}

#[test]
fn sequential_requests_reuse_one_daemon_connection() {
    let s = app_in_group("d", "threads=4");
    let daemon = pid_of(&s, "/app");
    let first = daemon_connections(daemon, s.master_pid());
    assert_eq!(first.len(), 1, "after one request: {first:?}");
    for i in 0..20 {
        // A new client connection each time; one front-end worker.
        assert_eq!(pid_of(&s, "/app"), daemon);
        let now = daemon_connections(daemon, s.master_pid());
        assert_eq!(now, first, "request {i} went over another connection");
    }
}

#[test]
fn kept_connections_to_a_killed_daemon_are_not_used() {
    let s = app_in_group("d", "threads=4");
    // Four requests at once: four connections, kept afterwards.
    let pids: Vec<i32> = pids_at_once(&s, 4, "/app/slow?0.3");
    let killed = pids[0];
    assert!(pids.iter().all(|p| *p == killed), "{pids:?}");
    assert_eq!(daemon_connections(killed, s.master_pid()).len(), 4);
    assert!(procs::signal(killed, procs::Sig::Kill));
    // Once it is gone (a request written to it before that is in flight,
    // and may be lost, as in mod_wsgi), at once and then in parallel:
    // every request is answered, by the replacement process.
    // (Reaped by the master: the whole process is gone, its sockets
    // released; before that, its threads may still be exiting.)
    let gone = s.wait_for_log(
        &[&format!("(pid={killed}) has died")],
        Duration::from_secs(5),
    );
    assert!(gone.is_some(), "process {killed} still running");
    for _ in 0..6 {
        let p = pid_of(&s, "/app");
        assert_ne!(p, killed);
    }
    let pids: Vec<i32> = pids_at_once(&s, 8, "/app");
    assert!(!pids.contains(&killed), "{pids:?} includes {killed}");
    assert!(
        !s.error_log().contains("Truncated or oversized"),
        "{}",
        s.error_log()
    );
}

#[test]
fn maximum_requests_recycles_with_back_to_back_requests() {
    let s = server(
        "WSGIDaemonProcess m threads=1 maximum-requests=3\n\
         WSGIScriptAlias /m @DIR@/app.wsgi process-group=m\n",
    )
    .file("app.wsgi", APP)
    .start();
    // One client connection: the next request follows each response at
    // once, while the daemon that served its last request closes.
    let mut c = s.connect();
    let mut pids = Vec::new();
    for _ in 0..7 {
        c.send(format!(
            "GET /m HTTP/1.1\r\nHost: localhost:{}\r\n\r\n",
            s.port()
        ));
        let r = c.read_response(false);
        assert_eq!(r.status, 200, "{}\n{}", r.describe(), s.error_log());
        pids.push(r.var("pid"));
    }
    assert!(pids[0] == pids[1] && pids[1] == pids[2], "{pids:?}");
    assert_ne!(pids[3], pids[2], "{pids:?}");
    assert!(pids[3] == pids[4] && pids[4] == pids[5], "{pids:?}");
    assert!(!pids[..6].contains(&pids[6]), "{pids:?}");
}

#[test]
fn recycling_under_concurrent_load_runs_every_request_exactly_once() {
    let s = server(
        "WSGIDaemonProcess m threads=3 maximum-requests=10\n\
         WSGIScriptAlias /m @DIR@/app.wsgi process-group=m\n",
    )
    .file("app.wsgi", APP)
    .start();
    let (clients, each) = (4, 12);
    std::thread::scope(|scope| {
        for t in 0..clients {
            let s = &s;
            scope.spawn(move || {
                let mut c = s.connect();
                for i in 0..each {
                    c.send(format!(
                        "GET /m HTTP/1.1\r\nHost: localhost:{}\r\nX-Id: {t}-{i}\r\n\r\n",
                        s.port()
                    ));
                    let r = c.read_response(false);
                    assert_eq!(
                        r.status,
                        200,
                        "{t}-{i}: {}\n{}",
                        r.describe(),
                        s.error_log()
                    );
                }
            });
        }
    });
    let mut runs: BTreeMap<String, usize> = BTreeMap::new();
    for line in s.read_file("runs.log").lines() {
        *runs.entry(line.to_owned()).or_default() += 1;
    }
    assert_eq!(runs.len(), clients * each, "{runs:?}");
    let twice: Vec<_> = runs.iter().filter(|(_, n)| **n != 1).collect();
    assert!(twice.is_empty(), "ran more than once: {twice:?}");
}

#[test]
fn both_processes_of_a_group_serve_with_kept_connections() {
    let s = app_in_group("two", "processes=2 threads=1");
    for round in 0..3 {
        let pids: BTreeSet<i32> = pids_at_once(&s, 4, "/app/slow?0.4");
        assert_eq!(pids.len(), 2, "round {round}: {pids:?}");
    }
}

#[test]
fn a_body_the_application_did_not_read_does_not_break_the_next_request() {
    let app = r#"
def application(environ, start_response):
    if environ["PATH_INFO"] == "/read":
        body = environ["wsgi.input"].read()
    else:
        body = b"ignored"
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [body]
"#;
    let s = app_at_b(app, "threads=1");
    for i in 0..5 {
        let big = vec![b'a' + i; 200_000];
        let r = s.post("/b/ignore", &big);
        assert_eq!(r.text(), "ignored", "{}", r.describe());
        let r = s.post("/b/read", b"exact body");
        assert_eq!(r.text(), "exact body", "{}", r.describe());
    }
}

/// `wsgi.input` reads straight from the daemon connection into the bytes
/// `read` returns when the length is known; mixed with `readline` (served
/// from chunks), stopped half-way through a frame, or not finished at all,
/// the bytes come in order and the kept connection stays in step.
#[test]
fn direct_and_chunked_body_reads_mix_on_a_kept_connection() {
    let app = r#"
def application(environ, start_response):
    inp = environ["wsgi.input"]
    mode = environ.get("QUERY_STRING", "")
    if mode == "mixed":
        parts = [inp.read(100), inp.readline(), inp.read(70000), inp.readline(),
                 inp.read(3), inp.read()]
    elif mode == "part":
        parts = [inp.read(1000), inp.readline()]
    elif mode == "stop":
        parts = [inp.read(1000)]
    else:
        parts = [inp.read()]
    if mode != "stop":
        parts.append(inp.read())
    start_response("200 OK", [("Content-Type", "application/octet-stream")])
    return [b"".join(parts)]
"#;
    let s = app_at_b(app, "threads=1");
    let body: Vec<u8> = (0..6000)
        .flat_map(|i| format!("line {i:06} {}\n", "x".repeat(i % 97)).into_bytes())
        .collect();
    assert!(body.len() > 300_000);
    for round in 0..3 {
        let r = s.post("/b/echo?mixed", &body);
        assert_eq!(r.status, 200, "round {round}: {}", r.describe());
        assert!(
            r.body == body,
            "round {round}: mixed reads: {} bytes back",
            r.body.len()
        );
        let r = s.post("/b/echo?part", &body);
        assert!(
            r.body == body,
            "round {round}: partial then rest: {} bytes back",
            r.body.len()
        );
        let r = s.post("/b/echo?stop", &body);
        assert!(
            r.body[..] == body[..1000],
            "round {round}: stopped after 1000 bytes"
        );
        let r = s.post("/b/echo", b"exact body");
        assert_eq!(r.text(), "exact body", "round {round}: {}", r.describe());
        let r = s.post("/b/echo", &body[..65536]);
        assert!(r.body[..] == body[..65536], "round {round}: 64 KiB");
    }
}

/// The application reads exactly the body's length, so the daemon reads
/// the end-of-body frame only after the response, when the front end may
/// already be sending the next request on the same connection: read in
/// along with that frame, the request must still run (it once waited for
/// ever: bytes in the daemon's frame buffer wake no `epoll_wait`).
/// Keep-alive clients, so that the next request follows at once.
#[test]
fn a_request_read_in_with_the_end_of_the_previous_body_runs() {
    let app = r#"
def application(environ, start_response):
    body = environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0))
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [str(len(body)).encode()]
"#;
    let s = app_at_b(app, "threads=4");
    let body = vec![b'z'; 70_000];
    std::thread::scope(|scope| {
        for t in 0..6 {
            let (s, body) = (&s, &body);
            scope.spawn(move || {
                let mut c = s.connect();
                for i in 0..150 {
                    if i % 50 == 49 {
                        // Under MaxKeepAliveRequests (100).
                        c = s.connect();
                    }
                    let len = [body.len(), 10, 0][i % 3];
                    let mut raw = format!(
                        "POST /b/x HTTP/1.1\r\nHost: localhost\r\nContent-Length: {len}\r\n\r\n"
                    )
                    .into_bytes();
                    raw.extend_from_slice(&body[..len]);
                    c.send(&raw);
                    let r = c.read_response(false);
                    assert_eq!(
                        r.text(),
                        len.to_string(),
                        "client {t}, request {i}: {}",
                        r.describe()
                    );
                }
            });
        }
    });
}

#[test]
fn a_process_whose_threads_are_busy_sends_requests_to_the_other() {
    let s = app_in_group("two", "processes=2 threads=1");
    // Kept connections to both processes.
    let pids: BTreeSet<i32> = pids_at_once(&s, 4, "/app/slow?0.3");
    assert_eq!(pids.len(), 2, "{pids:?}");
    std::thread::scope(|scope| {
        let slow = scope.spawn(|| pid_of(&s, "/app/slow?3"));
        std::thread::sleep(Duration::from_millis(300));
        // One process is busy for 3 s: quick requests, two at a time (so
        // that kept connections to both processes are taken), are all
        // answered by the other one at once.
        let mut quick = BTreeSet::new();
        for round in 0..3 {
            let started = std::time::Instant::now();
            let pair: Vec<i32> = std::thread::scope(|inner| {
                let hs: Vec<_> = (0..2).map(|_| inner.spawn(|| pid_of(&s, "/app"))).collect();
                hs.into_iter().map(|h| h.join().expect("thread")).collect()
            });
            assert!(
                started.elapsed() < Duration::from_secs(1),
                "round {round} took {:?}",
                started.elapsed()
            );
            quick.extend(pair);
        }
        let busy = slow.join().expect("thread");
        assert!(!quick.contains(&busy), "{quick:?} / busy {busy}");
    });
}

#[test]
fn requests_beyond_the_groups_threads_wait_their_turn_in_the_front_end() {
    let s = app_in_group("d", "threads=2");
    // Twice as many requests at once as the group has threads: all are
    // answered, by the one process, but no more than two were ever sent
    // to it at once — the others waited in the front end, in order, not
    // in the daemon process (whence a request that waits too long is sent
    // back, and goes behind newer ones).  Every connection that was made
    // is kept, so the daemon holds only as many as were needed.
    for round in 0..2 {
        let pids: BTreeSet<i32> = pids_at_once(&s, 4, "/app/slow?0.2");
        assert_eq!(pids.len(), 1, "round {round}: {pids:?}");
        let daemon = *pids.first().expect("a pid");
        let conns = daemon_connections(daemon, s.master_pid());
        assert!(
            !conns.is_empty() && conns.len() <= 2,
            "round {round}: {} connections: {conns:?}",
            conns.len()
        );
    }
}

/// Bytes `pid` has passed to write-like system calls (`/proc/PID/io`).
fn written(pid: i32) -> u64 {
    let io = std::fs::read_to_string(format!("/proc/{pid}/io")).expect("/proc/PID/io");
    io.lines()
        .find_map(|l| l.strip_prefix("wchar: "))
        .and_then(|v| v.trim().parse().ok())
        .expect("wchar")
}

#[test]
fn file_wrapper_files_are_handed_over_not_copied_through_the_socket() {
    let app = r#"
import os

def application(environ, start_response):
    if environ["PATH_INFO"] == "/pid":
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [("pid=%d\n" % os.getpid()).encode()]
    f = open(environ["DATA"], "rb")
    f.seek(int(environ.get("QUERY_STRING") or "0"))
    start_response("200 OK", [("Content-Type", "application/octet-stream")])
    return environ["wsgi.file_wrapper"](f, 65536)
"#;
    let data: Vec<u8> = (0..2_000_000u32).map(|i| (i % 251) as u8).collect();
    let s = server(
        "WSGIDaemonProcess d threads=2\n\
         SetEnv DATA @DIR@/data.bin\n\
         WSGIScriptAlias /f @DIR@/f.wsgi process-group=d\n",
    )
    .file("f.wsgi", app)
    .file("data.bin", &data)
    .start();
    let daemon = pid_of(&s, "/f/pid");
    let before = written(daemon);
    for _ in 0..3 {
        let r = s.get("/f");
        assert_eq!(r.status, 200, "{}", r.describe());
        assert!(r.body == data, "content differs ({} bytes)", r.body.len());
    }
    // From where the application's file position is.
    let r = s.get("/f?1999000");
    assert!(r.body == data[1_999_000..], "{} bytes", r.body.len());
    let sent = written(daemon) - before;
    assert!(
        sent < 64 * 1024,
        "the daemon wrote {sent} bytes for 6 MB of files"
    );
    // And the connection is kept afterwards.
    assert_eq!(pid_of(&s, "/f/pid"), daemon);
}
