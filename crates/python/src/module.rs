//! The `mod_wsgi` and `apache` modules an application can import.
//!
//! mod_wsgi creates them in every interpreter it sets up
//! (`newInterpreterObject` in wsgi_interp.c) with the version, the
//! `FileWrapper` type, the process and application group of that
//! interpreter and the process/thread counts; wsgid does the same.  Of the
//! metrics functions of mod_wsgi 4.9 only `server_metrics()` is there, and
//! returns None (server metrics are Off); the others and event
//! subscription are not offered.

use pyo3::prelude::*;
use pyo3::types::{PyDict, PyModule, PyTuple};

use crate::file_wrapper::FileWrapper;
use crate::interp::{APACHE_VERSION, MOD_WSGI_VERSION};

/// What the modules report about this process.
pub(crate) struct ModuleFacts<'a> {
    pub process_group: &'a str,
    /// The interpreter's application group (`""` for the main interpreter).
    pub application_group: &'a str,
    pub maximum_processes: u32,
    pub threads_per_process: u32,
}

/// `mod_wsgi.server_metrics()` with server metrics Off.
#[pyfunction]
fn server_metrics() -> Option<()> {
    None
}

/// Create `mod_wsgi` and `apache` in `sys.modules` of the current interpreter.
pub(crate) fn install(py: Python<'_>, facts: &ModuleFacts<'_>) -> PyResult<()> {
    let modules = py
        .import("sys")?
        .getattr("modules")?
        .cast_into::<PyDict>()?;
    let version = |v: (u32, u32, u32)| PyTuple::new(py, [v.0, v.1, v.2]);

    let m = PyModule::new(py, "mod_wsgi")?;
    m.add("version", version(MOD_WSGI_VERSION)?)?;
    m.add("FileWrapper", py.get_type::<FileWrapper>())?;
    m.add("process_group", facts.process_group)?;
    m.add("application_group", facts.application_group)?;
    m.add("maximum_processes", facts.maximum_processes)?;
    m.add("threads_per_process", facts.threads_per_process)?;
    m.add("event_callbacks", pyo3::types::PyList::empty(py))?;
    m.add("shutdown_callbacks", pyo3::types::PyList::empty(py))?;
    m.add("active_requests", PyDict::new(py))?;
    // `WSGIServerMetrics` / `server-metrics` can only be Off in wsgid, and
    // then mod_wsgi's `server_metrics()` returns None.
    m.add_function(pyo3::wrap_pyfunction!(server_metrics, &m)?)?;
    modules.set_item("mod_wsgi", m)?;

    let a = PyModule::new(py, "apache")?;
    a.add("version", version(APACHE_VERSION)?)?;
    a.add("maximum_processes", facts.maximum_processes)?;
    a.add("threads_per_process", facts.threads_per_process)?;
    a.add(
        "description",
        format!(
            "Apache/{}.{}.{}",
            APACHE_VERSION.0, APACHE_VERSION.1, APACHE_VERSION.2
        ),
    )?;
    a.add("mpm_name", "event")?;
    modules.set_item("apache", a)?;
    Ok(())
}
