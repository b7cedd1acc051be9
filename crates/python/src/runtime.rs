//! Bringing CPython up and down for the host, as mod_wsgi's
//! `wsgi_python_init` and interpreter set-up do.
//!
//! Start-up: `WSGIPythonHome` (checked and logged like mod_wsgi 4.3.2+; a
//! venv is entered through its `bin/python` so that `pyvenv.cfg` is found),
//! `WSGIPythonOptimize`, initialisation without Python signal handlers, then
//! in the main interpreter: `threading` imported on this (main) thread,
//! `sys.stderr` routed to the error log, the `WSGIRestrictStdout`/`Stdin`/
//! `Signal` set-up (`restrict`), `sys.argv`,
//! `PYTHON_EGG_CACHE`, `WSGIPythonPath` via `site.addsitedir` (new entries
//! moved to the front of `sys.path`), and the `mod_wsgi`/`apache` modules.
//!
//! Everything here runs on the host's runtime thread, which stays Python's
//! main thread until it finalises the interpreter.

use std::ffi::CString;
use std::io;
use std::path::Path;

use pyo3::prelude::*;
use pyo3::types::PyList;
use wsgid_log::{ErrorLog, Level, Peer};

use crate::ffi::{self, InitOptions, MainThreadState};
use crate::interp::{Interpreter, InterpreterConfig};
use crate::log_stream::{LogStream, MODULE, format_exception};
use crate::module::{self, ModuleFacts};
use crate::{PythonConfig, PythonError};

fn info(log: &ErrorLog, msg: &str) {
    log.log(MODULE, Level::Info, Peer::None, msg);
}

/// Apache's `(errno)text: ` prefix for a failed system call.
fn errno_prefix(e: &io::Error) -> String {
    let text = e.to_string();
    let text = text.split(" (os error").next().unwrap_or(&text).to_owned();
    match e.raw_os_error() {
        Some(n) => format!("({n}){text}: "),
        None => format!("{text}: "),
    }
}

/// Check `WSGIPythonHome` and derive the initialisation options.
fn init_options(cfg: &PythonConfig, log: &ErrorLog) -> Result<InitOptions, PythonError> {
    let mut opts = InitOptions {
        optimize: i32::from(cfg.optimize),
        hash_seed: cfg.hash_seed,
        dont_write_bytecode: cfg.dont_write_bytecode,
        ..InitOptions::default()
    };
    let Some(home) = &cfg.python_home else {
        return Ok(opts);
    };
    let pid = std::process::id();
    let shown = home.display();
    info(log, &format!("mod_wsgi (pid={pid}): Python home {shown}."));
    match std::fs::metadata(home) {
        Err(e) => log.log(
            MODULE,
            Level::Warn,
            Peer::None,
            &format!(
                "{}mod_wsgi (pid={pid}): Unable to stat Python home {shown}. Python interpreter may not be able to be \
                 initialized correctly. Verify the supplied path and access permissions for whole of the path.",
                errno_prefix(&e)
            ),
        ),
        Ok(meta) if !meta.is_dir() => log.log(
            MODULE,
            Level::Warn,
            Peer::None,
            &format!(
                "mod_wsgi (pid={pid}): Python home {shown} is not a directory. Python interpreter may not be able \
                 to be initialized correctly. Verify the supplied path."
            ),
        ),
        Ok(_) => {}
    }
    let bytes = |p: &Path| {
        CString::new(p.as_os_str().as_encoded_bytes())
            .map_err(|_| PythonError::Init(format!("WSGIPythonHome {shown} contains a NUL byte")))
    };
    if std::fs::File::open(home.join("pyvenv.cfg")).is_ok() {
        opts.program_name = Some(bytes(&home.join("bin/python"))?);
    } else {
        opts.home = Some(bytes(home)?);
    }
    Ok(opts)
}

/// Initialise CPython and set up the main interpreter.  Must run on the
/// thread that will later call [`finalize`].
pub(crate) fn bring_up(
    cfg: &PythonConfig,
    log: &ErrorLog,
) -> Result<(MainThreadState, Interpreter), PythonError> {
    if ffi::is_initialized() {
        return Err(PythonError::AlreadyStarted);
    }
    let opts = init_options(cfg, log)?;
    let pid = std::process::id();
    info(log, &format!("mod_wsgi (pid={pid}): Initializing Python."));
    let main = ffi::initialize(&opts).map_err(PythonError::Init)?;
    info(
        log,
        &format!("mod_wsgi (pid={pid}): Attach interpreter ''."),
    );
    let interp = Python::attach(|py| {
        set_up_main(py, cfg, log).map_err(|e| {
            PythonError::Setup(format_exception(py, &e).unwrap_or_else(|_| e.to_string()))
        })
    });
    match interp {
        Ok(interp) => Ok((main, interp)),
        Err(e) => {
            main.finalize();
            Err(e)
        }
    }
}

