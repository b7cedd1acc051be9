//! mod_wsgi daemon mode: `WSGIDaemonProcess` groups run by the master as
//! separate processes, requests delegated by `WSGIProcessGroup` over the
//! group's UNIX socket; the options (threads, processes, maximum-requests,
//! display-name, python-path, home, umask, inactivity-timeout), group
//! selection, restrictions and the failure answers.

use std::time::{Duration, Instant};

use crate::support::{TestServer, apps, procs, server, wait_until};

/// Answers `key=value` lines about the process serving the request.
const INFO_APP: &str = r#"
import os, sys

def application(environ, start_response):
    old = os.umask(0)
    os.umask(old)
    try:
        import dmod
        dmod_where = dmod.WHERE
    except ImportError:
        dmod_where = "-"
    with open("/proc/self/cmdline", "rb") as f:
        argv0 = f.read().split(b"\0")[0].decode("latin-1")
    lines = [
        "pid=%d" % os.getpid(),
        "group=%s" % environ.get("mod_wsgi.process_group"),
        "multithread=%s" % environ["wsgi.multithread"],
        "multiprocess=%s" % environ["wsgi.multiprocess"],
        "cwd=%s" % os.getcwd(),
        "umask=%04o" % old,
        "dmod=%s" % dmod_where,
        "argv0=%s" % argv0,
    ]
    body = ("\n".join(lines) + "\n").encode()
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
    return [body]
"#;

fn info(s: &TestServer, path: &str) -> std::collections::BTreeMap<String, String> {
    let r = s.get(path);
    assert_eq!(r.status, 200, "{}\n{}", r.describe(), s.error_log());
    r.kv()
}

fn pid(s: &TestServer, path: &str) -> i32 {
    info(s, path)["pid"].parse().expect("pid")
}

#[test]
fn daemon_request_runs_in_its_own_process_with_its_group() {
    let s = server(
        "WSGIDaemonProcess multi processes=2 threads=1\n\
         WSGIDaemonProcess single threads=4\n\
         WSGIScriptAlias /emb @DIR@/info.wsgi\n\
         WSGIScriptAlias /multi @DIR@/info.wsgi process-group=multi\n\
         WSGIScriptAlias /single @DIR@/info.wsgi\n\
         <Location /single>\nWSGIProcessGroup single\n</Location>\n",
    )
    .file("info.wsgi", INFO_APP)
    .start();
    let emb = info(&s, "/emb");
    let single = info(&s, "/single");
    let multi = info(&s, "/multi");
    assert_eq!(emb["group"], "");
    assert_eq!(single["group"], "single");
    assert_eq!(multi["group"], "multi");
    assert_ne!(emb["pid"], single["pid"]);
    assert_ne!(single["pid"], multi["pid"]);
    assert_ne!(single["pid"], s.master_pid().to_string());
    // threads=4 without processes=: multithread, not multiprocess.
    assert_eq!(
        (
            single["multithread"].as_str(),
            single["multiprocess"].as_str()
        ),
        ("True", "False")
    );
    // processes=2 threads=1.
    assert_eq!(
        (
            multi["multithread"].as_str(),
            multi["multiprocess"].as_str()
        ),
        ("False", "True")
    );
    // The same process keeps serving its group.
    assert_eq!(info(&s, "/single")["pid"], single["pid"]);
}

#[test]
fn maximum_requests_recycles_the_daemon_process() {
    let s = server(
        "WSGIDaemonProcess m threads=1 maximum-requests=3\n\
         WSGIScriptAlias /m @DIR@/info.wsgi process-group=m\n",
    )
    .file("info.wsgi", INFO_APP)
    .start();
    let pids: Vec<i32> = (0..7).map(|_| pid(&s, "/m")).collect();
    assert!(pids[0] == pids[1] && pids[1] == pids[2], "{pids:?}");
    assert_ne!(pids[3], pids[2], "{pids:?}");
    assert!(pids[3] == pids[4] && pids[4] == pids[5], "{pids:?}");
    assert!(!pids[..6].contains(&pids[6]), "{pids:?}");
    assert!(
        s.wait_for_log(
            &["Maximum requests reached, triggering immediate shutdown 'm'."],
            Duration::from_secs(5)
        )
        .is_some(),
        "{}",
        s.error_log()
    );
}

