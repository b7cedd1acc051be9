//! The typed configuration model: what the rest of wsgid reads.
//!
//! Built by the builder from the syntax tree (see `syntax`); nothing in here does
//! I/O.  The shape follows Apache's own structures: one [`ServerConfig`] for
//! the whole server, a [`Host`] for the main server and for every
//! `<VirtualHost>` (Apache's `server_rec`), and a [`PerDir`] for every place
//! per-directory directives can appear (server level, `<Directory>`,
//! `<Location>`, `<Files>` and their Match forms; later `.htaccess`).
//!
//! Per-directory values are `Option`s (or lists) so that the request walk can
//! merge them in Apache's order: a value set in a later section wins, a value
//! left unset inherits (see [`PerDir::merge`]).

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

pub use crate::template::{Piece, ServerVar, Template};

mod per_dir;
mod reqtimeout;
mod wsgi;

pub use per_dir::*;
pub use reqtimeout::*;
pub use wsgi::*;

/// Where a directive was written: file and 1-based line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Span {
    pub file: Arc<PathBuf>,
    pub line: usize,
}

/// The whole server configuration (Apache's server config context).
#[derive(Clone, Debug)]
pub struct ServerConfig {
    /// The main configuration file as given with `-f`.
    pub config_file: PathBuf,
    /// `ServerRoot` (default: the directory of the config file's parent
    /// is NOT used; Apache's compiled-in default is `/etc/apache2` on Debian,
    /// wsgid uses the current directory when unset).
    pub server_root: PathBuf,
    /// Names given with `-D` and `Define NAME` (without values).
    pub defines: Vec<String>,
    /// `PidFile`, resolved against `ServerRoot`.
    pub pid_file: Option<PathBuf>,
    /// `DefaultRuntimeDir`, resolved against `ServerRoot` (default `ServerRoot/logs`).
    pub runtime_dir: PathBuf,
    /// `User` / `Group` (names or `#id`); applied only when started as root.
    pub user: Option<String>,
    pub group: Option<String>,
    /// Every `Listen` directive, in order.
    pub listen: Vec<Listen>,
    pub mpm: Mpm,
    /// `Timeout` (default 60 s).
    pub timeout: Duration,
    /// `KeepAlive` (default On), `KeepAliveTimeout` (default 5 s),
    /// `MaxKeepAliveRequests` (default 100; 0 = unlimited).
    pub keep_alive: bool,
    pub keep_alive_timeout: Duration,
    pub max_keep_alive_requests: u32,
    /// mod_reqtimeout (`RequestReadTimeout`, server-wide): None when it is
    /// not in use (neither the directive nor `LoadModule reqtimeout_module`).
    pub request_read_timeout: Option<RequestReadTimeout>,
    /// `LimitRequestLine` (8190), `LimitRequestFieldSize` (8190),
    /// `LimitRequestFields` (100).
    pub limit_request_line: usize,
    pub limit_request_field_size: usize,
    pub limit_request_fields: usize,
    /// `HttpProtocolOptions RegisteredMethods`: a request whose method is
    /// neither one of Apache's nor named in a `<Limit>`/`<LimitExcept>`
    /// gets 501 (default `LenientMethods`: any method goes on).
    pub registered_methods_only: bool,
    /// `HttpProtocolOptions Require1.0`: an HTTP/0.9 request gets 400
    /// (default `Allow0.9`).
    pub require_http10: bool,
    /// Method names the configuration's `<Limit>`/`<LimitExcept>` sections
    /// list besides Apache's own (`ap_method_register`).
    pub registered_methods: Vec<String>,
    /// `TypesConfig`, resolved against `ServerRoot` (None: built-in table).
    pub types_config: Option<PathBuf>,
    /// `ServerSignature` (default Off) and `ServerTokens` (default Full).
    pub server_signature: ServerSignature,
    pub server_tokens: ServerTokens,
    /// `EnableSendfile` (default Off in Apache 2.4).
    pub enable_sendfile: bool,
    /// `LogFormat "fmt" nickname` table; `CustomLog` resolves nicknames at build time.
    pub log_formats: BTreeMap<String, String>,
    /// `AccessFileName` (default `.htaccess`).
    pub access_file_name: Vec<String>,
    /// The main server (directives outside any `<VirtualHost>`).
    pub main: Host,
    /// `<VirtualHost>` blocks in file order.
    pub virtual_hosts: Vec<VirtualHost>,
    /// Server-wide mod_wsgi settings.
    pub wsgi: WsgiServer,
    /// Directives accepted but without meaning for wsgid (`Mutex`,
    /// `LoadModule`, `MinSpareThreads`...), in file order, so the binary
    /// can log them at debug level.  [`crate::why_ignored`] gives the reason.
    pub ignored: Vec<(String, Span)>,
    /// Startup warnings Apache would log (undefined `${VAR}`, MPM values
    /// lowered to their limits...), in file order.
    pub warnings: Vec<(String, Span)>,
    /// Module symbols named by `LoadModule`, in order.
    pub loaded_modules: Vec<String>,
}