fn set_up_main(py: Python<'_>, cfg: &PythonConfig, log: &ErrorLog) -> PyResult<Interpreter> {
    // So that threading.main_thread() is this thread, not a request thread.
    py.import("threading")?;
    // wsgid's classes are process-wide type objects shared by every
    // interpreter (see ffi/subinterp.rs): create them here, in the main
    // interpreter, which lives as long as the process, rather than in
    // whichever sub-interpreter serves the first request (and may be
    // destroyed by an `Interpreter` reload).
    py.get_type::<crate::adapter::Adapter>();
    py.get_type::<crate::input::Input>();
    py.get_type::<LogStream>();
    py.get_type::<crate::file_wrapper::FileWrapper>();
    warn_if_stdlib_unreadable(py, log);
    set_up_interpreter(py, cfg, log, "")
}

/// A daemon process that runs as another user (`user=`) may be unable to
/// read the Python it embeds: a pyenv build under `/root` (mode 0700) is
/// the usual case.  Start-up still works (the modules it needs are frozen
/// into libpython), but Python then falls back to another installation's
/// standard library, or none, and later imports fail with a bare
/// `No module named ...`.  Say why, once, at start.  A shared libpython's
/// standard library is `pythonX.Y` beside it; a static build is skipped.
fn warn_if_stdlib_unreadable(py: Python<'_>, log: &ErrorLog) {
    let Some(library) = ffi::library_path() else {
        return;
    };
    if is_this_executable(&library) {
        return;
    }
    let Some(libdir) = library.parent() else {
        return;
    };
    let Some(major_minor) = version_major_minor(&ffi::version_string()) else {
        return;
    };
    let expected = libdir.join(format!("python{major_minor}"));
    let Err(e) = std::fs::read_dir(&expected) else {
        return;
    };
    if e.kind() != io::ErrorKind::PermissionDenied {
        return;
    }
    let found: String = py
        .import("sys")
        .and_then(|sys| sys.getattr("_stdlib_dir"))
        .and_then(|d| d.extract())
        .unwrap_or_else(|_| "none".to_owned());
    let pid = std::process::id();
    log.log(
        MODULE,
        Level::Error,
        Peer::None,
        &format!(
            "mod_wsgi (pid={pid}): {}The standard library of the Python wsgid embeds, \
             '{}', cannot be read by this process's user; Python is using '{found}' instead, \
             and imports from the standard library may fail. Install Python where that user \
             can read it, or change the user.",
            errno_prefix(&e),
            expected.display(),
        ),
    );
}

/// "3.11" from `Py_GetVersion()`'s "3.11.7 (main, ...)".
fn version_major_minor(version: &str) -> Option<String> {
    let number = version.split_whitespace().next()?;
    let mut parts = number.split('.');
    Some(format!("{}.{}", parts.next()?, parts.next()?))
}

/// What mod_wsgi's `newInterpreterObject` does to every interpreter it
/// creates, the main one included: `sys.stderr`/`sys.stdout` to the error
/// log, `sys.argv`, `PYTHON_EGG_CACHE`, `WSGIPythonPath`, the `mod_wsgi`
/// and `apache` modules.  Runs in the interpreter being set up (the calling
/// thread's current one).
pub(crate) fn set_up_interpreter(
    py: Python<'_>,
    cfg: &PythonConfig,
    log: &ErrorLog,
    application_group: &str,
) -> PyResult<Interpreter> {
    let sys = py.import("sys")?;
    sys.setattr(
        "stderr",
        Bound::new(py, LogStream::proxy(log.clone(), "<stderr>"))?,
    )?;
    // sys.stdout / sys.stdin / signal.signal, as WSGIRestrict* say.
    crate::restrict::install(py, cfg, log)?;
    sys.setattr("argv", PyList::new(py, ["mod_wsgi"])?)?;
    if !cfg.python_warnings.is_empty() {
        // As `python -W` options: recorded in sys.warnoptions and applied
        // to this interpreter's warning filters.
        let options = PyList::new(py, &cfg.python_warnings)?;
        sys.getattr("warnoptions")?
            .call_method1("extend", (&options,))?;
        py.import("warnings")?
            .call_method1("_processoptions", (options,))?;
    }
    if let Some(eggs) = &cfg.python_eggs {
        py.import("os")?
            .getattr("environ")?
            .set_item("PYTHON_EGG_CACHE", eggs.as_os_str())?;
    }
    add_site_dirs(py, &cfg.python_path, log)?;
    let threads = u32::try_from(cfg.threads.max(1)).unwrap_or(u32::MAX);
    module::install(
        py,
        &ModuleFacts {
            process_group: &cfg.process_group,
            application_group,
            maximum_processes: 1,
            threads_per_process: threads,
        },
    )?;
    Interpreter::new(
        py,
        InterpreterConfig {
            case_insensitive: cfg.case_insensitive,
            process_group: cfg.process_group.clone(),
            multithread: cfg.multithread,
            multiprocess: cfg.multiprocess,
        },
    )
}

