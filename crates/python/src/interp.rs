//! `Interpreter`: everything that belongs to one Python interpreter.
//!
//! Cached key strings, constant tuples, the `sys.modules` dict, the script
//! load lock and the script-name cache live here rather than in statics, so
//! that a later change can create one `Interpreter` per application group
//! (sub-interpreters).  Today there is one, for the main interpreter, and
//! every application group uses it.
//!
//! Not here: the `#[pyclass]` adapter types (process-wide pyo3 type objects;
//! see `adapter.rs`) and thread-level state (`handler::Worker`).

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use md5::{Digest, Md5};
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyString, PyTuple, PyType};
use wsgid_log::Peer;

use crate::file_wrapper::FileWrapper;
use crate::log_stream::LogStream;

/// `mod_wsgi.version` and `mod_wsgi.version` in the environ.
pub(crate) const MOD_WSGI_VERSION: (u32, u32, u32) = (4, 9, 4);
/// `apache.version`: the Apache release whose behaviour wsgid follows
/// (`<IfVersion>` compares with the same: `APACHE_VERSION` in wsgid-config).
pub(crate) const APACHE_VERSION: (u32, u32, u32) = (2, 4, 57);

/// Environ keys the adapter adds, created once per interpreter (interned so
/// that application lookups with literals hit the identity fast path).
pub(crate) struct Keys {
    pub wsgi_version: Py<PyString>,
    pub wsgi_multithread: Py<PyString>,
    pub wsgi_multiprocess: Py<PyString>,
    pub wsgi_run_once: Py<PyString>,
    pub wsgi_url_scheme: Py<PyString>,
    pub wsgi_errors: Py<PyString>,
    pub wsgi_input: Py<PyString>,
    pub wsgi_input_terminated: Py<PyString>,
    pub wsgi_file_wrapper: Py<PyString>,
    pub apache_version: Py<PyString>,
    pub mod_wsgi_version: Py<PyString>,
    pub script_start: Py<PyString>,
    pub total_requests: Py<PyString>,
    pub thread_id: Py<PyString>,
    pub thread_requests: Py<PyString>,
    pub application_group: Py<PyString>,
    pub callable_object: Py<PyString>,
    pub dunder_mtime: Py<PyString>,
    pub reload_required: Py<PyString>,
    /// Attribute names looked up per request.
    pub start_response: Py<PyString>,
    pub write: Py<PyString>,
}

impl Keys {
    fn new(py: Python<'_>) -> Keys {
        let k = |s: &str| PyString::intern(py, s).unbind();
        Keys {
            wsgi_version: k("wsgi.version"),
            wsgi_multithread: k("wsgi.multithread"),
            wsgi_multiprocess: k("wsgi.multiprocess"),
            wsgi_run_once: k("wsgi.run_once"),
            wsgi_url_scheme: k("wsgi.url_scheme"),
            wsgi_errors: k("wsgi.errors"),
            wsgi_input: k("wsgi.input"),
            wsgi_input_terminated: k("wsgi.input_terminated"),
            wsgi_file_wrapper: k("wsgi.file_wrapper"),
            apache_version: k("apache.version"),
            mod_wsgi_version: k("mod_wsgi.version"),
            script_start: k("mod_wsgi.script_start"),
            total_requests: k("mod_wsgi.total_requests"),
            thread_id: k("mod_wsgi.thread_id"),
            thread_requests: k("mod_wsgi.thread_requests"),
            application_group: k("mod_wsgi.application_group"),
            callable_object: k("mod_wsgi.callable_object"),
            dunder_mtime: k("__mtime__"),
            reload_required: k("reload_required"),
            start_response: k("start_response"),
            write: k("write"),
        }
    }
}

/// How `[client ...]`/`[remote ...]` is written for request log lines:
/// Apache tags a real client connection `client`; a daemon process (whose
/// connection has no scoreboard slot) is tagged `remote`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum PeerKind {
    Client,
    Remote,
}

/// One Python interpreter and its cached objects.
pub(crate) struct Interpreter {
    /// `mod_wsgi.process_group` (`""` in embedded mode).
    pub process_group: String,
    pub peer_kind: PeerKind,
    pub multithread: bool,
    pub multiprocess: bool,
    pub keys: Keys,
    /// `sys.modules` (the interpreter's module dict, as PyImport_GetModuleDict).
    pub modules: Py<PyDict>,
    /// Serialises script loading, like mod_wsgi's `wsgi_module_lock`; a
    /// Python lock, so that waiting for it releases the GIL.
    pub load_lock: Py<PyAny>,
    pub wsgi_version: Py<PyTuple>,
    pub apache_version: Py<PyTuple>,
    pub mod_wsgi_version: Py<PyTuple>,
    pub scheme_http: Py<PyString>,
    pub scheme_https: Py<PyString>,
    pub file_wrapper_type: Py<PyType>,
    /// `mod_wsgi.total_requests`.
    total_requests: AtomicU64,
    /// `WSGICaseSensitivity Off`.
    case_insensitive: bool,
    /// Script path → `_mod_wsgi_<md5>` module name.
    script_names: Mutex<HashMap<PathBuf, Py<PyString>>>,
}

