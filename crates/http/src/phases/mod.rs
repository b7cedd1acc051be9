//! Apache's request phases in their fixed order, up to the choice of
//! handler:
//!
//! translate → map to storage (walk + section merge) → access (Require)
//! → type checker (mod_mime: AddHandler, SetHandler, content type)
//! → fixups (mod_env: SetEnv/UnsetEnv/PassEnv; mod_dir: trailing-slash
//! redirect and DirectoryIndex) → handler checks.  mod_setenvif runs its
//! server-level lines before all that (post_read_request) and its
//! per-directory ones after the walk (header_parser); mod_rewrite runs its
//! server-level rules first in translate and its per-directory ones first
//! in the fixups.
//!
//! The same pipeline without the handler serves sub-requests
//! (`ap_sub_req_lookup_uri`), used for DirectoryIndex and PATH_TRANSLATED.
//! Running the WSGI application and sending responses are `handler.rs`'s
//! and `server.rs`'s jobs.

pub mod access;
pub mod auth;
pub mod digest;
mod dir;
pub mod handler;
pub mod headers;
pub mod htaccess;
pub mod log;
pub mod rewrite;
pub mod script_owner;
pub mod setenvif;
pub mod symlinks;
pub mod trace;
pub mod translate;
pub mod walk;

use std::os::unix::ffi::OsStrExt;
use std::sync::Arc;

use wsgid_config::model::OptionFlags;
use wsgid_log::{Level, Peer};

use crate::frontend::{FrontEnd, Site};
use crate::request::{FileKind, Request};
use crate::uri::latin1;

/// What the phases decided for a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Run the WSGI script `r.filename` (every handler check passed).
    Wsgi,
    /// Serve `r.filename` with the default handler.
    Static,
    /// Redirect (mod_dir's trailing slash): status and absolute Location.
    Redirect(u16, String),
    /// Answer Apache's error page for this status (already logged).
    Error(u16),
    /// `OPTIONS *`: a 200 without body or `Allow` (mod_http's
    /// `http_send_options`, which ends the request at map-to-storage).
    ServerOptions,
    /// `TRACE`: answered by the core at map-to-storage (`trace.rs`).
    Trace,
    /// mod_rewrite's redirect handler: process this URI (with its query)
    /// as a new request (`ap_internal_redirect`).
    InternalRedirect(String),
}

impl From<rewrite::Stop> for Outcome {
    fn from(stop: rewrite::Stop) -> Outcome {
        match stop {
            rewrite::Stop::Status(status) => Outcome::Error(status),
            rewrite::Stop::Redirect(status, url) => Outcome::Redirect(status, url),
        }
    }
}

/// The options Apache 2.4 starts from (`Options FollowSymlinks`).
pub fn default_options() -> OptionFlags {
    OptionFlags {
        follow_symlinks: true,
        ..OptionFlags::default()
    }
}

/// Run every phase up to the handler choice for the main request.  Access
/// and authentication scripts make it wait for the Python host.
pub async fn process(fe: &FrontEnd, r: &mut Request) -> Outcome {
    let site = fe.site(r.host);
    // post_read_request: mod_setenvif's server-level lines.
    setenvif::run(&site.host.set_env_if, r);
    if let Err(outcome) = before_access(site, r, 0) {
        return outcome;
    }
    if let Err(outcome) = auth::run(fe, site, r).await {
        return outcome;
    }
    if let Err(outcome) = after_access(fe, site, r, 0) {
        return outcome;
    }
    handler::select(site, r)
}

/// translate … fixups for a sub-request (synchronous: it takes the main
/// request's user instead of authenticating, see `auth::check_sub`).
fn lookup(fe: &FrontEnd, site: &Site, r: &mut Request, depth: u8) -> Result<(), Outcome> {
    before_access(site, r, depth)?;
    auth::check_sub(site, r)?;
    after_access(fe, site, r, depth)
}

