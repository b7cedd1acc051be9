//! wsgid-python: the Python host.
//!
//! Owns everything that touches CPython: interpreter start-up, application
//! groups, loading `.wsgi` scripts as modules, and the PEP 3333 adapter
//! (environ, `start_response`, `write`, `wsgi.input`, `wsgi.errors`,
//! `wsgi.file_wrapper`, iterating the result and always calling `close()`).
//! It is the only crate in the workspace with `unsafe` code; that code lives
//! in the documented FFI layer and nowhere else.
//!
//! It deliberately knows nothing about HTTP parsing or Apache configuration:
//! the front end computes the CGI environment (as mod_wsgi does in the Apache
//! child) and hands over a [`WsgiRequest`]; answers come back as
//! [`ResponseEvent`]s on a bounded channel.  Access and authentication
//! scripts (`WSGIAccessScript`, `WSGIAuthUserScript`, `WSGIAuthGroupScript`)
//! are [`AuthCall`]s on the same queue, answered with an [`AuthAnswer`] on a
//! oneshot channel.  Python runs on a pool of OS
//! threads ([`PythonHost`]), each holding one persistent thread state, so the
//! async front end never waits for the GIL.

mod adapter;
mod auth;
mod cgi_env;
mod dispatch;
mod environ;
mod error;
mod events;
mod ffi;
mod file_wrapper;
mod groups;
mod handler;
mod host;
mod input;
mod interp;
mod log_stream;
mod module;
mod request_objects;
mod response;
mod response_head;
mod restrict;
mod runtime;
mod script;

pub use cgi_env::CgiEnv;
pub use error::PythonError;
pub use events::{EventReceiver, EventSender, EventSink, TrySendError, channel as event_channel};
pub use ffi::Filling;
pub use host::{PythonHost, RequestThread, ThreadTask};
pub use response_head::{ResponseHead, SharedHead};

// ===== public contract (shared with wsgid-http) =====

use std::net::SocketAddr;
use std::path::PathBuf;

use bytes::Bytes;

/// How the embedded Python is set up (from the server-wide WSGI directives).
#[derive(Clone, Debug, Default)]
pub struct PythonConfig {
    /// `WSGIPythonHome` (a venv's `sys.prefix` works).
    pub python_home: Option<PathBuf>,
    /// `WSGIPythonPath`: each added with `site.addsitedir`.
    pub python_path: Vec<PathBuf>,
    /// `WSGIPythonOptimize`.
    pub optimize: u8,
    /// `WSGIPythonEggs` (sets `PYTHON_EGG_CACHE`).
    pub python_eggs: Option<PathBuf>,
    /// `WSGIRestrictStdin`: `sys.stdin` raises `OSError` on any use.
    /// (The server's default is On; `Default` here gives Off.)
    pub restrict_stdin: bool,
    /// `WSGIRestrictStdout`: `sys.stdout` raises `OSError` on any use;
    /// when Off it writes to the error log as `sys.stderr` does.
    pub restrict_stdout: bool,
    /// `WSGIRestrictSignal`: `signal.signal()` logs a warning and does not
    /// register the handler.
    pub restrict_signal: bool,
    /// Number of request threads (`ThreadsPerChild`).
    pub threads: usize,
    /// `wsgi.multithread` / `wsgi.multiprocess` values for this process.
    pub multithread: bool,
    pub multiprocess: bool,
    /// The process group this host serves (`""` in embedded mode).
    pub process_group: String,
    /// `WSGIImportScript`s for this process, run at start-up in order.
    pub import_scripts: Vec<ImportScript>,
    /// `WSGICaseSensitivity Off`: script paths are lower-cased before they
    /// name a module, so one file reached with different case is one
    /// module (the specification's meaning; default On on Linux).
    pub case_insensitive: bool,
    /// `WSGIPythonWarnings` options, in order (as `python -W`).
    pub python_warnings: Vec<String>,
    /// `WSGIPythonHashSeed N` (`None`: random, Python's default).
    pub hash_seed: Option<u32>,
    /// `WSGIDontWriteBytecode On`.
    pub dont_write_bytecode: bool,
    /// `WSGIDestroyInterpreter Off`: skip `Py_FinalizeEx` at shutdown
    /// (atexit callbacks then do not run), as mod_wsgi 4.9 does.
    pub keep_interpreter: bool,
}