/// One `Listen [addr:]port` directive.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Listen {
    /// None means every address (`Listen 80`).
    pub addr: Option<IpAddr>,
    pub port: u16,
    pub span: Span,
}

/// MPM sizing directives.  Defaults are mpm_event's.
#[derive(Clone, Debug)]
pub struct Mpm {
    /// `StartServers` (default 3 in Apache; wsgid default: see README).
    pub start_servers: u32,
    /// `ServerLimit` (default 16).
    pub server_limit: u32,
    /// `ThreadsPerChild` (default 25).
    pub threads_per_child: u32,
    /// `ThreadLimit` (default 64).
    pub thread_limit: u32,
    /// `MaxRequestWorkers` (default ServerLimit x ThreadsPerChild).
    pub max_request_workers: u32,
    /// `MaxConnectionsPerChild` (default 0 = unlimited).
    pub max_connections_per_child: u32,
    /// `GracefulShutdownTimeout` in seconds: how long a graceful stop
    /// (SIGWINCH) waits for requests in progress (0, the default: as
    /// long as they take).
    pub graceful_shutdown_timeout: u64,
    /// Whether any of them was written explicitly (express mode uses this).
    pub explicit: bool,
}

/// `AllowEncodedSlashes On|Off|NoDecode`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum EncodedSlashes {
    /// A `%2F` in the path is a 404 (AH00026).
    #[default]
    Off,
    /// `%2F` is decoded to `/` like any other escape.
    On,
    /// `%2F` is accepted and left encoded in the path.
    NoDecode,
}

/// `TraceEnable On|Off|Extended`: how the core answers `TRACE`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum TraceEnable {
    /// Echo the request head; a request with a body is a 413.
    #[default]
    On,
    /// 405.
    Off,
    /// Echo the head and a body of up to 64 KiB.
    Extended,
}

/// `ServerSignature On|Off|EMail`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ServerSignature {
    Off,
    On,
    Email,
}

/// `ServerTokens Full|OS|Minimal|Minor|Major|Prod`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ServerTokens {
    Full,
    Os,
    Minimal,
    Minor,
    Major,
    Prod,
}

/// A `<VirtualHost addr...>` block.
#[derive(Clone, Debug)]
pub struct VirtualHost {
    pub addrs: Vec<VhostAddr>,
    pub host: Host,
    pub span: Span,
}

/// One address of a `<VirtualHost>`: `*:80`, `127.0.0.1:8080`, `[::1]:80`, `_default_:*`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VhostAddr {
    /// None for `*` and `_default_`.
    pub ip: Option<IpAddr>,
    /// None for `:*` or no port given.
    pub port: Option<u16>,
}

