//! Python output that ends up in the Apache error log: `wsgi.errors`,
//! `sys.stderr`/`sys.stdout`, and the "Exception occurred processing WSGI
//! script" report with its traceback.
//!
//! As in mod_wsgi (`wsgi_logger.c`), each complete line becomes one
//! `[wsgi:error]` line; output is line buffered (a write containing a newline
//! also flushes the incomplete rest, as `TextIOWrapper(line_buffering=True)`
//! does around mod_wsgi's log buffer).  `sys.stderr` and `sys.stdout` are
//! proxies: while a request thread serves a request they write into that
//! request's buffer (so lines carry `[client ...]`), otherwise into the main
//! log without a peer.
//!
//! Not here: choosing which `ErrorLog` a request uses (the front end does).

use std::cell::RefCell;
use std::sync::{Arc, Mutex, MutexGuard};

use pyo3::exceptions::{PyRuntimeError, PySystemExit, PyTypeError};
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyString};
use wsgid_log::{ErrorLog, Level, Peer};

/// The error-log module name mod_wsgi logs under.
pub(crate) const MODULE: &str = "wsgi";

/// A line buffer in front of an error log.
pub(crate) struct LogSink {
    log: ErrorLog,
    peer: Peer,
    partial: String,
    expired: bool,
}

/// A sink shared by `wsgi.errors` and the `sys.stderr` proxy of one request.
pub(crate) type SharedSink = Arc<Mutex<LogSink>>;

impl LogSink {
    pub(crate) fn shared(log: ErrorLog, peer: Peer) -> SharedSink {
        Arc::new(Mutex::new(LogSink {
            log,
            peer,
            partial: String::new(),
            expired: false,
        }))
    }

    /// Queue text: log every complete line, keep the rest.
    fn write(&mut self, text: &str) {
        let mut rest = text;
        while let Some(pos) = rest.find('\n') {
            let line = &rest[..pos];
            if self.partial.is_empty() {
                self.emit(line);
            } else {
                let mut joined = std::mem::take(&mut self.partial);
                joined.push_str(line);
                self.emit(&joined);
            }
            rest = &rest[pos + 1..];
        }
        self.partial.push_str(rest);
        if text.contains(['\n', '\r']) {
            self.flush();
        }
    }

    /// Log the incomplete line, if any.
    fn flush(&mut self) {
        if !self.partial.is_empty() {
            let line = std::mem::take(&mut self.partial);
            self.emit(&line);
        }
    }

    fn emit(&self, line: &str) {
        // One log line per output line, even if the text holds a CR.
        self.log.log(MODULE, Level::Error, self.peer, line);
    }

    /// Close a shared sink (end of the request).
    pub(crate) fn close_shared(sink: &SharedSink) {
        lock(sink).close();
    }

    /// A closed sink made ready for the next request (`request_objects.rs`).
    pub(crate) fn renew_shared(sink: &SharedSink, log: ErrorLog, peer: Peer) {
        let mut s = lock(sink);
        s.log = log;
        s.peer = peer;
        s.partial.clear();
        s.expired = false;
    }

    /// Flush and refuse further output ("log object has expired").
    pub(crate) fn close(&mut self) {
        if !self.expired {
            self.flush();
        }
        self.expired = true;
    }
}

fn lock(sink: &SharedSink) -> MutexGuard<'_, LogSink> {
    match sink.lock() {
        Ok(g) => g,
        Err(poisoned) => poisoned.into_inner(),
    }
}

thread_local! {
    /// The log buffer of the request this thread is serving, if any.
    static CURRENT: RefCell<Option<SharedSink>> = const { RefCell::new(None) };
}

/// While alive, `sys.stderr`/`sys.stdout` writes on this thread go to the
/// request's sink.
pub(crate) struct RequestLogScope(());

impl RequestLogScope {
    pub(crate) fn enter(sink: &SharedSink) -> RequestLogScope {
        CURRENT.with(|c| *c.borrow_mut() = Some(Arc::clone(sink)));
        RequestLogScope(())
    }
}

impl Drop for RequestLogScope {
    fn drop(&mut self) {
        CURRENT.with(|c| *c.borrow_mut() = None);
    }
}

enum Target {
    /// `wsgi.errors` of one request.
    Request(SharedSink),
    /// `sys.stderr`/`sys.stdout`: the current request's sink, else this one.
    Proxy(SharedSink),
}

/// The file-like log object (`mod_wsgi.Log`).
///
/// A `#[pyclass]`: its type object is process-wide (pyo3), shared by every
/// interpreter as mod_wsgi's static types are (see the README).
#[pyclass(module = "mod_wsgi", name = "Log")]
pub(crate) struct LogStream {
    target: Target,
    name: &'static str,
}

impl LogStream {
    /// `wsgi.errors` for one request.
    pub(crate) fn for_request(sink: SharedSink) -> LogStream {
        LogStream {
            target: Target::Request(sink),
            name: "<wsgi.errors>",
        }
    }

    /// A `sys.stderr`/`sys.stdout` replacement; `fallback` is the main log.
    pub(crate) fn proxy(fallback: ErrorLog, name: &'static str) -> LogStream {
        LogStream {
            target: Target::Proxy(LogSink::shared(fallback, Peer::None)),
            name,
        }
    }

    fn with_sink<R>(&self, f: impl FnOnce(&mut LogSink) -> R) -> R {
        match &self.target {
            Target::Request(sink) => f(&mut lock(sink)),
            Target::Proxy(fallback) => {
                let current = CURRENT.with(|c| c.borrow().clone());
                match current {
                    Some(sink) => f(&mut lock(&sink)),
                    None => f(&mut lock(fallback)),
                }
            }
        }
    }

