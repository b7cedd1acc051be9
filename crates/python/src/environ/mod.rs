//! Building the WSGI environ dict for one request (the hot path).
//!
//! The front end's string pairs go in first, in order (mod_wsgi copies
//! `r->subprocess_env`), minus `PATH` and `HTTPS` which mod_wsgi removes;
//! then the `wsgi.*` entries and the `mod_wsgi.*` values only the Python side
//! knows, as `Adapter_environ` and `Adapter_run` add them.  `cache.rs` makes
//! the usual request, with the same names as the previous one on its thread,
//! a copy of that one's environ with the changed values set.

mod cache;
mod layout;

use pyo3::prelude::*;
use pyo3::types::{PyBool, PyDict, PyString};

pub(crate) use cache::KeyCache;

use crate::ffi;
use crate::interp::Interpreter;

/// The entries `build` adds after the front end's pairs.
const PYTHON_SIDE_ENTRIES: usize = 18;

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
    cgi: &crate::CgiEnv,
    extra: &PythonSide<'_, 'py>,
) -> PyResult<Bound<'py, PyDict>> {
    if let Some(env) = cache.copy_of_template(py, cgi, extra)? {
        per_request(py, interp, &env, extra)?;
        return Ok(env);
    }
    let entries = cache.remember(py, cgi);
    let env = ffi::dict_with_capacity(py, entries.len() + PYTHON_SIDE_ENTRIES)?;
    let front_end = entries.len();
    for (key, value) in entries {
        env.set_item(key, value)?;
    }
    // A name given twice (the later value wins) would make "set only what
    // changed" wrong for a copy: such requests leave no template.
    let distinct = env.len() == front_end;
    let k = &interp.keys;
    // mod_wsgi's order: script_start, group and callable, then `wsgi.*`.
    // The per-request values are set by `per_request`, below.
    env.set_item(k.script_start.bind(py), py.None())?;
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
    env.set_item(k.wsgi_errors.bind(py), py.None())?;
    env.set_item(k.wsgi_input.bind(py), py.None())?;
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
    env.set_item(k.total_requests.bind(py), py.None())?;
    env.set_item(k.thread_id.bind(py), extra.thread_id)?;
    env.set_item(k.thread_requests.bind(py), py.None())?;
    if distinct {
        cache.keep_template(&env, extra)?;
    }
    per_request(py, interp, &env, extra)?;
    Ok(env)
}

/// The entries that differ on every request (their keys are in the dict
/// already, so setting them keeps mod_wsgi's order).
fn per_request<'py>(
    py: Python<'py>,
    interp: &Interpreter,
    env: &Bound<'py, PyDict>,
    extra: &PythonSide<'_, 'py>,
) -> PyResult<()> {
    let k = &interp.keys;
    env.set_item(
        k.script_start.bind(py),
        PyString::new(py, &extra.script_start.to_string()),
    )?;
    env.set_item(k.wsgi_errors.bind(py), extra.errors)?;
    env.set_item(k.wsgi_input.bind(py), extra.input)?;
    env.set_item(k.total_requests.bind(py), extra.total_requests)?;
    env.set_item(k.thread_requests.bind(py), extra.thread_requests)
}
