//! Application groups as real sub-interpreters (issue 4): separate
//! `sys.modules` and globals per group, `%{ENV:...}` from each source,
//! script reloading under every `WSGIReloadMechanism`, C extensions inside
//! sub-interpreters.

use std::time::{Duration, SystemTime};

use crate::support::server;

/// A helper module shared by the scripts of one interpreter.
const HELPER: &str = "hits = 0\n";

/// Reports its group, its version, how often its own module (`hits`) and
/// the interpreter's helper module (`helper`) have served, and the marker a
/// script of the same interpreter may have put into `sys.modules`.
fn counting_app(version: &str) -> String {
    format!(
        r#"
import sys
if "@DIR@/lib" not in sys.path:
    sys.path.insert(0, "@DIR@/lib")
import helper

VERSION = "{version}"
hits = 0

def application(environ, start_response):
    global hits
    hits += 1
    helper.hits += 1
    if environ.get("QUERY_STRING") == "mark":
        sys.modules["wsgid_marker"] = sys
    body = "group=%s\nversion=%s\nhits=%d\nhelper=%d\nmarker=%s\n" % (
        environ["mod_wsgi.application_group"], VERSION, hits, helper.hits,
        "wsgid_marker" in sys.modules)
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [body.encode()]
"#
    )
}

#[test]
fn groups_have_their_own_modules_and_globals() {
    let site = "\
WSGIScriptAlias /a-one @DIR@/a.wsgi
WSGIScriptAlias /b-one @DIR@/b.wsgi
WSGIScriptAlias /a-two @DIR@/a.wsgi
<Location /a-one>
    WSGIApplicationGroup one
</Location>
<Location /b-one>
    WSGIApplicationGroup one
</Location>
<Location /a-two>
    WSGIApplicationGroup two
</Location>
";
    let s = server(site)
        .file("lib/helper.py", HELPER)
        .file("a.wsgi", counting_app("a"))
        .file("b.wsgi", counting_app("b"))
        .start();
    // (path, group, script hits, helper hits, marker seen)
    let steps = [
        ("/a-one?mark", "one", "1", "1", "True"),
        // Same group, another script: the helper module and sys.modules
        // are shared, the script's own globals are not.
        ("/b-one", "one", "1", "2", "True"),
        // Same script file in another group: nothing is shared.
        ("/a-two", "two", "1", "1", "False"),
        ("/a-one", "one", "2", "3", "True"),
        ("/a-two", "two", "2", "2", "False"),
    ];
    for (path, group, hits, helper, marker) in steps {
        let r = s.get(path);
        assert_eq!(r.status, 200, "GET {path}: {}", r.describe());
        assert_eq!(r.var("group"), group, "GET {path}");
        assert_eq!(r.var("hits"), hits, "GET {path}: the script's globals");
        assert_eq!(r.var("helper"), helper, "GET {path}: the helper module");
        assert_eq!(r.var("marker"), marker, "GET {path}: sys.modules");
    }
    let log = s.error_log();
    for name in ["one", "two"] {
        assert_eq!(
            log.matches(&format!("Create interpreter '{name}'."))
                .count(),
            1,
            "each group's interpreter is created once:\n{log}"
        );
    }
}

#[test]
fn env_group_comes_from_setenv_setenvif_and_rewrite() {
    let site = "\
SetEnvIf Request_URI ^/by-setenvif PICK=picked
RewriteEngine On
RewriteRule ^/by-rewrite - [E=PICK:picked]
WSGIScriptAliasMatch ^/by-[a-z]+ @DIR@/a.wsgi
WSGIApplicationGroup %{ENV:PICK}
<Location /by-setenv>
    SetEnv PICK picked
</Location>
<Location /by-other>
    SetEnv PICK elsewhere
</Location>
";
    let s = server(site)
        .file("lib/helper.py", HELPER)
        .file("a.wsgi", counting_app("a"))
        .start();
    let steps = [
        ("/by-setenv", "picked", "1"),
        ("/by-setenvif", "picked", "2"),
        ("/by-rewrite", "picked", "3"),
        ("/by-other", "elsewhere", "1"),
    ];
    for (path, group, helper) in steps {
        let r = s.get(path);
        assert_eq!(r.status, 200, "GET {path}: {}", r.describe());
        assert_eq!(r.var("group"), group, "GET {path}");
        assert_eq!(r.var("helper"), helper, "GET {path}: shared interpreter");
    }
}