#[test]
fn display_name_python_path_home_and_umask() {
    let s = server(
        "WSGIDaemonProcess opts display-name=%{GROUP} python-path=@DIR@/lib home=@DIR@/home umask=0027\n\
         WSGIDaemonProcess named display-name=wsgi-named\n\
         WSGIDaemonProcess plain\n\
         WSGIScriptAlias /opts @DIR@/info.wsgi process-group=opts\n\
         WSGIScriptAlias /named @DIR@/info.wsgi process-group=named\n\
         WSGIScriptAlias /plain @DIR@/info.wsgi process-group=plain\n",
    )
    .file("info.wsgi", INFO_APP)
    .file("lib/dmod.py", "WHERE = 'lib'\n")
    .file("home/.keep", "")
    .start();
    let opts = info(&s, "/opts");
    assert_eq!(opts["argv0"], "(wsgi:opts)");
    assert_eq!(opts["dmod"], "lib");
    assert_eq!(opts["cwd"], s.path("home").display().to_string());
    assert_eq!(opts["umask"], "0027");
    let cmdline = std::fs::read(format!("/proc/{}/cmdline", opts["pid"])).expect("cmdline");
    assert!(cmdline.starts_with(b"(wsgi:opts)\0"), "{cmdline:?}");
    // The kernel's name stays the server's, as a mod_wsgi daemon stays
    // `apache2` in top and ps -e.
    let comm = std::fs::read_to_string(format!("/proc/{}/comm", opts["pid"])).expect("comm");
    assert_eq!(comm.trim_end(), "wsgid");
    let named = info(&s, "/named");
    assert_eq!(named["argv0"], "wsgi-named");
    assert_eq!(named["dmod"], "-", "python-path is per group");
    // Without display-name: the server's own argv[0], as a forked httpd.
    let plain = info(&s, "/plain");
    assert_eq!(plain["argv0"], crate::support::bin());
}

#[test]
fn process_group_from_the_environment_and_restrict_process() {
    let s = server(
        "WSGIDaemonProcess alpha threads=2\n\
         WSGIDaemonProcess beta threads=2\n\
         WSGIProcessGroup alpha\n\
         WSGIScriptAlias /a @DIR@/info.wsgi\n\
         WSGIScriptAlias /env @DIR@/info.wsgi\n\
         WSGIScriptAlias /no @DIR@/info.wsgi\n\
         WSGIScriptAlias /undefined @DIR@/info.wsgi\n\
         <Location /env>\nSetEnv PG beta\nWSGIProcessGroup %{ENV:PG}\n</Location>\n\
         <Location /no>\nSetEnv PG beta\nWSGIRestrictProcess alpha\nWSGIProcessGroup %{ENV:PG}\n</Location>\n\
         <Location /undefined>\nWSGIProcessGroup nope\n</Location>\n",
    )
    .file("info.wsgi", INFO_APP)
    .start();
    assert_eq!(info(&s, "/a")["group"], "alpha");
    assert_eq!(info(&s, "/env")["group"], "beta");
    assert_eq!(s.get("/no").status, 500);
    assert_eq!(s.get("/undefined").status, 500);
    for line in [
        "Daemon process called 'beta' cannot be accessed by this WSGI application as not a member of allowed groups",
        "No WSGI daemon process called 'nope' has been configured",
    ] {
        let log = s.wait_for_log(&[line], Duration::from_secs(5));
        assert!(log.is_some(), "{line}\n{}", s.error_log());
    }
}

#[test]
fn restrict_embedded_refuses_requests_not_delegated() {
    let s = server(
        "WSGIRestrictEmbedded On\n\
         WSGIDaemonProcess d threads=2\n\
         WSGIScriptAlias /emb @DIR@/info.wsgi\n\
         WSGIScriptAlias /d @DIR@/info.wsgi process-group=d\n",
    )
    .file("info.wsgi", INFO_APP)
    .start();
    assert_eq!(s.get("/emb").status, 500);
    assert_eq!(info(&s, "/d")["group"], "d");
    assert!(
        s.wait_for_log(
            &[
                "Embedded mode of mod_wsgi disabled by runtime configuration:",
                "info.wsgi"
            ],
            Duration::from_secs(5)
        )
        .is_some(),
        "{}",
        s.error_log()
    );
}

