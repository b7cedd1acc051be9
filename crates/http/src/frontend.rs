//! [`FrontEnd`]: everything the request phases need, prepared once at
//! start-up: one [`Site`] per server (main server and each virtual host)
//! with its logs opened and its regexes compiled, the virtual host table
//! and the MIME table.  Serving connections is `server.rs`'s job.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::AtomicU64;

use wsgid_config::model::{
    Host, LogTarget, PipedLog, Section, ServerConfig, ServerSignature, ServerTokens, UrlMatcher,
};
use wsgid_log::{AccessLog, ErrorLog, Level};
use wsgid_python::PythonHost;

use crate::access_log::Formatter;
use crate::mime::MimeTypes;
use crate::vhost::VhostTable;

/// Why the front end could not start or serve.
#[derive(Debug, thiserror::Error)]
pub enum HttpError {
    #[error("cannot open error log {path}: {source}")]
    ErrorLog {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot open access log {path}: {source}")]
    AccessLog {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{target}: piped and syslog logs are not supported")]
    UnsupportedLog { target: String },
    #[error("invalid log format {format:?}: {reason}")]
    LogFormat { format: String, reason: String },
    #[error("cannot read TypesConfig {path}: {source}")]
    Mime {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot use listening socket: {0}")]
    Listener(std::io::Error),
}

/// One `CustomLog` of a host, ready to write.
pub struct AccessSink {
    pub log: AccessLog,
    pub format: Formatter,
    /// `env=VAR` (true) or `env=!VAR` (false).
    pub condition: Option<(bool, String)>,
}

/// A server (`server_rec`) as the phases use it.
pub struct Site {
    pub host: Host,
    /// `<Directory>`/`<Files>`/`<Location>` sections in effect: for a
    /// virtual host the main server's first, then its own (Apache appends
    /// them the same way when merging server configs).
    pub sections: Vec<Section>,
    /// Byte-regex twins of the alias regexes (URIs may be non-UTF-8).
    pub alias_res: Vec<Option<regex::bytes::Regex>>,
    /// `server->server_hostname`: ServerName, or the machine's name.
    pub server_hostname: String,
    pub error_log: ErrorLog,
    pub access_logs: Arc<Vec<AccessSink>>,
    pub signature: ServerSignature,
    /// `SERVER_SOFTWARE` / `Server:` value for this ServerTokens setting.
    pub server_banner: String,
    /// `server_banner` as the `Server:` header value, made once (each
    /// response clones it: a reference count, not a copy and a check).
    pub server_header: Option<http::HeaderValue>,
    /// Whether any section has per-directory mod_rewrite rules (they can
    /// change a sub-request's file name after the walk).
    pub dir_rewrites: bool,
    /// `sections` indices of the `<Directory>` sections in walk order.
    pub dir_order: Vec<usize>,
    /// Section merges already computed for this site.
    pub merges: crate::phases::walk::MergeMemo,
    /// PATH_TRANSLATED values already computed for this site.
    pub translated: crate::phases::translate::TranslatedMemo,
    /// `AccessFileName`s, and whether any section (or the host) sets
    /// `AllowOverride`/`AllowOverrideList` (else no `.htaccess` is looked
    /// for).
    pub access_file_names: Arc<Vec<String>>,
    pub overrides_anywhere: bool,
    /// Some level can leave `FollowSymLinks` out (`phases::symlinks`).
    pub symlinks_restricted: bool,
    /// `ServerRoot` (relative paths in `.htaccess` files).
    pub server_root: std::path::PathBuf,
}

/// The HTTP front end: configuration, sites and the Python host.
pub struct FrontEnd {
    pub(crate) cfg: Arc<ServerConfig>,
    pub(crate) python: Option<Arc<PythonHost>>,
    pub(crate) sites: Vec<Site>,
    pub(crate) vhosts: VhostTable,
    pub(crate) mime: MimeTypes,
    pub(crate) next_id: AtomicU64,
    /// The daemon process groups, with this worker's kept connections.
    pub(crate) daemons: crate::daemon_client::Targets,
    /// The process stops because it reached `MaxConnectionsPerChild`:
    /// connections it accepted are still served their first request.
    pub(crate) recycling: std::sync::atomic::AtomicBool,
    /// The methods `<Limit>` sections registered (`HttpProtocolOptions
    /// RegisteredMethods` lets them through).
    pub(crate) extension_methods: Arc<[String]>,
}

impl std::fmt::Debug for FrontEnd {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FrontEnd")
            .field("sites", &self.sites.len())
            .finish_non_exhaustive()
    }
}

/// The product banner for a `ServerTokens` value.
pub fn server_banner(tokens: ServerTokens) -> String {
    let version = env!("CARGO_PKG_VERSION");
    let major = version.split('.').next().unwrap_or("0");
    let minor = version.split('.').take(2).collect::<Vec<_>>().join(".");
    match tokens {
        ServerTokens::Prod => "wsgid".into(),
        ServerTokens::Major => format!("wsgid/{major}"),
        ServerTokens::Minor => format!("wsgid/{minor}"),
        ServerTokens::Minimal => format!("wsgid/{version}"),
        ServerTokens::Os | ServerTokens::Full => format!("wsgid/{version} (Unix)"),
    }
}

/// The machine's host name, Apache's fallback when there is no ServerName.
fn machine_hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|s| s.trim().to_owned())
        .ok()
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "localhost".into())
}

