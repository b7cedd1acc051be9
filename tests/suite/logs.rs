//! Log lines as Apache writes them: the error-log line format for
//! `wsgi.errors` and `sys.stderr` output (`[time] [wsgi:error] [pid N:tid M]
//! [client ADDR:PORT] message`), and CustomLog with the `common` format.

use std::time::Duration;

use crate::support::{TestServer, server};

const APP: &str = r#"
import os, sys, threading

def application(environ, start_response):
    p = environ["PATH_INFO"]
    if p == "/errors":
        environ["wsgi.errors"].write("wsgid test via wsgi.errors\n")
        environ["wsgi.errors"].flush()
    elif p == "/stderr":
        print("wsgid test via sys.stderr", file=sys.stderr)
        sys.stderr.flush()
    elif p == "/stream":
        # What code that inspects the stream sees, as under mod_wsgi 4.9
        # (whose Log is wrapped in an io.TextIOWrapper).
        import io
        e = environ["wsgi.errors"]
        try:
            e.fileno()
            fileno = "none"
        except OSError as x:
            fileno = str(x)
        body = ("textio=%s\nstderr_textio=%s\nwritable=%s\nfileno=%s\n" % (
            isinstance(e, io.TextIOBase), isinstance(sys.stderr, io.TextIOBase),
            e.writable(), fileno)).encode()
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [body]
    elif p == "/multi":
        environ["wsgi.errors"].write("wsgid first line\nwsgid second line\n")
        environ["wsgi.errors"].flush()
    body = ("pid=%d\nport=%s\n" % (os.getpid(), environ["REMOTE_PORT"])).encode()
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
    return [body]
"#;

fn site() -> TestServer {
    server("WSGIScriptAlias /app @DIR@/app.wsgi\n")
        .file("app.wsgi", APP)
        .start()
}

/// The parts of an Apache 2.4 error-log line.
#[derive(Debug)]
struct ErrorLine {
    module_level: String,
    pid: i32,
    tid: u64,
    client: Option<String>,
    message: String,
}

/// Parse `[Wed Nov 25 21:07:57.123456 2026] [mod:level] [pid N:tid M] [client A:P] msg`.
fn parse_error_line(line: &str) -> Option<ErrorLine> {
    let rest = line.strip_prefix('[')?;
    let (time, rest) = rest.split_once("] ")?;
    let t: Vec<&str> = time.split_whitespace().collect();
    let ok_time = t.len() == 5
        && t[0].len() == 3
        && t[1].len() == 3
        && t[2].len() == 2
        && t[3].len() == 15
        && t[3].as_bytes()[8] == b'.'
        && t[4].len() == 4
        && t[4].bytes().all(|b| b.is_ascii_digit());
    if !ok_time {
        return None;
    }
    let rest = rest.strip_prefix('[')?;
    let (module_level, rest) = rest.split_once("] ")?;
    let rest = rest.strip_prefix("[pid ")?;
    let (ids, rest) = rest.split_once("] ")?;
    let (pid, tid) = ids.split_once(":tid ")?;
    let (client, message) = match rest.strip_prefix("[client ") {
        Some(r) => {
            let (c, m) = r.split_once("] ")?;
            (Some(c.to_owned()), m)
        }
        None => (None, rest),
    };
    Some(ErrorLine {
        module_level: module_level.to_owned(),
        pid: pid.parse().ok()?,
        tid: tid.parse().ok()?,
        client,
        message: message.to_owned(),
    })
}

fn wait_line(s: &TestServer, needle: &str) -> ErrorLine {
    let line = s
        .wait_for_log(&[needle], Duration::from_secs(5))
        .unwrap_or_else(|| panic!("no {needle:?} in the error log:\n{}", s.error_log()));
    parse_error_line(&line).unwrap_or_else(|| panic!("not an Apache error-log line: {line:?}"))
}

#[test]
fn wsgi_errors_lines_have_apache_format() {
    let s = site();
    let r = s.get("/app/errors");
    assert_eq!(r.status, 200, "{}", r.describe());
    let l = wait_line(&s, "wsgid test via wsgi.errors");
    assert_eq!(l.module_level, "wsgi:error");
    assert_eq!(
        l.pid.to_string(),
        r.var("pid"),
        "the pid of the process that ran the app"
    );
    assert_ne!(l.tid, 0);
    assert_eq!(l.client, Some(format!("127.0.0.1:{}", r.var("port"))));
    assert_eq!(l.message, "wsgid test via wsgi.errors");
}

