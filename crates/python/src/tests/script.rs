//! Script loading (oracle case 10), reloading (case 16) and the environ
//! (case 01).

use super::*;

#[test]
fn missing_callable_is_404_and_logged() {
    let path = script("nocallable", "def something_else(e, s):\n    return []\n");
    let events = get(&path, "/");
    assert!(
        matches!(events.as_slice(), [ResponseEvent::Failed(404)]),
        "{events:?}"
    );
    let lines = log_lines("does not contain WSGI application");
    let line = lines
        .iter()
        .find(|l| l.contains("nocallable.wsgi"))
        .expect("log line");
    let pid = std::process::id();
    assert_eq!(
        message(line),
        format!(
            "[client 127.0.0.1:5555] mod_wsgi (pid={pid}): Target WSGI script '{}' does not contain WSGI \
             application 'application'.",
            path.display()
        )
    );
}

#[test]
fn non_callable_is_500_with_type_error() {
    let path = script("notcallable", "application = 42\n");
    let events = get(&path, "/");
    assert!(
        matches!(events.as_slice(), [ResponseEvent::Failed(500)]),
        "{events:?}"
    );
    assert!(!log_lines("TypeError: 'int' object is not callable").is_empty());
}

#[test]
fn syntax_error_is_logged_as_mod_wsgi_does() {
    let path = script(
        "syntaxerror",
        "def application(environ, start_response)\n    return []\n",
    );
    let events = get(&path, "/");
    assert!(
        matches!(events.as_slice(), [ResponseEvent::Failed(500)]),
        "{events:?}"
    );
    let compile = log_lines("Could not read/compile source file");
    let line = compile
        .iter()
        .find(|l| l.contains("syntaxerror.wsgi"))
        .expect("compile line");
    assert!(
        message(line).contains("mod_wsgi (pid=")
            && message(line).contains("process='', application='localhost|/app')"),
        "{line}"
    );
    assert!(!log_lines("SyntaxError: expected ':'").is_empty());
}

#[test]
fn import_error_is_logged_and_retried() {
    let path = script("importerror", "import wsgid_module_that_does_not_exist\n");
    for _ in 0..2 {
        let events = get(&path, "/");
        assert!(
            matches!(events.as_slice(), [ResponseEvent::Failed(500)]),
            "{events:?}"
        );
    }
    let exec = log_lines("Failed to exec Python script file");
    assert_eq!(
        exec.iter()
            .filter(|l| l.contains("importerror.wsgi"))
            .count(),
        2,
        "not cached: loaded twice"
    );
    let missing =
        log_lines("ModuleNotFoundError: No module named 'wsgid_module_that_does_not_exist'");
    assert_eq!(missing.len(), 2);
    assert!(!log_lines("Traceback (most recent call last):").is_empty());
}

#[test]
fn scripts_reload_when_their_mtime_changes() {
    let source = |v: &str| {
        format!(
            "{PRELUDE}\ndef application(environ, start_response):\n    return reply(start_response, {{'v': '{v}', 'name': __name__, 'file': __file__}})\n"
        )
    };
    let path = script("reload", &source("one"));
    let first = lines(&get(&path, "/"));
    assert_line(&first, "v='one'");
    let name = crate::interp::module_name_for(&path, false);
    assert_line(&first, &format!("name='{name}'"));
    assert_line(&first, &format!("file='{}'", path.display()));

    std::fs::write(&path, source("two")).expect("rewrite");
    let later = std::time::SystemTime::now() + Duration::from_secs(5);
    std::fs::File::options()
        .write(true)
        .open(&path)
        .and_then(|f| f.set_modified(later))
        .expect("set mtime");
    assert_line(&lines(&get(&path, "/")), "v='two'");
    assert!(
        log_lines("Reloading WSGI script")
            .iter()
            .any(|l| l.contains("reload.wsgi"))
    );

    // Without WSGIScriptReloading the loaded module stays.
    std::fs::write(&path, source("three")).expect("rewrite");
    let (mut req, rx) = request(&path, "/", body(&[]));
    req.script_reloading = false;
    assert_line(&lines(&run(req, rx)), "v='two'");
}

const ENV: &str = r#"
import mod_wsgi, threading
def application(environ, start_response):
    keys = ("wsgi.version", "wsgi.multithread", "wsgi.multiprocess", "wsgi.run_once",
            "wsgi.url_scheme", "wsgi.input_terminated", "mod_wsgi.version",
            "mod_wsgi.application_group", "mod_wsgi.callable_object", "REQUEST_METHOD",
            "PATH_INFO", "mod_wsgi.process_group")
    data = {k: environ[k] for k in keys}
    for k in ("apache.version", "mod_wsgi.thread_id", "mod_wsgi.thread_requests",
              "mod_wsgi.total_requests", "mod_wsgi.script_start"):
        data["type " + k] = type(environ[k]).__name__
    for k in ("wsgi.input", "wsgi.errors"):
        data["has " + k] = hasattr(environ[k], "read" if k == "wsgi.input" else "write")
    data["file_wrapper"] = environ["wsgi.file_wrapper"] is mod_wsgi.FileWrapper
    data["PATH"] = "PATH" in environ
    data["HTTPS"] = "HTTPS" in environ
    data["module"] = (mod_wsgi.version, mod_wsgi.process_group, mod_wsgi.application_group)
    data["argv"] = sys.argv
    data["main_thread"] = threading.current_thread() is threading.main_thread()
    return reply(start_response, data)
"#;

#[test]
fn environ_has_mod_wsgi_keys_and_types() {
    let path = script("env", &format!("{PRELUDE}{ENV}"));
    let l = lines(&get(&path, "/x"));
    for expected in [
        "wsgi.version=(1, 0)",
        "wsgi.multithread=True",
        "wsgi.multiprocess=False",
        "wsgi.run_once=False",
        "wsgi.url_scheme='http'",
        "wsgi.input_terminated=True",
        "mod_wsgi.version=(4, 9, 4)",
        "mod_wsgi.application_group='localhost|/app'",
        "mod_wsgi.callable_object='application'",
        "mod_wsgi.process_group=''",
        "REQUEST_METHOD='GET'",
        "PATH_INFO='/x'",
        "type apache.version='tuple'",
        "type mod_wsgi.thread_id='int'",
        "type mod_wsgi.thread_requests='int'",
        "type mod_wsgi.total_requests='int'",
        "type mod_wsgi.script_start='str'",
        "has wsgi.input=True",
        "has wsgi.errors=True",
        "file_wrapper=True",
        "PATH=False",
        "HTTPS=False",
        "module=((4, 9, 4), '', 'localhost|/app')",
        "argv=['mod_wsgi']",
    ] {
        assert_line(&l, expected);
    }
}