#[test]
fn killed_daemon_is_restarted_and_queued_requests_are_served() {
    let s = server(
        "WSGIDaemonProcess d threads=2\n\
         WSGIScriptAlias /d @DIR@/info.wsgi process-group=d\n\
         WSGIScriptAlias /emb @DIR@/info.wsgi\n",
    )
    .file("info.wsgi", INFO_APP)
    .start();
    let before = pid(&s, "/d");
    let others: Vec<i32> = s
        .worker_pids()
        .into_iter()
        .filter(|p| *p != before)
        .collect();
    assert!(procs::signal(before, procs::Sig::Kill));
    let killed_at = Instant::now();
    // The master starts a replacement within a second.
    let replacement = wait_until(Duration::from_secs(1), || {
        s.worker_pids()
            .into_iter()
            .find(|p| *p != before && !others.contains(p))
    });
    assert!(
        replacement.is_some(),
        "no new daemon process 1 s after SIGKILL: {:?}",
        s.pids()
    );
    // Requests sent right away wait in the group's socket and are served
    // by the replacement; embedded requests are unaffected.
    std::thread::scope(|scope| {
        let mut handles = Vec::new();
        for i in 0..6 {
            let s = &s;
            handles.push(scope.spawn(move || {
                let path = if i % 2 == 0 { "/d" } else { "/emb" };
                let r = s.get(path);
                (path, r.status, r.kv().get("pid").cloned())
            }));
        }
        for h in handles {
            let (path, status, p) = h.join().expect("thread");
            assert_eq!(status, 200, "{path}: {}", s.error_log());
            if path == "/d" {
                assert_ne!(p, Some(before.to_string()));
            }
        }
    });
    assert!(
        killed_at.elapsed() < Duration::from_secs(3),
        "restart took {:?}",
        killed_at.elapsed()
    );
    let after = pid(&s, "/d");
    assert_ne!(after, before);
}

#[test]
fn daemon_that_cannot_start_gives_503() {
    let s = server(
        "WSGIDaemonProcess broken home=/nonexistent-wsgid-home connect-timeout=1\n\
         WSGIScriptAlias /b @DIR@/info.wsgi process-group=broken\n",
    )
    .file("info.wsgi", INFO_APP)
    .start();
    // Wait for the failed start to take the socket away.
    assert!(
        s.wait_for_log(
            &["Unable to change working directory"],
            Duration::from_secs(10)
        )
        .is_some(),
        "{}",
        s.error_log()
    );
    std::thread::sleep(Duration::from_millis(300));
    let r = s.get("/b");
    assert_eq!(r.status, 503, "{}", r.describe());
    assert!(
        s.wait_for_log(
            &["Unable to connect to WSGI daemon process 'broken'"],
            Duration::from_secs(5)
        )
        .is_some(),
        "{}",
        s.error_log()
    );
}

#[test]
fn daemon_dying_before_the_head_gives_500_with_mod_wsgi_log_line() {
    let s = server(
        "WSGIDaemonProcess d threads=2\n\
         WSGIScriptAlias /die @DIR@/die.wsgi process-group=d\n\
         WSGIScriptAlias /ok @DIR@/ok.wsgi process-group=d\n",
    )
    .file(
        "die.wsgi",
        "import os\ndef application(environ, start_response):\n    os._exit(1)\n",
    )
    .file("ok.wsgi", apps::text_app("fine"))
    .start();
    let r = s.get("/die");
    assert_eq!(r.status, 500, "{}", r.describe());
    assert!(
        s.wait_for_log(
            &[
                "Truncated or oversized response headers received from daemon process 'd'",
                "die.wsgi"
            ],
            Duration::from_secs(5)
        )
        .is_some(),
        "{}",
        s.error_log()
    );
    // The group is restarted and serves again.
    let ok = wait_until(Duration::from_secs(5), || {
        let r = s.get("/ok");
        (r.status == 200).then_some(r)
    });
    assert_eq!(ok.map(|r| r.text()).as_deref(), Some("fine"));
}

