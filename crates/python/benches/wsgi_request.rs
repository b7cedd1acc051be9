//! The Python side of one request, without the network: a `WsgiRequest` with
//! the environ the front end builds for `GET /hello` (36 entries, as wrk
//! sends it) goes to a request thread, which builds the environ, calls a
//! hello-world script and sends the response back.
//!
//! * `hello/same-names`: every request has the previous one's names (the
//!   usual case: one client, one URL), so the environ is a copy of the last
//!   one with the changed values set (`environ/cache.rs`).
//! * `hello/new-names`: two header sets alternate, so every environ is built
//!   entry by entry.
//!
//! Run with `cargo bench -p wsgid-python`.

use std::hint::black_box;
use std::time::Duration;

use bytes::Bytes;
use criterion::{Criterion, criterion_group, criterion_main};
use wsgid_log::{ErrorLog, Level};
use wsgid_python::{
    BodyError, CgiEnv, PythonConfig, PythonHost, RequestBody, ResponseEvent, WsgiRequest,
};

const HELLO: &str = r#"
def application(environ, start_response):
    start_response('200 OK', [('Content-Type', 'text/plain')])
    return [b'Hello, World!']
"#;

struct NoBody;

impl RequestBody for NoBody {
    fn next_chunk(&mut self) -> Result<Option<Bytes>, BodyError> {
        Ok(None)
    }
}

/// The front end's environ for `GET /hello` from wrk, with `extra` headers
/// and a per-request port and start time.
fn environ(script: &str, extra: &[(&str, &str)], n: u64) -> CgiEnv {
    let port = (40000 + n % 50).to_string();
    let start = (1_795_671_047_723_668 + n).to_string();
    let id = format!("1-{n}");
    [("HTTP_HOST", "127.0.0.1:18998")]
        .into_iter()
        .chain(extra.iter().copied())
        .chain([
            ("SERVER_SIGNATURE", ""),
            ("SERVER_SOFTWARE", "wsgid/0.1.0 (Unix)"),
            ("SERVER_NAME", "127.0.0.1"),
            ("SERVER_ADDR", "127.0.0.1"),
            ("SERVER_PORT", "18998"),
            ("REMOTE_ADDR", "127.0.0.1"),
            ("DOCUMENT_ROOT", "/var/www/html"),
            ("REQUEST_SCHEME", "http"),
            ("CONTEXT_PREFIX", ""),
            ("CONTEXT_DOCUMENT_ROOT", "/var/www/html"),
            ("SERVER_ADMIN", "[no address given]"),
            ("SCRIPT_FILENAME", script),
            ("REMOTE_PORT", &port),
            ("GATEWAY_INTERFACE", "CGI/1.1"),
            ("SERVER_PROTOCOL", "HTTP/1.1"),
            ("REQUEST_METHOD", "GET"),
            ("QUERY_STRING", ""),
            ("REQUEST_URI", "/hello"),
            ("SCRIPT_NAME", ""),
            ("PATH_INFO", "/hello"),
            ("PATH_TRANSLATED", "/srv/app.wsgi/hello"),
            ("mod_wsgi.script_name", ""),
            ("mod_wsgi.path_info", "/hello"),
            ("mod_wsgi.process_group", ""),
            ("mod_wsgi.application_group", ""),
            ("mod_wsgi.callable_object", "application"),
            ("mod_wsgi.request_handler", "wsgi-script"),
            ("mod_wsgi.handler_script", ""),
            ("mod_wsgi.script_reloading", "1"),
            ("mod_wsgi.listener_host", "127.0.0.1"),
            ("mod_wsgi.listener_port", "18998"),
            ("mod_wsgi.enable_sendfile", "0"),
            ("mod_wsgi.ignore_activity", "0"),
            ("mod_wsgi.request_start", &start),
            ("mod_wsgi.request_id", &id),
        ])
        .collect()
}

fn one_request(host: &PythonHost, script: &std::path::Path, environ: CgiEnv, log: &ErrorLog) {
    let (tx, mut rx) = wsgid_python::event_channel(4);
    let req = WsgiRequest {
        script: script.to_path_buf(),
        callable: "application".into(),
        application_group: String::new(),
        script_reloading: true,
        reload: wsgid_python::ReloadMechanism::Module,
        script_mtime: None,
        environ,
        url_scheme: "http",
        body: Box::new(NoBody),
        client: None,
        error_log: log.clone(),
        events: tx,
    };
    host.submit(req).expect("submit");
    match rx.blocking_recv() {
        Some(ResponseEvent::Complete(head, body)) => {
            assert_eq!(head.status, 200);
            black_box(body);
        }
        other => panic!("unexpected answer {other:?}"),
    }
}

fn bench(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("tempdir");
    let script = dir.path().join("hello.wsgi");
    std::fs::write(&script, HELLO).expect("write script");
    let log = ErrorLog::open(&dir.path().join("error.log"), Level::Warn).expect("log");
    let cfg = PythonConfig {
        threads: 1,
        multithread: true,
        multiprocess: true,
        ..PythonConfig::default()
    };
    let host = PythonHost::start(cfg, log.clone()).expect("start Python");
    let name = script.display().to_string();
    let mut group = c.benchmark_group("hello");
    group.measurement_time(Duration::from_secs(4));
    let mut n = 0;
    group.bench_function("same-names", |b| {
        b.iter(|| {
            n += 1;
            one_request(&host, &script, environ(&name, &[], n), &log);
        })
    });
    let firefox = [
        (
            "HTTP_USER_AGENT",
            "Mozilla/5.0 (X11; Linux x86_64) Firefox/120.0",
        ),
        ("HTTP_ACCEPT", "text/html,application/xhtml+xml"),
    ];
    let curl = [
        ("HTTP_USER_AGENT", "curl/7.88.1"),
        ("HTTP_ACCEPT", "*/*"),
        ("HTTP_X_ONE", "1"),
    ];
    group.bench_function("new-names", |b| {
        b.iter(|| {
            n += 1;
            let extra: &[(&str, &str)] = if n % 2 == 0 { &firefox } else { &curl };
            one_request(&host, &script, environ(&name, extra, n), &log);
        })
    });
    group.finish();
    host.shutdown();
}

criterion_group!(benches, bench);
criterion_main!(benches);
