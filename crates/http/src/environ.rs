//! The CGI/WSGI environment of one request, computed exactly as Apache's
//! `ap_add_cgi_vars` + `ap_add_common_vars` and mod_wsgi's
//! `wsgi_build_environment` do it in the Apache child: CGI variables,
//! `HTTP_*` headers (names with characters other than letters, digits and
//! `-` dropped; `Proxy` dropped against httpoxy; `Authorization` only with
//! WSGIPassAuthorization On), SetEnv values, trusted proxy headers, and the
//! string-valued `mod_wsgi.*` keys.  Object-valued keys (`wsgi.input`...)
//! are the Python host's job.

use std::borrow::Cow;
use std::time::UNIX_EPOCH;

use wsgid_config::model::{
    CallableSpec, CanonicalName, GroupSpec, MapHeadToGet, ReloadMechanism, ServerSignature,
};

pub use wsgid_python::CgiEnv;

use crate::frontend::Site;
use crate::request::Request;
use crate::uri::{find_path_info, latin1, latin1_cow, no2slash, path_latin1};

/// mod_wsgi's per-request configuration (`WSGIRequestConfig`), resolved
/// from the merged per-directory settings and the script alias options.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WsgiSettings {
    pub process_group: String,
    pub application_group: String,
    pub callable: String,
    pub script_reloading: bool,
    pub reload: wsgid_python::ReloadMechanism,
    pub pass_authorization: bool,
    pub enable_sendfile: bool,
    pub chunked_request: bool,
    pub map_head_to_get: MapHeadToGet,
    pub error_override: bool,
    /// The `WSGIHandlerScript` that runs instead of the file.
    pub handler_script: Option<std::path::PathBuf>,
}

/// An insertion-ordered string table (Apache's `apr_table_t` with `set`).
#[derive(Debug, Default, Clone)]
pub struct EnvTable(pub CgiEnv);

impl EnvTable {
    pub fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key)
    }
    pub fn set(&mut self, key: &str, value: impl AsRef<str>) {
        self.0.set(key, value.as_ref());
    }
    pub fn unset(&mut self, key: &str) {
        self.0.unset(key);
    }
    /// `set` for a key that can only already be among the first `base`
    /// entries (the SetEnv/PassEnv values): the request's own keys are
    /// distinct, so the rest of the table need not be searched.  Building
    /// the environ is on every WSGI request's path; this keeps it linear.
    fn put(&mut self, base: usize, key: &str, value: impl AsRef<str>) {
        self.0.set_within(base, key, value.as_ref());
    }
}

/// `UseCanonicalName On`: the server's own name and port, not the
/// client's `Host`.
fn canonical(r: &Request) -> bool {
    r.per_dir.use_canonical_name == Some(CanonicalName::On)
}

/// The port Apache reports (`ap_get_server_port`): with UseCanonicalName
/// Off (the default) the `Host` port, else the ServerName port, else the
/// scheme default; with On the ServerName port, else the scheme default
/// (whatever port the request came to, as in Apache).
pub fn server_port(site: &Site, r: &Request) -> u16 {
    if canonical(r) {
        return site.host.server_port.unwrap_or(80);
    }
    r.host_port.or(site.host.server_port).unwrap_or(80)
}

/// `SERVER_NAME` (`ap_get_server_name`): the `Host` name, or with
/// UseCanonicalName On the ServerName.
pub fn server_name<'a>(site: &'a Site, r: &'a Request) -> &'a str {
    if canonical(r) {
        return &site.server_hostname;
    }
    r.hostname.as_deref().unwrap_or(&site.server_hostname)
}

/// `host[:port]` with the port left out for 80 and 443, as mod_wsgi's
/// `%{SERVER}` and `%{RESOURCE}` do.
fn host_and_port(host: &str, port: u16) -> String {
    let mut out = String::with_capacity(host.len() + 6);
    push_host_and_port(&mut out, host, port);
    out
}

/// [`host_and_port`] appended to `out`.
fn push_host_and_port(out: &mut String, host: &str, port: u16) {
    out.push_str(host);
    if port != 80 && port != 443 {
        out.push(':');
        out.push_str(itoa::Buffer::new().format(port));
    }
}