/// Replace a script with a new version and move its mtime forward, so the
/// change is seen whatever the file system's timestamp granularity.
fn touch_new_version(path: &std::path::Path, version: &str) {
    std::fs::write(path, counting_app(version).replace("@DIR@", &dir_of(path)))
        .expect("rewrite script");
    let later = SystemTime::now() + Duration::from_secs(5);
    std::fs::File::options()
        .write(true)
        .open(path)
        .and_then(|f| f.set_modified(later))
        .expect("move mtime forward");
}

fn dir_of(script: &std::path::Path) -> String {
    script
        .parent()
        .expect("script has a parent")
        .display()
        .to_string()
}

#[test]
fn reload_mechanisms() {
    let site = "\
WSGIScriptAlias /module @DIR@/module.wsgi
WSGIScriptAlias /interpreter @DIR@/interpreter.wsgi
WSGIScriptAlias /process @DIR@/process.wsgi
WSGIScriptAlias /default @DIR@/default.wsgi
WSGIScriptAlias /off @DIR@/off.wsgi
WSGIScriptAlias /global @DIR@/global.wsgi
<Location /module>
    WSGIApplicationGroup g-module
    WSGIReloadMechanism Module
</Location>
<Location /interpreter>
    WSGIApplicationGroup g-interpreter
    WSGIReloadMechanism Interpreter
</Location>
<Location /process>
    WSGIApplicationGroup g-process
    WSGIReloadMechanism Process
</Location>
<Location /default>
    WSGIApplicationGroup g-default
</Location>
<Location /off>
    WSGIApplicationGroup g-off
    WSGIReloadMechanism Interpreter
    WSGIScriptReloading Off
</Location>
<Location /global>
    WSGIApplicationGroup %{GLOBAL}
    WSGIReloadMechanism Interpreter
</Location>
";
    let names = [
        "module",
        "interpreter",
        "process",
        "default",
        "off",
        "global",
    ];
    let mut b = server(site).file("lib/helper.py", HELPER);
    for name in names {
        b = b.file(&format!("{name}.wsgi"), counting_app("v1"));
    }
    let s = b.start();
    for name in names {
        for n in ["1", "2"] {
            let r = s.get(&format!("/{name}"));
            assert_eq!(r.status, 200, "GET /{name}: {}", r.describe());
            assert_eq!(r.var("hits"), n, "GET /{name}");
        }
        touch_new_version(&s.path(&format!("{name}.wsgi")), "v2");
    }
    // (name, version, script hits, helper hits) after the change.
    let expected = [
        // Module: a fresh script module; other modules stay.
        ("module", "v2", "1", "3"),
        // Interpreter: a fresh interpreter, so a fresh helper too.
        ("interpreter", "v2", "1", "1"),
        // Process in embedded mode: as Module.
        ("process", "v2", "1", "3"),
        // The default is Module.
        ("default", "v2", "1", "3"),
        // Reloading off: the old code keeps running.
        ("off", "v1", "3", "3"),
        // %{GLOBAL} cannot be destroyed: as Module.
        ("global", "v2", "1", "3"),
    ];
    for (name, version, hits, helper) in expected {
        let r = s.get(&format!("/{name}"));
        assert_eq!(r.status, 200, "GET /{name}: {}", r.describe());
        assert_eq!(r.var("version"), version, "GET /{name}: version");
        assert_eq!(r.var("hits"), hits, "GET /{name}: script module");
        assert_eq!(r.var("helper"), helper, "GET /{name}: helper module");
    }
    s.wait_for_log(
        &["Destroy interpreter 'g-interpreter'."],
        Duration::from_secs(5),
    );
    let log = s.error_log();
    assert!(
        log.contains("Destroy interpreter 'g-interpreter'."),
        "the replaced interpreter is destroyed:\n{log}"
    );
    assert_eq!(
        log.matches("Create interpreter 'g-interpreter'.").count(),
        2,
        "{log}"
    );
    // Still serving after the interpreter was destroyed.
    let r = s.get("/interpreter");
    assert_eq!(r.var("hits"), "2", "{}", r.describe());
}

