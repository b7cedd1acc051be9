//! How the embedded Python is set up: the start-up directives
//! (`WSGIPythonHome` with a virtual environment, `WSGIPythonPath` and its
//! `.pth` files, `WSGIPythonEggs`, `WSGIPythonOptimize`, the removed
//! `WSGIPythonExecutable`) and the restrictions `WSGIRestrictStdin`,
//! `WSGIRestrictStdout` and `WSGIRestrictSignal` in both settings (oracle
//! cases 14 and 15 for the messages; their defaults are the
//! specification's: On).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use crate::support::{TestServer, server};

/// One application for every check: `PATH_INFO` selects what it does, the
/// answer is `key=value` lines.
const APP: &str = r#"
import os, signal, sys

def _handler(signum, frame):
    pass

def application(environ, start_response):
    action = environ.get("PATH_INFO", "")
    out = ["action=" + action]
    if action == "/print":
        print("wsgid print to stdout %s" % environ["SCRIPT_NAME"])
        out.append("printed=yes")
    elif action == "/stdout-write":
        n = sys.stdout.write("wsgid sys.stdout.write\n")
        sys.stdout.flush()
        out.append("written=%d" % n)
    elif action == "/stdin":
        out.append("stdin=%r" % sys.stdin.read())
    elif action == "/signal":
        before = signal.getsignal(signal.SIGUSR1)
        ret = signal.signal(signal.SIGUSR1, _handler)
        out.append("returned_handler=%s" % (ret is _handler))
        out.append("unchanged=%s" % (signal.getsignal(signal.SIGUSR1) is before))
    elif action == "/signal-args":
        try:
            signal.signal(signal.SIGUSR1)
        except TypeError as e:
            out.append("error=%s" % e)
    elif action == "/sigusr2":
        out.append("now=%s" % signal.Handlers(signal.getsignal(signal.SIGUSR2)).name)
        out.append("pth_returned=" + os.environ.get("WSGID_PTH_SIGNAL", "<unset>"))
    elif action == "/python":
        import site_marker
        out.append("prefix=" + sys.prefix)
        out.append("base_prefix=" + sys.base_prefix)
        out.append("path0=" + sys.path[0])
        out.append("marker=" + site_marker.NAME)
        out.append("eggs=" + os.environ.get("PYTHON_EGG_CACHE", "<unset>"))
        out.append("optimize=%d" % sys.flags.optimize)
        out.append("debug=%s" % __debug__)
    body = ("\n".join(out) + "\n").encode()
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
    return [body]
"#;

const WAIT: Duration = Duration::from_secs(5);

/// A server for `APP` at `/app` with `directives` before the alias.
fn app_server(directives: &str) -> TestServer {
    server(&format!(
        "{directives}WSGIScriptAlias /app @DIR@/app.wsgi\n"
    ))
    .file("app.wsgi", APP)
    .start()
}

/// The Python wsgid embeds: the build's `PYO3_PYTHON` (as
/// `scripts/test-pythons.sh` sets it), else `python3`.
fn embedded_python() -> String {
    std::env::var("PYO3_PYTHON").unwrap_or_else(|_| "python3".to_owned())
}

// ===== start-up directives =====

#[test]
fn python_home_venv_is_used() {
    let venv_parent = tempfile::Builder::new()
        .prefix("wsgid-venv-")
        .tempdir()
        .expect("tempdir");
    let venv = venv_parent.path().join("venv");
    let made = Command::new(embedded_python())
        .args(["-m", "venv", "--without-pip"])
        .arg(&venv)
        .output()
        .expect("run python3 -m venv");
    assert!(
        made.status.success(),
        "python3 -m venv failed: {}",
        String::from_utf8_lossy(&made.stderr)
    );
    // A module only the venv's site-packages has.
    let site_packages = lib_site_packages(&venv);
    std::fs::write(site_packages.join("site_marker.py"), "NAME = 'from-venv'\n")
        .expect("write the venv module");
    let venv_text = venv.display().to_string();
    let s = server(&format!(
        "WSGIPythonHome {venv_text}\nWSGIScriptAlias /app @DIR@/app.wsgi\n"
    ))
    .file("app.wsgi", APP)
    .start();
    let r = s.get("/app/python");
    assert_eq!(r.status, 200, "{}\n{}", r.describe(), s.diagnostics());
    assert_eq!(r.var("prefix"), venv_text, "{}", r.describe());
    assert_ne!(r.var("base_prefix"), venv_text, "{}", r.describe());
    assert_eq!(r.var("marker"), "from-venv", "{}", r.describe());
    assert!(
        s.wait_for_log(&["[wsgi:info]", &format!("Python home {venv_text}.")], WAIT)
            .is_some(),
        "{}",
        s.error_log()
    );
}

