//! Scripts selected by handler rather than alias (oracle case 04:
//! AddHandler + Options ExecCGI, SetHandler in a Location, `<Files>`
//! access), WSGICallableObject, and what happens when a script cannot be
//! loaded or its application fails (case 10, case 18): the answer, the
//! error log, and that the server keeps serving.

use std::time::Duration;

use crate::support::{TestServer, apps, server};

const LOG_WAIT: Duration = Duration::from_secs(5);

fn handler_site() -> TestServer {
    let site = "\
DocumentRoot @DIR@/htdocs
<Directory @DIR@/htdocs/cgi>
    Options ExecCGI
    AddHandler wsgi-script .wsgi
    <Files \"secret.wsgi\">
        Require all denied
    </Files>
</Directory>
<Directory @DIR@/htdocs/noexec>
    Options None
    AddHandler wsgi-script .wsgi
</Directory>
<Location /handled>
    SetHandler wsgi-script
    Options +ExecCGI
</Location>
";
    server(site)
        .file("htdocs/index.html", "<p>index</p>\n")
        .file("htdocs/cgi/env.wsgi", apps::ENVIRON)
        .file("htdocs/cgi/secret.wsgi", apps::ENVIRON)
        .file("htdocs/cgi/plain.txt", "plain text file\n")
        .file("htdocs/noexec/env.wsgi", apps::ENVIRON)
        .file("htdocs/handled/app.py", apps::ENVIRON)
        .start()
}

#[test]
fn add_handler_with_exec_cgi_runs_scripts() {
    let s = handler_site();
    let r = s.get("/cgi/env.wsgi/extra?x=1");
    assert_eq!(r.status, 200, "{}", r.describe());
    assert_eq!(r.var("SCRIPT_NAME"), "/cgi/env.wsgi");
    assert_eq!(r.var("PATH_INFO"), "/extra");
    assert_eq!(
        r.var("SCRIPT_FILENAME"),
        s.path("htdocs/cgi/env.wsgi").display().to_string()
    );
    assert_eq!(
        r.var("mod_wsgi.application_group"),
        format!("localhost:{}|/cgi/env.wsgi", s.port())
    );
    // A file without the handler's extension next to it is static.
    let r = s.get("/cgi/plain.txt");
    assert_eq!((r.status, r.text().as_str()), (200, "plain text file\n"));
    assert_eq!(r.header("Content-Type"), Some("text/plain"));
    let r = s.get("/cgi/missing.wsgi");
    assert_eq!(r.status, 404, "{}", r.describe());
}

#[test]
fn files_section_denies_one_script() {
    let s = handler_site();
    let r = s.get("/cgi/secret.wsgi");
    assert_eq!(r.status, 403, "{}", r.describe());
    assert_eq!(r.title().as_deref(), Some("403 Forbidden"));
}

#[test]
fn without_exec_cgi_the_handler_is_forbidden() {
    let s = handler_site();
    let r = s.get("/noexec/env.wsgi");
    assert_eq!(r.status, 403, "{}", r.describe());
    let line = s.wait_for_log(
        &[
            "Options ExecCGI is off in this directory",
            "noexec/env.wsgi",
        ],
        LOG_WAIT,
    );
    assert!(line.is_some(), "no ExecCGI line in:\n{}", s.error_log());
}

#[test]
fn set_handler_in_location_runs_any_file() {
    let s = handler_site();
    let r = s.get("/handled/app.py/pi");
    assert_eq!(r.status, 200, "{}", r.describe());
    assert_eq!(r.var("SCRIPT_NAME"), "/handled/app.py");
    assert_eq!(r.var("PATH_INFO"), "/pi");
    assert_eq!(r.var("mod_wsgi.request_handler"), "wsgi-script");
    assert_eq!(s.get("/handled/none.py").status, 404);
    let r = s.get("/");
    assert_eq!((r.status, r.text().as_str()), (200, "<p>index</p>\n"));
}

const CALLABLES: &str = r#"
def app(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"called=app;callable_object=" + environ["mod_wsgi.callable_object"].encode()]

def application(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"called=application;callable_object=" + environ["mod_wsgi.callable_object"].encode()]
"#;