/// Standard-library C extensions work inside sub-interpreters (and in a
/// second one, which single-phase-init extensions get wrong).
#[test]
fn c_extensions_work_in_sub_interpreters() {
    let app = r#"
import json, sqlite3, decimal, ssl, socket

def application(environ, start_response):
    db = sqlite3.connect(":memory:")
    total = db.execute("select 40 + 2").fetchone()[0]
    db.close()
    ctx = ssl.create_default_context()
    body = json.dumps({
        "group": environ["mod_wsgi.application_group"],
        "sqlite": total,
        "decimal": str(decimal.Decimal("1.10") + decimal.Decimal("2.20")),
        "ssl": ctx.verify_mode == ssl.CERT_REQUIRED,
        "socket": bool(socket.gethostname()),
    }, sort_keys=True)
    start_response("200 OK", [("Content-Type", "application/json")])
    return [body.encode()]
"#;
    let site = "\
WSGIScriptAlias /first @DIR@/ext.wsgi
WSGIScriptAlias /second @DIR@/ext.wsgi
<Location /first>
    WSGIApplicationGroup first
</Location>
<Location /second>
    WSGIApplicationGroup second
</Location>
";
    let s = server(site).file("ext.wsgi", app).start();
    for group in ["first", "second", "first"] {
        let r = s.get(&format!("/{group}"));
        assert_eq!(r.status, 200, "GET /{group}: {}", r.describe());
        assert_eq!(
            r.text(),
            format!(
                r#"{{"decimal": "3.30", "group": "{group}", "socket": true, "sqlite": 42, "ssl": true}}"#
            ),
            "GET /{group}"
        );
    }
}

/// Records, at import, which thread loaded it and whether a request had
/// been served yet.
const PRELOADED_APP: &str = r#"
import builtins, threading

builtins.wsgid_loads = getattr(builtins, "wsgid_loads", 0) + 1
LOADED_ON_MAIN_THREAD = threading.current_thread() is threading.main_thread()
LOADED_BEFORE_REQUESTS = not getattr(builtins, "wsgid_requests", 0)

def application(environ, start_response):
    builtins.wsgid_requests = getattr(builtins, "wsgid_requests", 0) + 1
    body = "group=%s\nloads=%d\nmain=%s\nbefore=%s\nrequest_on_main=%s\n" % (
        environ["mod_wsgi.application_group"], builtins.wsgid_loads,
        LOADED_ON_MAIN_THREAD, LOADED_BEFORE_REQUESTS,
        threading.current_thread() is threading.main_thread())
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [body.encode()]
"#;

#[test]
fn import_scripts_run_before_the_first_request() {
    let site = "\
LogLevel info
WSGIImportScript @DIR@/app.wsgi process-group=%{GLOBAL} application-group=preloaded
WSGIImportScript @DIR@/global.wsgi process-group=%{GLOBAL} application-group=%{GLOBAL}
WSGIScriptAlias /preloaded @DIR@/app.wsgi
WSGIScriptAlias /lazy @DIR@/app.wsgi
WSGIScriptAlias /global @DIR@/global.wsgi
<Location /preloaded>
    WSGIApplicationGroup preloaded
</Location>
<Location /lazy>
    WSGIApplicationGroup lazy
</Location>
<Location /global>
    WSGIApplicationGroup %{GLOBAL}
</Location>
";
    let s = server(site)
        .file("app.wsgi", PRELOADED_APP)
        .file("global.wsgi", PRELOADED_APP)
        .start();
    // Loaded at start, on Python's main thread, before any request; the
    // request finds the module loaded (one load) and runs on a request
    // thread.
    for path in ["/preloaded", "/global"] {
        let r = s.get(path);
        assert_eq!(r.status, 200, "GET {path}: {}", r.describe());
        assert_eq!(r.var("loads"), "1", "GET {path}");
        assert_eq!(
            r.var("main"),
            "True",
            "GET {path}: loaded on the main thread"
        );
        assert_eq!(
            r.var("before"),
            "True",
            "GET {path}: loaded before requests"
        );
        assert_eq!(r.var("request_on_main"), "False", "GET {path}");
    }
    // Without an import script: loaded by the first request.
    let r = s.get("/lazy");
    assert_eq!(r.var("group"), "lazy", "{}", r.describe());
    assert_eq!(r.var("loads"), "1");
    assert_eq!(r.var("before"), "True");
    let log = s.error_log();
    let app = s.path("app.wsgi").display().to_string();
    assert!(
        log.contains(&format!(
            "mod_wsgi (pid={pid}, process='', application='preloaded'): Loading Python script file '{app}'.",
            pid = s.worker_pids()[0]
        )),
        "{log}"
    );
}