/// A script to load at process start (`WSGIImportScript`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ImportScript {
    pub path: PathBuf,
    /// The application group (`""`: `%{GLOBAL}`, the main interpreter).
    pub application_group: String,
}

/// The request body as the front end delivers it.  Called on a Python thread
/// with the GIL released; blocks until data, end of body or an error.
pub trait RequestBody: Send {
    /// Next chunk; `Ok(None)` at the end of the body.
    fn next_chunk(&mut self) -> Result<Option<Bytes>, BodyError>;

    /// The next chunk if it is at hand without waiting (None: it would
    /// block).  Called with the GIL held: `wsgi.input` releases the GIL
    /// only when the body has to be waited for, as each release lets
    /// another request thread take the GIL (a thread switch).
    fn ready_chunk(&mut self) -> Option<Result<Option<Bytes>, BodyError>> {
        None
    }

    /// Bytes of the body still to come, when this source can copy them
    /// straight into the caller's memory with [`RequestBody::try_read_into`]
    /// (None: it delivers chunks only).
    fn direct_rest(&self) -> Option<u64> {
        None
    }

    /// Write body bytes into `dst` (which has room) without waiting;
    /// called with the GIL held.  `Some(n)`: `n` bytes written, `Some(0)`:
    /// the body is over, `None`: nothing at hand, see `wait_readable`.
    fn try_read_into(&mut self, _dst: &mut Filling<'_>) -> Result<Option<usize>, BodyError> {
        Ok(Some(0))
    }

    /// Block until `try_read_into` can go on (the GIL released).
    fn wait_readable(&mut self) -> Result<(), BodyError> {
        Ok(())
    }
}

/// A failure to read the request body (client went away, timeout, over limit).
#[derive(Debug, thiserror::Error)]
pub enum BodyError {
    #[error("request body read failed: {0}")]
    Io(String),
    #[error("request body exceeded LimitRequestBody")]
    TooLarge,
    #[error("timed out reading request body")]
    Timeout,
}

/// Everything the adapter needs for one request.
pub struct WsgiRequest {
    /// Absolute path of the script file (`SCRIPT_FILENAME`).
    pub script: PathBuf,
    /// `WSGICallableObject` resolved (default `application`).
    pub callable: String,
    /// The application group name (`mod_wsgi.application_group`).
    pub application_group: String,
    /// `WSGIScriptReloading`.
    pub script_reloading: bool,
    /// `WSGIReloadMechanism`: what a changed script reloads.
    pub reload: ReloadMechanism,
    /// The script's modification time as the front end's file-system walk
    /// saw it for this request (mod_wsgi reuses Apache's `r->finfo.mtime`
    /// the same way).  `None`: the host `stat`s the script itself.
    pub script_mtime: Option<std::time::SystemTime>,
    /// String-valued environ entries, in the order they should be inserted:
    /// CGI variables, `HTTP_*`, SetEnv values and the string `mod_wsgi.*` keys.
    /// Values are "native strings" (PEP 3333): the raw bytes decoded as
    /// latin-1, one `char` per byte, as mod_wsgi's `PyUnicode_DecodeLatin1`.
    /// `PATH` and `HTTPS` are dropped, as mod_wsgi drops them.
    pub environ: CgiEnv,
    /// `wsgi.url_scheme`.
    pub url_scheme: &'static str,
    /// Request body source (`wsgi.input`).
    pub body: Box<dyn RequestBody>,
    /// Client address, for `[remote ...]`/`[client ...]` in log lines.
    pub client: Option<SocketAddr>,
    /// Error log of the virtual host that serves the request (`wsgi.errors`).
    pub error_log: wsgid_log::ErrorLog,
    /// Where the response goes.
    pub events: EventSender,
}