fn failing_site() -> TestServer {
    let site = "\
WSGIScriptAlias /custom @DIR@/custom.wsgi
WSGIScriptAlias /default @DIR@/custom.wsgi
WSGIScriptAlias /nocallable @DIR@/nocallable.wsgi
WSGIScriptAlias /notcallable @DIR@/notcallable.wsgi
WSGIScriptAlias /syntaxerror @DIR@/syntaxerror.wsgi
WSGIScriptAlias /importerror @DIR@/importerror.wsgi
WSGIScriptAlias /ok @DIR@/ok.wsgi
<Location /custom>
    WSGICallableObject app
</Location>
";
    server(site)
        .file("custom.wsgi", CALLABLES)
        .file(
            "nocallable.wsgi",
            "def something_else(environ, start_response):\n    pass\n",
        )
        .file("notcallable.wsgi", "application = 42\n")
        .file(
            "syntaxerror.wsgi",
            "def application(environ, start_response)\n    return []\n",
        )
        .file(
            "importerror.wsgi",
            "import wsgid_module_that_does_not_exist\n\ndef application(e, s):\n    pass\n",
        )
        .file("ok.wsgi", apps::text_app("still fine"))
        .start()
}

#[test]
fn callable_object_selects_the_function() {
    let s = failing_site();
    let r = s.get("/custom");
    assert_eq!(
        (r.status, r.text().as_str()),
        (200, "called=app;callable_object=app"),
        "{}",
        r.describe()
    );
    let r = s.get("/default");
    assert_eq!(
        (r.status, r.text().as_str()),
        (200, "called=application;callable_object=application")
    );
}

#[test]
fn missing_callable_is_404_with_log_line() {
    // mod_wsgi answers 404 (not 500) when the callable is absent.
    let s = failing_site();
    let r = s.get("/nocallable");
    assert_eq!(r.status, 404, "{}", r.describe());
    let script = s.path("nocallable.wsgi").display().to_string();
    let expected =
        format!("Target WSGI script '{script}' does not contain WSGI application 'application'.");
    assert!(
        s.wait_for_log(&[&expected], LOG_WAIT).is_some(),
        "no {expected:?} in:\n{}",
        s.error_log()
    );
}

#[test]
fn callable_that_is_not_callable_is_500() {
    let s = failing_site();
    let r = s.get("/notcallable");
    assert_eq!(r.status, 500, "{}", r.describe());
    assert_eq!(r.title().as_deref(), Some("500 Internal Server Error"));
    let script = s.path("notcallable.wsgi").display().to_string();
    let expected = format!("Exception occurred processing WSGI script '{script}'.");
    assert!(
        s.wait_for_log(&[&expected], LOG_WAIT).is_some(),
        "no {expected:?} in:\n{}",
        s.error_log()
    );
    let te = s.wait_for_log(
        &["[wsgi:error]", "TypeError: 'int' object is not callable"],
        LOG_WAIT,
    );
    assert!(te.is_some(), "no TypeError line in:\n{}", s.error_log());
}

#[test]
fn syntax_error_in_script_is_500_and_logged() {
    let s = failing_site();
    let r = s.get("/syntaxerror");
    assert_eq!(r.status, 500, "{}", r.describe());
    let script = s.path("syntaxerror.wsgi").display().to_string();
    let compile = format!("Could not read/compile source file '{script}'.");
    assert!(
        s.wait_for_log(&[&compile], LOG_WAIT).is_some(),
        "no {compile:?} in:\n{}",
        s.error_log()
    );
    let syntax = s.wait_for_log(&["[wsgi:error]", "SyntaxError"], LOG_WAIT);
    assert!(
        syntax.is_some(),
        "no SyntaxError line in:\n{}",
        s.error_log()
    );
    assert_eq!(s.get("/ok").text(), "still fine");
}

#[test]
fn import_error_is_500_every_time() {
    let s = failing_site();
    let r = s.get("/importerror");
    assert_eq!(r.status, 500, "{}", r.describe());
    let script = s.path("importerror.wsgi").display().to_string();
    let failed = format!("Failed to exec Python script file '{script}'.");
    assert!(
        s.wait_for_log(&[&failed], LOG_WAIT).is_some(),
        "no {failed:?} in:\n{}",
        s.error_log()
    );
    let exc = "ModuleNotFoundError: No module named 'wsgid_module_that_does_not_exist'";
    assert!(
        s.wait_for_log(&[exc], LOG_WAIT).is_some(),
        "no {exc:?} in:\n{}",
        s.error_log()
    );
    assert!(
        s.wait_for_log(&["Traceback (most recent call last):"], LOG_WAIT)
            .is_some(),
        "{}",
        s.error_log()
    );
    // The failed module is not cached: a second request fails the same way.
    assert_eq!(s.get("/importerror").status, 500);
    let count = s.error_log().matches(&failed).count();
    assert_eq!(
        count,
        2,
        "the script must be executed again:\n{}",
        s.error_log()
    );
}