#[test]
fn bodies_stream_both_ways() {
    let app = r#"
def application(environ, start_response):
    total = 0
    while True:
        chunk = environ["wsgi.input"].read(65536)
        if not chunk:
            break
        total += len(chunk)
    start_response("200 OK", [("Content-Type", "text/plain")])
    yield ("total=%d\n" % total).encode()
    for _ in range(64):
        yield b"y" * 65536
"#;
    // Two front-end workers: each runs a single-threaded event loop, where
    // the body pump finishes before the request is sent (a past bug).
    let s = server(
        "WSGIDaemonProcess d threads=2 send-buffer-size=65536 receive-buffer-size=65536\n\
         WSGIScriptAlias /echo @DIR@/echo.wsgi process-group=d\n",
    )
    .file("echo.wsgi", app)
    .processes(2)
    .start();
    // No body at all: wsgi.input is at its end at once.
    let r = s.get("/echo");
    assert_eq!(r.status, 200, "{}", r.describe());
    assert!(r.text().starts_with("total=0\n"));
    for _ in 0..4 {
        let r = s.post("/echo", b"small");
        assert!(r.text().starts_with("total=5\n"), "{}", r.describe());
    }
    let body = vec![b'x'; 3 * 1024 * 1024 + 7];
    let r = s.post("/echo", &body);
    assert_eq!(r.status, 200, "{}", r.describe());
    let text = r.text();
    assert!(
        text.starts_with(&format!("total={}\n", body.len())),
        "{}",
        &text[..40.min(text.len())]
    );
    assert_eq!(
        text.len(),
        format!("total={}\n", body.len()).len() + 64 * 65536
    );
}

#[test]
fn large_and_small_response_pieces_arrive_whole_and_in_order() {
    // Pieces below and above the size the daemon writes by reference
    // (16 KiB) and above the largest frame (1 MiB), each a different byte.
    let app = r#"
SIZES = [5, 16384, 70000, 1, (1 << 20) + 1234, 3]

def application(environ, start_response):
    if environ["PATH_INFO"] == "/one":
        body = bytes(range(256)) * 4097
        start_response("200 OK", [("Content-Length", str(len(body)))])
        return [body]
    start_response("200 OK", [("Content-Type", "application/octet-stream")])
    return (bytes([65 + i]) * n for i, n in enumerate(SIZES))
"#;
    let s = server(
        "WSGIDaemonProcess d threads=2\n\
         WSGIScriptAlias /pieces @DIR@/pieces.wsgi process-group=d\n",
    )
    .file("pieces.wsgi", app)
    .start();
    for _ in 0..2 {
        let r = s.get("/pieces/one");
        assert_eq!(r.status, 200, "{}", r.describe());
        let want: Vec<u8> = (0..4097).flat_map(|_| 0..=255u8).collect();
        assert!(r.body == want, "{} bytes", r.body.len());
        let r = s.get("/pieces/many");
        assert_eq!(r.status, 200, "{}", r.describe());
        let sizes = [5usize, 16384, 70000, 1, (1 << 20) + 1234, 3];
        let want: Vec<u8> = sizes
            .iter()
            .enumerate()
            .flat_map(|(i, n)| std::iter::repeat_n(b'A' + i as u8, *n))
            .collect();
        assert!(r.body == want, "{} bytes", r.body.len());
    }
}

#[test]
fn inactivity_timeout_restarts_an_idle_process() {
    let s = server(
        "WSGIDaemonProcess idle threads=1 inactivity-timeout=1\n\
         WSGIScriptAlias /i @DIR@/info.wsgi process-group=idle\n",
    )
    .file("info.wsgi", INFO_APP)
    .start();
    let first = pid(&s, "/i");
    assert!(
        s.wait_for_log(
            &["Daemon process idle inactivity timer expired, stopping process 'idle'."],
            Duration::from_secs(10)
        )
        .is_some(),
        "{}",
        s.error_log()
    );
    assert_ne!(pid(&s, "/i"), first);
}

