//! Tests that run real WSGI scripts through one shared `PythonHost`.
//!
//! CPython can be initialised once per process, so every test in this
//! binary uses the same host (two request threads) and the same error log;
//! tests write their own scripts into the shared temp dir and look for their
//! own markers in the log.

mod environ;
mod input_errors;
mod request_objects;
mod response;
mod script;

use std::collections::VecDeque;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::Duration;

use bytes::Bytes;
use wsgid_log::{ErrorLog, Level};

use crate::{
    BodyError, PythonConfig, PythonHost, RequestBody, ResponseEvent, ResponseHead, WsgiRequest,
};

pub(crate) struct Harness {
    pub host: PythonHost,
    pub dir: tempfile::TempDir,
    pub log_path: PathBuf,
}

pub(crate) fn harness() -> &'static Harness {
    static HARNESS: OnceLock<Harness> = OnceLock::new();
    HARNESS.get_or_init(|| {
        let dir = tempfile::tempdir().expect("tempdir");
        let log_path = dir.path().join("error.log");
        let log = ErrorLog::open(&log_path, Level::Debug).expect("open log");
        let cfg = PythonConfig {
            threads: 2,
            multithread: true,
            multiprocess: false,
            ..PythonConfig::default()
        };
        let host = PythonHost::start(cfg, log).expect("start host");
        Harness {
            host,
            dir,
            log_path,
        }
    })
}

/// Write `source` as `<name>.wsgi` in the shared directory, atomically
/// (tests run in parallel and may (re)write the same script).
pub(crate) fn script(name: &str, source: &str) -> PathBuf {
    static SEQ: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let dir = harness().dir.path();
    let path = dir.join(format!("{name}.wsgi"));
    let n = SEQ.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let tmp = dir.join(format!(".{name}.{n}.tmp"));
    std::fs::write(&tmp, source).expect("write script");
    std::fs::rename(&tmp, &path).expect("rename script");
    path
}

/// A request body delivered in the given chunks, optionally ending in an error.
pub(crate) struct ChunkedBody {
    pub chunks: VecDeque<Bytes>,
    pub error: Option<BodyError>,
}

impl RequestBody for ChunkedBody {
    fn next_chunk(&mut self) -> Result<Option<Bytes>, BodyError> {
        match self.chunks.pop_front() {
            Some(c) => Ok(Some(c)),
            None => match self.error.take() {
                Some(e) => Err(e),
                None => Ok(None),
            },
        }
    }
}

pub(crate) fn body(chunks: &[&str]) -> Box<ChunkedBody> {
    Box::new(ChunkedBody {
        chunks: chunks
            .iter()
            .map(|c| Bytes::copy_from_slice(c.as_bytes()))
            .collect(),
        error: None,
    })
}

pub(crate) fn request(
    script: &Path,
    path_info: &str,
    body: Box<dyn RequestBody>,
) -> (WsgiRequest, crate::EventReceiver) {
    let script_filename = script.display().to_string();
    let environ = [
        ("REQUEST_METHOD", "GET"),
        ("PATH_INFO", path_info),
        ("SCRIPT_NAME", "/app"),
        ("SCRIPT_FILENAME", &script_filename),
        ("PATH", "/usr/bin"),
        ("HTTPS", "1"),
        ("mod_wsgi.process_group", ""),
    ]
    .into_iter()
    .collect();
    let (mut req, rx) = request_with(script, environ, "localhost|/app", body);
    req.client = Some("127.0.0.1:5555".parse().expect("addr"));
    (req, rx)
}

/// A request of `script` with exactly `environ` from the front end, in
/// application group `group`.
pub(crate) fn request_with(
    script: &Path,
    environ: crate::CgiEnv,
    group: &str,
    body: Box<dyn RequestBody>,
) -> (WsgiRequest, crate::EventReceiver) {
    let (tx, rx) = crate::event_channel(4);
    let log = ErrorLog::open(&harness().log_path, Level::Debug).expect("open log");
    let req = WsgiRequest {
        script: script.to_path_buf(),
        callable: "application".into(),
        application_group: group.into(),
        script_reloading: true,
        reload: crate::ReloadMechanism::Module,
        script_mtime: None,
        environ,
        url_scheme: "http",
        body,
        client: None,
        error_log: log,
        events: tx,
    };
    (req, rx)
}