/// `VENV/lib/pythonX.Y/site-packages`.
fn lib_site_packages(venv: &Path) -> PathBuf {
    let lib = venv.join("lib");
    let entries = std::fs::read_dir(&lib).expect("read VENV/lib");
    for entry in entries {
        let path = entry.expect("directory entry").path();
        let is_python = path
            .file_name()
            .and_then(|n| n.to_str())
            .is_some_and(|n| n.starts_with("python"));
        if is_python && path.join("site-packages").is_dir() {
            return path.join("site-packages");
        }
    }
    panic!("no lib/python*/site-packages in {}", venv.display());
}

#[test]
fn python_path_honours_pth_files_eggs_and_optimize() {
    // WSGIPythonPath names `site`; its .pth file adds `extra`, which holds
    // the module the application imports.
    let s = server(
        "WSGIPythonPath @DIR@/site\nWSGIPythonEggs @DIR@/eggs\nWSGIPythonOptimize 1\n\
         WSGIScriptAlias /app @DIR@/app.wsgi\n",
    )
    .file("app.wsgi", APP)
    .file("site/extra.pth", "# a comment line\n@DIR@/extra\n")
    .file("extra/site_marker.py", "NAME = 'from-pth'\n")
    .file("eggs/.keep", "")
    .start();
    let r = s.get("/app/python");
    assert_eq!(r.status, 200, "{}\n{}", r.describe(), s.diagnostics());
    let dir = s.dir().display().to_string();
    assert_eq!(r.var("marker"), "from-pth", "{}", r.describe());
    assert_eq!(r.var("path0"), format!("{dir}/site"), "{}", r.describe());
    assert_eq!(r.var("eggs"), format!("{dir}/eggs"), "{}", r.describe());
    assert_eq!(r.var("optimize"), "1", "{}", r.describe());
    assert_eq!(r.var("debug"), "False", "{}", r.describe());
    assert!(
        s.wait_for_log(&[&format!("Adding '{dir}/site' to path.")], WAIT)
            .is_some(),
        "{}",
        s.error_log()
    );
}

#[test]
fn without_start_up_directives_python_is_plain() {
    let s = server("WSGIPythonPath @DIR@/site\nWSGIScriptAlias /app @DIR@/app.wsgi\n")
        .file("app.wsgi", APP)
        .file("site/site_marker.py", "NAME = 'plain'\n")
        .start();
    let r = s.get("/app/python");
    assert_eq!(r.status, 200, "{}\n{}", r.describe(), s.diagnostics());
    assert_eq!(r.var("marker"), "plain");
    assert_eq!(r.var("eggs"), "<unset>");
    assert_eq!(r.var("optimize"), "0");
    assert_eq!(r.var("debug"), "True");
}

#[test]
fn python_executable_is_an_error_naming_python_home() {
    let p = server("WSGIPythonExecutable /usr/bin/python3\nWSGIScriptAlias /app @DIR@/app.wsgi\n")
        .file("app.wsgi", APP)
        .prepare();
    let out = p.run_expecting_exit();
    assert_ne!(out.code(), Some(0), "{out:?}");
    assert!(
        out.stderr.contains(&format!("line {} of", p.site_line(1))),
        "{}",
        out.stderr
    );
    assert!(
        out.stderr.contains("WSGIPythonExecutable") && out.stderr.contains("WSGIPythonHome"),
        "{}",
        out.stderr
    );
}