#[test]
fn import_script_runs_in_the_named_daemon_group() {
    let s = server(
        "WSGIDaemonProcess pre threads=2\n\
         WSGIImportScript @DIR@/pre.py process-group=pre application-group=%{GLOBAL}\n\
         WSGIScriptAlias /d @DIR@/app.wsgi process-group=pre application-group=%{GLOBAL}\n\
         WSGIScriptAlias /emb @DIR@/app.wsgi\n",
    )
    .file("pre.py", "import builtins\nbuiltins.PRELOADED = 'yes'\n")
    .file(
        "app.wsgi",
        "import builtins\ndef application(environ, start_response):\n    \
         body = ('pre=%s\\n' % getattr(builtins, 'PRELOADED', 'no')).encode()\n    \
         start_response('200 OK', [('Content-Type', 'text/plain')])\n    return [body]\n",
    )
    .start();
    assert_eq!(s.get("/d").var("pre"), "yes");
    assert_eq!(s.get("/emb").var("pre"), "no");
}

/// `/slow?S` sleeps S seconds (default 5); every answer is `pid=N`.
pub(crate) const SLOW_APP: &str = r#"
import os, time

def application(environ, start_response):
    if environ["PATH_INFO"] == "/slow":
        time.sleep(float(environ.get("QUERY_STRING") or "5"))
    body = ("pid=%d\n" % os.getpid()).encode()
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
    return [body]
"#;

#[test]
fn request_timeout_restarts_the_process() {
    let s = server(
        "WSGIDaemonProcess d threads=1 request-timeout=1\n\
         WSGIScriptAlias /app @DIR@/slow.wsgi process-group=d\n",
    )
    .file("slow.wsgi", SLOW_APP)
    .start();
    let before = s.get("/app/fast").var("pid");
    let started = Instant::now();
    let r = s.get("/app/slow?30");
    assert_eq!(r.status, 500, "{}", r.describe());
    assert!(started.elapsed() < Duration::from_secs(10));
    assert!(
        s.wait_for_log(
            &["Daemon process request time limit exceeded, stopping process 'd'."],
            Duration::from_secs(5)
        )
        .is_some(),
        "{}",
        s.error_log()
    );
    assert_ne!(s.get("/app/fast").var("pid"), before);
}

#[test]
fn queue_timeout_answers_504_for_a_request_that_waited_too_long() {
    let s = server(
        "WSGIDaemonProcess d threads=1 queue-timeout=1\n\
         WSGIScriptAlias /app @DIR@/slow.wsgi process-group=d\n",
    )
    .file("slow.wsgi", SLOW_APP)
    .start();
    assert_eq!(s.get("/app/fast").status, 200);
    std::thread::scope(|scope| {
        let slow = scope.spawn(|| s.get("/app/slow?2.5").status);
        std::thread::sleep(Duration::from_millis(300));
        // Waits in the socket behind the only thread, longer than 1 s.
        assert_eq!(s.get("/app/fast").status, 504);
        assert_eq!(slow.join().expect("thread"), 200);
    });
    assert!(
        s.wait_for_log(
            &["Queue timeout expired for WSGI daemon process 'd'."],
            Duration::from_secs(5)
        )
        .is_some(),
        "{}",
        s.error_log()
    );
}

#[test]
fn deadlock_timeout_recycles_a_process_whose_app_holds_the_gil() {
    let app = r#"
import ctypes, os

def application(environ, start_response):
    if environ["PATH_INFO"] == "/hold":
        # A C call made through PyDLL keeps the GIL for its whole duration.
        ctypes.PyDLL("libc.so.6").sleep(30)
    body = ("pid=%d\n" % os.getpid()).encode()
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
    return [body]
"#;
    let s = server(
        "WSGIDaemonProcess d threads=2 deadlock-timeout=2\n\
         WSGIScriptAlias /app @DIR@/hold.wsgi process-group=d\n",
    )
    .file("hold.wsgi", app)
    .start();
    let before = s.get("/app/fast").var("pid");
    let started = Instant::now();
    let r = s.get("/app/hold");
    assert_eq!(r.status, 500, "{}", r.describe());
    assert!(
        started.elapsed() < Duration::from_secs(15),
        "{:?}",
        started.elapsed()
    );
    assert!(
        s.wait_for_log(
            &["Daemon process deadlock timer expired, stopping process 'd'."],
            Duration::from_secs(5)
        )
        .is_some(),
        "{}",
        s.error_log()
    );
    assert_ne!(s.get("/app/fast").var("pid"), before);
}

