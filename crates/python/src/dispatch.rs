//! `WSGIDispatchScript`: mod_wsgi's `wsgi_execute_dispatch`.  The script
//! (loaded as an auth script is: same module name and reloading) may
//! define `process_group(environ)`, `application_group(environ)` and
//! `callable_object(environ)`; each one present is called in that order
//! with mod_wsgi's `Dispatch_environ` (the front end's strings plus
//! `wsgi.errors`), and a string it returns replaces the
//! configured value for this request (None keeps it).  Anything else, or
//! an exception, is logged with its traceback and answers
//! [`AuthAnswer::Error`] (the request gets a 500).

use std::sync::Arc;

use pyo3::exceptions::PyTypeError;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict, PyModule, PyString};
use wsgid_log::{ErrorLog, Peer};

use crate::auth::{latin1, to_latin1};
use crate::log_stream::{LogSink, LogStream, RequestLogScope, log_python_error};
use crate::{AuthAnswer, Dispatched};

/// The functions in mod_wsgi's order, with the noun its type errors use.
const FUNCTIONS: [(&str, &str); 3] = [
    ("process_group", "Process group"),
    ("application_group", "Application group"),
    ("callable_object", "Callable object"),
];

/// Run the dispatch functions `module` defines and collect their answers.
pub(crate) fn call(
    py: Python<'_>,
    module: &Bound<'_, PyAny>,
    environ: &crate::CgiEnv,
    error_log: &ErrorLog,
    peer: Peer,
    display: &str,
) -> AuthAnswer {
    let sink = LogSink::shared(error_log.clone(), peer);
    let outcome = {
        let _scope = RequestLogScope::enter(&sink);
        run_functions(py, module, environ, &sink)
    };
    LogSink::close_shared(&sink);
    match outcome {
        Ok(answers) => AuthAnswer::Dispatch(answers),
        Err(e) => {
            log_python_error(py, &e, error_log, peer, display);
            AuthAnswer::Error
        }
    }
}

fn run_functions(
    py: Python<'_>,
    module: &Bound<'_, PyAny>,
    environ: &crate::CgiEnv,
    sink: &crate::log_stream::SharedSink,
) -> PyResult<Dispatched> {
    let vars = PyDict::new(py);
    for (k, v) in environ.iter() {
        vars.set_item(k, v)?;
    }
    let errors = Bound::new(py, LogStream::for_request(Arc::clone(sink)))?;
    vars.set_item("wsgi.errors", &errors)?;
    let mut out = Dispatched::default();
    for (name, noun) in FUNCTIONS {
        let function = match module.cast::<PyModule>() {
            Ok(m) => m.dict().get_item(name)?,
            Err(_) => module.getattr_opt(name)?,
        };
        let Some(function) = function else {
            continue;
        };
        let result = function.call1((vars.clone(),))?;
        let value = string_result(&result, noun)?;
        match name {
            "process_group" => out.process_group = value,
            "application_group" => out.application_group = value,
            _ => out.callable_object = value,
        }
    }
    Ok(out)
}

/// A function's answer: None, or a (latin-1) string; the type errors are
/// mod_wsgi's words.
fn string_result(result: &Bound<'_, PyAny>, noun: &str) -> PyResult<Option<String>> {
    if result.is_none() {
        return Ok(None);
    }
    if let Ok(b) = result.cast::<PyBytes>() {
        return Ok(Some(latin1(b.as_bytes())));
    }
    if let Ok(s) = result.cast::<PyString>() {
        return match to_latin1(&s.to_string_lossy()) {
            Some(v) => Ok(Some(v)),
            None => Err(PyTypeError::new_err(format!(
                "{noun} must be a byte string, value containing non 'latin-1' characters found"
            ))),
        };
    }
    let what = if noun == "Process group" {
        "a byte string"
    } else {
        "a string object"
    };
    Err(PyTypeError::new_err(format!("{noun} must be {what}")))
}
