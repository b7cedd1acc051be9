//! Walks the syntax tree and fills the typed model: looks every directive
//! up in the table, applies Apache's override, arity and context checks
//! with Apache's messages, then runs the handler.  The per-host finishing
//! (defaults, log formats, virtual host inheritance, MPM limits) lives in
//! `finish`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use crate::ConfigError;
use crate::model::*;
use crate::registry::{self, Action, Row, check_arity};
use crate::suggest;
use crate::syntax::{Node, Section as SyntaxSection};

/// Apache's built-in access log format (mod_log_config's DEFAULT_LOG_FORMAT).
pub const DEFAULT_LOG_FORMAT: &str = "%h %l %u %t \"%r\" %>s %b";

/// A `CustomLog`/`TransferLog` before formats are resolved (Apache
/// resolves nicknames when it opens the logs, after reading everything).
#[derive(Clone, Debug)]
pub struct RawLog {
    pub target: String,
    /// None for `TransferLog` (uses the default format).
    pub format: Option<String>,
    pub condition: Option<(bool, String)>,
    pub span: Span,
}

/// What a host set itself, so a virtual host can inherit the rest.
#[derive(Clone, Debug, Default)]
pub struct HostMeta {
    pub document_root: bool,
    pub log_level: bool,
    pub timeout: bool,
    pub keep_alive: bool,
    pub keep_alive_timeout: bool,
    pub max_keep_alive_requests: bool,
    pub trace_enable: bool,
    pub encoded_slashes: bool,
    pub recursion_limit: bool,
    pub logs: Vec<RawLog>,
    /// `LogFormat fmt nickname`.
    pub formats: BTreeMap<String, String>,
    /// `LogFormat fmt` without a nickname.
    pub default_format: Option<String>,
}

/// An open `<Directory>`/`<Location>`/`<Files>` being filled.
pub struct OpenSection {
    pub section: Section,
    /// `Require` lines directly in this section (implicitly RequireAny).
    pub requires: Vec<Require>,
}

/// An open `<RequireAll>`/`<RequireAny>`/`<RequireNone>`/`<RequireNotAll>`.
pub struct OpenAuthz {
    pub tag: &'static str,
    pub children: Vec<Require>,
}

/// The model under construction plus where we are in the tree.
pub struct Builder {
    pub cfg: ServerConfig,
    /// Final ServerRoot (Apache resolves relative paths after reading all).
    pub root: PathBuf,
    /// Index into `cfg.virtual_hosts` while inside `<VirtualHost>`.
    pub vhost: Option<usize>,
    /// `meta[0]` is the main server, `meta[i + 1]` virtual host `i`.
    pub meta: Vec<HostMeta>,
    pub dirs: Vec<OpenSection>,
    pub authz: Vec<OpenAuthz>,
    /// Canonical names of the enclosing sections, outermost first.
    pub parents: Vec<&'static str>,
    /// The override mask in effect (Apache's `cmd->override`).
    pub overrides: u16,
    /// `AllowOverrideList` names allowed whatever the mask (`.htaccess`).
    pub override_list: Vec<String>,
    /// `AllowOverride Options=...` (`.htaccess`): the options allowed.
    pub options_allowed: Option<crate::model::OptionFlags>,
    /// The `HttpProtocolOptions` words seen so far (Apache ORs them into
    /// bits and refuses contradicting pairs).
    pub http_protocol_words: Vec<&'static str>,
    /// The methods of the enclosing `<Limit>`/`<LimitExcept>` sections
    /// (all outside them: Apache's `cmd->limited`).
    pub limited: crate::method_set::MethodSet,
    /// `DefaultRuntimeDir` as written (resolved in `finish`).
    pub runtime_dir_arg: Option<String>,
    pub pid_file_arg: Option<String>,
    /// The directive being handled (for handlers that record spans).
    pub current_span: Span,
    /// The last MPM sizing directive, for warnings about adjusted values.
    pub mpm_span: Option<Span>,
    /// `RewriteCond`s waiting for their `RewriteRule`, with the scope they
    /// were written in (see `directives::rewrite`).
    pub rewrite_conds: Option<(String, Vec<RewriteCond>)>,
}

/// A host with nothing set (the finish step fills the defaults in).
pub fn empty_host(span: Option<Span>) -> Host {
    Host {
        server_name: None,
        server_port: None,
        server_aliases: Vec::new(),
        server_admin: None,
        document_root: PathBuf::from("/var/www/html"),
        error_log: None,
        log_level: LogLevel {
            default: Level::Warn,
            modules: BTreeMap::new(),
        },
        custom_logs: Vec::new(),
        aliases: Vec::new(),
        per_dir: PerDir::default(),
        sections: Vec::new(),
        span,
        timeout: Duration::from_secs(60),
        keep_alive: true,
        keep_alive_timeout: Duration::from_secs(5),
        max_keep_alive_requests: 100,
        trace_enable: TraceEnable::On,
        encoded_slashes: EncodedSlashes::Off,
        recursion_limit: RecursionLimit::default(),
        set_env_if: Vec::new(),
        rewrite: Rewrite::default(),
    }
}