#[test]
fn cpu_time_limit_recycles_the_process() {
    let app = r#"
import os, time

def application(environ, start_response):
    if environ["PATH_INFO"] == "/burn":
        end = time.time() + 4
        while time.time() < end:
            pass
    body = ("pid=%d\n" % os.getpid()).encode()
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
    return [body]
"#;
    let s = server(
        "WSGIDaemonProcess d threads=2 cpu-time-limit=1 shutdown-timeout=1\n\
         WSGIScriptAlias /app @DIR@/burn.wsgi process-group=d\n",
    )
    .file("burn.wsgi", app)
    .start();
    let before = s.get("/app/fast").var("pid");
    let _ = s.get("/app/burn");
    assert!(
        s.wait_for_log(
            &["Exceeded CPU time limit, triggering immediate shutdown 'd'."],
            Duration::from_secs(10)
        )
        .is_some(),
        "{}",
        s.error_log()
    );
    let after = wait_until(Duration::from_secs(10), || {
        let r = s.get("/app/fast");
        (r.status == 200 && r.var("pid") != before).then_some(())
    });
    assert!(after.is_some(), "{}", s.error_log());
}

#[test]
fn user_group_and_supplementary_groups_when_root() {
    if !nix::unistd::geteuid().is_root() {
        return;
    }
    if !stdlib_readable_by_others() {
        // A daemon running as nobody must be able to read the embedded
        // Python's standard library; pyenv installs under /root (mode
        // 0700) are not (3.11 only works by falling back to Debian's
        // /usr/lib/python3.11).  Nothing to test on such a machine.
        eprintln!("skipped: the embedded Python's stdlib is not readable by other users");
        return;
    }
    let app = r#"
import os

def application(environ, start_response):
    body = ("uid=%d\ngid=%d\ngroups=%s\n" % (os.getuid(), os.getgid(),
            ",".join(str(g) for g in sorted(os.getgroups())))).encode()
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
    return [body]
"#;
    let s = server(
        "WSGIDaemonProcess d user=nobody group=nogroup supplementary-groups=#4242\n\
         WSGIScriptAlias /who @DIR@/who.wsgi process-group=d\n",
    )
    .file("who.wsgi", app)
    .start();
    // The script must be readable by nobody.
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(s.dir(), std::fs::Permissions::from_mode(0o755)).expect("chmod");
    let r = s.get("/who");
    assert_eq!(r.status, 200, "{}\n{}", r.describe(), s.error_log());
    assert_eq!(r.var("uid"), "65534");
    assert_eq!(r.var("gid"), "65534");
    assert_eq!(r.var("groups"), "4242,65534");
}

#[test]
fn file_wrapper_is_streamed_from_the_daemon() {
    let app = r#"
def application(environ, start_response):
    f = open(environ["DATA"], "rb")
    start_response("200 OK", [("Content-Type", "application/octet-stream")])
    return environ["wsgi.file_wrapper"](f, 65536)
"#;
    let data: Vec<u8> = (0..1_500_000u32).map(|i| (i % 251) as u8).collect();
    let s = server(
        "WSGIDaemonProcess d threads=2\n\
         SetEnv DATA @DIR@/data.bin\n\
         WSGIScriptAlias /f @DIR@/f.wsgi process-group=d\n",
    )
    .file("f.wsgi", app)
    .file("data.bin", &data)
    .start();
    let r = s.get("/f");
    assert_eq!(r.status, 200, "{}", r.describe());
    assert_eq!(r.body.len(), data.len());
    assert!(r.body == data, "content differs");
}

#[test]
fn startup_timeout_restarts_a_process_whose_application_does_not_load() {
    let s = server(
        "WSGIDaemonProcess d threads=1 startup-timeout=1\n\
         WSGIScriptAlias /bad @DIR@/bad.wsgi process-group=d\n",
    )
    .file("bad.wsgi", "raise RuntimeError('not today')\n")
    .start();
    assert_eq!(s.get("/bad").status, 500);
    for line in [
        "Application startup timer triggered 'd'.",
        "Application startup timer expired, stopping process 'd'.",
    ] {
        assert!(
            s.wait_for_log(&[line], Duration::from_secs(5)).is_some(),
            "{line}\n{}",
            s.error_log()
        );
    }
}

