//! mod_dir's fixup (`dir_fixups`, APR_HOOK_LAST): a directory's URL
//! without its slash is redirected to it, one with it becomes its first
//! existing `DirectoryIndex` file (or a redirect to it with
//! `DirectoryIndexRedirect`), and a request for nothing that no handler
//! took becomes its `FallbackResource`.  Index and fallback files are
//! found with sub-requests (`ap_sub_req_lookup_uri`), and the request then
//! takes the one found over (`ap_internal_fast_redirect`).

use wsgid_log::{Level, Peer};

use super::{Outcome, construct_url, lookup};
use crate::frontend::{FrontEnd, Site};
use crate::request::{FileKind, Request};

/// How deep sub-requests may nest whatever `LimitInternalRecursion` says:
/// each level is a native stack frame of the event loop (Apache's are
/// too, but its threads have 8 MiB stacks).
const MAX_SUBREQ_DEPTH: u8 = 32;

/// `dir_fixups`.
pub(super) fn fixup(fe: &FrontEnd, site: &Site, r: &mut Request, depth: u8) -> Result<(), Outcome> {
    match r.kind {
        FileKind::Dir => directory(fe, site, r, depth),
        FileKind::Missing if r.handler.is_none() => fallback(fe, site, r, depth),
        _ => Ok(()),
    }
}

/// `fixup_dir`: the trailing-slash redirect, then the index files.
fn directory(fe: &FrontEnd, site: &Site, r: &mut Request, depth: u8) -> Result<(), Outcome> {
    // Never a path info on a directory request.
    if !r.path_info.is_empty() {
        return Ok(());
    }
    if r.uri.last() != Some(&b'/') {
        // `DirectorySlash Off`, or a client SetEnvIf marks as unable to
        // follow a redirect of anything but GET (`redirect-carefully`):
        // mod_dir declines, and no index file is looked for either.
        let careful = !matches!(r.method, http::Method::GET | http::Method::HEAD)
            && r.env.iter().any(|(k, _)| k == "redirect-carefully");
        if r.per_dir.directory_slash == Some(false) || careful {
            return Ok(());
        }
        let mut target = crate::uri::escape_path(&r.uri);
        target.push('/');
        if let Some(args) = &r.args {
            target.push('?');
            target.push_str(args);
        }
        return Err(Outcome::Redirect(301, construct_url(site, r, &target)));
    }
    // Index files serve GET (and HEAD) and POST only.
    if !matches!(
        r.method,
        http::Method::GET | http::Method::HEAD | http::Method::POST
    ) {
        return Ok(());
    }
    // `DirectoryCheckHandler On`: a handler set for the directory keeps it.
    if r.per_dir.directory_check_handler == Some(true) && r.handler.is_some() {
        return Ok(());
    }
    // mod_dir steps aside between mod_rewrite's fixup and its redirect.
    if r.rewrite_redirect.is_some() {
        return Ok(());
    }
    let names = r
        .per_dir
        .directory_index
        .clone()
        .unwrap_or_else(|| vec!["index.html".to_owned()]);
    let mut error = None;
    let single = names.len() == 1;
    for name in names {
        let Some(mut sub) = sub_request(site, r, relative_uri(&r.uri, &name), depth) else {
            error = Some(Outcome::Error(500));
            continue;
        };
        // The request's query string goes with it (`name?args`).
        sub.args.clone_from(&r.args);
        match lookup(fe, site, &mut sub, depth + 1) {
            Ok(()) if sub.kind == FileKind::File => {
                if let Some(status) = r.per_dir.directory_index_redirect.filter(|&s| s != 0) {
                    let path = crate::uri::escape_path(&sub.uri);
                    return Err(Outcome::Redirect(status, construct_url(site, r, &path)));
                }
                adopt(r, sub);
                return Ok(());
            }
            Ok(()) => {}
            Err(Outcome::Error(404)) => {}
            // A redirect goes to the client at once, and so does a 401 or
            // 406 when there is no other name to try.
            Err(redirect @ Outcome::Redirect(..)) => return Err(redirect),
            Err(Outcome::Error(status @ (401 | 406))) if single => {
                return Err(Outcome::Error(status));
            }
            Err(other) => error = Some(other),
        }
    }
    match error {
        Some(e) => Err(e),
        None => Ok(()),
    }
}