/// SCRIPT_NAME and PATH_INFO as `ap_add_cgi_vars` splits them, with
/// mod_wsgi's collapsing of repeated slashes.
pub fn script_name_and_path_info(r: &Request) -> (Cow<'_, [u8]>, Cow<'_, [u8]>) {
    let script = if r.path_info.is_empty() {
        &r.uri[..]
    } else {
        &r.uri[..find_path_info(&r.uri, &r.path_info)]
    };
    (collapse(script), collapse(&r.path_info))
}

/// mod_wsgi's collapsing of repeated slashes in a path that starts with one.
fn collapse(v: &[u8]) -> Cow<'_, [u8]> {
    if v.first() == Some(&b'/') {
        no2slash(v)
    } else {
        Cow::Borrowed(v)
    }
}

/// Resolve `%{ENV:VAR}` through the request environment, then the process's.
fn env_lookup(r: &Request, var: &str) -> Option<String> {
    r.env
        .iter()
        .rev()
        .find(|(k, _)| k == var)
        .map(|(_, v)| v.clone())
        .or_else(|| std::env::var(var).ok())
}

fn resolve_group(site: &Site, r: &Request, spec: &GroupSpec) -> String {
    let port = server_port(site, r);
    match spec {
        GroupSpec::Global => String::new(),
        GroupSpec::Server => host_and_port(&site.server_hostname, port),
        GroupSpec::Resource => resource(site, r),
        GroupSpec::Named(n) => n.clone(),
        // An unset variable leaves the spec itself, as mod_wsgi does.
        GroupSpec::Env(var) => env_lookup(r, var).unwrap_or_else(|| format!("%{{ENV:{var}}}")),
    }
}

/// `%{RESOURCE}`: `host[:port]|script_name`, script name lower-cased as
/// mod_wsgi 4.9 does (`wsgi_script_name`).
fn resource(site: &Site, r: &Request) -> String {
    let (script, _) = script_name_and_path_info(r);
    let host = &site.server_hostname;
    // The usual name (ASCII) in one allocation: this is every request's
    // application group unless one is configured.
    let mut out = String::with_capacity(host.len() + 7 + script.len());
    push_host_and_port(&mut out, host, server_port(site, r));
    out.push('|');
    match std::str::from_utf8(&script) {
        Ok(s) if s.is_ascii() => out.extend(s.chars().map(|c| c.to_ascii_lowercase())),
        _ => out.push_str(&latin1(&script).to_lowercase()),
    }
    out
}

/// Build mod_wsgi's request configuration for `r`.
pub fn wsgi_settings(site: &Site, r: &Request) -> WsgiSettings {
    let w = &r.per_dir.wsgi;
    let notes = &r.wsgi_notes;
    // A handler script's options, like a WSGIScriptAlias's, come before
    // the directory's (mod_wsgi's `wsgi_hook_handler`).
    let handler = crate::phases::handler::handler_script(r);
    let process_group = handler
        .and_then(|h| h.process_group.as_ref())
        .or(notes.process_group.as_ref())
        .or(w.process_group.as_ref())
        .map_or_else(String::new, |g| resolve_group(site, r, g));
    let application_group = handler
        .and_then(|h| h.application_group.as_ref())
        .or(notes.application_group.as_ref())
        .or(w.application_group.as_ref())
        .map_or_else(|| resource(site, r), |g| resolve_group(site, r, g));
    let callable = match (handler, &notes.callable_object, &w.callable_object) {
        (Some(_), _, _) => "handle_request".into(),
        (None, Some(name), _) => name.clone(),
        (None, None, Some(spec)) => resolve_callable(r, spec),
        (None, None, None) => "application".into(),
    };
    WsgiSettings {
        process_group,
        application_group,
        callable,
        script_reloading: w.script_reloading.unwrap_or(true),
        reload: match w.reload_mechanism {
            None | Some(ReloadMechanism::Module) => wsgid_python::ReloadMechanism::Module,
            Some(ReloadMechanism::Interpreter) => wsgid_python::ReloadMechanism::Interpreter,
            Some(ReloadMechanism::Process) => wsgid_python::ReloadMechanism::Process,
        },
        pass_authorization: handler
            .and_then(|h| h.pass_authorization)
            .or(notes.pass_authorization)
            .or(w.pass_authorization)
            .unwrap_or(false),
        enable_sendfile: w.enable_sendfile.unwrap_or(false),
        chunked_request: w.chunked_request.unwrap_or(false),
        map_head_to_get: w.map_head_to_get.unwrap_or(MapHeadToGet::Auto),
        error_override: w.error_override.unwrap_or(false),
        handler_script: handler.map(|h| h.script.clone()),
    }
}