/// translate, map to storage and header_parser: what runs before the
/// access checks.
fn before_access(site: &Site, r: &mut Request, depth: u8) -> Result<(), Outcome> {
    if r.uri == b"*" && r.method == http::Method::OPTIONS && depth == 0 {
        return Err(Outcome::ServerOptions);
    }
    if r.uri.first() != Some(&b'/') {
        site.error_log.log(
            "core",
            Level::Error,
            Peer::Client(r.conn.peer),
            &format!("AH00126: Invalid URI in request {}", r.the_request),
        );
        return Err(Outcome::Error(400));
    }
    if let Err(stop) = rewrite::translate(site, r) {
        return Err(stop.into());
    }
    if r.filename.is_none() {
        if let Some((status, location)) = translate::redirect(site, r) {
            return Err(match location {
                Some(url) => Outcome::Redirect(status, url),
                None => Outcome::Error(status),
            });
        }
        translate::translate(site, r);
    }
    if r.method == http::Method::TRACE && depth == 0 {
        return Err(Outcome::Trace);
    }
    if let Err(walk::Denied(path)) = walk::storage(r) {
        site.error_log.log(
            "core",
            Level::Error,
            Peer::Client(r.conn.peer),
            &format!(
                "(13)Permission denied: AH00035: access to {} denied (filesystem path '{}') because search \
                 permissions are missing on a component of the path",
                latin1(&r.uri),
                path.display()
            ),
        );
        return Err(Outcome::Error(403));
    }
    if let Some(link) = symlinks::refused_link(site, r) {
        site.error_log.log(
            "core",
            Level::Error,
            Peer::Client(r.conn.peer),
            &format!(
                "AH00037: Symbolic link not allowed or link target not accessible: {}",
                link.display()
            ),
        );
        return Err(Outcome::Error(403));
    }
    let mut warnings = Vec::new();
    let merged = walk::merge_sections(site, r, &mut warnings);
    for w in &warnings {
        site.error_log
            .log("core", Level::Warn, Peer::Client(r.conn.peer), w);
    }
    match merged {
        Ok(per_dir) => r.per_dir = per_dir,
        Err(e) => {
            site.error_log
                .log("core", e.level, Peer::Client(r.conn.peer), &e.line);
            return Err(Outcome::Error(e.status));
        }
    }
    if depth == 0 && !r.is_sub {
        // header_parser (main request only): per-directory SetEnvIf.
        let per_dir = std::sync::Arc::clone(&r.per_dir);
        setenvif::run(&per_dir.set_env_if, r);
    }
    Ok(())
}

/// The type checker, then the fixups in their hook order: mod_rewrite's
/// (APR_HOOK_FIRST), mod_env's, mod_dir's and mod_headers' (APR_HOOK_LAST).
/// They run after the access checks, so neither a rewrite nor `SetEnv`
/// can change what those decided.
fn after_access(fe: &FrontEnd, site: &Site, r: &mut Request, depth: u8) -> Result<(), Outcome> {
    types(fe, r);
    if let Err(stop) = rewrite::fixup(site, r) {
        return Err(stop.into());
    }
    fixup_env(r);
    dir::fixup(fe, site, r, depth)?;
    // A sub-request's edits would only touch its own copy of the headers.
    if !r.is_sub {
        headers::fixup_request(r);
    }
    Ok(())
}

/// mod_env's fixup: PassEnv, SetEnv, then UnsetEnv give the variables,
/// overlaid on what SetEnvIf and RewriteRule `[E=]` already set.
fn fixup_env(r: &mut Request) {
    let mut env: Vec<(String, String)> = Vec::new();
    let mut set = |k: &str, v: String| match env.iter_mut().find(|(key, _)| key == k) {
        Some(slot) => slot.1 = v,
        None => env.push((k.to_owned(), v)),
    };
    for name in &r.per_dir.pass_env {
        if let Ok(v) = std::env::var(name) {
            set(name, v);
        }
    }
    for (k, v) in &r.per_dir.set_env {
        set(k, v.clone());
    }
    env.retain(|(k, _)| !r.per_dir.unset_env.iter().any(|u| u == k));
    for (k, v) in env {
        r.set_env(&k, v);
    }
}