#[test]
fn wsgi_errors_is_a_text_stream_without_a_file_descriptor() {
    // In the main interpreter and in a sub-interpreter.
    let s = server(
        "WSGIScriptAlias /app @DIR@/app.wsgi\n\
         WSGIApplicationGroup %{GLOBAL}\n\
         WSGIScriptAlias /sub @DIR@/app.wsgi application-group=sub\n",
    )
    .file("app.wsgi", APP)
    .start();
    for path in ["/app/stream", "/sub/stream"] {
        let r = s.get(path);
        assert_eq!(r.status, 200, "{}", r.describe());
        assert_eq!(r.var("textio"), "True", "{path}");
        assert_eq!(r.var("stderr_textio"), "True", "{path}");
        assert_eq!(r.var("writable"), "True", "{path}");
        assert_eq!(
            r.var("fileno"),
            "Apache/mod_wsgi log object is not associated with a file descriptor.",
            "{path}"
        );
    }
}

#[test]
fn stderr_output_goes_to_the_error_log() {
    let s = site();
    let r = s.get("/app/stderr");
    assert_eq!(r.status, 200, "{}", r.describe());
    let l = wait_line(&s, "wsgid test via sys.stderr");
    assert_eq!(l.module_level, "wsgi:error");
    assert_eq!(l.message, "wsgid test via sys.stderr");
}

#[test]
fn each_written_line_is_its_own_log_line() {
    let s = site();
    s.get("/app/multi");
    assert_eq!(
        wait_line(&s, "wsgid first line").message,
        "wsgid first line"
    );
    assert_eq!(
        wait_line(&s, "wsgid second line").message,
        "wsgid second line"
    );
}

#[test]
fn startup_is_logged_in_apache_format() {
    let s = site();
    // The port may accept connections a moment before the master has
    // written its first line (under load): wait for it.
    let resuming = s.wait_for_log(
        &["AH00489:", "configured -- resuming normal operations"],
        Duration::from_secs(5),
    );
    let log = s.error_log();
    assert!(resuming.is_some(), "{log}");
    let first = log
        .lines()
        .next()
        .unwrap_or_else(|| panic!("empty error log"));
    assert!(
        parse_error_line(first).is_some(),
        "not an Apache error-log line: {first:?}"
    );
}

/// Parse `HOST IDENT USER [TIME] "REQUEST" STATUS BYTES`.
fn parse_common(line: &str) -> Option<(String, String, String, String, String)> {
    let (prefix, rest) = line.split_once(" [")?;
    let (time, rest) = rest.split_once("] \"")?;
    let (request, rest) = rest.rsplit_once("\" ")?;
    let (status, bytes) = rest.split_once(' ')?;
    // 25/Nov/2026:21:07:57 +0000
    let ok_time =
        time.len() == 26 && &time[2..3] == "/" && &time[6..7] == "/" && &time[11..12] == ":";
    ok_time.then(|| {
        (
            prefix.to_owned(),
            time.to_owned(),
            request.to_owned(),
            status.to_owned(),
            bytes.to_owned(),
        )
    })
}

#[test]
fn access_log_common_format() {
    let s = site();
    let r = s.get("/app/x?q=1");
    assert_eq!(r.status, 200);
    let line = s
        .wait_for_log_in("access.log", &["GET /app/x?q=1 "], Duration::from_secs(5))
        .unwrap_or_else(|| {
            panic!(
                "no access-log line; access.log: {:?}",
                s.read_file("access.log")
            )
        });
    let (prefix, _time, request, status, bytes) =
        parse_common(&line).unwrap_or_else(|| panic!("not a common-format line: {line:?}"));
    assert_eq!(prefix, "127.0.0.1 - -");
    assert_eq!(request, "GET /app/x?q=1 HTTP/1.1");
    assert_eq!(status, "200");
    assert_eq!(bytes, r.body.len().to_string());

    let r = s.get("/missing");
    assert_eq!(r.status, 404);
    let line = s
        .wait_for_log_in("access.log", &["GET /missing "], Duration::from_secs(5))
        .unwrap_or_else(|| {
            panic!(
                "no access-log line for the 404: {:?}",
                s.read_file("access.log")
            )
        });
    let (_, _, _, status, bytes) = parse_common(&line).unwrap_or_else(|| panic!("{line:?}"));
    assert_eq!((status.as_str(), bytes), ("404", r.body.len().to_string()));

    let mut c = s.connect();
    c.send(format!(
        "HEAD /app/head HTTP/1.1\r\nHost: localhost:{}\r\nConnection: close\r\n\r\n",
        s.port()
    ));
    assert_eq!(c.read_response(true).status, 200);
    let line = s
        .wait_for_log_in("access.log", &["HEAD /app/head "], Duration::from_secs(5))
        .unwrap_or_else(|| {
            panic!(
                "no access-log line for HEAD: {:?}",
                s.read_file("access.log")
            )
        });
    let (_, _, _, status, bytes) = parse_common(&line).unwrap_or_else(|| panic!("{line:?}"));
    assert_eq!(
        (status.as_str(), bytes.as_str()),
        ("200", "-"),
        "%b is '-' when no body was sent"
    );
}

