//! mod_rewrite's rule engine for the subset wsgid implements: server-level
//! rules in translate_name (before mod_alias and mod_wsgi), per-directory
//! rules in the fixups, where a rewrite becomes an internal redirect.
//! Conditions, back-references `$N`/`%N`, `%{VAR}` (evaluated and expanded
//! in `cond`), and the `E`, `L`, `END`, `PT`, `QSA`, `QSD`, `F`, `G`, `R`,
//! `NE`, `H` and `T` flags.

use std::ffi::OsString;
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use wsgid_config::model::RewriteRule;

use crate::frontend::Site;
use crate::request::Request;
use crate::uri::{escape_path, from_latin1, latin1, latin1_cow, path_latin1};

mod cond;

use cond::{conds_pass, expand, groups};

/// The back-references of one rule application.
#[derive(Default)]
struct Refs {
    rule: Vec<String>,
    cond: Vec<String>,
}

/// Why rewriting ended the request: a status (`[F]`, `[G]`, `[R=4xx]`),
/// or an external redirect (`[R]`) with its status and `Location`.
#[derive(Debug, PartialEq, Eq)]
pub enum Stop {
    Status(u16),
    Redirect(u16, String),
}

/// What a rule list did.
#[derive(Default)]
struct Applied {
    /// The new URL-path / file name when a substitution changed it.
    changed: Option<String>,
    pass_through: bool,
}

/// Where a rule list runs: the server's rules in translate_name, or a
/// directory's in the fixups (mod_rewrite's `ctx->perdir`).
#[derive(Clone, Copy)]
enum Context<'a> {
    Server,
    Dir {
        /// The section's path with a trailing slash (`dconf->directory`).
        prefix: &'a str,
        /// `RewriteBase`.
        base: Option<&'a str>,
    },
}

/// Whether server-level rules can change a URI's translation here.
pub fn engaged(site: &Site) -> bool {
    let rw = &site.host.rewrite;
    rw.engine == Some(true) && !rw.rules.is_empty()
}

/// translate_name: `Err(status)` for `[F]`/`[G]`; else `r.filename` is set
/// when a rule rewrote to a file path (the other translators then skip),
/// or `r.uri` changed for `[PT]` (they then map the new URI).
pub fn translate(site: &Site, r: &mut Request) -> Result<(), Stop> {
    // `hook_uri2file` runs under the server's `RewriteEngine On` (the base
    // directory state), rules or not, unless `[END]` came earlier (in this
    // request, or the one that redirected to it) or the URI is no path.
    let base = site.host.per_dir.rewrite.as_ref();
    let on = base.and_then(|rw| rw.engine) == Some(true);
    let any_uri = base
        .and_then(|rw| rw.options)
        .is_some_and(|o| o.allow_any_uri);
    if !on || r.rewrite_end || !any_uri && r.uri.first() != Some(&b'/') {
        return Ok(());
    }
    script_url_variables(site, r);
    if !engaged(site) {
        return Ok(());
    }
    let rw = &site.host.rewrite;
    let input = latin1(&r.uri);
    let done = apply(site, r, &rw.rules, Context::Server, input)?;
    let Some(new) = done.changed else {
        return Ok(());
    };
    if done.pass_through {
        r.uri = from_latin1(&new);
        return Ok(());
    }
    // A local path whose first segment does not exist is taken as
    // relative to DocumentRoot (mod_rewrite's `prefix_stat` check).
    let first = new.trim_start_matches('/').split('/').next().unwrap_or("");
    let exists = !first.is_empty()
        && Path::new("/")
            .join(std::ffi::OsStr::from_bytes(&from_latin1(first)))
            .exists();
    let path = if exists {
        new
    } else {
        let root = path_latin1(&site.host.document_root);
        format!("{}{}", root.trim_end_matches('/'), new)
    };
    r.filename = Some(PathBuf::from(OsString::from_vec(from_latin1(&path))));
    Ok(())
}

/// `SCRIPT_URL` (the URI the client asked for, kept across internal
/// redirects as `REDIRECT_SCRIPT_URL`; a sub-request's is its main
/// request's) and `SCRIPT_URI` (the same as an absolute URL), which
/// mod_rewrite puts in the environment of every request it sees.
fn script_url_variables(site: &Site, r: &mut Request) {
    let wanted = if r.is_sub {
        "SCRIPT_URL"
    } else {
        "REDIRECT_SCRIPT_URL"
    };
    let url = match r.env.iter().find(|(k, _)| k == wanted) {
        Some((_, v)) => v.clone(),
        None if r.is_sub => return,
        None => latin1(&r.uri),
    };
    let uri = super::construct_url(site, r, &url);
    r.set_env("SCRIPT_URL", url);
    r.set_env("SCRIPT_URI", uri);
}

