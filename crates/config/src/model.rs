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
    /// `SetEnvIf` & co. written outside sections (mod_setenvif's server
    /// config, run in post_read_request): a virtual host gets the main
    /// server's first, then its own.
    pub set_env_if: Vec<SetEnvIf>,
    /// mod_rewrite's server config (run in translate_name): a virtual host
    /// inherits `RewriteEngine` but not the rules (no `RewriteOptions Inherit`).
    pub rewrite: Rewrite,
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
    /// For `<Directory>` rules: the directory with a trailing slash, the
    /// prefix stripped from the file name before matching.
    pub dir_prefix: Option<String>,
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
    /// `L`, `PT`, `QSA`, `QSD`, `F` (403) / `G` (410) as a status.
    pub last: bool,
    pub pass_through: bool,
    pub qs_append: bool,
    pub qs_discard: bool,
    pub status: Option<u16>,
    /// `R[=code]`: an external redirect with this status (a code outside
    /// 300-399 answers that status, the substitution dropped).
    pub redirect: Option<u16>,
    /// `NE`: the redirect URL is not escaped.
    pub no_escape: bool,
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
    /// `|command` piped log (not implemented: rejected at build time).
    Pipe(String),
    /// `syslog[:facility]` (not implemented: rejected at build time).
    Syslog(String),
    /// `/dev/stderr` style or express `--log-to-terminal`.
    Stderr,
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

/// `Options` flags.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct OptionFlags {
    pub exec_cgi: bool,
    pub indexes: bool,
    pub follow_symlinks: bool,
    pub symlinks_if_owner_match: bool,
    pub includes: bool,
    pub includes_noexec: bool,
    pub multiviews: bool,
}

/// One `Options` directive: absolute (`Options ExecCGI`) or relative
/// (`Options +ExecCGI -Indexes`).  Apache 2.4 refuses to mix the two forms.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OptionsSpec {
    Absolute(OptionFlags),
    Relative {
        add: OptionFlags,
        remove: OptionFlags,
    },
}

/// `AllowOverride` classes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Overrides {
    pub auth_config: bool,
    pub file_info: bool,
    pub indexes: bool,
    pub limit: bool,
    pub options: bool,
    /// `AllowOverride Options=...`: the options `.htaccess` may set (None:
    /// all of them, Apache's `OPT_ALL`).
    pub options_allowed: Option<OptionFlags>,
    /// `Nonfatal=Override|Unknown|All`: in `.htaccess`, a forbidden or
    /// unknown directive is a warning instead of a 500.
    pub nonfatal_override: bool,
    pub nonfatal_unknown: bool,
}

/// A `Require` expression (mod_authz_core 2.4 semantics).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Require {
    AllGranted,
    AllDenied,
    /// `Require ip 10.1 127.0.0.1 ::1` (prefix / CIDR forms).
    Ip(Vec<String>),
    /// `Require host example.org`.
    Host(Vec<String>),
    /// `Require valid-user`.
    ValidUser,
    /// `Require user a b`.
    User(Vec<String>),
    /// `Require group g1 g2` (file groups) / `Require wsgi-group g` (WSGIAuthGroupScript).
    Group(Vec<String>),
    WsgiGroup(Vec<String>),
    /// `Require env VAR`.
    Env(Vec<String>),
    /// `Require method GET POST`.
    Method(Vec<String>),
    /// `Require not ...`.
    Not(Box<Require>),
    /// `<RequireAll>` / `<RequireAny>` / `<RequireNone>`.
    All(Vec<Require>),
    Any(Vec<Require>),
    None(Vec<Require>),
    /// A line written inside `<Limit>`/`<LimitExcept>`, or a group of
    /// lines some of which were: it counts only for requests whose method
    /// is in the set (mod_authz_core's `section->limited`).
    Limited(crate::method_set::MethodSet, Box<Require>),
}

impl Require {
    /// The methods this rule applies to: a line's `<Limit>` set, a
    /// group's the union of its lines' (mod_authz_core's
    /// `limited |= child->limited`).
    pub fn methods(&self) -> crate::method_set::MethodSet {
        use crate::method_set::MethodSet;
        match self {
            Require::Limited(set, _) => set.clone(),
            Require::All(v) | Require::Any(v) | Require::None(v) => v
                .iter()
                .fold(MethodSet::none(), |acc, line| acc.union(&line.methods())),
            Require::Not(inner) => inner.methods(),
            _ => MethodSet::all(),
        }
    }