/// Apache's `server_rec`: the main server or one virtual host.  A virtual
/// host inherits unset fields from the main server (done by the builder,
/// so every `VirtualHost.host` is complete).
#[derive(Clone, Debug)]
pub struct Host {
    /// `ServerName host[:port]`.
    pub server_name: Option<String>,
    pub server_port: Option<u16>,
    /// `ServerAlias` names (may contain `*` and `?` wildcards).
    pub server_aliases: Vec<String>,
    /// `ServerAdmin` (default `[no address given]`, as Apache).
    pub server_admin: Option<String>,
    /// `DocumentRoot`, absolute (relative values resolved against ServerRoot).
    pub document_root: PathBuf,
    /// `ErrorLog` (None: stderr) and `LogLevel`.
    pub error_log: Option<LogTarget>,
    pub log_level: LogLevel,
    /// `CustomLog` directives with their format resolved.
    pub custom_logs: Vec<CustomLog>,
    /// `Alias`, `AliasMatch`, `WSGIScriptAlias`, `WSGIScriptAliasMatch` in
    /// file order.  A virtual host gets its own first, then the main server's.
    pub aliases: Vec<Alias>,
    /// Per-directory directives written directly at this level (outside sections).
    pub per_dir: PerDir,
    /// `<Directory>`, `<Location>`, `<Files>` (and Match forms) at this level, in file order.
    pub sections: Vec<Section>,
    /// Where the `<VirtualHost>` starts (None for the main server).
    pub span: Option<Span>,
    /// `Timeout`, `KeepAlive`, `KeepAliveTimeout`, `MaxKeepAliveRequests`
    /// as they apply to this host: Apache keeps them per server, and a
    /// virtual host that does not set them inherits the main server's.
    /// The `ServerConfig` fields of the same names are the main server's.
    pub timeout: Duration,
    pub keep_alive: bool,
    pub keep_alive_timeout: Duration,
    pub max_keep_alive_requests: u32,
    /// `TraceEnable` (per server, a virtual host inherits the main one's).
    pub trace_enable: TraceEnable,
    /// `AllowEncodedSlashes` (per server, inherited the same way).
    pub encoded_slashes: EncodedSlashes,
    /// `LimitInternalRecursion` (per server, inherited the same way).
    pub recursion_limit: RecursionLimit,
    /// `SetEnvIf` & co. written outside sections (mod_setenvif's server
    /// config, run in post_read_request): a virtual host gets the main
    /// server's first, then its own.
    pub set_env_if: Vec<SetEnvIf>,
    /// mod_rewrite's server config (run in translate_name): a virtual host
    /// inherits `RewriteEngine` but not the rules (no `RewriteOptions Inherit`).
    pub rewrite: Rewrite,
}

/// `LimitInternalRecursion`: how many internal redirects one request may
/// make, and how deep sub-requests may nest (Apache's defaults: 10 each).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RecursionLimit {
    pub redirects: u32,
    pub subrequests: u32,
}

impl Default for RecursionLimit {
    fn default() -> Self {
        RecursionLimit {
            redirects: 10,
            subrequests: 10,
        }
    }
}

/// One `SetEnvIf`/`SetEnvIfNoCase`/`BrowserMatch[NoCase]` line.
#[derive(Clone, Debug)]
pub struct SetEnvIf {
    pub attribute: EnvAttribute,
    /// The value pattern, case-insensitive for the NoCase forms.
    pub regex: regex::Regex,
    /// `VAR=value` (`$1`..`$9` expanded at match time), `VAR` (value `1`),
    /// `!VAR` (None: unset), in order.
    pub actions: Vec<(String, Option<String>)>,
}

/// What a `SetEnvIf` line tests.
#[derive(Clone, Debug)]
pub enum EnvAttribute {
    RemoteAddr,
    RemoteHost,
    RemoteUser,
    ServerAddr,
    RequestUri,
    RequestMethod,
    RequestProtocol,
    /// A request header by name, else the environment variable of that name.
    Header(String),
    /// A header-name regex (any character outside `[A-Za-z0-9_-]`).
    HeaderRegex(regex::Regex),
}

/// mod_rewrite's configuration at one level.
#[derive(Clone, Debug, Default)]
pub struct Rewrite {
    /// `RewriteEngine On|Off` (None: not written here, inherit).
    pub engine: Option<bool>,
    pub rules: Vec<RewriteRule>,
    /// For per-directory rules: the section's path with a trailing slash
    /// (mod_rewrite's `dconf->directory`), the prefix stripped from the
    /// file name before matching and put before a relative substitution.
    pub dir_prefix: Option<String>,
    /// `RewriteBase`: the URL-path that replaces `dir_prefix` in a
    /// rewritten file name (never inherited: `RewriteOptions MergeBase` is
    /// refused).
    pub base: Option<String>,
    /// `RewriteOptions` written at this level (None: the enclosing
    /// level's apply).
    pub options: Option<RewriteOptions>,
}

/// `RewriteOptions` (mod_rewrite's `OPTION_*` bits).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RewriteOptions {
    /// `Inherit`: the enclosing level's rules run after this level's.
    pub inherit: bool,
    /// `InheritBefore`: ... before them.
    pub inherit_before: bool,
    /// `InheritDown` / `InheritDownBefore`: every level below inherits (as
    /// if each said `Inherit` / `InheritBefore`) unless it says
    /// `IgnoreInherit`.
    pub inherit_down: bool,
    pub inherit_down_before: bool,
    pub ignore_inherit: bool,
    /// `AllowNoSlash`: a directory's rules run for its URL without the
    /// trailing slash too.
    pub allow_no_slash: bool,
    /// `AllowAnyURI`: server rules also see a request URI that is no path.
    pub allow_any_uri: bool,
    /// `IgnoreContextInfo`: no Alias target to URL substitution after a
    /// directory's rewrite.
    pub ignore_context_info: bool,
}