#[test]
fn restrict_values_other_than_on_off_are_errors() {
    for name in [
        "WSGIRestrictStdin",
        "WSGIRestrictStdout",
        "WSGIRestrictSignal",
    ] {
        let p = server(&format!("{name} yes\n")).prepare();
        let out = p.config_test();
        assert_eq!(out.code(), Some(1), "{out:?}");
        assert!(
            out.stderr
                .contains(&format!("{name} must be one of: Off | On")),
            "{}",
            out.stderr
        );
    }
}

// ===== WSGIRestrictStdout =====

fn assert_stdout_restricted(s: &TestServer) {
    for path in ["/app/print", "/app/stdout-write"] {
        let r = s.get(path);
        assert_eq!(r.status, 500, "{path}: {}", r.describe());
    }
    let line = s.wait_for_log(
        &[
            "[wsgi:error]",
            "[client 127.0.0.1:",
            "] OSError: sys.stdout access restricted by mod_wsgi",
        ],
        WAIT,
    );
    assert!(line.is_some(), "{}", s.error_log());
    let log = s.error_log();
    assert!(
        !log.lines()
            .any(|l| l.ends_with("] wsgid print to stdout /app")),
        "{log}"
    );
    assert!(
        log.contains("    print(\"wsgid print to stdout %s\" % environ[\"SCRIPT_NAME\"])"),
        "the traceback shows the application's line:\n{log}"
    );
}

#[test]
fn stdout_restricted_by_default() {
    assert_stdout_restricted(&app_server(""));
}

#[test]
fn stdout_restricted_when_on() {
    assert_stdout_restricted(&app_server("WSGIRestrictStdout On\n"));
}

#[test]
fn stdout_goes_to_the_error_log_when_off() {
    let s = app_server("WSGIRestrictStdout Off\n");
    let r = s.get("/app/print");
    assert_eq!(r.status, 200, "{}", r.describe());
    assert_eq!(r.var("printed"), "yes");
    let line = s.wait_for_log(
        &[
            "[wsgi:error]",
            "[client 127.0.0.1:",
            "] wsgid print to stdout /app",
        ],
        WAIT,
    );
    assert!(line.is_some(), "{}", s.error_log());
    let r = s.get("/app/stdout-write");
    assert_eq!(r.status, 200, "{}", r.describe());
    assert_eq!(r.var("written"), "23");
    assert!(
        s.wait_for_log(&["[wsgi:error]", "] wsgid sys.stdout.write"], WAIT)
            .is_some(),
        "{}",
        s.error_log()
    );
    assert!(!s.error_log().contains("restricted by mod_wsgi"));
}

// ===== WSGIRestrictStdin =====

#[test]
fn stdin_restricted_by_default_and_when_on() {
    for directives in ["", "WSGIRestrictStdin On\n"] {
        let s = app_server(directives);
        let r = s.get("/app/stdin");
        assert_eq!(r.status, 500, "{directives:?}: {}", r.describe());
        let line = s.wait_for_log(
            &[
                "[wsgi:error]",
                "[client 127.0.0.1:",
                "] OSError: sys.stdin access restricted by mod_wsgi",
            ],
            WAIT,
        );
        assert!(line.is_some(), "{directives:?}: {}", s.error_log());
    }
}

#[test]
fn stdin_is_the_process_stdin_when_off() {
    let s = app_server("WSGIRestrictStdin Off\n");
    let r = s.get("/app/stdin");
    assert_eq!(r.status, 200, "{}", r.describe());
    // The workers' standard input is /dev/null, as Apache's is.
    assert_eq!(r.var("stdin"), "''");
    assert!(!s.error_log().contains("restricted by mod_wsgi"));
}

// ===== WSGIRestrictSignal =====

