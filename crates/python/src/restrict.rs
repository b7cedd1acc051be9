//! mod_wsgi's restrictions on `sys.stdin`, `sys.stdout` and
//! `signal.signal()` (`WSGIRestrictStdin`, `WSGIRestrictStdout`,
//! `WSGIRestrictSignal`), as mod_wsgi 4.9 installs them in every
//! interpreter it creates (`wsgi_interp.c`, `wsgi_restrict.c`):
//!
//! - a restricted stream is an object of type `mod_wsgi.Restricted` on which
//!   *every* attribute access raises `OSError("sys.stdout access restricted
//!   by mod_wsgi")` (so `print()`, `.write`, `.read`, even `hasattr` fail);
//! - an unrestricted `sys.stdout` writes to the error log like `sys.stderr`
//!   (`[wsgi:error]` lines, with the client while a request is served);
//!   an unrestricted `sys.stdin` is left as it is;
//! - `signal.signal` is replaced by a function that registers nothing, logs
//!   `mod_wsgi (pid=N): Callback registration for signal N ignored.` and the
//!   caller's stack at `warn` level in the main error log, and returns the
//!   handler it was given.  In a process forked from the worker (where the
//!   pid differs) it calls the real `signal.signal`.
//!
//! Everything is built in the interpreter the calling thread is attached to
//! and kept only there (module attributes, a class made with `type()`,
//! closures owned by their function objects): no Python object lives in a
//! Rust static, so [`install`] can run once per (sub-)interpreter.
//!
//! Not here: `sys.stderr` (the host sets it up before calling [`install`]).

use pyo3::exceptions::{PyOSError, PyTypeError};
use pyo3::prelude::*;
use pyo3::types::{PyCFunction, PyDict, PyString, PyTuple};
use wsgid_log::{ErrorLog, Level, Peer};

use crate::PythonConfig;
use crate::log_stream::{LogStream, MODULE};

/// Install the restrictions (or the unrestricted `sys.stdout` log stream)
/// `cfg` asks for into the current interpreter's `sys` and `signal`.
pub(crate) fn install(py: Python<'_>, cfg: &PythonConfig, log: &ErrorLog) -> PyResult<()> {
    let sys = py.import("sys")?;
    if cfg.restrict_stdout {
        let stdout = restricted(py, "sys.stdout")?;
        sys.setattr("stdout", &stdout)?;
        release_at_exit(py, "stdout", stdout)?;
    } else {
        sys.setattr(
            "stdout",
            Bound::new(py, LogStream::proxy(log.clone(), "<stdout>"))?,
        )?;
    }
    if cfg.restrict_stdin {
        sys.setattr("stdin", restricted(py, "sys.stdin")?)?;
    }
    if cfg.restrict_signal {
        intercept_signal(py, log)?;
    }
    Ok(())
}

/// A `mod_wsgi.Restricted` object standing for `what` (`"sys.stdout"`).
///
/// The class is made with `type()` in the current interpreter; its
/// `__getattribute__` is a built-in function (no Python frame, so a
/// traceback ends at the application's line, as with mod_wsgi's C type).
/// A built-in function is not a descriptor, so it is called with the
/// attribute name only.
fn restricted<'py>(py: Python<'py>, what: &str) -> PyResult<Bound<'py, PyAny>> {
    let message = format!("{what} access restricted by mod_wsgi");
    let getattribute = PyCFunction::new_closure(
        py,
        Some(c"__getattribute__"),
        None,
        move |_args: &Bound<'_, PyTuple>, _kwargs: Option<&Bound<'_, PyDict>>| -> PyResult<()> {
            Err(PyOSError::new_err(message.clone()))
        },
    )?;
    let namespace = PyDict::new(py);
    namespace.set_item("__getattribute__", getattribute)?;
    namespace.set_item("__slots__", PyTuple::empty(py))?;
    namespace.set_item("__module__", "mod_wsgi")?;
    let class = py.get_type::<pyo3::types::PyType>().call1((
        "Restricted",
        PyTuple::empty(py),
        namespace,
    ))?;
    class.call0()
}

/// At interpreter exit (after the application's own `atexit` callbacks,
/// which were registered later), drop a restricted `sys.<name>` that is
/// still in place: finalisation flushes `sys.stdout`, and a restricted one
/// would make it report an error.
fn release_at_exit(py: Python<'_>, name: &'static str, object: Bound<'_, PyAny>) -> PyResult<()> {
    let object = object.unbind();
    let release = PyCFunction::new_closure(
        py,
        Some(c"_mod_wsgi_release_restricted"),
        None,
        move |args: &Bound<'_, PyTuple>, _kwargs: Option<&Bound<'_, PyDict>>| -> PyResult<()> {
            let py = args.py();
            let sys = py.import("sys")?;
            if sys.getattr(name)?.is(&object) {
                sys.setattr(name, py.None())?;
            }
            Ok(())
        },
    )?;
    py.import("atexit")?
        .getattr("register")?
        .call1((release,))?;
    Ok(())
}

/// Replace `signal.signal` with mod_wsgi's `SignalIntercept`.
fn intercept_signal(py: Python<'_>, log: &ErrorLog) -> PyResult<()> {
    let signal = py.import("signal")?;
    let wrapped = signal.getattr("signal")?.unbind();
    let log = log.clone();
    let pid = std::process::id();
    let intercept = PyCFunction::new_closure(
        py,
        Some(c"signal"),
        None,
        move |args: &Bound<'_, PyTuple>,
              kwargs: Option<&Bound<'_, PyDict>>|
              -> PyResult<Py<PyAny>> {
            let py = args.py();
            if std::process::id() != pid {
                return Ok(wrapped.bind(py).call(args, kwargs)?.unbind());
            }
            // PyArg_ParseTuple(args, "iO:signal"): two positional
            // arguments, keywords ignored.
            if args.len() != 2 {
                return Err(PyTypeError::new_err(format!(
                    "signal() takes exactly 2 arguments ({} given)",
                    args.len()
                )));
            }
            let signum: i32 = args.get_item(0)?.extract()?;
            let handler = args.get_item(1)?;
            let now = std::process::id();
            let line =
                format!("mod_wsgi (pid={now}): Callback registration for signal {signum} ignored.");
            py.detach(|| log.log(MODULE, Level::Warn, Peer::None, &line));
            // traceback.print_stack() into a warn-level log object: the
            // caller's stack, one log line per line.  Failures are ignored.
            if let Ok(stack) = caller_stack(py) {
                py.detach(|| {
                    for l in stack.lines() {
                        log.log(MODULE, Level::Warn, Peer::None, l);
                    }
                });
            }
            Ok(handler.unbind())
        },
    )?;
    signal.setattr("signal", intercept)
}

/// `traceback.format_stack()` joined: the stack of the Python code that
/// called into Rust (the topmost frame is the caller's, as for
/// `print_stack()` called from C).
fn caller_stack(py: Python<'_>) -> PyResult<String> {
    let entries = py.import("traceback")?.getattr("format_stack")?.call0()?;
    let mut text = String::new();
    for entry in entries.try_iter()? {
        text.push_str(&entry?.cast_into::<PyString>()?.to_string_lossy());
    }
    Ok(text)
}