    /// A group that counts only for the methods of its lines, when some
    /// of them were written inside `<Limit>` and together they do not
    /// cover every method.
    pub fn limited_group(self) -> Require {
        let set = self.methods();
        if set.is_all() || matches!(self, Require::Limited(..)) {
            self
        } else {
            Require::Limited(set, Box::new(self))
        }
    }
}

/// `%{GLOBAL}`, `%{SERVER}`, `%{RESOURCE}`, `%{ENV:VAR}` or a literal name,
/// as `WSGIApplicationGroup` and `WSGIProcessGroup` take them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum GroupSpec {
    Global,
    Server,
    Resource,
    Env(String),
    Named(String),
}

/// `WSGICallableObject name|%{ENV:VAR}`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CallableSpec {
    Named(String),
    Env(String),
}

/// `WSGIMapHEADToGET On|Off|Auto`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MapHeadToGet {
    On,
    Off,
    Auto,
}

/// Per-directory configuration (Apache's dir config).  `None`/empty means
/// "not set here, inherit".
#[derive(Clone, Debug, Default)]
pub struct PerDir {
    /// Every `Options` directive in this section, in order.
    pub options: Vec<OptionsSpec>,
    pub allow_override: Option<Overrides>,
    /// `SetHandler name` (`None` written as the word resets to no handler: `Some(None)`).
    pub set_handler: Option<Option<String>>,
    /// `ForceType type` lower-cased (`None` written as the word undoes an
    /// outer section's: `Some(None)`).
    pub force_type: Option<Option<String>>,
    /// `AddHandler handler .ext ...` as (extension without dot, lower-case; handler).
    pub add_handlers: Vec<(String, String)>,
    /// `AddType type .ext ...` as (extension without dot, lower-case; type),
    /// like `add_handlers`; an empty type is a `RemoveType`.
    pub add_types: Vec<(String, String)>,
    /// `AddCharset`, `AddLanguage`, `AddEncoding` as (extension, value
    /// lower-cased), like `add_types`; an empty value is a `RemoveCharset`,
    /// `RemoveLanguage` or `RemoveEncoding`.
    pub add_charsets: Vec<(String, String)>,
    pub add_languages: Vec<(String, String)>,
    pub add_encodings: Vec<(String, String)>,
    /// `DefaultLanguage`: the language of a file with none from its
    /// extensions.
    pub default_language: Option<String>,
    /// `DirectoryIndex a b` (`disabled` gives `Some(vec![])`).
    pub directory_index: Option<Vec<String>>,
    /// `DirectorySlash` (default On): mod_dir redirects a directory's URL
    /// without its trailing slash; Off leaves it alone.
    pub directory_slash: Option<bool>,
    /// `Require ...` lines of this section (implicitly RequireAny when several).
    pub require: Option<Require>,
    /// `SetEnv` (in order), `UnsetEnv`, `PassEnv`.
    pub set_env: Vec<(String, String)>,
    pub unset_env: Vec<String>,
    pub pass_env: Vec<String>,
    /// `LimitRequestBody` in bytes (0 = unlimited).
    pub limit_request_body: Option<u64>,
    /// `AuthType`, `AuthName`.
    pub auth_type: Option<String>,
    pub auth_name: Option<String>,
    /// `AuthBasicProvider` (names as written, lower-cased; empty: unset,
    /// mod_auth_basic then uses `file`).
    pub auth_basic_provider: Option<Vec<String>>,
    /// mod_auth_digest's directives.
    pub digest: DigestConfig,
    /// `AuthUserFile` (resolved against ServerRoot), `AuthGroupFile`.
    pub auth_user_file: Option<PathBuf>,
    pub auth_group_file: Option<PathBuf>,
    pub wsgi: WsgiPerDir,
    /// `RemoveHandler .ext`: drops handler mappings *inherited* from
    /// earlier sections (mod_mime applies it when merging; extensions
    /// lower-case without the dot).
    pub remove_handlers: Vec<String>,
    /// `AllowOverrideList Directive...` (`None` written gives `Some(vec![])`).
    pub allow_override_list: Option<Vec<String>>,
    /// `EnableSendfile` / `ServerSignature` written in a section (Apache
    /// keeps both per directory; the server-level value is also copied
    /// to `ServerConfig`).
    pub enable_sendfile: Option<bool>,
    pub server_signature: Option<ServerSignature>,
    /// `AddDefaultCharset`: `Some(None)` for Off, `Some(Some(name))` for On
    /// (`iso-8859-1`) or a charset name.
    pub add_default_charset: Option<Option<String>>,
    /// `UseCanonicalName On|Off|DNS`.
    pub use_canonical_name: Option<CanonicalName>,
    /// `SetEnvIf` & co. in this section (run in header_parser; accumulate).
    pub set_env_if: Vec<SetEnvIf>,
    /// mod_rewrite in this section (None: no mod_rewrite directive here).
    pub rewrite: Option<Rewrite>,
    /// mod_headers: `RequestHeader` lines (run in the fixups), `Header`
    /// lines for `r->headers_out` (onsuccess) and `r->err_headers_out`
    /// (always); each list accumulates across sections, outer first.
    pub request_headers: Vec<crate::header_rules::HeaderRule>,
    pub headers_onsuccess: Vec<crate::header_rules::HeaderRule>,
    pub headers_always: Vec<crate::header_rules::HeaderRule>,
    /// `ErrorDocument status document`, in order (the last for a status
    /// wins; see `error_documents::document_for`).
    pub error_documents: Vec<(u16, crate::error_documents::ErrorDocument)>,
    /// `FileETag` (see `file_etag`).
    pub file_etag: crate::file_etag::FileEtag,
    /// `AcceptPathInfo` (None: not set, the handler decides).
    pub accept_path_info: Option<AcceptPathInfo>,
}