/// Opens each log file once, so that hosts naming the same file share one
/// handle (and so one lock, keeping lines whole).
#[derive(Default)]
struct LogFiles {
    errors: HashMap<PathBuf, ErrorLog>,
    access: HashMap<PathBuf, AccessLog>,
    /// The piped logs' programs (`ServerConfig::piped_logs`) and where the
    /// master put their pipes (see `PipedLogs`).
    pipes: Option<PipedLogs>,
}

/// Where the master's piped log programs read: one named pipe per program,
/// `PREFIX.N` for the N-th of `ServerConfig::piped_logs` (the master passes
/// PREFIX to its children).  A process opens them for writing like files.
#[derive(Clone, Debug)]
pub struct PipedLogs {
    pub programs: Vec<PipedLog>,
    pub prefix: PathBuf,
}

impl PipedLogs {
    /// The named pipe of `program`.
    pub fn path(&self, program: &PipedLog) -> Option<PathBuf> {
        let n = self.programs.iter().position(|p| p == program)?;
        let mut path = self.prefix.clone().into_os_string();
        path.push(format!(".{n}"));
        Some(PathBuf::from(path))
    }
}

impl LogFiles {
    fn error_log(&mut self, host: &Host) -> Result<ErrorLog, HttpError> {
        let level = host.log_level.default;
        let modules: Vec<(String, Level)> = host
            .log_level
            .modules
            .iter()
            .map(|(m, l)| (m.clone(), *l))
            .collect();
        let path = match &host.error_log {
            None | Some(LogTarget::Stderr) => {
                return Ok(ErrorLog::stderr(level).with_levels(level, modules));
            }
            Some(LogTarget::Syslog(t)) => {
                return Err(HttpError::UnsupportedLog { target: t.clone() });
            }
            Some(LogTarget::Pipe(program)) => self.pipe_path(program)?,
            Some(LogTarget::File(path)) => path.clone(),
        };
        let base = match self.errors.get(&path) {
            Some(log) => log.clone(),
            None => {
                let log = ErrorLog::open(&path, level).map_err(|source| HttpError::ErrorLog {
                    path: path.clone(),
                    source,
                })?;
                self.errors.insert(path, log.clone());
                log
            }
        };
        Ok(base.with_levels(level, modules))
    }

    /// The named pipe a piped log writes into.
    fn pipe_path(&self, program: &PipedLog) -> Result<PathBuf, HttpError> {
        self.pipes
            .as_ref()
            .and_then(|p| p.path(program))
            .ok_or_else(|| HttpError::UnsupportedLog {
                target: format!(
                    "|{} (a piped log needs the master process)",
                    program.command
                ),
            })
    }

    fn access_log(&mut self, target: &LogTarget) -> Result<AccessLog, HttpError> {
        let path = match target {
            LogTarget::Stderr => return Ok(AccessLog::stderr()),
            LogTarget::Syslog(t) => return Err(HttpError::UnsupportedLog { target: t.clone() }),
            LogTarget::Pipe(program) => self.pipe_path(program)?,
            LogTarget::File(path) => path.clone(),
        };
        if let Some(log) = self.access.get(&path) {
            return Ok(log.clone());
        }
        let log = AccessLog::open(&path).map_err(|source| HttpError::AccessLog {
            path: path.clone(),
            source,
        })?;
        self.access.insert(path, log.clone());
        Ok(log)
    }
}

/// The logs of every host, opened up front (by the worker while it still
/// has the privileges to open them, as Apache's parent opens its logs).
pub struct Logs {
    /// Error log per host (index 0: main server).
    errors: Vec<ErrorLog>,
    /// `CustomLog`s per host.
    access: Vec<Vec<AccessSink>>,
}

impl std::fmt::Debug for Logs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Logs")
            .field("hosts", &self.errors.len())
            .finish_non_exhaustive()
    }
}

fn all_hosts(cfg: &ServerConfig) -> impl Iterator<Item = &Host> {
    std::iter::once(&cfg.main).chain(cfg.virtual_hosts.iter().map(|v| &v.host))
}

