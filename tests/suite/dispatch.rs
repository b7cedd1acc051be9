//! `WSGIDispatchScript`: its `process_group()`, `application_group()` and
//! `callable_object()` choose for each request (repository oracle case
//! `44-dispatch-script` has the daemon-mode side).

use std::time::Duration;

use crate::support::{TestServer, server};

const WAIT: Duration = Duration::from_secs(5);

const DISPATCH: &str = r#"
def application_group(environ):
    if environ["QUERY_STRING"] == "own":
        return "chosen-group"
    return None

def callable_object(environ):
    q = environ["QUERY_STRING"]
    if q == "raise":
        raise RuntimeError("dispatch says no")
    if q == "bad":
        return 3
    if q == "other":
        return "other"
    return None
"#;

const APP: &str = r#"
def application(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [("application %s" % environ["mod_wsgi.application_group"]).encode()]

def other(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [("other %s" % environ["mod_wsgi.callable_object"]).encode()]
"#;

fn site() -> TestServer {
    server(
        "WSGIScriptAlias /app @DIR@/app.wsgi\n\
         WSGIApplicationGroup %{GLOBAL}\n\
         WSGIDispatchScript @DIR@/dispatch.py\n",
    )
    .file("app.wsgi", APP)
    .file("dispatch.py", DISPATCH)
    .start()
}

#[test]
fn the_script_chooses_the_group_and_the_callable() {
    let s = site();
    assert_eq!(s.get("/app").text(), "application ");
    assert_eq!(s.get("/app?own").text(), "application chosen-group");
    assert_eq!(s.get("/app?other").text(), "other other");
}

#[test]
fn a_failing_script_is_a_500_with_its_traceback() {
    let s = site();
    assert_eq!(s.get("/app?raise").status, 500);
    assert!(
        s.wait_for_log(&["RuntimeError: dispatch says no"], WAIT)
            .is_some(),
        "{}",
        s.diagnostics()
    );
    assert_eq!(s.get("/app?bad").status, 500);
    assert!(
        s.wait_for_log(
            &["TypeError: Callable object must be a string object"],
            WAIT
        )
        .is_some(),
        "{}",
        s.diagnostics()
    );
    // The server goes on.
    assert_eq!(s.get("/app").status, 200);
}
