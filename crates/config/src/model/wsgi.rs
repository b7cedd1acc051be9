//! mod_wsgi's server-wide settings: the Python set-up, the daemon
//! process groups (`WSGIDaemonProcess`) and the scripts imported at start.

use std::path::PathBuf;

use super::*;

/// `WSGIReloadMechanism Module|Interpreter|Process`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReloadMechanism {
    Module,
    Interpreter,
    Process,
}

/// Server-wide mod_wsgi settings.
#[derive(Clone, Debug)]
pub struct WsgiServer {
    pub python_home: Option<PathBuf>,
    pub python_path: Vec<PathBuf>,
    pub python_optimize: u8,
    pub python_eggs: Option<PathBuf>,
    /// `WSGIRestrictStdin` (default On, as the specification says).
    pub restrict_stdin: bool,
    /// `WSGIRestrictStdout` (default On; Off: `sys.stdout` goes to the error log).
    pub restrict_stdout: bool,
    /// `WSGIRestrictSignal` (default On: `signal.signal()` registrations ignored).
    pub restrict_signal: bool,
    pub restrict_embedded: bool,
    /// `WSGISocketPrefix`, resolved against ServerRoot.
    pub socket_prefix: Option<PathBuf>,
    pub case_sensitivity: bool,
    /// `WSGIDontWriteBytecode On` (default Off).
    pub dont_write_bytecode: bool,
    /// `WSGIPythonWarnings` options, in order (like `python -W`).
    pub python_warnings: Vec<String>,
    /// `WSGIPythonHashSeed random|N` (None: Python's default).
    pub python_hash_seed: Option<String>,
    /// `WSGIDestroyInterpreter` (default On).
    pub destroy_interpreter: bool,
    /// `WSGIImportScript`s, in configuration order.
    pub import_scripts: Vec<ImportScript>,
    /// `WSGIDaemonProcess` groups, in configuration order (names unique).
    pub daemons: Vec<DaemonProcess>,
}

impl WsgiServer {
    /// The daemon process group called `name`.
    pub fn daemon(&self, name: &str) -> Option<&DaemonProcess> {
        self.daemons.iter().find(|d| d.name == name)
    }
}

/// One `WSGIDaemonProcess name options...` (mod_wsgi's `WSGIProcessGroup`
/// record), with mod_wsgi 4.9's defaults.  Timeouts are whole seconds, 0
/// meaning "off" except where noted.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DaemonProcess {
    pub name: String,
    /// `user=` / `group=` (names or `#id`); None: the server's `User`/`Group`.
    pub user: Option<String>,
    pub group: Option<String>,
    /// `processes=` (default 1); `multiprocess` is true only when the
    /// option was written (mod_wsgi's `wsgi.multiprocess` rule).
    pub processes: u32,
    pub multiprocess: bool,
    /// `threads=` (default 15).
    pub threads: u32,
    /// `umask=` (octal; None: inherited).
    pub umask: Option<u32>,
    /// `home=` (absolute; None: stay in the server's working directory).
    pub home: Option<PathBuf>,
    pub lang: Option<String>,
    pub locale: Option<String>,
    pub python_home: Option<PathBuf>,
    /// `python-path=` (':'-separated, each added with `site.addsitedir`).
    pub python_path: Vec<PathBuf>,
    pub python_eggs: Option<PathBuf>,
    /// `stack-size=` in bytes (None: the system default).
    pub stack_size: Option<u32>,
    pub maximum_requests: u32,
    pub startup_timeout: u32,
    /// Default 5.
    pub shutdown_timeout: u32,
    /// Default 300.
    pub deadlock_timeout: u32,
    pub inactivity_timeout: u32,
    pub request_timeout: u32,
    /// Default 15.
    pub graceful_timeout: u32,
    /// `eviction-timeout=` (0: `graceful_timeout`): how long in-flight
    /// requests get after the graceful restart signal.
    pub eviction_timeout: u32,
    pub restart_interval: u32,
    /// Default 15.
    pub connect_timeout: u32,
    /// 0: the server's `Timeout`.
    pub socket_timeout: u32,
    pub queue_timeout: u32,
    /// Default 100.
    pub listen_backlog: u32,
    /// `display-name=` (`%{GROUP}` already expanded to `(wsgi:NAME)`).
    pub display_name: Option<String>,
    /// 0: the system default.
    pub send_buffer_size: u32,
    pub receive_buffer_size: u32,
    /// `cpu-time-limit` (seconds), `memory-limit` (RLIMIT_DATA bytes),
    /// `virtual-memory-limit` (RLIMIT_AS bytes); 0: none.
    pub cpu_time_limit: u32,
    pub memory_limit: u64,
    pub virtual_memory_limit: u64,
    /// `supplementary-groups=g1,g2` (names or `#gid`; empty: the user's
    /// groups from the group database).
    pub supplementary_groups: Vec<String>,
    /// `socket-user`: who may connect to the group's socket (default: `User`).
    pub socket_user: Option<String>,
    /// `cpu-priority=` (the nice value set in each daemon process; 0:
    /// unchanged).
    pub cpu_priority: i32,
    /// `header-buffer-size=` (0: mod_wsgi's 32768): the front end's buffer
    /// for one response header line from the daemon; a longer line is a
    /// 500 ("Truncated or oversized response headers").
    pub header_buffer_size: u32,
    /// `response-socket-timeout=` (0: `socket-timeout`): bound of each
    /// write of the daemon's response to the client.
    pub response_socket_timeout: u32,
    /// `script-user=` / `script-group=` (names; `#id` resolved at parse
    /// time): who must own the WSGI script file and its directory for the
    /// front end to delegate a request to the group (else 403).
    pub script_owner: Option<ScriptOwner>,
    /// The `<VirtualHost>` the group was defined in (index into
    /// `virtual_hosts`; None: the main server) and that host's
    /// `ServerName` at that point.
    pub vhost: Option<usize>,
    pub server_name: Option<String>,
    pub span: Span,
}

/// `script-user=` or `script-group=` of a `WSGIDaemonProcess`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ScriptOwner {
    User(String),
    Group(String),
}

/// One `WSGIImportScript`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ImportScript {
    pub path: PathBuf,
    /// `""` for `%{GLOBAL}` (the embedded worker), else a daemon group.
    pub process_group: String,
    /// `""` for `%{GLOBAL}`.
    pub application_group: String,
}