/// A dispatch script's choices over the configured ones, expanded as the
/// directives' values are (`%{GLOBAL}`, `%{ENV:VAR}`...; mod_wsgi's
/// `wsgi_process_group`, `wsgi_application_group`, `wsgi_callable_object`).
pub fn apply_dispatch(
    site: &Site,
    r: &Request,
    settings: &mut WsgiSettings,
    chosen: wsgid_python::Dispatched,
) {
    if let Some(g) = chosen.process_group {
        settings.process_group = resolve_group(site, r, &GroupSpec::parse(&g));
    }
    if let Some(g) = chosen.application_group {
        settings.application_group = resolve_group(site, r, &GroupSpec::parse(&g));
    }
    if let Some(c) = chosen.callable_object {
        settings.callable = resolve_callable(r, &CallableSpec::parse(&c));
    }
}

/// A callable's name: `%{ENV:VAR}` from the request's environment
/// (`application` when unset), else the name itself.
fn resolve_callable(r: &Request, spec: &CallableSpec) -> String {
    match spec {
        CallableSpec::Named(n) => n.clone(),
        CallableSpec::Env(var) => env_lookup(r, var).unwrap_or_else(|| "application".into()),
    }
}

/// `HTTP_*` name for a header, or None when Apache drops it.
fn http_env_name<'k>(name: &str, key: &'k mut String) -> Option<&'k str> {
    if name.is_empty() || !name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-') {
        return None;
    }
    key.clear();
    key.push_str("HTTP_");
    key.extend(name.chars().map(|c| match c {
        '-' => '_',
        c => c.to_ascii_uppercase(),
    }));
    Some(key)
}

/// Request headers as Apache's `headers_in` table holds them: one entry per
/// name in first-seen order, repeated values joined with `", "`.  Once
/// `RequestHeader` rules made the map that table itself, a name's several
/// entries are lines a rule added: the environ gets the last one, as
/// `ap_add_common_vars` copying each entry in turn does.
fn merged_headers(r: &Request) -> impl Iterator<Item = (&str, Cow<'_, str>)> {
    // The map's iterator gives a name's later values right after its first
    // (no lookup per name).
    let mut all = r.headers.iter().peekable();
    let table = r.headers_in_table;
    std::iter::from_fn(move || {
        let (name, first) = all.next()?;
        let mut joined = latin1_cow(first.as_bytes());
        while let Some((_, v)) = all.next_if(|(next, _)| *next == name) {
            if table {
                joined = latin1_cow(v.as_bytes());
                continue;
            }
            let joined = joined.to_mut();
            joined.push_str(", ");
            joined.push_str(&latin1_cow(v.as_bytes()));
        }
        Some((name.as_str(), joined))
    })
}

/// Everything the environ needs besides the request.
pub struct EnvInputs<'a> {
    pub settings: &'a WsgiSettings,
    /// PATH_TRANSLATED, computed by a sub-request lookup of PATH_INFO.
    pub path_translated: Option<std::sync::Arc<str>>,
    pub request_id: String,
    pub server_software: &'a str,
}