/// `fixup_dflt`: `FallbackResource` (a URL-path; a relative one is taken
/// from the request's directory) looked up as the index files are; a
/// missing one leaves the request as it was (its 404).  The request keeps
/// its URI for the environ's REQUEST_URI; SCRIPT_NAME and PATH_INFO are
/// the fallback's, as in Apache.
fn fallback(fe: &FrontEnd, site: &Site, r: &mut Request, depth: u8) -> Result<(), Outcome> {
    let Some(name) = r.per_dir.fallback_resource.clone() else {
        return Ok(());
    };
    if name.eq_ignore_ascii_case("disabled") {
        return Ok(());
    }
    // The request's query string goes with it, as with an index file.
    let mut full = name;
    if let Some(q) = &r.args {
        full.push('?');
        full.push_str(q);
    }
    let (path, args) = match full.split_once('?') {
        Some((p, q)) => (p, Some(q.to_owned())),
        None => (full.as_str(), None),
    };
    let uri = relative_uri(&r.uri, path);
    let Some(mut sub) = sub_request(site, r, uri, depth) else {
        return Err(Outcome::Error(500));
    };
    sub.args = args;
    match lookup(fe, site, &mut sub, depth + 1) {
        Ok(()) if sub.kind == FileKind::File => {
            r.args = sub.args.take();
            adopt(r, sub);
            Ok(())
        }
        Ok(()) | Err(Outcome::Error(404)) => Ok(()),
        Err(other) => Err(other),
    }
}

/// `ap_sub_req_lookup_uri`'s URI for `name` (a configuration string): an
/// absolute path as it is, else relative to the directory of `uri`.
fn relative_uri(uri: &[u8], name: &str) -> Vec<u8> {
    if name.starts_with('/') {
        return name.as_bytes().to_vec();
    }
    let cut = uri.iter().rposition(|&b| b == b'/').map_or(0, |i| i + 1);
    let mut out = uri[..cut].to_vec();
    out.extend_from_slice(name.as_bytes());
    out
}

/// A sub-request for `uri`, unless it would nest deeper than
/// `LimitInternalRecursion` allows (`ap_is_recursion_limit_exceeded`:
/// Apache's sub-request is then a 500, logged as AH00125).
fn sub_request(site: &Site, r: &Request, uri: Vec<u8>, depth: u8) -> Option<Request> {
    let limit = site.host.recursion_limit.subrequests;
    if u32::from(depth) >= limit || depth >= MAX_SUBREQ_DEPTH {
        site.error_log.log(
            "core",
            Level::Error,
            Peer::Client(r.conn.peer),
            &format!(
                "AH00125: Request exceeded the limit of {limit} subrequest nesting levels due to probable \
                 configuration error. Use 'LimitInternalRecursion' to increase the limit if necessary. \
                 Use 'LogLevel debug' to get a backtrace."
            ),
        );
        return None;
    }
    Some(r.sub_request(uri))
}

/// `ap_internal_fast_redirect`: the request becomes the sub-request.
fn adopt(r: &mut Request, sub: Request) {
    r.uri = sub.uri;
    r.filename = sub.filename;
    r.path_info = sub.path_info;
    r.kind = sub.kind;
    r.meta = sub.meta;
    r.handler = sub.handler;
    r.alias_forced = sub.alias_forced;
    r.wsgi_notes = sub.wsgi_notes;
    r.context = sub.context;
    r.per_dir = sub.per_dir;
    r.env = sub.env;
    r.content_type = sub.content_type;
    r.content_languages = sub.content_languages;
    r.content_encoding = sub.content_encoding;
    r.rewrite_redirect = sub.rewrite_redirect;
}