#[test]
fn import_script_errors_follow_mod_wsgi() {
    for (args, message) in [
        ("", "Location of import script not supplied."),
        ("@DIR@/x.py", "Name of WSGI application group required."),
        (
            "@DIR@/x.py application-group=a",
            "Name of WSGI process group required.",
        ),
        (
            "@DIR@/x.py process-group=daemon application-group=a",
            "WSGI process group not yet configured.",
        ),
        (
            "@DIR@/x.py process-group=%{ENV:X} application-group=a",
            "WSGI process group not yet configured.",
        ),
        (
            "@DIR@/x.py application-group=",
            "Invalid name for WSGI application group.",
        ),
        (
            "@DIR@/x.py colour=blue",
            "Invalid option to WSGI import script definition.",
        ),
    ] {
        let p = server(&format!("WSGIImportScript {args}\n")).prepare();
        let out = p.config_test();
        assert!(
            out.stderr.contains(message) && out.stderr.contains("Syntax error on line"),
            "WSGIImportScript {args}: {}",
            out.stderr
        );
    }
}

/// An extension that refuses sub-interpreters (a stand-in raising PyO3's
/// exact ImportError, the most common case) gets a 500 and a log line that
/// names the fix.
#[test]
fn module_refusing_sub_interpreters_names_the_global_group() {
    let app = r#"
import sys
if "@DIR@/lib" not in sys.path:
    sys.path.insert(0, "@DIR@/lib")
import refuses

def application(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"ok"]
"#;
    let refuses = r#"
import sys
if sys.modules.get("mod_wsgi") and sys.modules["mod_wsgi"].application_group:
    raise ImportError("PyO3 modules do not yet support subinterpreters, see https://github.com/PyO3/pyo3/issues/576")
"#;
    let site = "\
WSGIScriptAlias /sub @DIR@/app.wsgi
WSGIScriptAlias /main @DIR@/app.wsgi
<Location /sub>
    WSGIApplicationGroup sub
</Location>
<Location /main>
    WSGIApplicationGroup %{GLOBAL}
</Location>
";
    let s = server(site)
        .file("app.wsgi", app)
        .file("lib/refuses.py", refuses)
        .start();
    assert_eq!(s.get("/sub").status, 500);
    assert_eq!(s.get("/main").status, 200);
    let log = s.error_log();
    assert!(
        log.contains("ImportError: PyO3 modules do not yet support subinterpreters")
            && log.contains(
                "run the application in the main interpreter with 'WSGIApplicationGroup %{GLOBAL}'."
            ),
        "{log}"
    );
}

/// The restrictions apply in every interpreter, not only the main one.
#[test]
fn restrictions_apply_in_sub_interpreters() {
    let app = r#"
def application(environ, start_response):
    try:
        print("hello")
        outcome = "printed"
    except OSError as e:
        outcome = str(e)
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [("outcome=%s\n" % outcome).encode()]
"#;
    let site = "\
WSGIScriptAlias /sub @DIR@/app.wsgi
<Location /sub>
    WSGIApplicationGroup sub
</Location>
";
    let s = server(site).file("app.wsgi", app).start();
    let r = s.get("/sub");
    assert_eq!(
        r.var("outcome"),
        "sys.stdout access restricted by mod_wsgi",
        "{}",
        r.describe()
    );
}
