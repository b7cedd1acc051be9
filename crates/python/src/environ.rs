//! Building the WSGI environ dict for one request (the hot path).
//!
//! The front end's string pairs go in first, in order (mod_wsgi copies
//! `r->subprocess_env`), minus `PATH` and `HTTPS` which mod_wsgi removes;
//! then the `wsgi.*` entries and the `mod_wsgi.*` values only the Python side
//! knows, as `Adapter_environ` and `Adapter_run` add them.  Key strings are
//! interned once per interpreter and thread (`KeyCache`), so a request only
//! allocates the value strings.

use std::collections::HashMap;

use pyo3::prelude::*;
use pyo3::types::{PyBool, PyDict, PyString};

use crate::interp::Interpreter;

/// CGI/header keys kept per thread; more distinct names than this (odd
/// client headers) are created per request instead of growing the cache.
const MAX_CACHED_KEYS: usize = 256;

/// Interned environ keys seen by one request thread in one interpreter.
#[derive(Default)]
pub(crate) struct KeyCache {
    keys: HashMap<Box<str>, Py<PyString>>,
}

impl KeyCache {
    fn key<'py>(&mut self, py: Python<'py>, name: &str) -> Bound<'py, PyString> {
        if let Some(k) = self.keys.get(name) {
            return k.bind(py).clone();
        }
        let k = PyString::intern(py, name);
        if self.keys.len() < MAX_CACHED_KEYS {
            self.keys.insert(name.into(), k.clone().unbind());
        }
        k
    }
}

/// The per-request values that are not plain strings from the front end.
pub(crate) struct PythonSide<'a, 'py> {
    pub url_scheme: &'a str,
    pub application_group: &'a str,
    pub callable: &'a str,
    pub input: &'a Bound<'py, PyAny>,
    pub errors: &'a Bound<'py, PyAny>,
    /// `mod_wsgi.script_start`, microseconds since the epoch.
    pub script_start: u128,
    pub total_requests: u64,
    pub thread_id: u64,
    pub thread_requests: u64,
}

/// Build the environ dict.
pub(crate) fn build<'py>(
    py: Python<'py>,
    interp: &Interpreter,
    cache: &mut KeyCache,
    cgi: &[(String, String)],
    extra: &PythonSide<'_, 'py>,
) -> PyResult<Bound<'py, PyDict>> {
    let env = PyDict::new(py);
    for (name, value) in cgi {
        if name == "PATH" || name == "HTTPS" {
            continue;
        }
        env.set_item(cache.key(py, name), PyString::new(py, value))?;
    }
    let k = &interp.keys;
    env.set_item(
        k.script_start.bind(py),
        PyString::new(py, &extra.script_start.to_string()),
    )?;
    // The front end normally passes these; the request fields are the truth.
    env.set_item(
        k.application_group.bind(py),
        PyString::new(py, extra.application_group),
    )?;
    env.set_item(
        k.callable_object.bind(py),
        PyString::new(py, extra.callable),
    )?;

    env.set_item(k.wsgi_version.bind(py), interp.wsgi_version.bind(py))?;
    env.set_item(
        k.wsgi_multithread.bind(py),
        PyBool::new(py, interp.multithread),
    )?;
    env.set_item(
        k.wsgi_multiprocess.bind(py),
        PyBool::new(py, interp.multiprocess),
    )?;
    env.set_item(k.wsgi_run_once.bind(py), PyBool::new(py, false))?;
    let scheme = match extra.url_scheme {
        "http" => interp.scheme_http.bind(py).clone(),
        "https" => interp.scheme_https.bind(py).clone(),
        other => PyString::new(py, other),
    };
    env.set_item(k.wsgi_url_scheme.bind(py), scheme)?;
    env.set_item(k.wsgi_errors.bind(py), extra.errors)?;
    env.set_item(k.wsgi_input.bind(py), extra.input)?;
    env.set_item(k.wsgi_input_terminated.bind(py), PyBool::new(py, true))?;
    env.set_item(
        k.wsgi_file_wrapper.bind(py),
        interp.file_wrapper_type.bind(py),
    )?;
    env.set_item(k.apache_version.bind(py), interp.apache_version.bind(py))?;
    env.set_item(
        k.mod_wsgi_version.bind(py),
        interp.mod_wsgi_version.bind(py),
    )?;
    env.set_item(k.total_requests.bind(py), extra.total_requests)?;
    env.set_item(k.thread_id.bind(py), extra.thread_id)?;
    env.set_item(k.thread_requests.bind(py), extra.thread_requests)?;
    Ok(env)
}