/// The fixup hook (`hook_fixup`): the per-directory rules, matched against
/// the file name and path info less the section's path.  A rule that
/// rewrites to a local path ends in an internal redirect to a URL-path:
/// the section's path replaced by `RewriteBase`, else the DocumentRoot
/// taken off, else the Alias target replaced by its URL (the redirect
/// itself is the handler's: `r.rewrite_redirect`).  `[R]` answers a
/// redirect from here, `[F]`/`[G]` their status.
pub fn fixup(site: &Site, r: &mut Request) -> Result<(), Stop> {
    let per_dir = Arc::clone(&r.per_dir);
    let Some(rw) = &per_dir.rewrite else {
        return Ok(());
    };
    // Server-level rules (no section) run in translate only.
    let (Some(true), Some(prefix)) = (rw.engine, rw.dir_prefix.as_deref()) else {
        return Ok(());
    };
    // The file name is latin-1 text of its bytes; so must the section's
    // path and the other configured strings it is compared with be.
    let prefix = latin1_cow(prefix.as_bytes());
    let prefix = prefix.as_ref();
    let base = rw.base.as_deref().map(|b| latin1_cow(b.as_bytes()));
    let ofilename = r
        .filename
        .as_ref()
        .map(|_| r.filename_latin1().into_owned());
    let rw_options = rw.options.unwrap_or_default();
    // The directory's own name without its slash: mod_dir is left to
    // redirect it to the slash, unless `RewriteOptions AllowNoSlash`.
    if !rw_options.allow_no_slash && ofilename.as_deref() == prefix.strip_suffix('/') {
        return Ok(());
    }
    if r.rewrite_end {
        return Ok(());
    }
    let options = r.per_dir.effective_options(super::default_options());
    if !(options.follow_symlinks || options.symlinks_if_owner_match) {
        site.error_log.log(
            "rewrite",
            wsgid_log::Level::Error,
            wsgid_log::Peer::Client(r.conn.peer),
            &format!(
                "AH00670: Options FollowSymLinks and SymLinksIfOwnerMatch are both off, so the RewriteRule \
                 directive is also forbidden due to its similar ability to circumvent directory restrictions : {}",
                ofilename.as_deref().unwrap_or("")
            ),
        );
        return Err(Stop::Status(403));
    }
    let start = ofilename.clone().unwrap_or_else(|| latin1(&r.uri));
    let ctx = Context::Dir {
        prefix,
        base: base.as_deref(),
    };
    let done = apply(site, r, &rw.rules, ctx, start)?;
    let Some(new) = done.changed else {
        return Ok(());
    };
    if !new.starts_with('/') {
        return Err(Stop::Status(400));
    }
    // A rewrite to the very file name would redirect forever.
    if ofilename.as_deref() == Some(new.as_str()) {
        return Ok(());
    }
    let mut url = match base.as_deref() {
        Some(base) => subst_prefix_path(&new, prefix, base),
        None => {
            let root = path_latin1(&site.host.document_root);
            let root = root.strip_suffix('/').unwrap_or(&root);
            match new.strip_prefix(root) {
                Some(rest) if rest.starts_with('/') => rest.to_owned(),
                _ => new.clone(),
            }
        }
    };
    if url == new
        && !rw_options.ignore_context_info
        && let Some((context_prefix, context_root)) = &r.context
    {
        url = subst_prefix_path(
            &new,
            &latin1_cow(context_root.as_bytes()),
            &latin1_cow(context_prefix.as_bytes()),
        );
    }
    let mut target = url.clone();
    if let Some(args) = &r.args {
        target.push('?');
        target.push_str(args);
    }
    r.filename = Some(PathBuf::from(OsString::from_vec(from_latin1(&format!(
        "redirect:{url}"
    )))));
    r.handler = Some(std::borrow::Cow::Borrowed(REDIRECT_HANDLER));
    r.rewrite_redirect = Some(target);
    Ok(())
}

/// mod_rewrite's handler name for its internal redirects (`%R` logs it).
const REDIRECT_HANDLER: &str = "redirect-handler";