/// `site.addsitedir` for each `WSGIPythonPath` entry, then move what was
/// added to the front of `sys.path`.
fn add_site_dirs(py: Python<'_>, dirs: &[std::path::PathBuf], log: &ErrorLog) -> PyResult<()> {
    if dirs.is_empty() {
        return Ok(());
    }
    let pid = std::process::id();
    let path = py.import("sys")?.getattr("path")?.cast_into::<PyList>()?;
    let old = PyList::new(py, path.iter())?;
    let addsitedir = py.import("site")?.getattr("addsitedir")?;
    for (i, dir) in dirs.iter().enumerate() {
        let shown = dir.display();
        info(
            log,
            &format!("mod_wsgi (pid={pid}): Adding '{shown}' to path."),
        );
        if addsitedir.call1((dir.as_os_str(),)).is_err() {
            let stopping = if i + 1 < dirs.len() { ", stopping" } else { "" };
            let msg = format!(
                "mod_wsgi (pid={pid}): Call to 'site.addsitedir()' failed for '{shown}'{stopping}."
            );
            log.log(MODULE, Level::Error, Peer::None, &msg);
            break;
        }
    }
    let added = PyList::empty(py);
    for item in PyList::new(py, path.iter())?.iter() {
        if !old.contains(&item)? {
            let index = path.index(&item)?;
            path.del_item(index)?;
            added.append(item)?;
        }
    }
    for (i, item) in added.iter().enumerate() {
        path.insert(i, item)?;
    }
    Ok(())
}

/// Run `Py_FinalizeEx` (atexit callbacks, thread joins) on the main thread.
pub(crate) fn finalize(main: MainThreadState, log: &ErrorLog) {
    let pid = std::process::id();
    info(log, &format!("mod_wsgi (pid={pid}): Terminating Python."));
    if !main.finalize() {
        log.log(
            MODULE,
            Level::Error,
            Peer::None,
            &format!("mod_wsgi (pid={pid}): Python finalisation reported an error."),
        );
    }
}

/// `sys.version` and `sys.prefix` of the running Python; before start-up,
/// the loaded library's version and file (without initialising Python).
pub(crate) fn version() -> String {
    if ffi::is_initialized() {
        let text = Python::attach(|py| -> PyResult<String> {
            let sys = py.import("sys")?;
            let version: String = sys.getattr("version")?.extract()?;
            let prefix: String = sys.getattr("prefix")?.extract()?;
            Ok(format!("Python {version}\nsys.prefix: {prefix}"))
        });
        if let Ok(text) = text {
            return text;
        }
    }
    let library = match ffi::library_path() {
        None => "unknown".to_owned(),
        Some(p) if is_this_executable(&p) => "linked statically into this executable".to_owned(),
        Some(p) => p.display().to_string(),
    };
    format!("Python {}\nlibpython: {library}", ffi::version_string())
}

/// A static-libpython build (scripts/build-static.sh) finds the C API in
/// the executable itself.
fn is_this_executable(path: &std::path::Path) -> bool {
    match (std::fs::canonicalize(path), std::env::current_exe()) {
        (Ok(lib), Ok(exe)) => lib == exe,
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::version_major_minor;

    #[test]
    fn major_minor_from_py_get_version() {
        assert_eq!(
            version_major_minor("3.11.7 (main, May  9 2026, 07:35:25) [GCC 12.2.0]").as_deref(),
            Some("3.11")
        );
        assert_eq!(
            version_major_minor("3.13.0rc1 (main)").as_deref(),
            Some("3.13")
        );
        assert_eq!(version_major_minor(""), None);
        assert_eq!(version_major_minor("3"), None);
    }
}