/// A call of an access or authentication script, run on a Python request
/// thread in the named application group's interpreter (mod_wsgi's
/// `wsgi_allow_access`, `wsgi_check_password`, `wsgi_get_realm_hash` and
/// `wsgi_groups_for_user`).  The script is loaded as a WSGI script is (same
/// module name, same reloading); its exceptions are logged with the
/// traceback, and the answer comes back on `answer`.
pub struct AuthCall {
    /// The script file (`WSGIAccessScript` / `WSGIAuthUserScript` /
    /// `WSGIAuthGroupScript`).
    pub script: PathBuf,
    /// Its `application-group=` resolved (`""`: `%{GLOBAL}`, the default).
    pub application_group: String,
    /// `WSGIScriptReloading` for the request.
    pub script_reloading: bool,
    /// The string entries of mod_wsgi's `Auth_environ`, in order (request
    /// headers except the credentials, server and client facts,
    /// `SCRIPT_NAME`, `PATH_INFO`); the host adds `apache.version`,
    /// `mod_wsgi.version`, `mod_wsgi.process_group`,
    /// `mod_wsgi.application_group`, `mod_wsgi.script_reloading` and
    /// `wsgi.errors`.
    pub environ: CgiEnv,
    /// Which function, with which arguments.
    pub kind: AuthKind,
    /// Client address, for the log lines.
    pub client: Option<SocketAddr>,
    /// The virtual host's error log.
    pub error_log: wsgid_log::ErrorLog,
    /// Where the answer goes (dropped unanswered only on a panic: treat as
    /// [`AuthAnswer::Error`]).
    pub answer: tokio::sync::oneshot::Sender<AuthAnswer>,
}

/// The script function an [`AuthCall`] runs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AuthKind {
    /// `allow_access(environ, host)`.
    AllowAccess { host: String },
    /// `check_password(environ, user, password)`.
    CheckPassword { user: String, password: String },
    /// `get_realm_hash(environ, user, realm)`.
    RealmHash { user: String, realm: String },
    /// `groups_for_user(environ, user)`.
    GroupsForUser { user: String },
    /// A `WSGIDispatchScript`: `process_group(environ)`,
    /// `application_group(environ)` and `callable_object(environ)`, each
    /// when the script defines it.
    Dispatch,
}

/// What a dispatch script's functions returned (None: the function is
/// missing or returned None, and the configuration's value stays).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Dispatched {
    pub process_group: Option<String>,
    pub application_group: Option<String>,
    pub callable_object: Option<String>,
}

/// What an auth script answered, mapped as mod_wsgi maps it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AuthAnswer {
    /// `True`.
    Granted,
    /// `False`.
    Denied,
    /// `None` (access: no opinion; password/realm hash: unknown user).
    NotFound,
    /// `check_password` returned a string: granted, and the request's user
    /// becomes that name.
    User(String),
    /// `get_realm_hash`'s hex digest.
    Hash(String),
    /// `groups_for_user`'s groups.
    Groups(Vec<String>),
    /// A dispatch script's answers.
    Dispatch(Dispatched),
    /// The script failed to load, lacks the function, raised, or returned
    /// a value of the wrong type; already logged.
    Error,
}

impl std::fmt::Debug for AuthCall {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuthCall")
            .field("script", &self.script)
            .field("application_group", &self.application_group)
            .finish_non_exhaustive()
    }
}

/// `WSGIReloadMechanism` (the specification's 1.X/2.0 directive).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ReloadMechanism {
    /// Discard the script's module and load the file into a fresh one.
    #[default]
    Module,
    /// Destroy the application group's sub-interpreter and start a fresh
    /// one (`%{GLOBAL}` reloads as `Module`: the main interpreter stays).
    Interpreter,
    /// Restart the daemon process; in embedded mode the same as `Module`.
    Process,
}