/// `subst_prefix_path`: `input` with `matched` (a trailing slash
/// ignored) replaced by `subst` when it is followed by a slash there;
/// `subst` then ends with one.
fn subst_prefix_path(input: &str, matched: &str, subst: &str) -> String {
    let m = matched.strip_suffix('/').unwrap_or(matched);
    match input
        .strip_prefix(m)
        .and_then(|rest| rest.strip_prefix('/'))
    {
        Some(rest) => {
            let mut out = String::with_capacity(subst.len() + 1 + rest.len());
            out.push_str(subst);
            if !subst.is_empty() && !subst.ends_with('/') {
                out.push('/');
            }
            out.push_str(rest);
            out
        }
        None => input.to_owned(),
    }
}

/// `is_absolute_uri` for the forms wsgid accepts: `scheme://…`.
fn is_absolute_uri(s: &str) -> bool {
    match s.find("://") {
        Some(i) => i > 0 && s[..i].bytes().all(|b| b.is_ascii_alphanumeric()),
        None => false,
    }
}

/// `apply_rewrite_list`.
fn apply(
    site: &Site,
    r: &mut Request,
    rules: &[RewriteRule],
    ctx: Context<'_>,
    mut current: String,
) -> Result<Applied, Stop> {
    let mut out = Applied::default();
    for rule in rules {
        // A sub-request never redirects the client (`apply_rewrite_list`).
        if r.is_sub && rule.redirect.is_some() {
            continue;
        }
        // A directory's rules see the file name with the path info, less
        // the directory (`apply_rewrite_rule`).
        let input = match ctx {
            Context::Server => current.clone(),
            Context::Dir { prefix, .. } => {
                let mut full = current.clone();
                crate::uri::push_latin1(&mut full, &r.path_info);
                match full.strip_prefix(prefix) {
                    Some(rest) => rest.to_owned(),
                    None => full,
                }
            }
        };
        let rule_caps = match rule.pattern.captures(&input) {
            Some(_) if rule.negate => continue,
            Some(c) => groups(&c),
            None if rule.negate => Vec::new(),
            None => continue,
        };
        let mut refs = Refs {
            rule: rule_caps,
            cond: Vec::new(),
        };
        if !conds_pass(site, r, &rule.conds, &mut refs) {
            continue;
        }
        for (name, value) in &rule.env {
            match value {
                Some(t) => {
                    let v = expand(t, site, r, &refs);
                    r.set_env(name, v);
                }
                None => r.unset_env(name),
            }
        }
        if rule.end {
            r.rewrite_end = true;
        }
        force_handler_and_type(site, r, rule, &refs, ctx);
        if let Some(status) = rule.status {
            return Err(Stop::Status(status));
        }
        if let Some(code) = rule.redirect {
            return Err(redirect(site, r, rule, code, &refs, ctx, &current));
        }
        if let Some(sub) = &rule.substitution {
            let new = with_dir_prefix(ctx, expand(sub, site, r, &refs));
            if unsafe_3f(site, r, &new) {
                return Err(Stop::Status(403));
            }
            let path = split_query(r, rule, new);
            current.clone_from(&path);
            out.changed = Some(path);
            out.pass_through |= rule.pass_through;
        }
        if rule.last || rule.pass_through {
            break;
        }
    }
    Ok(out)
}

/// `[H=handler]` / `[T=type]`: a directory's rule sets them at once (its
/// fixup runs after the type checker); a server-level rule leaves them for
/// the type checker (`hook_mimetype`), which applies them after mod_mime,
/// `SetHandler` and `ForceType`.
fn force_handler_and_type(
    site: &Site,
    r: &mut Request,
    rule: &RewriteRule,
    refs: &Refs,
    ctx: Context<'_>,
) {
    if rule.handler.is_none() && rule.mime_type.is_none() {
        return;
    }
    let handler = rule.handler.as_ref().map(|t| expand(t, site, r, refs));
    let mime_type = rule.mime_type.as_ref().map(|t| expand(t, site, r, refs));
    match ctx {
        Context::Dir { .. } => {
            if let Some(h) = handler.filter(|h| !h.is_empty()) {
                r.handler = Some(h.into());
            }
            if let Some(t) = mime_type.filter(|t| !t.is_empty()) {
                r.content_type = Some(t);
            }
        }
        Context::Server => {
            let forced = r.rewrite_forced.get_or_insert_with(Default::default);
            if let Some(h) = handler.filter(|h| !h.is_empty()) {
                forced.handler = Some(h);
            }
            if let Some(t) = mime_type.filter(|t| !t.is_empty()) {
                forced.mime_type = Some(t);
            }
        }
    }
}