impl Builder {
    pub fn new(config_file: PathBuf, root: PathBuf, defines: Vec<String>) -> Self {
        let cfg = ServerConfig {
            config_file,
            server_root: root.clone(),
            defines,
            pid_file: None,
            runtime_dir: root.join("logs"),
            user: None,
            group: None,
            listen: Vec::new(),
            mpm: Mpm {
                start_servers: 3,
                server_limit: 16,
                threads_per_child: 25,
                thread_limit: 64,
                max_request_workers: 400,
                max_connections_per_child: 0,
                graceful_shutdown_timeout: 0,
                explicit: false,
            },
            timeout: Duration::from_secs(60),
            keep_alive: true,
            keep_alive_timeout: Duration::from_secs(5),
            max_keep_alive_requests: 100,
            request_read_timeout: None,
            limit_request_line: 8190,
            limit_request_field_size: 8190,
            limit_request_fields: 100,
            registered_methods_only: false,
            require_http10: false,
            registered_methods: Vec::new(),
            types_config: None,
            server_signature: ServerSignature::Off,
            server_tokens: ServerTokens::Full,
            enable_sendfile: false,
            log_formats: BTreeMap::new(),
            access_file_name: vec![".htaccess".to_owned()],
            main: empty_host(None),
            virtual_hosts: Vec::new(),
            wsgi: WsgiServer {
                python_home: None,
                python_path: Vec::new(),
                python_optimize: 0,
                python_eggs: None,
                restrict_stdin: true,
                restrict_stdout: true,
                restrict_signal: true,
                restrict_embedded: false,
                socket_prefix: None,
                case_sensitivity: true,
                dont_write_bytecode: false,
                python_warnings: Vec::new(),
                python_hash_seed: None,
                destroy_interpreter: true,
                import_scripts: Vec::new(),
                daemons: Vec::new(),
            },
            ignored: Vec::new(),
            warnings: Vec::new(),
            loaded_modules: Vec::new(),
        };
        Builder {
            cfg,
            root,
            vhost: None,
            meta: vec![HostMeta::default()],
            dirs: Vec::new(),
            authz: Vec::new(),
            parents: Vec::new(),
            overrides: registry::SERVER_OVERRIDE,
            override_list: Vec::new(),
            options_allowed: None,
            limited: crate::method_set::MethodSet::all(),
            http_protocol_words: Vec::new(),
            runtime_dir_arg: None,
            pid_file_arg: None,
            current_span: Span {
                file: Arc::new(PathBuf::new()),
                line: 0,
            },
            mpm_span: None,
            rewrite_conds: None,
        }
    }

    // ===== where handlers write =====

    /// The host directives apply to (main server or the open vhost).
    pub fn host(&mut self) -> &mut Host {
        match self.vhost.and_then(|i| self.cfg.virtual_hosts.get_mut(i)) {
            Some(v) => &mut v.host,
            None => &mut self.cfg.main,
        }
    }

    pub fn meta(&mut self) -> &mut HostMeta {
        let i = self.vhost.map_or(0, |i| i + 1);
        if self.meta.len() <= i {
            self.meta.resize_with(i + 1, HostMeta::default);
        }
        &mut self.meta[i]
    }

    /// The per-directory config directives apply to: the innermost open
    /// section, else the host's own.
    pub fn per_dir(&mut self) -> &mut PerDir {
        match self.dirs.len() {
            0 => &mut self.host().per_dir,
            n => &mut self.dirs[n - 1].section.per_dir,
        }
    }

    /// True when written outside any section (server or vhost level).
    pub fn at_host_level(&self) -> bool {
        self.dirs.is_empty()
    }

    pub fn in_vhost(&self) -> bool {
        self.vhost.is_some()
    }

    /// Apache's `ap_server_root_relative`.
    pub fn server_relative(&self, p: &str) -> PathBuf {
        let path = Path::new(p);
        if path.is_absolute() {
            path.to_path_buf()
        } else {
            self.root.join(path)
        }
    }

    // ===== the walk =====

    pub fn walk(&mut self, nodes: &[Node]) -> Result<(), ConfigError> {
        for node in nodes {
            self.node(node)?;
        }
        Ok(())
    }