impl Logs {
    /// Open the error and access logs of the main server and every
    /// virtual host; a file named twice is opened once.
    /// `pipes`: where the master put the piped logs' pipes (None: no
    /// master, as in tests of this crate).
    pub fn open(cfg: &ServerConfig, pipes: Option<PipedLogs>) -> Result<Logs, HttpError> {
        let mut files = LogFiles {
            pipes,
            ..LogFiles::default()
        };
        let mut errors = Vec::new();
        let mut access = Vec::new();
        for host in all_hosts(cfg) {
            errors.push(files.error_log(host)?);
            let mut sinks = Vec::new();
            for cl in &host.custom_logs {
                let format =
                    Formatter::parse(&cl.format).map_err(|reason| HttpError::LogFormat {
                        format: cl.format.clone(),
                        reason,
                    })?;
                sinks.push(AccessSink {
                    log: files.access_log(&cl.target)?,
                    format,
                    condition: cl.condition.clone(),
                });
            }
            access.push(sinks);
        }
        Ok(Logs { errors, access })
    }

    /// Only the main server's error log (for the master process).
    pub fn open_main(cfg: &ServerConfig, pipes: Option<PipedLogs>) -> Result<ErrorLog, HttpError> {
        LogFiles {
            pipes,
            ..LogFiles::default()
        }
        .error_log(&cfg.main)
    }

    /// Every host's error log (index 0: main server, then the virtual
    /// hosts in order), for a daemon process.
    pub fn error_logs(&self) -> Vec<ErrorLog> {
        self.errors.clone()
    }

    /// The main server's error log.
    pub fn main_error_log(&self) -> ErrorLog {
        self.errors
            .first()
            .cloned()
            .unwrap_or_else(|| ErrorLog::stderr(Level::Warn))
    }
}

impl FrontEnd {
    /// Load MIME types and precompile everything, with the logs opened by
    /// [`Logs::open`] for the same configuration.
    pub fn new(
        cfg: Arc<ServerConfig>,
        logs: Logs,
        python: Option<Arc<PythonHost>>,
    ) -> Result<FrontEnd, HttpError> {
        let mime =
            MimeTypes::load(cfg.types_config.as_deref()).map_err(|source| HttpError::Mime {
                path: cfg.types_config.clone().unwrap_or_default(),
                source,
            })?;
        let fallback_name = machine_hostname();
        let banner = server_banner(cfg.server_tokens);
        let mut errors = logs.errors.into_iter();
        let mut access = logs.access.into_iter();
        let mut sites = Vec::with_capacity(1 + cfg.virtual_hosts.len());
        for host in all_hosts(&cfg) {
            // The config builder already put the main server's sections in
            // front of a virtual host's own (as Apache merges them).
            let sections = host.sections.clone();
            let alias_res = host
                .aliases
                .iter()
                .map(|a| match &a.matcher {
                    UrlMatcher::Regex(re) => regex::bytes::Regex::new(re.as_str()).ok(),
                    UrlMatcher::Prefix(_) => None,
                })
                .collect();
            let error_log = match errors.next() {
                Some(log) => log,
                None => LogFiles::default().error_log(host)?,
            };
            let dir_rewrites = host.per_dir.rewrite.is_some()
                || sections.iter().any(|s| s.per_dir.rewrite.is_some());
            let overrides_anywhere = std::iter::once(&host.per_dir)
                .chain(sections.iter().map(|s| &s.per_dir))
                .any(|d| d.allow_override.is_some() || d.allow_override_list.is_some());
            sites.push(Site {
                dir_order: crate::phases::walk::directory_order(&sections),
                merges: Default::default(),
                translated: Default::default(),
                access_file_names: Arc::new(cfg.access_file_name.clone()),
                overrides_anywhere,
                symlinks_restricted: crate::phases::symlinks::restricted_anywhere(
                    &host.per_dir,
                    &sections,
                ),
                server_root: cfg.server_root.clone(),
                dir_rewrites,
                error_log,
                server_hostname: host
                    .server_name
                    .clone()
                    .unwrap_or_else(|| fallback_name.clone()),
                host: host.clone(),
                sections,
                alias_res,
                access_logs: Arc::new(access.next().unwrap_or_default()),
                signature: cfg.server_signature,
                server_banner: banner.clone(),
                server_header: http::HeaderValue::from_str(&banner).ok(),
            });
        }
        let extension_methods: Arc<[String]> = Arc::from(cfg.registered_methods.clone());
        Ok(FrontEnd {
            vhosts: VhostTable::new(&cfg.virtual_hosts),
            daemons: crate::daemon_client::Targets::new(&cfg),
            cfg,
            python,
            sites,
            mime,
            next_id: AtomicU64::new(1),
            recycling: std::sync::atomic::AtomicBool::new(false),
            extension_methods,
        })
    }

    /// The site for a host index (0: main server).
    pub(crate) fn site(&self, index: usize) -> &Site {
        self.sites.get(index).unwrap_or(&self.sites[0])
    }

    /// The main server's error log (for messages outside any request).
    pub fn error_log(&self) -> &ErrorLog {
        &self.sites[0].error_log
    }
}
