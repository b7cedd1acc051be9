//! The per-directory part of the model: what a `<Directory>`,
//! `<Location>`, `<Files>` (their Match forms), `.htaccess` or the server
//! level sets for the requests it covers ([`PerDir`]), with the access
//! rules (`Require`) and mod_wsgi's per-directory settings.

use std::path::PathBuf;

use super::*;

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

impl GroupSpec {
    /// A `WSGIApplicationGroup`/`WSGIProcessGroup` value (also what a
    /// dispatch script returns): `%{GLOBAL}`, `%{SERVER}`, `%{RESOURCE}`,
    /// `%{ENV:VAR}` or a name.
    pub fn parse(v: &str) -> GroupSpec {
        match v {
            "%{GLOBAL}" => GroupSpec::Global,
            "%{SERVER}" => GroupSpec::Server,
            "%{RESOURCE}" => GroupSpec::Resource,
            _ => match v.strip_prefix("%{ENV:").and_then(|r| r.strip_suffix('}')) {
                Some(var) => GroupSpec::Env(var.to_owned()),
                None => GroupSpec::Named(v.to_owned()),
            },
        }
    }
}

/// `WSGICallableObject name|%{ENV:VAR}`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CallableSpec {
    Named(String),
    Env(String),
}

impl CallableSpec {
    /// A `WSGICallableObject` value (also what a dispatch script's
    /// `callable_object()` returns): `%{ENV:VAR}` or a name.
    pub fn parse(v: &str) -> CallableSpec {
        match v.strip_prefix("%{ENV:").and_then(|r| r.strip_suffix('}')) {
            Some(var) => CallableSpec::Env(var.to_owned()),
            None => CallableSpec::Named(v.to_owned()),
        }
    }
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
    /// `DirectoryCheckHandler` (default Off): with On, a directory that
    /// has a handler set is left to it (no index lookup).
    pub directory_check_handler: Option<bool>,
    /// `DirectoryIndexRedirect`: the status of an external redirect to the
    /// index file found (`Some(0)`: Off, the default internal one).
    pub directory_index_redirect: Option<u16>,
    /// `FallbackResource URL` (`disabled` kept as written: it undoes an
    /// inherited one): what a request for no file and no handler becomes.
    pub fallback_resource: Option<String>,
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
    /// `WSGIDispatchScript path [application-group=...]`: may choose the
    /// request's process group, application group and callable.
    pub dispatch_script: Option<AuthScript>,
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
    /// `WSGIHandlerScript`s in effect, one per handler name (a later
    /// level's replaces an earlier one of the same name).
    pub handler_scripts: Vec<HandlerScript>,
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

/// `WSGIHandlerScript name script [options]`: a request whose handler is
/// `name` runs the script's `handle_request` (the file it maps to is only
/// its SCRIPT_FILENAME), in the groups the options name.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HandlerScript {
    /// The handler name (`AddHandler`/`SetHandler`), compared exactly.
    pub name: String,
    /// The script file, as written (mod_wsgi does not resolve it).
    pub script: PathBuf,
    pub process_group: Option<GroupSpec>,
    pub application_group: Option<GroupSpec>,
    pub pass_authorization: Option<bool>,
}

/// A `WSGIAccessScript` / `WSGIAuthUserScript` / `WSGIAuthGroupScript` /
/// `WSGIDispatchScript`: the file (as written, mod_wsgi does not resolve
/// it) and its `application-group=` (default `%{GLOBAL}`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AuthScript {
    pub path: PathBuf,
    pub application_group: GroupSpec,
}