#[test]
fn a_group_defined_in_a_virtual_host_serves_only_that_host_and_logs_there() {
    let app = r#"
def application(environ, start_response):
    environ["wsgi.errors"].write("daemon says hello\n")
    body = ("group=%s\n" % environ["mod_wsgi.process_group"]).encode()
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [body]
"#;
    let s = server(
        "<VirtualHost *:@PORT@>\n\
         ServerName one.example\n\
         ErrorLog @DIR@/one.log\n\
         WSGIDaemonProcess vgroup threads=2\n\
         WSGIScriptAlias /app @DIR@/app.wsgi\n\
         WSGIProcessGroup vgroup\n\
         </VirtualHost>\n\
         <VirtualHost *:@PORT@>\n\
         ServerName two.example\n\
         WSGIScriptAlias /app @DIR@/app.wsgi\n\
         WSGIProcessGroup vgroup\n\
         </VirtualHost>\n",
    )
    .file("app.wsgi", app)
    .start();
    let one = s.get_with("/app", &["Host: one.example"]);
    assert_eq!(one.status, 200, "{}", one.describe());
    assert_eq!(one.var("group"), "vgroup");
    assert!(
        s.wait_for_log_in("one.log", &["daemon says hello"], Duration::from_secs(5))
            .is_some(),
        "{}",
        s.read_file("one.log")
    );
    let two = s.get_with("/app", &["Host: two.example"]);
    assert_eq!(two.status, 500, "{}", two.describe());
    assert!(
        s.wait_for_log(
            &["Daemon process called 'vgroup' cannot be accessed by this WSGI application"],
            Duration::from_secs(5)
        )
        .is_some(),
        "{}",
        s.error_log()
    );
}

#[test]
fn ignore_activity_requests_do_not_keep_a_process_alive() {
    let s = server(
        "WSGIDaemonProcess idle threads=1 inactivity-timeout=2\n\
         WSGIScriptAlias /i @DIR@/info.wsgi process-group=idle\n\
         WSGIScriptAlias /ping @DIR@/info.wsgi process-group=idle\n\
         <Location /ping>\nWSGIIgnoreActivity On\n</Location>\n",
    )
    .file("info.wsgi", INFO_APP)
    .start();
    let first = pid(&s, "/i");
    let started = Instant::now();
    // Health checks every 300 ms for longer than the timeout.
    while started.elapsed() < Duration::from_millis(3500) {
        assert_eq!(s.get("/ping").status, 200);
        std::thread::sleep(Duration::from_millis(300));
    }
    assert!(
        s.wait_for_log(
            &["Daemon process idle inactivity timer expired, stopping process 'idle'."],
            Duration::from_secs(5)
        )
        .is_some(),
        "{}",
        s.error_log()
    );
    assert_ne!(pid(&s, "/i"), first);
}

/// Whether the embedded Python's `encodings` package (the first thing a
/// starting interpreter reads) can be reached by a user without privileges:
/// every ancestor directory searchable by others, or Debian's copy of the
/// same version as a fallback.
fn stdlib_readable_by_others() -> bool {
    use std::os::unix::fs::PermissionsExt;
    let python = std::env::var("PYO3_PYTHON").unwrap_or_else(|_| "python3".to_owned());
    let Ok(out) = std::process::Command::new(&python)
        .args(["-c", "import encodings, sys; print(encodings.__path__[0]); print('%d.%d' % sys.version_info[:2])"])
        .output()
    else {
        return false;
    };
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    let mut lines = text.lines();
    let (Some(dir), Some(version)) = (lines.next(), lines.next()) else {
        return false;
    };
    let searchable = std::path::Path::new(dir)
        .ancestors()
        .all(|p| std::fs::metadata(p).is_ok_and(|m| m.permissions().mode() & 0o001 != 0));
    searchable || std::path::Path::new(&format!("/usr/lib/python{version}/encodings")).is_dir()
}
