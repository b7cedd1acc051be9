//! The process model: `StartServers N` gives N worker processes that all
//! serve requests; a worker that dies (SIGKILL) is replaced and service
//! goes on; SIGTERM to the master stops every process of the server.

use std::collections::BTreeSet;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use crate::support::{TestServer, procs, server, wait_until};

/// Answers `pid=N`; sleeps a little so that concurrent requests overlap.
const PID_APP: &str = r#"
import os, time

def application(environ, start_response):
    time.sleep(0.02)
    body = ("pid=%d\n" % os.getpid()).encode()
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
    return [body]
"#;

fn site(processes: u32) -> TestServer {
    server("WSGIScriptAlias /pid @DIR@/pid.wsgi\n")
        .file("pid.wsgi", PID_APP)
        .processes(processes)
        .start()
}

fn served_pid(s: &TestServer) -> i32 {
    let r = s.get("/pid");
    assert_eq!(r.status, 200, "{}", r.describe());
    r.var("pid").parse().expect("pid is a number")
}

#[test]
fn start_servers_two_gives_two_serving_workers() {
    let s = site(2);
    let workers = wait_until(Duration::from_secs(10), || {
        let w = s.worker_pids();
        (w.len() >= 2).then_some(w)
    });
    assert!(
        workers.is_some(),
        "expected 2 worker processes, group has {:?}",
        s.pids()
    );
    // Concurrent clients until two different workers have answered.
    let seen = Mutex::new(BTreeSet::new());
    let done = AtomicBool::new(false);
    std::thread::scope(|scope| {
        for _ in 0..8 {
            scope.spawn(|| {
                for _ in 0..50 {
                    if done.load(Ordering::Relaxed) {
                        return;
                    }
                    let pid = served_pid(&s);
                    let mut seen = seen.lock().expect("lock");
                    seen.insert(pid);
                    if seen.len() >= 2 {
                        done.store(true, Ordering::Relaxed);
                    }
                }
            });
        }
    });
    let seen = seen.into_inner().expect("lock");
    assert!(
        seen.len() >= 2,
        "only worker(s) {seen:?} answered 400 requests; group: {:?}",
        s.pids()
    );
    for pid in &seen {
        assert_ne!(
            *pid,
            s.master_pid(),
            "the master must not run Python requests"
        );
        assert!(
            s.pids().contains(pid),
            "pid {pid} is not in the server's process group"
        );
        // Named as the server is, not `exe` (they are started from
        // /proc/self/exe): what top, ps -e and pgrep show.
        let comm = std::fs::read_to_string(format!("/proc/{pid}/comm")).expect("comm");
        assert_eq!(comm.trim_end(), "wsgid");
    }
}

#[test]
fn killed_worker_is_replaced() {
    let s = site(1);
    let victim = served_pid(&s);
    assert_ne!(victim, s.master_pid());
    assert!(
        procs::signal(victim, procs::Sig::Kill),
        "could not signal worker {victim}"
    );
    let replacement = wait_until(Duration::from_secs(20), || {
        let w: Vec<i32> = s
            .worker_pids()
            .into_iter()
            .filter(|p| *p != victim)
            .collect();
        (!w.is_empty() && !procs::alive(victim)).then_some(w)
    });
    assert!(
        replacement.is_some(),
        "no new worker after SIGKILL of {victim}; group: {:?}",
        s.pids()
    );
    // Service resumes, from another process.
    let pid = wait_until(Duration::from_secs(20), || {
        let r = s.get("/pid");
        (r.status == 200).then(|| r.var("pid").parse::<i32>().expect("pid is a number"))
    });
    let pid = pid.unwrap_or_else(|| {
        panic!(
            "no answer after the worker was killed:\n{}",
            s.diagnostics()
        )
    });
    assert_ne!(pid, victim);
}