fn assert_signal_ignored(s: &TestServer) {
    let r = s.get("/app/signal");
    assert_eq!(r.status, 200, "{}", r.describe());
    // mod_wsgi hands back the handler it was given and registers nothing.
    assert_eq!(r.var("returned_handler"), "True", "{}", r.describe());
    assert_eq!(r.var("unchanged"), "True", "{}", r.describe());
    let line = s
        .wait_for_log(&["Callback registration for signal 10 ignored."], WAIT)
        .unwrap_or_else(|| panic!("no warning:\n{}", s.error_log()));
    assert!(line.contains("[wsgi:warn] [pid "), "{line}");
    assert!(!line.contains("[client "), "logged for the server: {line}");
    let worker = line
        .split("mod_wsgi (pid=")
        .nth(1)
        .and_then(|rest| rest.split(')').next())
        .and_then(|pid| pid.parse::<i32>().ok())
        .expect("the warning names the pid");
    assert!(s.worker_pids().contains(&worker), "{line}");
    // Then the caller's stack, at warn level too.
    let log = s.error_log();
    let dir = s.dir().display().to_string();
    let file_line = log
        .lines()
        .find(|l| l.contains(&format!("  File \"{dir}/app.wsgi\", line ")))
        .unwrap_or_else(|| panic!("no stack:\n{log}"));
    assert!(file_line.contains("[wsgi:warn]"), "{file_line}");
    assert!(file_line.ends_with(", in application"), "{file_line}");
    assert!(
        log.lines().any(|l| l.contains("[wsgi:warn]")
            && l.ends_with("    ret = signal.signal(signal.SIGUSR1, _handler)")),
        "{log}"
    );
}

#[test]
fn signal_registration_ignored_by_default() {
    assert_signal_ignored(&app_server(""));
}

#[test]
fn signal_registration_ignored_when_on() {
    let s = app_server("WSGIRestrictSignal On\n");
    assert_signal_ignored(&s);
    // Arguments are checked as mod_wsgi's "iO:signal" does.
    let r = s.get("/app/signal-args");
    assert_eq!(r.status, 200, "{}", r.describe());
    assert_eq!(
        r.var("error"),
        "signal() takes exactly 2 arguments (1 given)"
    );
}

#[test]
fn signal_is_the_real_one_when_off() {
    let s = app_server("WSGIRestrictSignal Off\n");
    let r = s.get("/app/signal");
    // Request threads are not Python's main thread: the real signal.signal
    // refuses, as under Apache (oracle case 15).
    assert_eq!(r.status, 500, "{}", r.describe());
    let line = s.wait_for_log(
        &[
            "[wsgi:error]",
            "[client 127.0.0.1:",
            "] ValueError: signal only works in main thread",
        ],
        WAIT,
    );
    assert!(line.is_some(), "{}", s.error_log());
    assert!(!s.error_log().contains("Callback registration"));
}

/// A `.pth` line in a `WSGIPythonPath` directory runs at start-up on
/// Python's main thread, after the restrictions are in place (mod_wsgi's
/// order): there `signal.signal` either is intercepted or really registers.
fn pth_signal_server(directives: &str) -> TestServer {
    server(&format!(
        "{directives}WSGIPythonPath @DIR@/site\nWSGIScriptAlias /app @DIR@/app.wsgi\n"
    ))
    .file("app.wsgi", APP)
    .file(
        "site/sig.pth",
        "import os, signal; os.environ['WSGID_PTH_SIGNAL'] = signal.Handlers(signal.signal(signal.SIGUSR2, signal.SIG_IGN)).name\n",
    )
    .start()
}

#[test]
fn signal_at_start_up_ignored_when_on() {
    let s = pth_signal_server("WSGIRestrictSignal On\n");
    let r = s.get("/app/sigusr2");
    assert_eq!(r.status, 200, "{}", r.describe());
    assert_eq!(r.var("now"), "SIG_DFL", "{}", r.describe());
    assert_eq!(r.var("pth_returned"), "SIG_IGN");
    assert!(
        s.wait_for_log(
            &[
                "[wsgi:warn]",
                "Callback registration for signal 12 ignored."
            ],
            WAIT
        )
        .is_some(),
        "{}",
        s.error_log()
    );
}

#[test]
fn signal_at_start_up_registers_when_off() {
    let s = pth_signal_server("WSGIRestrictSignal Off\n");
    let r = s.get("/app/sigusr2");
    assert_eq!(r.status, 200, "{}", r.describe());
    assert_eq!(r.var("now"), "SIG_IGN", "{}", r.describe());
    assert_eq!(r.var("pth_returned"), "SIG_DFL");
    assert!(!s.error_log().contains("Callback registration"));
}