/// Build the string environ and the URL scheme.
pub fn build(site: &Site, r: &Request, inp: &EnvInputs<'_>) -> (CgiEnv, &'static str) {
    let entries = r.env.len() + r.headers.len() + 48;
    let mut table = CgiEnv::with_capacity(entries, 1024 + 48 * r.headers.len());
    for (k, v) in &r.env {
        table.push(k, v);
    }
    let mut e = EnvTable(table);
    let base = e.0.len();
    let s = inp.settings;

    // ap_add_common_vars: headers first.
    let mut key = String::with_capacity(32);
    for (name, value) in merged_headers(r) {
        if name.eq_ignore_ascii_case("content-type") {
            e.put(base, "CONTENT_TYPE", value);
        } else if name.eq_ignore_ascii_case("content-length") {
            e.put(base, "CONTENT_LENGTH", value);
        } else if name.eq_ignore_ascii_case("proxy")
            || name.eq_ignore_ascii_case("authorization")
            || name.eq_ignore_ascii_case("proxy-authorization")
        {
            // httpoxy; credentials stay out of the environment unless
            // WSGIPassAuthorization (below).
        } else if let Some(key) = http_env_name(name, &mut key) {
            e.put(base, key, value);
        }
    }
    let port = server_port(site, r);
    e.put(base, "SERVER_SIGNATURE", signature(site, r, port));
    e.put(base, "SERVER_SOFTWARE", inp.server_software);
    e.put(base, "SERVER_NAME", server_name(site, r));
    e.put(base, "SERVER_ADDR", &r.conn.local_ip);
    let mut digits = itoa::Buffer::new();
    e.put(base, "SERVER_PORT", digits.format(port));
    e.put(base, "REMOTE_ADDR", &r.conn.peer_ip);
    let document_root = path_latin1(&site.host.document_root);
    e.put(base, "DOCUMENT_ROOT", &document_root);
    e.put(base, "REQUEST_SCHEME", "http");
    let (prefix, ctx_root) = match &r.context {
        Some((p, root)) => (p.as_str(), root.as_str()),
        None => ("", &*document_root),
    };
    e.put(base, "CONTEXT_PREFIX", prefix);
    e.put(base, "CONTEXT_DOCUMENT_ROOT", ctx_root);
    e.put(
        base,
        "SERVER_ADMIN",
        site.host
            .server_admin
            .as_deref()
            .unwrap_or("[no address given]"),
    );
    e.put(base, "SCRIPT_FILENAME", r.filename_latin1());
    e.put(base, "REMOTE_PORT", &r.conn.peer_port);
    if let Some(user) = &r.user {
        e.put(base, "REMOTE_USER", user);
    }
    if let (None, Some(user)) = (&r.user, r.prev.as_ref().and_then(|p| p.user.as_ref())) {
        e.put(base, "REDIRECT_REMOTE_USER", user);
    }
    if let Some(auth_type) = &r.auth_type {
        e.put(base, "AUTH_TYPE", auth_type);
    }
    // After an internal redirect (ErrorDocument, mod_rewrite).
    if let Some(prev) = &r.prev {
        e.put(base, "REDIRECT_URL", latin1_cow(&prev.uri));
        if let Some(args) = &prev.args {
            e.put(base, "REDIRECT_QUERY_STRING", args);
        }
    }

    // ap_add_cgi_vars.
    e.put(base, "GATEWAY_INTERFACE", "CGI/1.1");
    e.put(base, "SERVER_PROTOCOL", r.protocol());
    e.put(base, "REQUEST_METHOD", r.method.as_str());
    e.put(base, "QUERY_STRING", r.args.as_deref().unwrap_or_default());
    e.put(base, "REQUEST_URI", &r.unparsed_uri);
    let (script_name, path_info) = script_name_and_path_info(r);
    let (script_name, path_info) = (latin1_cow(&script_name), latin1_cow(&path_info));
    e.put(base, "SCRIPT_NAME", &script_name);
    e.put(base, "PATH_INFO", &path_info);
    if let Some(pt) = &inp.path_translated {
        e.put(base, "PATH_TRANSLATED", pt);
    }

    // wsgi_build_environment.
    if s.map_head_to_get == MapHeadToGet::On
        && (r.method == http::Method::GET || r.method == http::Method::HEAD)
    {
        e.set("REQUEST_METHOD", "GET");
    }
    if s.pass_authorization
        && let Some(v) = r.headers.get(http::header::AUTHORIZATION)
    {
        e.set("HTTP_AUTHORIZATION", latin1(v.as_bytes()));
    }
    e.put(base, "mod_wsgi.script_name", &script_name);
    e.put(base, "mod_wsgi.path_info", &path_info);
    crate::proxy::apply_trusted_headers(&mut e, &r.per_dir.wsgi);
    // HTTPS comes from SetEnv/PassEnv (the first `base` entries) or from
    // a trusted proxy header: no need to search the request's own entries
    // (a header becomes HTTP_*) otherwise.
    let https = if r.per_dir.wsgi.trusted_proxy_headers.is_some() {
        e.get("HTTPS")
    } else {
        e.0.get_within(base, "HTTPS")
    };
    let scheme = if https.is_some_and(|v| v == "1" || v.eq_ignore_ascii_case("on")) {
        "https"
    } else {
        "http"
    };
    e.put(base, "mod_wsgi.process_group", &s.process_group);
    e.put(base, "mod_wsgi.application_group", &s.application_group);
    e.put(base, "mod_wsgi.callable_object", &s.callable);
    e.put(
        base,
        "mod_wsgi.request_handler",
        r.handler_name().unwrap_or_default(),
    );
    match &s.handler_script {
        Some(path) => e.put(base, "mod_wsgi.handler_script", path.to_string_lossy()),
        None => e.put(base, "mod_wsgi.handler_script", ""),
    }
    e.put(
        base,
        "mod_wsgi.script_reloading",
        if s.script_reloading { "1" } else { "0" },
    );
    e.put(base, "mod_wsgi.listener_host", &r.conn.listener_host);
    e.put(
        base,
        "mod_wsgi.listener_port",
        digits.format(r.conn.local.port()),
    );
    e.put(
        base,
        "mod_wsgi.enable_sendfile",
        if s.enable_sendfile { "1" } else { "0" },
    );
    e.put(base, "mod_wsgi.ignore_activity", "0");
    let start = r
        .start
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_micros());
    e.put(base, "mod_wsgi.request_start", digits.format(start));
    e.put(base, "mod_wsgi.request_id", &inp.request_id);
    (e.0, scheme)
}