impl std::fmt::Debug for WsgiRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WsgiRequest")
            .field("script", &self.script)
            .field("callable", &self.callable)
            .field("application_group", &self.application_group)
            .finish_non_exhaustive()
    }
}

/// What the Python side sends to the front end, in order:
/// `Head` (or `Complete`, or `Failed`) first, then `Chunk`/`File`*, then `End`
/// or `Abort`.
///
/// The final event is sent after the application's `close()` returned.  If
/// the sender is dropped without a final event (a panic on the Python side),
/// treat it as `Abort` (or as `Failed(500)` when nothing was sent).  Bodies
/// are already cut to the application's Content-Length; when the application
/// produced less than it declared the response ends with `Abort`.
#[derive(Debug)]
pub enum ResponseEvent {
    /// Head and the whole body at once: an exact list/tuple result, or an
    /// empty body.  mod_wsgi adds no Content-Length here: Apache answers an
    /// empty body with `Content-Length: 0` and a non-empty one chunked
    /// (HTTP/1.1) unless the application set Content-Length itself (oracle
    /// case 18).
    Complete(ResponseHead, Bytes),
    /// Head; body events follow.
    Head(ResponseHead),
    /// A body chunk (never empty).
    Chunk(Bytes),
    /// `wsgi.file_wrapper` on a regular file: send `len` bytes (None: to EOF)
    /// from `offset`.  `file` is a duplicate of the application's descriptor
    /// and shares its file offset: use positional reads (`read_at`/`pread`,
    /// sendfile with an offset), never seek.  If the file holds fewer bytes
    /// than `len`, end the response as for `Abort`.
    File {
        file: std::fs::File,
        offset: u64,
        len: Option<u64>,
    },
    /// The body is complete.
    End,
    /// Something failed after the head was sent: close the connection
    /// without completing the body (the error is already logged).
    Abort,
    /// The request failed before a head was produced: answer with Apache's
    /// error page for this status.  Already logged.  500 for a script that
    /// fails to load, an exception before the head, an invalid status,
    /// headers or body item; 404 when the script lacks the callable (as
    /// mod_wsgi answers).
    Failed(u16),
}

impl ResponseEvent {
    /// Whether nothing can follow this event in a response.
    pub fn is_final(&self) -> bool {
        matches!(
            self,
            ResponseEvent::Complete(..)
                | ResponseEvent::Failed(_)
                | ResponseEvent::End
                | ResponseEvent::Abort
        )
    }
}

// ===== the host (implemented in host.rs) =====
//
// Contract the front end codes against:
//
// ```ignore
// impl PythonHost {
//     /// Initialise CPython in this process (never before fork), start
//     /// `cfg.threads` request threads.  Errors are also logged to `log`.
//     pub fn start(cfg: PythonConfig, log: wsgid_log::ErrorLog) -> Result<PythonHost, PythonError>;
//     /// Queue a request; never blocks.  Gives the request back when the
//     /// host is shutting down.
//     pub fn submit(&self, req: WsgiRequest) -> Result<(), Box<WsgiRequest>>;
//     /// Queue an auth/access script call (same queue, same threads);
//     /// never blocks.  Gives the call back when shutting down.
//     pub fn submit_auth(&self, call: AuthCall) -> Result<(), Box<AuthCall>>;
//     /// Requests waiting for a free request thread.
//     pub fn queued(&self) -> usize;
//     /// Stop taking requests, let running ones finish, run atexit, finalise.
//     /// Also run on drop.
//     pub fn shutdown(&self);
//     /// `sys.version` and `sys.prefix` of the linked Python (for `wsgid -V`);
//     /// before `start`: the loaded libpython's version and file.
//     pub fn runtime_version() -> String;
// }
// ```

#[cfg(test)]
mod tests;