impl RewriteOptions {
    /// The rules of a level with `own` options below one with `outer`
    /// options and `outer_rules` (mod_rewrite's config merges).
    pub fn inherited_rules(
        own: RewriteOptions,
        outer: RewriteOptions,
        outer_rules: &[RewriteRule],
        rules: &[RewriteRule],
    ) -> Vec<RewriteRule> {
        if own.inherit || outer.inherit_down && !own.ignore_inherit {
            rules.iter().chain(outer_rules).cloned().collect()
        } else if own.inherit_before || outer.inherit_down_before && !own.ignore_inherit {
            outer_rules.iter().chain(rules).cloned().collect()
        } else {
            rules.to_vec()
        }
    }
}

/// One `RewriteRule` with the `RewriteCond`s written before it.
#[derive(Clone, Debug)]
pub struct RewriteRule {
    pub conds: Vec<RewriteCond>,
    /// Case-insensitive with `[NC]`.
    pub pattern: regex::Regex,
    /// `!pattern`: the rule applies when the pattern does not match.
    pub negate: bool,
    /// None for `-`.
    pub substitution: Option<Template>,
    /// `E=VAR:value` (None: `E=!VAR`, unset), in order.
    pub env: Vec<(String, Option<Template>)>,
    /// `L` (and `END`): no further rules in this list.
    pub last: bool,
    /// `END`: like `L`, and no per-directory rules run again for this
    /// request, even after the internal redirect they cause.
    pub end: bool,
    /// `PT`, `QSA`, `QSD`; `F` (403) / `G` (410) as a status.
    pub pass_through: bool,
    pub qs_append: bool,
    pub qs_discard: bool,
    pub status: Option<u16>,
    /// `R[=code]`: an external redirect with this status (a code outside
    /// 300-399 answers that status, the substitution dropped).
    pub redirect: Option<u16>,
    /// `NE`: the redirect URL is not escaped.
    pub no_escape: bool,
    /// `H=handler` / `T=type` (a template: back-references expand).
    pub handler: Option<Template>,
    pub mime_type: Option<Template>,
}

/// One `RewriteCond TestString CondPattern [flags]`.
#[derive(Clone, Debug)]
pub struct RewriteCond {
    pub test: Template,
    pub pattern: CondPattern,
    pub negate: bool,
    /// `[OR]`: this cond or the next one.
    pub or_next: bool,
}

/// The forms of a `CondPattern` wsgid implements.
#[derive(Clone, Debug)]
pub enum CondPattern {
    Regex(regex::Regex),
    /// `=s`, `<s`, `>s`, `<=s`, `>=s` (with `[NC]`: compared lower-cased).
    Str(StrOp, String, bool),
    /// `-eq`, `-ne`, `-lt`, `-le`, `-gt`, `-ge`.
    Int(IntOp, String),
    /// `-d`, `-f`, `-s`, `-l`/`-L`/`-h`, `-x`.
    File(FileTest),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StrOp {
    Eq,
    Lt,
    Gt,
    Le,
    Ge,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IntOp {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FileTest {
    Dir,
    File,
    NonEmpty,
    Symlink,
    Executable,
}

/// Where an error or access log goes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LogTarget {
    /// A file path, resolved against ServerRoot.
    File(PathBuf),
    /// A piped log: `|program args` or `||program args` (run without a
    /// shell) or `|$command` (run with `/bin/sh -c`), started and kept
    /// running by the master; every process writes lines into its pipe.
    Pipe(PipedLog),
    /// `syslog[:facility]` (not implemented: rejected at build time).
    Syslog(String),
    /// `/dev/stderr` style or express `--log-to-terminal`.
    Stderr,
}

/// The program of a piped log, as `ap_open_piped_log_ex` runs it.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct PipedLog {
    /// The command as written after the `|`, `||` or `|$`.
    pub command: String,
    /// `|$`: through `/bin/sh -c`; else the words are the program and its
    /// arguments.
    pub shell: bool,
}

impl ServerConfig {
    /// Every distinct piped log of the configuration, in a fixed order
    /// (the main server's error log and access logs, then each virtual
    /// host's): the master runs one program per entry, and every process
    /// finds an entry's pipe by its index.
    pub fn piped_logs(&self) -> Vec<PipedLog> {
        let hosts = std::iter::once(&self.main).chain(self.virtual_hosts.iter().map(|v| &v.host));
        let mut out: Vec<PipedLog> = Vec::new();
        for host in hosts {
            let targets = host
                .error_log
                .iter()
                .chain(host.custom_logs.iter().map(|c| &c.target));
            for t in targets {
                if let LogTarget::Pipe(p) = t
                    && !out.contains(p)
                {
                    out.push(p.clone());
                }
            }
        }
        out
    }
}

impl PipedLog {
    /// `target` (an `ErrorLog`/`CustomLog` argument) when it names a
    /// piped log.
    pub fn parse(target: &str) -> Option<PipedLog> {
        let rest = target.strip_prefix('|')?;
        let (command, shell) = match rest.strip_prefix('$') {
            Some(c) => (c, true),
            None => (rest.strip_prefix('|').unwrap_or(rest), false),
        };
        Some(PipedLog {
            command: command.trim().to_owned(),
            shell,
        })
    }
}

/// `LogLevel` with optional per-module levels (`LogLevel info wsgi:debug`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LogLevel {
    pub default: Level,
    pub modules: BTreeMap<String, Level>,
}