/// mod_mime's type checker, the core's SetHandler / ForceType override,
/// then mod_rewrite's forced type and handler.
fn types(fe: &FrontEnd, r: &mut Request) {
    if let Some(filename) = &r.filename
        && r.kind != FileKind::Dir
    {
        let found = fe.mime.metadata(filename, &r.per_dir);
        r.content_type = found.content_type;
        r.content_languages = found.languages;
        r.content_encoding = found.encoding;
        if !r.alias_forced {
            let bytes = filename.as_os_str().as_bytes();
            let base = bytes.rsplit(|&b| b == b'/').next().unwrap_or(bytes);
            // Every extension after the first dot counts; the last one
            // with a handler wins, as in mod_mime.
            for ext in base.split(|&b| b == b'.').skip(1) {
                let ext = latin1(ext).to_ascii_lowercase();
                if let Some((_, h)) = r.per_dir.add_handlers.iter().rev().find(|(e, _)| *e == ext) {
                    r.handler = Some(h.to_ascii_lowercase().into());
                }
            }
        }
    }
    if let Some(Some(h)) = &r.per_dir.set_handler
        && !h.eq_ignore_ascii_case("none")
    {
        r.handler = Some(h.to_ascii_lowercase().into());
    }
    // The core's fixup (`core_override_type`): ForceType over mod_mime's
    // type (an application's response sets its own).
    if let Some(Some(t)) = &r.per_dir.force_type {
        r.content_type = Some(t.clone());
    }
    // mod_rewrite's type checker (after the core's, which Apache runs
    // first): a server-level rule's `[T=]` / `[H=]` win over ForceType
    // and SetHandler (oracle case 51).
    if let Some(forced) = r.rewrite_forced.take() {
        if let Some(t) = forced.mime_type {
            r.content_type = Some(t);
        }
        if let Some(h) = forced.handler {
            r.handler = Some(h.into());
        }
    }
}

/// `ap_construct_url`: `http://name[:port]` + path, the port left out
/// when it is the scheme's default.
pub fn construct_url(site: &Site, r: &Request, path: &str) -> String {
    let name = crate::environ::server_name(site, r);
    let port = crate::environ::server_port(site, r);
    if port == 80 {
        format!("http://{name}{path}")
    } else {
        format!("http://{name}:{port}{path}")
    }
}

/// PATH_TRANSLATED: PATH_INFO looked up as a URI in a sub-request.
///
/// Apache joins the sub-request's file name and path info back together,
/// which undoes the directory walk's split, so only the steps that can
/// change the name matter: translate (server-level mod_rewrite, aliases,
/// DocumentRoot), per-directory mod_rewrite, and mod_dir's index file for a
/// directory with a trailing slash.  Without the last two in play the
/// translate step alone gives the same answer with no file-system access.
pub fn path_translated(fe: &FrontEnd, r: &Request) -> Option<Arc<str>> {
    if r.path_info.is_empty() {
        return None;
    }
    let site = fe.site(r.host);
    let by_translate_only = r.path_info.last() != Some(&b'/') && !site.dir_rewrites;
    if by_translate_only && !rewrite::engaged(site) {
        // Then the answer depends on PATH_INFO and the site alone.
        if let Some(known) = site.translated.get(&r.path_info) {
            return known;
        }
        let mut sub = r.sub_request(r.path_info.clone());
        translate::translate(site, &mut sub);
        let translated = joined_name(&sub);
        site.translated.insert(&r.path_info, translated.clone());
        return translated;
    }
    let mut sub = r.sub_request(r.path_info.clone());
    if by_translate_only {
        if rewrite::translate(site, &mut sub).is_ok() && sub.filename.is_none() {
            translate::translate(site, &mut sub);
        }
    } else {
        // Errors (redirects, denials) still leave a file name, which is all
        // PATH_TRANSLATED uses; their log lines are part of Apache's
        // behaviour.
        let _ = lookup(fe, site, &mut sub, 1);
    }
    joined_name(&sub)
}

/// A sub-request's file name and path info joined back together.
fn joined_name(sub: &Request) -> Option<Arc<str>> {
    sub.filename.is_some().then(|| {
        let name = sub.filename_latin1();
        let mut s = String::with_capacity(name.len() + sub.path_info.len());
        s.push_str(&name);
        crate::uri::push_latin1(&mut s, &sub.path_info);
        Arc::from(s)
    })
}