#[test]
fn sigterm_to_master_stops_every_process() {
    let mut s = site(2);
    served_pid(&s);
    let before = s.pids();
    assert!(
        before.len() >= 3,
        "master and 2 workers expected: {before:?}"
    );
    let stopped = s.stop();
    let status = stopped
        .status
        .unwrap_or_else(|| panic!("master did not exit after SIGTERM"));
    assert!(status.success(), "exit status after SIGTERM: {status}");
    assert!(
        stopped.leftovers.is_empty(),
        "processes left after the master exited: {:?}",
        stopped.leftovers
    );
    for pid in before {
        assert!(!procs::alive(pid), "process {pid} still alive");
    }
}

/// `MaxConnectionsPerChild N`: a worker that accepted N connections serves
/// them, exits, and a new worker takes the next ones (Apache's recycling of
/// a child, the usual cure for a leaking application in embedded mode).
#[test]
fn max_connections_per_child_recycles_the_worker() {
    let s = server("MaxConnectionsPerChild 3\nWSGIScriptAlias /pid @DIR@/pid.wsgi\n")
        .file("pid.wsgi", PID_APP)
        .processes(1)
        .start();
    // `get` opens a connection per request (the start-up probe of the
    // test harness was one more).
    let mut pids = Vec::new();
    for _ in 0..7 {
        let pid = wait_until(Duration::from_secs(20), || {
            let r = s.get("/pid");
            (r.status == 200).then(|| r.var("pid").parse::<i32>().expect("pid is a number"))
        });
        pids.push(pid.unwrap_or_else(|| panic!("no answer:\n{}", s.diagnostics())));
    }
    let distinct: BTreeSet<i32> = pids.iter().copied().collect();
    assert!(distinct.len() >= 2, "one worker served them all: {pids:?}");
    for p in &distinct {
        let served = pids.iter().filter(|q| *q == p).count();
        assert!(
            served <= 3,
            "worker {p} took more than 3 connections: {pids:?}"
        );
    }
    assert!(
        wait_until(Duration::from_secs(10), || (!procs::alive(pids[0]))
            .then_some(()))
        .is_some(),
        "the recycled worker {} exited",
        pids[0]
    );
    assert!(!s.error_log().contains("AH00053"), "{}", s.error_log());
}

/// `apachectl graceful-stop` (SIGWINCH to the master): new connections are
/// refused at once, a request in progress longer than the usual 5 s grace
/// still finishes (GracefulShutdownTimeout 20), then every process exits.
#[test]
fn graceful_stop_finishes_requests_in_progress() {
    let mut s = server(
        "GracefulShutdownTimeout 20\n\
         WSGIScriptAlias / @DIR@/slow.wsgi\n",
    )
    .file(
        "slow.wsgi",
        "import time\n\
         def application(environ, start_response):\n    \
             time.sleep(float(environ.get('QUERY_STRING') or 0))\n    \
             start_response('200 OK', [('Content-Type', 'text/plain')])\n    \
             return [b'finished']\n",
    )
    .start();
    assert_eq!(s.get("/").status, 200);
    let mut conn = s.connect();
    conn.send(format!(
        "GET /?6 HTTP/1.1\r\nHost: localhost:{}\r\nConnection: close\r\n\r\n",
        s.port()
    ));
    std::thread::sleep(Duration::from_millis(500));
    let master = nix::unistd::Pid::from_raw(s.master_pid());
    nix::sys::signal::kill(master, nix::sys::signal::Signal::SIGWINCH).expect("SIGWINCH");
    let refused = wait_until(Duration::from_secs(3), || {
        std::net::TcpStream::connect(("127.0.0.1", s.port()))
            .is_err()
            .then_some(())
    });
    assert!(refused.is_some(), "still accepting after the graceful stop");
    conn.set_timeout(Duration::from_secs(15));
    let r = conn.read_response(false);
    assert_eq!((r.status, r.text()), (200, "finished".to_owned()));
    let gone = wait_until(Duration::from_secs(10), || (!s.is_running()).then_some(()));
    assert!(gone.is_some(), "the master did not exit");
    let stopped = s.stop();
    assert!(stopped.leftovers.is_empty(), "{:?}", stopped.leftovers);
    assert!(
        s.error_log()
            .contains("AH00492: caught SIGWINCH, shutting down gracefully")
    );
}