    fn live_sink<R>(&self, f: impl FnOnce(&mut LogSink) -> R) -> PyResult<R> {
        self.with_sink(|sink| {
            if sink.expired {
                Err(PyRuntimeError::new_err("log object has expired"))
            } else {
                Ok(f(sink))
            }
        })
    }
}

#[pymethods]
impl LogStream {
    /// Queue `data` (str, or bytes decoded as UTF-8); returns its length.
    fn write(&self, data: &Bound<'_, PyAny>) -> PyResult<usize> {
        let (text, len) = if let Ok(s) = data.cast::<PyString>() {
            let text = s.to_string_lossy().into_owned();
            let len = s.len()?;
            (text, len)
        } else if let Ok(b) = data.cast::<PyBytes>() {
            let bytes = b.as_bytes();
            (String::from_utf8_lossy(bytes).into_owned(), bytes.len())
        } else {
            let ty = data.get_type().name()?;
            return Err(PyTypeError::new_err(format!(
                "write() argument must be str, not {ty}"
            )));
        };
        self.live_sink(|sink| sink.write(&text))?;
        Ok(len)
    }

    fn writelines(&self, lines: &Bound<'_, PyAny>) -> PyResult<()> {
        let not_strings = || PyTypeError::new_err("argument must be sequence of strings");
        for item in lines.try_iter().map_err(|_| not_strings())? {
            self.write(&item?).map_err(|_| not_strings())?;
        }
        Ok(())
    }

    fn flush(&self) -> PyResult<()> {
        self.live_sink(LogSink::flush)
    }

    fn close(&self) {
        match &self.target {
            Target::Request(sink) => lock(sink).close(),
            // Closing sys.stderr closes the request's buffer in mod_wsgi; the
            // process-wide fallback itself is never closed.
            Target::Proxy(_) => {
                if let Some(sink) = CURRENT.with(|c| c.borrow().clone()) {
                    lock(&sink).close();
                }
            }
        }
    }

    fn isatty(&self) -> bool {
        false
    }

    fn readable(&self) -> bool {
        false
    }

    fn writable(&self) -> bool {
        true
    }

    fn seekable(&self) -> bool {
        false
    }

    /// mod_wsgi 4.9's answer, word for word.
    fn fileno(&self) -> PyResult<i32> {
        Err(pyo3::exceptions::PyOSError::new_err(
            "Apache/mod_wsgi log object is not associated with a file descriptor.",
        ))
    }

    #[getter]
    fn closed(&self) -> bool {
        self.with_sink(|sink| sink.expired)
    }

    #[getter]
    fn name(&self) -> &'static str {
        self.name
    }

    #[getter]
    fn encoding(&self) -> &'static str {
        "utf-8"
    }

    #[getter]
    fn errors(&self) -> &'static str {
        "replace"
    }

    #[getter]
    fn line_buffering(&self) -> bool {
        true
    }
}

/// Log a Python exception the way `wsgi_log_python_error` does: the
/// "Exception occurred processing WSGI script" line (or the SystemExit
/// variant), then the formatted traceback, one log line per line.
pub(crate) fn log_python_error(
    py: Python<'_>,
    err: &PyErr,
    log: &ErrorLog,
    peer: Peer,
    script: &str,
) {
    let pid = std::process::id();
    let head = if err.is_instance_of::<PySystemExit>(py) {
        format!(
            "mod_wsgi (pid={pid}): SystemExit exception raised by WSGI script '{script}' ignored."
        )
    } else {
        format!("mod_wsgi (pid={pid}): Exception occurred processing WSGI script '{script}'.")
    };
    log.log(MODULE, Level::Error, peer, &head);
    let text = format_exception(py, err).unwrap_or_else(|_| err.to_string());
    let text = text.strip_suffix('\n').unwrap_or(&text);
    log.log(MODULE, Level::Error, peer, text);
    if refuses_sub_interpreters(text) {
        log.log(
            MODULE,
            Level::Error,
            peer,
            &format!(
                "mod_wsgi (pid={pid}): A module refused to load in this sub-interpreter; run the application in \
                 the main interpreter with 'WSGIApplicationGroup %{{GLOBAL}}'."
            ),
        );
    }
}

/// Whether a traceback is an extension module refusing sub-interpreters
/// (PyO3: "PyO3 modules do not yet support subinterpreters"; CPython
/// 3.12+: "module X does not support loading in subinterpreters"; older
/// PyO3: "may only be initialized once per interpreter process").
fn refuses_sub_interpreters(traceback: &str) -> bool {
    let lower = traceback.to_ascii_lowercase();
    lower.contains("importerror")
        && [
            "subinterpreter",
            "sub-interpreter",
            "sub interpreter",
            "once per interpreter process",
        ]
        .iter()
        .any(|m| lower.contains(m))
}

/// `traceback.format_exception(type, value, tb)` joined.
pub(crate) fn format_exception(py: Python<'_>, err: &PyErr) -> PyResult<String> {
    let value = err.value(py);
    // Not value.__traceback__: before 3.12 the traceback of a fetched error
    // is only held by the PyErr.
    let tb = err.traceback(py);
    let lines = py
        .import("traceback")?
        .getattr("format_exception")?
        .call1((value.get_type(), value, tb))?;
    let mut text = String::new();
    for line in lines.try_iter()? {
        text.push_str(&line?.cast_into::<PyString>()?.to_string_lossy());
    }
    Ok(text)
}