/// `SERVER_SIGNATURE` (`ap_psignature("", r)`).
fn signature(site: &Site, r: &Request, port: u16) -> String {
    match site.signature {
        ServerSignature::Off => String::new(),
        ServerSignature::On => format!(
            "<address>{} Server at {} Port {}</address>\n",
            site.server_banner,
            server_name(site, r),
            port
        ),
        ServerSignature::Email => format!(
            "<address>{} Server at <a href=\"mailto:{}\">{}</a> Port {}</address>\n",
            site.server_banner,
            site.host.server_admin.as_deref().unwrap_or(""),
            server_name(site, r),
            port
        ),
    }
}

/// The string part of the environ mod_wsgi gives access and authentication
/// scripts (`Auth_environ`): the request headers except the credentials,
/// the server and client facts, REQUEST_URI, SCRIPT_NAME and PATH_INFO.
/// No SetEnv values and no `REMOTE_USER`: the scripts run before them.
pub fn auth_environ(site: &Site, r: &Request, server_software: &str) -> CgiEnv {
    let mut e = EnvTable(CgiEnv::with_capacity(r.headers.len() + 20, 1024));
    let mut key = String::with_capacity(32);
    for (name, value) in merged_headers(r) {
        if name.eq_ignore_ascii_case("content-type") {
            e.set("CONTENT_TYPE", value);
        } else if name.eq_ignore_ascii_case("content-length") {
            e.set("CONTENT_LENGTH", value);
        } else if name.eq_ignore_ascii_case("authorization")
            || name.eq_ignore_ascii_case("proxy-authorization")
        {
        } else if let Some(key) = http_env_name(name, &mut key) {
            e.set(key, value);
        }
    }
    let port = server_port(site, r);
    e.set("SERVER_SIGNATURE", signature(site, r, port));
    e.set("SERVER_SOFTWARE", server_software);
    e.set("SERVER_NAME", server_name(site, r));
    e.set("SERVER_ADDR", &r.conn.local_ip);
    e.set("SERVER_PORT", port.to_string());
    e.set("REMOTE_ADDR", &r.conn.peer_ip);
    e.set("DOCUMENT_ROOT", path_latin1(&site.host.document_root));
    e.set(
        "SERVER_ADMIN",
        site.host
            .server_admin
            .clone()
            .unwrap_or_else(|| "[no address given]".into()),
    );
    e.set("REMOTE_PORT", &r.conn.peer_port);
    e.set("SERVER_PROTOCOL", r.protocol());
    e.set("REQUEST_METHOD", r.method.as_str());
    e.set("QUERY_STRING", r.args.as_deref().unwrap_or_default());
    e.set("REQUEST_URI", &r.unparsed_uri);
    // Not collapsed: mod_wsgi splits `r->uri` as it is here.
    let script = if r.path_info.is_empty() {
        &r.uri[..]
    } else {
        &r.uri[..find_path_info(&r.uri, &r.path_info)]
    };
    e.set("SCRIPT_NAME", latin1(script));
    e.set("PATH_INFO", latin1(&r.path_info));
    e.0
}

/// The client's address as Apache writes it (`useragent_ip`).
pub fn client_ip(r: &Request) -> String {
    r.conn.peer_ip.to_string()
}

/// An auth script's `application-group=` resolved for `r` (as mod_wsgi's
/// `wsgi_server_group`).
pub fn auth_script_group(site: &Site, r: &Request, spec: &GroupSpec) -> String {
    resolve_group(site, r, spec)
}