const RAISING: &str = r#"
def application(environ, start_response):
    p = environ["PATH_INFO"]
    if p == "/raise":
        raise RuntimeError("wsgid test application error")
    if p == "/raise-in-iter":
        def gen():
            start_response("200 OK", [("Content-Type", "text/plain")])
            yield b"before-error;"
            raise RuntimeError("wsgid test error while iterating")
        return gen()
    if p == "/raise-before-first-chunk":
        def gen():
            start_response("200 OK", [("Content-Type", "text/plain")])
            raise RuntimeError("wsgid test error before first chunk")
            yield b""
        return gen()
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"fine"]
"#;

#[test]
fn exception_before_start_response_is_500_with_traceback() {
    let s = server("WSGIScriptAlias /r @DIR@/r.wsgi\n")
        .file("r.wsgi", RAISING)
        .start();
    let r = s.get("/r/raise");
    assert_eq!(r.status, 500, "{}", r.describe());
    assert_eq!(r.title().as_deref(), Some("500 Internal Server Error"));
    let script = s.path("r.wsgi").display().to_string();
    let header = format!("Exception occurred processing WSGI script '{script}'.");
    assert!(
        s.wait_for_log(&[&header], LOG_WAIT).is_some(),
        "{}",
        s.error_log()
    );
    assert!(
        s.wait_for_log(
            &["[wsgi:error]", "Traceback (most recent call last):"],
            LOG_WAIT
        )
        .is_some()
    );
    let last = s.wait_for_log(
        &["[wsgi:error]", "RuntimeError: wsgid test application error"],
        LOG_WAIT,
    );
    assert!(last.is_some(), "{}", s.error_log());
    assert!(
        s.error_log()
            .contains(&format!("File \"{script}\", line 5, in application")),
        "{}",
        s.error_log()
    );
    let r = s.get("/r/ok");
    assert_eq!((r.status, r.text().as_str()), (200, "fine"));
}

#[test]
fn exception_while_streaming_truncates_the_response() {
    let s = server("WSGIScriptAlias /r @DIR@/r.wsgi\n")
        .file("r.wsgi", RAISING)
        .start();
    let r = s.get("/r/raise-in-iter");
    assert_eq!(r.status, 200, "{}", r.describe());
    assert_eq!(r.text(), "before-error;");
    assert!(
        r.truncated,
        "the body must end abnormally: {}",
        r.describe()
    );
    let line = s.wait_for_log(
        &["RuntimeError: wsgid test error while iterating"],
        LOG_WAIT,
    );
    assert!(line.is_some(), "{}", s.error_log());
    // Nothing was sent yet when the generator failed: a clean 500.
    let r = s.get("/r/raise-before-first-chunk");
    assert_eq!(r.status, 500, "{}", r.describe());
    assert!(!r.truncated);
    // And the server goes on serving.
    let r = s.get("/r/ok");
    assert_eq!((r.status, r.text().as_str()), (200, "fine"));
}

#[test]
fn force_type_sets_a_static_type_and_a_wsgi_type_runs_the_script() {
    let s = server(
        "Alias /f/ @DIR@/f/\n\
         <Directory @DIR@/f>\n\
             Require all granted\n\
             Options ExecCGI\n\
             <Files \"page.html\">\n\
                 ForceType Text/X-Forced\n\
             </Files>\n\
             <Files \"run.py\">\n\
                 ForceType application/x-httpd-wsgi\n\
             </Files>\n\
             AddType application/x-httpd-wsgi .wsgi\n\
         </Directory>\n",
    )
    .file("f/page.html", "<p>x</p>")
    .file("f/run.py", apps::ENVIRON)
    .file("f/added.wsgi", apps::ENVIRON)
    .start();
    let r = s.get("/f/page.html");
    assert_eq!(
        r.header("Content-Type"),
        Some("text/x-forced"),
        "{}",
        r.describe()
    );
    // The type is the handler's name when no handler is set.
    for path in ["/f/run.py", "/f/added.wsgi"] {
        let r = s.get(path);
        assert_eq!(r.status, 200, "{}", r.describe());
        assert_eq!(
            r.var("mod_wsgi.request_handler"),
            "application/x-httpd-wsgi",
            "{}",
            r.describe()
        );
    }
}
