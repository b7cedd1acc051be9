//! Loading a `.wsgi` script as a module, and reloading it when it changed.
//!
//! As mod_wsgi (`wsgi_execute_script`, `wsgi_load_source`,
//! `wsgi_reload_required`): one module per script file, named
//! `_mod_wsgi_<md5>` and kept in `sys.modules`, with `__file__` and
//! `__mtime__` set.  With `WSGIScriptReloading On` a changed modification
//! time discards the module and executes the file into a fresh one.
//! Failures are logged with mod_wsgi's messages and the traceback; a failed
//! load leaves nothing in `sys.modules`, so the next request tries again.
//!
//! Not here: the 404 for a missing file (the front end checks first).

use std::ffi::CString;
use std::path::Path;
use std::time::UNIX_EPOCH;

use pyo3::exceptions::PySystemExit;
use pyo3::prelude::*;
use pyo3::types::{PyModule, PyString};
use wsgid_log::{ErrorLog, Level, Peer};

use crate::ffi;
use crate::interp::Interpreter;
use crate::log_stream::{MODULE, log_python_error};

/// The request-side facts a load needs (for its log lines).
pub(crate) struct ScriptSource<'a> {
    pub path: &'a Path,
    /// `path` as text, for messages.
    pub display: &'a str,
    pub reloading: bool,
    /// The script's mtime (µs) as the front end saw it, if it did.
    pub mtime: Option<i64>,
    /// The request's environ, whose `SCRIPT_FILENAME` (the file the
    /// request maps to) a module's `reload_required(resource)` is asked
    /// about; looked up only for a module that has one.
    pub environ: Option<&'a crate::CgiEnv>,
    pub application_group: &'a str,
    pub log: &'a ErrorLog,
    pub peer: Peer,
}

/// The script's module, loading (or reloading) it if needed.  `None` when
/// it could not be loaded; that has been logged.  `name` is
/// `interp.script_module_name(src.path)`.
pub(crate) fn module<'py>(
    py: Python<'py>,
    interp: &Interpreter,
    name: &Bound<'py, PyString>,
    src: &ScriptSource<'_>,
) -> Option<Bound<'py, PyAny>> {
    let modules = interp.modules.bind(py);
    if let Ok(Some(module)) = modules.get_item(name)
        && !(src.reloading && reload_required(py, interp, &module, src))
    {
        return Some(module);
    }
    // Slow path: serialise loading, as mod_wsgi's module lock does.
    let _lock = match LoadLock::acquire(py, interp) {
        Ok(lock) => lock,
        Err(e) => {
            log_python_error(py, &e, src.log, src.peer, src.display);
            return None;
        }
    };
    let existing = modules.get_item(name).ok().flatten();
    let exists = existing.is_some();
    if let Some(module) = existing {
        if !(src.reloading && reload_required(py, interp, &module, src)) {
            return Some(module);
        }
        // Module reloading: drop the old module; requests still running
        // in it keep their reference.
        let _ = modules.del_item(name);
    }
    load_source(py, interp, name, exists, src).map(Bound::into_any)
}

/// `WSGIImportScript`: load `path` into `interp` (current on this thread)
/// at process start, under the module name a request for the same file
/// would use, so that the request finds it loaded.  False if it failed
/// (logged with mod_wsgi's lines and the traceback).
pub(crate) fn import(
    py: Python<'_>,
    interp: &Interpreter,
    path: &Path,
    application_group: &str,
    log: &ErrorLog,
) -> bool {
    let name = interp.script_module_name(py, path);
    let display = path.to_string_lossy();
    let src = ScriptSource {
        path,
        display: &display,
        reloading: true,
        mtime: None,
        environ: None,
        application_group,
        log,
        peer: Peer::None,
    };
    module(py, interp, &name, &src).is_some()
}

/// Holds the interpreter's script-load lock (a Python lock: waiting for it
/// releases the GIL).
struct LoadLock<'py>(Bound<'py, PyAny>);

impl<'py> LoadLock<'py> {
    fn acquire(py: Python<'py>, interp: &Interpreter) -> PyResult<LoadLock<'py>> {
        let lock = interp.load_lock.bind(py).clone();
        lock.call_method0("acquire")?;
        Ok(LoadLock(lock))
    }
}

impl Drop for LoadLock<'_> {
    fn drop(&mut self) {
        // Releasing a lock we hold cannot fail.
        let _ = self.0.call_method0("release");
    }
}

/// The file's modification time in microseconds (Apache's `apr_time_t`).
fn mtime_micros(path: &Path) -> Option<i64> {
    micros(std::fs::metadata(path).ok()?.modified().ok()?)
}

/// A time as microseconds since the epoch.
pub(crate) fn micros(t: std::time::SystemTime) -> Option<i64> {
    i64::try_from(t.duration_since(UNIX_EPOCH).ok()?.as_micros()).ok()
}

