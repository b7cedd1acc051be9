//! The host's whole life in one process: start-up options
//! (`WSGIPythonPath` with a `.pth` file, `WSGIPythonEggs`, optimisation),
//! serving, shutdown with atexit callbacks, refusing work afterwards, and
//! refusing a second start.

use std::time::Duration;

use bytes::Bytes;
use wsgid_log::{ErrorLog, Level};
use wsgid_python::{
    BodyError, PythonConfig, PythonError, PythonHost, RequestBody, ResponseEvent, WsgiRequest,
};

struct NoBody;

impl RequestBody for NoBody {
    fn next_chunk(&mut self) -> Result<Option<Bytes>, BodyError> {
        Ok(None)
    }
}

const APP: &str = r#"
import atexit, os, sys
MARK = os.path.join(os.path.dirname(__file__), "atexit-ran")
atexit.register(lambda: open(MARK, "w").close())

def application(environ, start_response):
    import extra_module
    body = "\n".join([
        "path0=%s" % sys.path[0],
        "pth=%s" % extra_module.NAME,
        "eggs=%s" % os.environ.get("PYTHON_EGG_CACHE"),
        "optimize=%d" % sys.flags.optimize,
    ]).encode()
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [body]
"#;

fn request(script: &std::path::Path, log: &ErrorLog) -> (WsgiRequest, wsgid_python::EventReceiver) {
    let (tx, rx) = wsgid_python::event_channel(4);
    let req = WsgiRequest {
        script: script.to_path_buf(),
        callable: "application".into(),
        application_group: String::new(),
        script_reloading: true,
        reload: wsgid_python::ReloadMechanism::Module,
        script_mtime: None,
        environ: [("REQUEST_METHOD", "GET")].into_iter().collect(),
        url_scheme: "http",
        body: Box::new(NoBody),
        client: None,
        error_log: log.clone(),
        events: tx,
    };
    (req, rx)
}

#[test]
fn start_serve_shutdown() {
    let dir = tempfile::tempdir().expect("tempdir");
    let site = dir.path().join("site");
    let extra = dir.path().join("extra");
    std::fs::create_dir_all(&site).expect("mkdir");
    std::fs::create_dir_all(&extra).expect("mkdir");
    std::fs::write(
        site.join("wsgid-test.pth"),
        format!("{}\n", extra.display()),
    )
    .expect("pth");
    std::fs::write(extra.join("extra_module.py"), "NAME = 'from-pth'\n").expect("module");
    let script = dir.path().join("app.wsgi");
    std::fs::write(&script, APP).expect("script");
    let log_path = dir.path().join("error.log");
    let log = ErrorLog::open(&log_path, Level::Info).expect("log");

    let cfg = PythonConfig {
        python_path: vec![site.clone()],
        python_eggs: Some(dir.path().join("eggs")),
        optimize: 1,
        threads: 1,
        multithread: false,
        multiprocess: true,
        ..PythonConfig::default()
    };
    let host = PythonHost::start(cfg.clone(), log.clone()).expect("start");
    assert!(PythonHost::runtime_version().contains("sys.prefix: "));

    let (req, mut rx) = request(&script, &log);
    host.submit(req).expect("submit");
    let event = rx.blocking_recv().expect("an event");
    let ResponseEvent::Complete(head, body) = event else {
        panic!("expected Complete, got {event:?}")
    };
    assert_eq!(head.status, 200);
    let body = String::from_utf8_lossy(&body).into_owned();
    assert!(
        body.contains(&format!("path0={}", site.display())),
        "{body}"
    );
    assert!(body.contains("pth=from-pth"), "{body}");
    assert!(
        body.contains(&format!("eggs={}", dir.path().join("eggs").display())),
        "{body}"
    );
    assert!(body.contains("optimize=1"), "{body}");

    host.shutdown();
    assert!(
        dir.path().join("atexit-ran").exists(),
        "atexit callbacks run at shutdown"
    );
    let (req, _rx) = request(&script, &log);
    assert!(host.submit(req).is_err(), "no work after shutdown");
    host.shutdown();

    let text = std::fs::read_to_string(&log_path).expect("log");
    for line in [
        "Initializing Python.",
        "Attach interpreter ''.",
        "to path.",
        "Terminating Python.",
    ] {
        assert!(text.contains(line), "missing {line:?} in\n{text}");
    }
    std::thread::sleep(Duration::from_millis(10));
    assert!(matches!(
        PythonHost::start(cfg, log),
        Err(PythonError::AlreadyStarted)
    ));
}