/// mod_logio's `%I` and `%O` count the bytes on the wire (head, body, chunk
/// framing; a body the application left unread is drained and counted),
/// and `%X` says what became of the connection, as Apache 2.4 logs them.
#[test]
fn access_log_counts_wire_bytes_and_connection_status() {
    let s = server(
        "LogFormat \"%m %U %I %O %X %B\" wire\n\
         CustomLog @DIR@/wire.log wire\n\
         WSGIScriptAlias /app @DIR@/app.wsgi\n",
    )
    .file("app.wsgi", APP)
    .start();
    let line_for = |path: &str| {
        s.wait_for_log_in("wire.log", &[&format!(" {path} ")], Duration::from_secs(5))
            .unwrap_or_else(|| panic!("no line for {path}: {:?}", s.read_file("wire.log")))
    };
    // Keep-alive GET, then a POST whose body the application never reads,
    // then HTTP/1.0 without keep-alive.
    let get = format!(
        "GET /app/a HTTP/1.1\r\nHost: localhost:{}\r\n\r\n",
        s.port()
    );
    let post = format!(
        "POST /app/b HTTP/1.1\r\nHost: localhost:{}\r\nContent-Length: 10\r\n\r\n0123456789",
        s.port()
    );
    let old = "GET /app/c HTTP/1.0\r\n\r\n";
    let mut c = s.connect();
    let raw_len = |c: &mut crate::support::Conn, req: &str| {
        c.send(req);
        let r = c.read_response(false);
        assert_eq!(r.status, 200, "{}", r.describe());
        assert!(!r.chunked, "{}", r.describe());
        // The response as it came: status line, header lines, blank line, body.
        let head: usize = r
            .headers
            .iter()
            .map(|(name, value)| name.len() + value.len() + 4)
            .sum::<usize>()
            + format!("{} {} {}\r\n\r\n", r.version, r.status, r.reason).len();
        (head + r.body.len(), r.body.len())
    };
    let (a_out, a_body) = raw_len(&mut c, &get);
    let (b_out, b_body) = raw_len(&mut c, &post);
    let mut c = s.connect();
    let (c_out, c_body) = raw_len(&mut c, old);
    for (path, req, out, body, status) in [
        ("/app/a", &get, a_out, a_body, "+"),
        ("/app/b", &post, b_out, b_body, "+"),
        ("/app/c", &old.to_owned(), c_out, c_body, "-"),
    ] {
        let line = line_for(path);
        let expected = format!(
            "{} {path} {} {out} {status} {body}",
            &req[..req.find(' ').unwrap_or(0)],
            req.len()
        );
        assert_eq!(line, expected, "{req:?}");
    }
}

/// Piped logs: `|$command` runs through the shell, `|program args`
/// without; the master runs each program once, every process writes into
/// it, a program that dies is started again (AH00106 on stderr), and none
/// is left behind at shutdown.
#[test]
fn piped_logs_run_under_the_master() {
    let mut s = server(
        "ErrorLog \"|$cat >> @DIR@/piped-error.log\"\n\
         CustomLog \"|/bin/sh -c 'exec cat >> @DIR@/piped-access.log'\" \"%>s %U\"\n\
         WSGIScriptAlias /app @DIR@/app.wsgi\n",
    )
    .processes(2)
    .file(
        "app.wsgi",
        "def application(environ, start_response):\n    environ['wsgi.errors'].write('from the app\\n')\n    start_response('200 OK', [])\n    return [b'ok']\n",
    )
    .start();
    assert_eq!(s.get("/app/one").status, 200);
    let wait = Duration::from_secs(5);
    assert!(
        s.wait_for_log_in("piped-access.log", &["200 /app/one"], wait)
            .is_some()
    );
    assert!(
        s.wait_for_log_in("piped-error.log", &["[wsgi:error]", "from the app"], wait)
            .is_some(),
        "{}",
        s.read_file("piped-error.log")
    );
    // The master's own lines go there too.
    assert!(s.read_file("piped-error.log").contains("AH00489"));
    // Kill the access log's program (the `cat` its shell became; the
    // error log's is a shell running `cat`): the master starts it again.
    let master = s.master_pid().to_string();
    let killed = std::process::Command::new("pkill")
        .args(["-P", &master, "-x", "cat"])
        .status()
        .map(|st| st.success())
        .unwrap_or(false);
    assert!(killed, "no piped log program found");
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(s.get("/app/two").status, 200);
    assert!(
        s.wait_for_log_in("piped-access.log", &["200 /app/two"], wait)
            .is_some(),
        "{}",
        s.diagnostics()
    );
    let stopped = s.stop();
    assert!(stopped.leftovers.is_empty(), "{:?}", stopped.leftovers);
    assert!(
        s.diagnostics().contains("AH00106: piped log program"),
        "{}",
        s.diagnostics()
    );
}