/// Apache's log levels (the error log's own type).
pub use wsgid_log::Level;

/// `CustomLog target format|nickname [env=[!]VAR]`.
#[derive(Clone, Debug)]
pub struct CustomLog {
    pub target: LogTarget,
    /// The format string (nickname already resolved through `LogFormat`).
    pub format: String,
    /// `env=VAR` gives `(true, VAR)` (log when set), `env=!VAR` gives
    /// `(false, VAR)` (log when not set).
    pub condition: Option<(bool, String)>,
    pub span: Span,
}

/// An alias-like mapping from URL space to the file system.
#[derive(Clone, Debug)]
pub struct Alias {
    pub kind: AliasKind,
    pub matcher: UrlMatcher,
    /// Target path; for the Match forms it may contain `$1`..`$9`.
    pub target: String,
    /// WSGIScriptAlias options (3.0+): process-group=, application-group=,
    /// callable-object=, pass-authorization=.
    pub wsgi: ScriptAliasOptions,
    pub span: Span,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AliasKind {
    /// `Alias` / `AliasMatch`: plain file-system mapping.
    Alias,
    /// `WSGIScriptAlias` / `WSGIScriptAliasMatch`: mapping plus `wsgi-script` handler.
    WsgiScript,
    /// `Redirect` & co. with this status; the target is the URL (empty for
    /// a status that takes none, such as `gone`).
    Redirect(u16),
}

/// How a URL path is matched.
#[derive(Clone, Debug)]
pub enum UrlMatcher {
    /// Prefix match as Apache's `alias_matches` does it (segment aware,
    /// repeated slashes in the URL match one slash in the prefix).
    Prefix(String),
    /// Regular expression (`AliasMatch`, `WSGIScriptAliasMatch`).
    Regex(regex::Regex),
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ScriptAliasOptions {
    pub process_group: Option<GroupSpec>,
    pub application_group: Option<GroupSpec>,
    pub callable_object: Option<String>,
    pub pass_authorization: Option<bool>,
}

/// A configuration section that holds per-directory directives.
#[derive(Clone, Debug)]
pub struct Section {
    pub kind: SectionKind,
    pub pattern: SectionPattern,
    pub per_dir: PerDir,
    /// `<Files>`/`<FilesMatch>` nested inside a `<Directory>`.
    pub nested: Vec<Section>,
    pub span: Span,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SectionKind {
    Directory,
    Files,
    Location,
}

/// `<Directory /a/*/b>` (wildcards, fnmatch-style), `<Directory ~ re>` or
/// `<DirectoryMatch re>` (regex); likewise for Files and Location.
#[derive(Clone, Debug)]
pub enum SectionPattern {
    /// Literal or wildcard pattern (`*`, `?`, `[...]`).  For Directory the
    /// builder strips a trailing slash; for Location the match is a prefix.
    Wildcard(String),
    Regex(regex::Regex),
}
