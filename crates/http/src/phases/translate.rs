//! The translate-name phase: URL path → file name.
//!
//! Runs the hooks in Apache's order: mod_alias (its redirects first, see
//! [`redirect`], then `Alias`, `AliasMatch`), then mod_wsgi's
//! `wsgi_hook_intercept` (`WSGIScriptAlias`, `WSGIScriptAliasMatch`, which
//! also force the `wsgi-script` handler),
//! then the core's `DocumentRoot` mapping.  Within each module the
//! directives are tried in configuration order, a virtual host's own first.
//! It never touches the file system; the walk phase does.

use std::borrow::Cow;
use std::collections::HashMap;
use std::ffi::OsString;
use std::os::unix::ffi::OsStringExt;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, PoisonError};

use wsgid_config::model::{AliasKind, UrlMatcher};
use wsgid_log::{Level, Peer};

use crate::frontend::Site;
use crate::request::Request;
use crate::uri::{alias_matches, escape_path, latin1, pregsub};

/// The handler name WSGIScriptAlias forces.
pub const WSGI_HANDLER: &str = "wsgi-script";

/// Fill `r.filename` (and for script aliases `r.handler`).
pub fn translate(site: &Site, r: &mut Request) {
    if try_aliases(site, r, AliasKind::Alias) || try_aliases(site, r, AliasKind::WsgiScript) {
        return;
    }
    // Core: DocumentRoot + the URI without its leading slashes.
    let rel: &[u8] = {
        let start = r.uri.iter().position(|&b| b != b'/').unwrap_or(r.uri.len());
        &r.uri[start..]
    };
    r.filename = Some(join(
        site.host.document_root.as_os_str().as_encoded_bytes(),
        rel,
    ));
}

fn join(base: &[u8], rest: &[u8]) -> PathBuf {
    let mut bytes = base.to_vec();
    if !rest.is_empty() {
        if bytes.last() != Some(&b'/') {
            bytes.push(b'/');
        }
        bytes.extend_from_slice(rest);
    }
    PathBuf::from(OsString::from_vec(bytes))
}

fn concat(a: &[u8], b: &[u8]) -> PathBuf {
    let mut bytes = Vec::with_capacity(a.len() + b.len());
    bytes.extend_from_slice(a);
    bytes.extend_from_slice(b);
    PathBuf::from(OsString::from_vec(bytes))
}

/// mod_alias's redirects (`translate_alias_redir`, before any alias): the
/// status and, for a 3xx, the `Location`: the target plus the rest of the
/// path (escaped), or a `RedirectMatch` target with `$N` filled in (escaped
/// up to its query), made absolute when it is a path, with the request's
/// query string appended unless the target has one.
pub fn redirect(site: &Site, r: &Request) -> Option<(u16, Option<String>)> {
    for (alias, re) in site.host.aliases.iter().zip(&site.alias_res) {
        let AliasKind::Redirect(status) = alias.kind else {
            continue;
        };
        let found = match (&alias.matcher, re) {
            (UrlMatcher::Regex(_), Some(re)) => {
                let Some(caps) = re.captures(&r.uri) else {
                    continue;
                };
                let url = pregsub(&alias.target, &caps);
                let split = url.iter().position(|&b| b == b'?' || b == b'#');
                let (path, tail) = url.split_at(split.unwrap_or(url.len()));
                let mut found = escape_path(path);
                found.push_str(&latin1(tail));
                found
            }
            (UrlMatcher::Prefix(fake), _) => {
                let l = alias_matches(&r.uri, fake.as_bytes());
                if l == 0 {
                    continue;
                }
                format!("{}{}", alias.target, escape_path(&r.uri[l..]))
            }
            (UrlMatcher::Regex(_), None) => continue,
        };
        if !(300..400).contains(&status) {
            return Some((status, None));
        }
        let mut url = found;
        if url.starts_with('/') {
            let full = super::construct_url(site, r, &url);
            site.error_log.log(
                "alias",
                Level::Debug,
                Peer::Client(r.conn.peer),
                &format!(
                    "AH00673: incomplete redirection target of '{url}' for URI '{}' modified to '{full}'",
                    latin1(&r.uri)
                ),
            );
            url = full;
        }
        if let Some(args) = r.args.as_deref()
            && !url.contains('?')
        {
            url.push('?');
            url.push_str(args);
        }
        return Some((status, Some(url)));
    }
    None
}

/// Try every alias of one module; true when one matched.
fn try_aliases(site: &Site, r: &mut Request, kind: AliasKind) -> bool {
    for (alias, re) in site.host.aliases.iter().zip(&site.alias_res) {
        if alias.kind != kind {
            continue;
        }
        let (consumed, location_is_root, target) = match (&alias.matcher, re) {
            (UrlMatcher::Regex(_), Some(re)) => {
                let Some(caps) = re.captures(&r.uri) else {
                    continue;
                };
                let end = caps.get(0).map_or(0, |m| m.end());
                let root = &r.uri[..end] == b"/";
                (end, root, Cow::Owned(pregsub(&alias.target, &caps)))
            }
            (UrlMatcher::Prefix(fake), _) => {
                let l = alias_matches(&r.uri, fake.as_bytes());
                if l == 0 {
                    continue;
                }
                (l, fake == "/", Cow::Borrowed(alias.target.as_bytes()))
            }
            // A regex that could not be compiled for bytes never matches.
            (UrlMatcher::Regex(_), None) => continue,
        };
        match kind {
            AliasKind::Alias => {
                if let UrlMatcher::Prefix(fake) = &alias.matcher {
                    r.context = Some((fake.clone(), alias.target.clone()));
                }
                r.filename = Some(concat(&target, &r.uri[consumed..]));
                r.alias_target_len = Some(target.len());
            }
            // Redirects are never tried as aliases (see `redirect`).
            AliasKind::Redirect(_) => continue,
            AliasKind::WsgiScript => {
                // mod_wsgi keeps the whole URI when the mount point is "/",
                // so that PATH_INFO is the full path and SCRIPT_NAME empty.
                let rest = if location_is_root {
                    &r.uri[..]
                } else {
                    &r.uri[consumed..]
                };
                r.filename = Some(concat(&target, rest));
                r.alias_target_len = Some(target.len());
                r.handler = Some(WSGI_HANDLER.into());
                r.alias_forced = true;
                r.wsgi_notes = alias.wsgi.clone();
            }
        }
        return true;
    }
    false
}

/// PATH_TRANSLATED values already computed for this site, by PATH_INFO:
/// when no server-level mod_rewrite rule is in play, translating a URI
/// depends on it and the site's aliases only, and nearly every request
/// to a script mounted at `/` asks for the same few.  Bounded like the
/// merge memo: past `MAX_TRANSLATED` names, new ones are not kept.
#[derive(Debug, Default)]
pub struct TranslatedMemo(Mutex<HashMap<Vec<u8>, Option<Arc<str>>, foldhash::fast::RandomState>>);

const MAX_TRANSLATED: usize = 1024;

impl TranslatedMemo {
    pub fn get(&self, path_info: &[u8]) -> Option<Option<Arc<str>>> {
        let map = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        map.get(path_info).cloned()
    }

    pub fn insert(&self, path_info: &[u8], translated: Option<Arc<str>>) {
        let mut map = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        if map.len() < MAX_TRANSLATED {
            map.insert(path_info.to_vec(), translated);
        }
    }
}