/// A directory's relative substitution gets the directory in front.
fn with_dir_prefix(ctx: Context<'_>, new: String) -> String {
    match ctx {
        Context::Dir { prefix, .. } if !new.starts_with('/') && !is_absolute_uri(&new) => {
            format!("{prefix}{new}")
        }
        _ => new,
    }
}

/// `splitout_queryargs`: a substitution's `?query` becomes the request's
/// query string (`QSD` drops the old one first, `QSA` keeps it after the
/// new one); returns the substitution without it.
fn split_query(r: &mut Request, rule: &RewriteRule, new: String) -> String {
    let (path, query) = match new.split_once('?') {
        Some((p, q)) => (p.to_owned(), Some(q.to_owned())),
        None => (new, None),
    };
    if rule.qs_discard {
        r.args = None;
    }
    if let Some(q) = query {
        r.args = match (&r.args, rule.qs_append) {
            (Some(old), true) if !q.is_empty() => Some(format!("{q}&{old}")),
            (Some(old), true) => Some(old.clone()),
            _ => (!q.is_empty()).then_some(q),
        };
    }
    path
}

/// mod_rewrite 2.4.60's guard (CVE-2024-38474, no `UnsafeAllow3F` here): a
/// substitution with a `?` for a request whose URI has an encoded one
/// (`%3f`) could turn a decoded `?` into a query string; it is a 403, with
/// AH10508 in the error log.
fn unsafe_3f(site: &Site, r: &Request, new: &str) -> bool {
    let encoded = r
        .unparsed_uri
        .as_bytes()
        .windows(3)
        .any(|w| w.eq_ignore_ascii_case(b"%3f"));
    if !(encoded && new.contains('?')) {
        return false;
    }
    site.error_log.log(
        "rewrite",
        wsgid_log::Level::Error,
        wsgid_log::Peer::Client(r.conn.peer),
        "AH10508: Unsafe URL with %3f URL rewritten without UnsafeAllow3F",
    );
    true
}

/// `[R]`: the substitution (the current URI for `-`) as an absolute URL,
/// `http://name[:port]` put in front of a path; its path escaped unless
/// `[NE]`; the query string (the substitution's, with `QSA`/`QSD` as for a
/// rewrite) appended, escaped when the rule changed it and `[NE]` is not
/// set.  A status outside 300-399 drops the substitution.
fn redirect(
    site: &Site,
    r: &mut Request,
    rule: &RewriteRule,
    code: u16,
    refs: &Refs,
    ctx: Context<'_>,
    input: &str,
) -> Stop {
    if !(300..400).contains(&code) {
        return Stop::Status(code);
    }
    let new = match &rule.substitution {
        Some(sub) => with_dir_prefix(ctx, expand(sub, site, r, refs)),
        None => input.to_owned(),
    };
    if unsafe_3f(site, r, &new) {
        return Stop::Status(403);
    }
    let original_args = r.args.clone();
    let path = split_query(r, rule, new);
    // `scheme://authority` stays as written; what follows is the path.
    let (origin, path) = match path.find("://") {
        Some(i) if is_absolute_uri(&path) => {
            let rest = &path[i + 3..];
            let end = rest.find('/').map_or(path.len(), |j| i + 3 + j);
            (path[..end].to_owned(), path[end..].to_owned())
        }
        _ => {
            let slash = if path.starts_with('/') { "" } else { "/" };
            (super::construct_url(site, r, ""), format!("{slash}{path}"))
        }
    };
    // A directory's path in the URL becomes its RewriteBase (hook_fixup,
    // which leaves it there without one).
    let path = match ctx {
        Context::Dir {
            prefix,
            base: Some(base),
        } if path.len() > 1 => {
            let dir = prefix.strip_prefix('/').unwrap_or(prefix);
            let base = base.strip_prefix('/').unwrap_or(base);
            format!("/{}", subst_prefix_path(&path[1..], dir, base))
        }
        _ => path,
    };
    let mut url = origin;
    if rule.no_escape {
        url.push_str(&path);
    } else {
        url.push_str(&escape_path(&from_latin1(&path)));
    }
    if let Some(args) = &r.args {
        url.push('?');
        if rule.no_escape || r.args == original_args {
            url.push_str(args);
        } else {
            url.push_str(&escape_path(args.as_bytes()));
        }
    }
    Stop::Redirect(code, url)
}

#[cfg(test)]
mod tests;