/// `AcceptPathInfo On|Off|Default`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AcceptPathInfo {
    /// Requests with trailing path information are accepted.
    On,
    /// They are refused (404).
    Off,
    /// The handler decides: the default handler refuses them, mod_wsgi
    /// accepts them.
    Default,
}

/// `UseCanonicalName On|Off|DNS`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CanonicalName {
    On,
    Off,
    Dns,
}

/// mod_wsgi per-directory directives.
#[derive(Clone, Debug, Default)]
pub struct WsgiPerDir {
    pub application_group: Option<GroupSpec>,
    pub process_group: Option<GroupSpec>,
    pub callable_object: Option<CallableSpec>,
    pub script_reloading: Option<bool>,
    /// `WSGIReloadMechanism` (the specification's; removed in mod_wsgi 3.0).
    pub reload_mechanism: Option<ReloadMechanism>,
    pub pass_authorization: Option<bool>,
    pub chunked_request: Option<bool>,
    pub map_head_to_get: Option<MapHeadToGet>,
    pub enable_sendfile: Option<bool>,
    pub error_override: Option<bool>,
    /// `WSGIAccessScript`, `WSGIAuthUserScript`, `WSGIAuthGroupScript`.
    pub access_script: Option<AuthScript>,
    pub auth_user_script: Option<AuthScript>,
    pub auth_group_script: Option<AuthScript>,
    /// `WSGIGroupAuthoritative` (parsed; in Apache 2.4 `Require wsgi-group`
    /// is an authorization provider and mod_wsgi 4.9 does not consult it).
    pub group_authoritative: Option<bool>,
    /// `WSGITrustedProxies` (addresses or CIDR subnets as written).
    pub trusted_proxies: Option<Vec<String>>,
    /// `WSGITrustedProxyHeaders` (header names as written).
    pub trusted_proxy_headers: Option<Vec<String>>,
    /// `WSGIIgnoreActivity On`: requests here do not reset a daemon
    /// process's `inactivity-timeout`.
    pub ignore_activity: Option<bool>,
    /// `WSGIRestrictProcess` (`""` for `%{GLOBAL}`): the process groups a
    /// request here may select.
    pub restrict_process: Option<Vec<String>>,
}

/// mod_auth_digest's per-directory settings (unset: Apache's defaults).
#[derive(Clone, Debug, Default)]
pub struct DigestConfig {
    /// `AuthDigestProvider` (`file`, `wsgi`; unset: `file`).
    pub providers: Option<Vec<String>>,
    /// `AuthDigestQop` (lower-cased; unset: `auth`; `none`: RFC 2069).
    pub qop: Option<Vec<String>>,
    /// `AuthDigestDomain` URIs.
    pub domain: Option<Vec<String>>,
    /// `AuthDigestNonceLifetime` in seconds (unset: 300; 0: one-time
    /// nonces; negative: never expire).
    pub nonce_lifetime: Option<i64>,
    /// `AuthDigestNcCheck` (unset: Off).
    pub nc_check: Option<bool>,
}

/// A `WSGIAccessScript` / `WSGIAuthUserScript` / `WSGIAuthGroupScript`:
/// the file (as written, mod_wsgi does not resolve it) and its
/// `application-group=` (default `%{GLOBAL}`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AuthScript {
    pub path: PathBuf,
    pub application_group: GroupSpec,
}

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
    /// The `<VirtualHost>` the group was defined in (index into
    /// `virtual_hosts`; None: the main server) and that host's
    /// `ServerName` at that point.
    pub vhost: Option<usize>,
    pub server_name: Option<String>,
    pub span: Span,
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