    fn node(&mut self, node: &Node) -> Result<(), ConfigError> {
        let (name, raw, span) = match node {
            Node::Directive(d) => (d.name.clone(), d.raw_args.as_str(), &d.span),
            Node::Section(s) => (format!("<{}", s.name), s.raw_args.as_str(), &s.span),
        };
        let Some(row) = registry::lookup(&name) else {
            return Err(ConfigError::Syntax {
                span: span.clone(),
                directive: name.clone(),
                message: format!(
                    "Invalid command '{name}', perhaps misspelled or defined by a module not included in the server configuration"
                ),
                hint: suggest::did_you_mean(&name),
            });
        };
        self.current_span = span.clone();
        let fail = |m: String| ConfigError::syntax(span, row.name, m);
        if self.overrides & row.allowed == 0
            && !self
                .override_list
                .iter()
                .any(|n| n.eq_ignore_ascii_case(row.name))
        {
            return Err(fail(match self.parents.last() {
                Some(p) => format!("{} not allowed in {p}> context", row.name),
                None => format!("{} not allowed here", row.name),
            }));
        }
        let args = check_arity(row, raw).map_err(fail)?;
        self.check_context(row).map_err(fail)?;
        match row.action {
            Action::Set(f) => f(self, &args).map_err(fail),
            Action::Section(f) => match node {
                Node::Section(s) => f(self, s, &args),
                Node::Directive(_) => {
                    Err(fail(format!("{} must be written as a section", row.name)))
                }
            },
            Action::Ignored(_) => {
                self.cfg.ignored.push((row.name.to_owned(), span.clone()));
                Ok(())
            }
            Action::Planned(what) => {
                let shown = if row.name.starts_with('<') {
                    format!("{}>", row.name)
                } else {
                    row.name.to_owned()
                };
                Err(fail(format!(
                    "{shown}: not implemented yet in wsgid ({what})"
                )))
            }
            Action::Removed(msg) => Err(fail(msg.to_owned())),
            Action::ReadTime => Ok(()),
        }
    }

    /// Apache's `ap_check_cmd_context` for the bits the row declares.
    fn check_context(&self, row: &Row) -> Result<(), String> {
        use registry::{
            NOT_IN_DIR_CONTEXT, NOT_IN_DIRECTORY, NOT_IN_FILES, NOT_IN_LIMIT, NOT_IN_LOCATION,
            NOT_IN_VIRTUALHOST,
        };
        let f = row.forbid;
        let gt = if row.name.starts_with('<') && !row.name.ends_with('>') {
            ">"
        } else {
            ""
        };
        let name = row.name;
        if f & NOT_IN_VIRTUALHOST != 0 && self.in_vhost() {
            return Err(format!(
                "{name}{gt} cannot occur within <VirtualHost> section"
            ));
        }
        if f & NOT_IN_LIMIT != 0 && !self.limited.is_all() {
            return Err(format!(
                "{name}{gt} cannot occur within <Limit> or <LimitExcept> section"
            ));
        }
        if f & NOT_IN_DIR_CONTEXT == NOT_IN_DIR_CONTEXT && !self.dirs.is_empty() {
            return Err(format!("{name}{gt} cannot occur within directory context"));
        }
        let found = |tags: &[&str]| {
            self.parents
                .iter()
                .rev()
                .find(|p| tags.contains(p))
                .copied()
        };
        let hit = (f & NOT_IN_DIRECTORY != 0)
            .then(|| found(&["<Directory", "<DirectoryMatch"]))
            .flatten()
            .or_else(|| {
                (f & NOT_IN_LOCATION != 0)
                    .then(|| found(&["<Location", "<LocationMatch"]))
                    .flatten()
            })
            .or_else(|| {
                (f & NOT_IN_FILES != 0)
                    .then(|| found(&["<Files", "<FilesMatch"]))
                    .flatten()
            });
        match hit {
            Some(p) => Err(format!("{name}{gt} cannot occur within {p}> section")),
            None => Ok(()),
        }
    }

    /// Walks `children` inside a section named `tag` with `overrides`.
    pub fn walk_inside(
        &mut self,
        tag: &'static str,
        overrides: u16,
        children: &[Node],
    ) -> Result<(), ConfigError> {
        let saved = self.overrides;
        self.parents.push(tag);
        self.overrides = overrides;
        let result = self.walk(children);
        self.overrides = saved;
        self.parents.pop();
        result
    }

    pub fn warn(&mut self, msg: String, span: &Span) {
        self.cfg.warnings.push((msg, span.clone()));
    }

    /// The span of a section (handlers get it from the syntax node).
    pub fn span_of(s: &SyntaxSection) -> Span {
        Span {
            file: Arc::clone(&s.span.file),
            line: s.span.line,
        }
    }
}
