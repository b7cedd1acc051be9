//! `WSGIHandlerScript` (repository oracle case `48-handler-script`): a
//! handler name that runs a script's `handle_request` for whatever file
//! the request maps to, in embedded mode and in a daemon process group,
//! and the module's `reload_required(resource)` hook.

use crate::support::server;

const HANDLER: &str = r#"
import os, sys

sys.__dict__["loads"] = sys.__dict__.get("loads", 0) + 1

def reload_required(resource):
    return resource.endswith("/fresh.txt")

def handle_request(environ, start_response):
    path = environ["SCRIPT_FILENAME"]
    body = open(path).read() if os.path.isfile(path) else "<none>\n"
    lines = [
        "pid=%d" % os.getpid(),
        "group=%s" % environ["mod_wsgi.process_group"],
        "handler=%s" % environ["mod_wsgi.handler_script"],
        "callable=%s" % environ["mod_wsgi.callable_object"],
        "loads=%d" % sys.__dict__["loads"],
        "body=" + body.strip(),
    ]
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [("\n".join(lines) + "\n").encode()]
"#;

#[test]
fn handler_scripts_serve_mapped_files() {
    let s = server(
        "WSGIDaemonProcess hs threads=2\n\
         Alias /pages/ @DIR@/pages/\n\
         Alias /daemon/ @DIR@/pages/\n\
         <Directory @DIR@/pages>\n\
             Require all granted\n\
             AddHandler page-handler .txt\n\
             WSGIHandlerScript page-handler @DIR@/handler.wsgi application-group=%{GLOBAL}\n\
         </Directory>\n\
         <Location /daemon/>\n\
             WSGIHandlerScript page-handler @DIR@/handler.wsgi process-group=hs application-group=%{GLOBAL}\n\
         </Location>\n",
    )
    .processes(1)
    .file("handler.wsgi", HANDLER)
    .file("pages/a.txt", "page a\n")
    .file("pages/fresh.txt", "fresh\n")
    .start();
    let handler = s.path("handler.wsgi").display().to_string();
    let env = s.get("/pages/a.txt").kv();
    assert_eq!(env["body"], "page a");
    assert_eq!(env["handler"], handler);
    assert_eq!(env["callable"], "handle_request");
    assert_eq!(env["group"], "");
    // A missing file is the script's to answer.
    assert_eq!(s.get("/pages/none.txt").kv()["body"], "<none>");
    // `reload_required` answers for the mapped file: the module is loaded
    // again for fresh.txt only.
    let before: u32 = s.get("/pages/a.txt").kv()["loads"].parse().unwrap_or(0);
    let after: u32 = s.get("/pages/fresh.txt").kv()["loads"].parse().unwrap_or(0);
    assert_eq!(after, before + 1);
    let again: u32 = s.get("/pages/a.txt").kv()["loads"].parse().unwrap_or(0);
    assert_eq!(again, after);
    // The process-group option sends it to the daemon.
    let env = s.get("/daemon/a.txt").kv();
    assert_eq!(env["group"], "hs");
    assert_eq!(env["body"], "page a");
    assert_ne!(env["pid"], s.get("/pages/a.txt").kv()["pid"]);
}

#[test]
fn handler_script_options_are_checked() {
    for (line, message) in [
        ("WSGIHandlerScript", "Name for handler script not supplied."),
        (
            "WSGIHandlerScript h",
            "Location of handler script not supplied.",
        ),
        (
            "WSGIHandlerScript h /x.wsgi callable-object=f",
            "Invalid option to WSGI handler script definition.",
        ),
        (
            "WSGIHandlerScript h /x.wsgi process-group=",
            "Invalid name for WSGI process group.",
        ),
        (
            "WSGIHandlerScript h /x.wsgi pass-authorization=maybe",
            "Invalid value for authorization flag.",
        ),
    ] {
        let out = server(line).prepare().config_test();
        assert_eq!(out.code(), Some(1), "{line}");
        assert!(out.stderr.contains(message), "{line}: {}", out.stderr);
    }
}