// ===== shutdown =====

#[test]
fn restricted_streams_do_not_disturb_python_finalisation() {
    // Finalisation flushes sys.stdout; a restricted one must not make it
    // report an error.
    let mut s = app_server("");
    assert_eq!(s.get("/app/print").status, 500);
    let stopped = s.stop();
    let status = stopped.status.expect("the master exits after SIGTERM");
    assert!(status.success(), "{status}");
    assert!(
        s.wait_for_log(&["Terminating Python."], WAIT).is_some(),
        "{}",
        s.error_log()
    );
    let log = s.error_log();
    assert!(!log.contains("finalisation reported an error"), "{log}");
    assert!(!log.contains("Exception ignored"), "{log}");
}

/// Reports the interpreter-wide settings the other start-up directives
/// change, and registers an atexit callback that leaves a file behind.
const SETTINGS_APP: &str = r#"
import atexit, hashlib, sys, warnings

def _at_exit():
    with open("@DIR@/atexit-ran", "w") as f:
        f.write("yes")
atexit.register(_at_exit)

def application(environ, start_response):
    try:
        warnings.warn("old", DeprecationWarning)
        warned = "no"
    except DeprecationWarning:
        warned = "raised"
    path = __file__.encode()
    body = "hash=%d\ndont_write_bytecode=%s\nwarnoptions=%s\nwarned=%s\nname_is=%s\n" % (
        hash("wsgid"), sys.dont_write_bytecode, ",".join(sys.warnoptions), warned,
        "exact" if __name__ == "_mod_wsgi_" + hashlib.md5(path).hexdigest()
        else "lower" if __name__ == "_mod_wsgi_" + hashlib.md5(path.lower()).hexdigest()
        else __name__)
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [body.encode()]
"#;

fn settings_server(directives: &str) -> TestServer {
    server(&format!(
        "{directives}\nWSGIScriptAlias /s @DIR@/Settings.wsgi\n"
    ))
    .file("Settings.wsgi", SETTINGS_APP)
    .start()
}

#[test]
fn hash_seed_bytecode_warnings_and_case_sensitivity() {
    let expected_hash = Command::new(embedded_python())
        .args(["-c", "print(hash('wsgid'))"])
        .env("PYTHONHASHSEED", "123")
        .output()
        .expect("run python3");
    let expected_hash = String::from_utf8_lossy(&expected_hash.stdout)
        .trim()
        .to_owned();
    let s = settings_server(
        "WSGIPythonHashSeed 123\nWSGIDontWriteBytecode On\nWSGIPythonWarnings error::DeprecationWarning\n\
         WSGICaseSensitivity Off",
    );
    let r = s.get("/s");
    assert_eq!(r.status, 200, "{}", r.describe());
    assert_eq!(r.var("hash"), expected_hash, "WSGIPythonHashSeed");
    assert_eq!(r.var("dont_write_bytecode"), "True");
    assert_eq!(r.var("warnoptions"), "error::DeprecationWarning");
    assert_eq!(r.var("warned"), "raised");
    assert_eq!(
        r.var("name_is"),
        "lower",
        "WSGICaseSensitivity Off folds case"
    );

    let s = settings_server("");
    let r = s.get("/s");
    assert_ne!(r.var("hash"), expected_hash, "random by default");
    // (dont_write_bytecode follows PYTHONDONTWRITEBYTECODE when the
    // directive is absent, as for any Python.)
    assert_eq!(r.var("warned"), "no");
    assert_eq!(r.var("name_is"), "exact", "case-sensitive by default");
}

#[test]
fn destroy_interpreter_off_skips_finalisation() {
    for (directive, ran) in [("", true), ("WSGIDestroyInterpreter Off", false)] {
        let mut s = settings_server(directive);
        assert_eq!(s.get("/s").status, 200);
        let atexit = s.path("atexit-ran");
        let stopped = s.stop();
        assert!(stopped.status.is_some(), "{directive}: clean stop");
        assert_eq!(atexit.exists(), ran, "{directive}: atexit callbacks ran");
    }
}