/// Submit and collect the events up to the final one.
pub(crate) fn run(req: WsgiRequest, mut rx: crate::EventReceiver) -> Vec<ResponseEvent> {
    harness().host.submit(req).expect("submit");
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .expect("runtime");
    rt.block_on(async {
        let mut events = Vec::new();
        loop {
            match tokio::time::timeout(Duration::from_secs(20), rx.recv()).await {
                Ok(Some(ev)) => {
                    let done = ev.is_final();
                    events.push(ev);
                    if done {
                        break;
                    }
                }
                Ok(None) => break,
                Err(_) => panic!("timed out waiting for response events: {events:?}"),
            }
        }
        events
    })
}

/// Run `path_info` against `script` with an empty body.
pub(crate) fn get(script: &Path, path_info: &str) -> Vec<ResponseEvent> {
    let (req, rx) = request(script, path_info, body(&[]));
    run(req, rx)
}

/// The single `Complete` event's head and body.
pub(crate) fn complete(events: &[ResponseEvent]) -> (&ResponseHead, &[u8]) {
    match events {
        [ResponseEvent::Complete(head, body)] => (head, body),
        other => panic!("expected one Complete event, got {other:?}"),
    }
}

/// Head + body of a streamed response, and how it ended.
pub(crate) fn streamed(events: &[ResponseEvent]) -> (&ResponseHead, Vec<u8>, &ResponseEvent) {
    let Some((ResponseEvent::Head(head), rest)) = events.split_first() else {
        panic!("expected a Head first, got {events:?}");
    };
    let Some((last, chunks)) = rest.split_last() else {
        panic!("no final event: {events:?}");
    };
    let mut data = Vec::new();
    for c in chunks {
        match c {
            ResponseEvent::Chunk(b) => data.extend_from_slice(b),
            other => panic!("unexpected event {other:?}"),
        }
    }
    (head, data, last)
}

pub(crate) fn header<'h>(head: &'h ResponseHead, name: &str) -> Option<&'h str> {
    head.header(name)
}

/// Error-log lines containing `needle` (waits briefly: other threads log).
pub(crate) fn log_lines(needle: &str) -> Vec<String> {
    for _ in 0..50 {
        let text = std::fs::read_to_string(&harness().log_path).unwrap_or_default();
        let lines: Vec<String> = text
            .lines()
            .filter(|l| l.contains(needle))
            .map(str::to_owned)
            .collect();
        if !lines.is_empty() {
            return lines;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    Vec::new()
}

/// The message part of a log line (after the `[pid:tid]` field).
pub(crate) fn message(line: &str) -> &str {
    line.split_once("] [pid ")
        .and_then(|(_, rest)| rest.split_once("] "))
        .map_or(line, |(_, m)| m)
}

/// The standard prelude of test scripts: `reply` answers `key=repr(value)`
/// lines, which tests read back with [`lines`].
pub(crate) const PRELUDE: &str = r#"import os, sys
def reply(start_response, data, status='200 OK'):
    body = ''.join('%s=%r\n' % kv for kv in sorted(data.items())).encode()
    start_response(status, [('Content-Type', 'text/plain')])
    return [body]
"#;

/// The `key=repr` lines of a `reply` answer, as one string per line.
pub(crate) fn lines(events: &[ResponseEvent]) -> Vec<String> {
    let (_, body) = complete(events);
    String::from_utf8_lossy(body)
        .lines()
        .map(str::to_owned)
        .collect()
}

/// Assert that a `reply` answer contains `key=value`.
#[track_caller]
pub(crate) fn assert_line(lines: &[String], expected: &str) {
    assert!(
        lines.iter().any(|l| l == expected),
        "missing {expected:?} in {lines:#?}"
    );
}