/// mod_wsgi's `wsgi_reload_required`: the file changed, or the module
/// has a `reload_required(resource)` function that answers true for the
/// file the request maps to (a `WSGIHandlerScript` uses it to notice that
/// the file it serves changed).  An exception there is logged and means
/// no.
fn reload_required(
    py: Python<'_>,
    interp: &Interpreter,
    module: &Bound<'_, PyAny>,
    src: &ScriptSource<'_>,
) -> bool {
    if out_of_date(py, interp, module, src.path, src.mtime) {
        return true;
    }
    let Some(environ) = src.environ else {
        return false;
    };
    // A dictionary lookup, as mod_wsgi's `PyDict_GetItemString`: a missing
    // attribute looked up with getattr would raise (and discard) an
    // AttributeError on every request, some 10% of a small request's cost.
    let Ok(module) = module.cast::<PyModule>() else {
        return false;
    };
    let Ok(Some(hook)) = module.dict().get_item(interp.keys.reload_required.bind(py)) else {
        return false;
    };
    let resource = environ.get("SCRIPT_FILENAME").unwrap_or_default();
    // Native strings are latin-1 text of the bytes; mod_wsgi decodes the
    // path with the file-system encoding.
    let bytes: Vec<u8> = resource
        .chars()
        .map(|c| u8::try_from(u32::from(c)).unwrap_or(b'?'))
        .collect();
    // An OsStr becomes a str (file-system encoding, surrogateescape).
    let path = <std::ffi::OsStr as std::os::unix::ffi::OsStrExt>::from_bytes(&bytes);
    match hook.call1((path,)).and_then(|answer| answer.is_truthy()) {
        Ok(answer) => answer,
        Err(e) => {
            log_python_error(py, &e, src.log, src.peer, src.display);
            false
        }
    }
}

/// Whether `module` was loaded from another version of `path` than the one
/// on disk (`mtime`, µs, when the caller already knows it).
fn out_of_date(
    py: Python<'_>,
    interp: &Interpreter,
    module: &Bound<'_, PyAny>,
    path: &Path,
    mtime: Option<i64>,
) -> bool {
    let recorded = module
        .getattr_opt(interp.keys.dunder_mtime.bind(py))
        .ok()
        .flatten()
        .and_then(|m| m.extract::<i64>().ok());
    let now = mtime.or_else(|| mtime_micros(path));
    match (recorded, now) {
        (Some(then), Some(now)) => then != now,
        _ => true,
    }
}

/// Whether the script's module is loaded in `interp` and its file changed
/// since: the trigger of the `Interpreter` reload mechanism (a script not
/// loaded yet is simply loaded).
pub(crate) fn changed(
    py: Python<'_>,
    interp: &Interpreter,
    name: &Bound<'_, PyString>,
    path: &Path,
    mtime: Option<std::time::SystemTime>,
) -> bool {
    match interp.modules.bind(py).get_item(name) {
        Ok(Some(module)) => out_of_date(py, interp, &module, path, mtime.and_then(micros)),
        _ => false,
    }
}

fn load_source<'py>(
    py: Python<'py>,
    interp: &Interpreter,
    name: &Bound<'py, PyString>,
    exists: bool,
    src: &ScriptSource<'_>,
) -> Option<Bound<'py, PyModule>> {
    let pid = std::process::id();
    let who = format!(
        "mod_wsgi (pid={pid}, process='{}', application='{}')",
        interp.process_group, src.application_group
    );
    let what = if exists {
        "Reloading WSGI script"
    } else {
        "Loading Python script file"
    };
    src.log.log(
        MODULE,
        Level::Info,
        src.peer,
        &format!("{who}: {what} '{}'.", src.display),
    );

    let code = match compile(py, src.path) {
        Ok(code) => code,
        Err(e) => {
            let msg = format!(
                "{who}: Could not read/compile source file '{}'.",
                src.display
            );
            src.log.log(MODULE, Level::Error, src.peer, &msg);
            log_python_error(py, &e, src.log, src.peer, src.display);
            return None;
        }
    };
    let module = CString::new(name.to_string_lossy().as_bytes())
        .map_err(|_| pyo3::exceptions::PyValueError::new_err("module name contains NUL"))
        .and_then(|cname| ffi::exec_code_module(py, &cname, &code, src.path));
    match module {
        Ok(module) => {
            // The mtime this request saw, as mod_wsgi records r->finfo.mtime.
            let mtime = src.mtime.or_else(|| mtime_micros(src.path)).unwrap_or(0);
            if let Err(e) = module.setattr(interp.keys.dunder_mtime.bind(py), mtime) {
                log_python_error(py, &e, src.log, src.peer, src.display);
            }
            Some(module)
        }
        Err(e) => {
            let msg = if e.is_instance_of::<PySystemExit>(py) {
                format!(
                    "mod_wsgi (pid={pid}): SystemExit exception raised when doing exec of Python script file '{}'.",
                    src.display
                )
            } else {
                format!(
                    "mod_wsgi (pid={pid}): Failed to exec Python script file '{}'.",
                    src.display
                )
            };
            src.log.log(MODULE, Level::Error, src.peer, &msg);
            log_python_error(py, &e, src.log, src.peer, src.display);
            None
        }
    }
}

/// Read the file through Python's `io.open` and compile it as a module body,
/// without inheriting compiler flags (`Py_CompileString`).
fn compile<'py>(py: Python<'py>, path: &Path) -> PyResult<Bound<'py, PyAny>> {
    // Paths go to Python as str (file-system decoded), not pathlib objects.
    let path = path.as_os_str();
    let file = py.import("io")?.call_method1("open", (path, "rb"))?;
    let source = file.call_method0("read");
    file.call_method0("close")?;
    let source = source?;
    let builtins = py.import("builtins")?;
    builtins
        .getattr("compile")?
        .call1((source, path, "exec", 0, true))
}