/// The parts of the host configuration an interpreter needs.
pub(crate) struct InterpreterConfig {
    pub case_insensitive: bool,
    pub process_group: String,
    pub multithread: bool,
    pub multiprocess: bool,
}

impl Interpreter {
    /// Build the cache for the interpreter the calling thread is attached to.
    pub(crate) fn new(py: Python<'_>, cfg: InterpreterConfig) -> PyResult<Interpreter> {
        let sys = py.import("sys")?;
        let modules = sys.getattr("modules")?.cast_into::<PyDict>()?.unbind();
        let load_lock = py
            .import("_thread")?
            .call_method0("allocate_lock")?
            .unbind();
        let tuple3 = |v: (u32, u32, u32)| PyTuple::new(py, [v.0, v.1, v.2]).map(Bound::unbind);
        // mod_wsgi 4 hands out its Log wrapped in an io.TextIOWrapper, so
        // `wsgi.errors` (and a restricted sys.stdout) is an io.TextIOBase to
        // code that checks; wsgid's Log is registered as one (an ABC's
        // virtual subclass, per interpreter) rather than wrapped anew for
        // every request.
        py.import("io")?
            .getattr("TextIOBase")?
            .call_method1("register", (py.get_type::<LogStream>(),))?;
        let peer_kind = if cfg.process_group.is_empty() {
            PeerKind::Client
        } else {
            PeerKind::Remote
        };
        Ok(Interpreter {
            process_group: cfg.process_group,
            peer_kind,
            multithread: cfg.multithread,
            multiprocess: cfg.multiprocess,
            keys: Keys::new(py),
            modules,
            load_lock,
            wsgi_version: PyTuple::new(py, [1u32, 0])?.unbind(),
            apache_version: tuple3(APACHE_VERSION)?,
            mod_wsgi_version: tuple3(MOD_WSGI_VERSION)?,
            scheme_http: PyString::intern(py, "http").unbind(),
            scheme_https: PyString::intern(py, "https").unbind(),
            file_wrapper_type: py.get_type::<FileWrapper>().unbind(),
            total_requests: AtomicU64::new(0),
            case_insensitive: cfg.case_insensitive,
            script_names: Mutex::new(HashMap::new()),
        })
    }

    /// The peer tag for a request's log lines.
    pub(crate) fn peer(&self, client: Option<SocketAddr>) -> Peer {
        match (client, self.peer_kind) {
            (None, _) => Peer::None,
            (Some(a), PeerKind::Client) => Peer::Client(a),
            (Some(a), PeerKind::Remote) => Peer::Remote(a),
        }
    }

    /// Count a request; returns the new total (`mod_wsgi.total_requests`).
    pub(crate) fn count_request(&self) -> u64 {
        self.total_requests.fetch_add(1, Ordering::Relaxed) + 1
    }

    /// The module name mod_wsgi gives a script: `_mod_wsgi_` + the MD5 hex of
    /// its path, lower-cased first when the file system is declared case
    /// insensitive (`WSGICaseSensitivity Off`), as the specification says.
    /// (mod_wsgi 4.9's `wsgi_module_name` tests the flag the other way
    /// round, so it lower-cases by default on Linux; see the README.)
    pub(crate) fn script_module_name<'py>(
        &self,
        py: Python<'py>,
        script: &Path,
    ) -> Bound<'py, PyString> {
        let mut names = match self.script_names.lock() {
            Ok(g) => g,
            Err(poisoned) => poisoned.into_inner(),
        };
        if let Some(name) = names.get(script) {
            return name.bind(py).clone();
        }
        let name = PyString::new(py, &module_name_for(script, self.case_insensitive));
        names.insert(script.to_path_buf(), name.clone().unbind());
        name
    }
}

/// `_mod_wsgi_<md5 of the path>`, the path lower-cased first on a
/// case-insensitive file system (`WSGICaseSensitivity Off`).
pub(crate) fn module_name_for(script: &Path, case_insensitive: bool) -> String {
    let bytes = script.as_os_str().as_encoded_bytes();
    let digest = if case_insensitive {
        Md5::digest(bytes.to_ascii_lowercase())
    } else {
        Md5::digest(bytes)
    };
    let mut name = String::with_capacity(10 + 32);
    name.push_str("_mod_wsgi_");
    for b in digest {
        use std::fmt::Write as _;
        let _ = write!(name, "{b:02x}");
    }
    name
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn module_name_is_md5_of_lowercased_path() {
        // hashlib.md5(b"/srv/app.wsgi").hexdigest()
        let name = module_name_for(Path::new("/SRV/App.wsgi"), true);
        assert_eq!(name, "_mod_wsgi_295f8766fc4bd953ab4cd252da58a6a3");
        // hashlib.md5(b"/SRV/App.wsgi").hexdigest()
        let name = module_name_for(Path::new("/SRV/App.wsgi"), false);
        assert_eq!(
            name,
            format!("_mod_wsgi_{:x}", Md5::digest(b"/SRV/App.wsgi"))
        );
        assert_ne!(name, "_mod_wsgi_295f8766fc4bd953ab4cd252da58a6a3");
    }
}
