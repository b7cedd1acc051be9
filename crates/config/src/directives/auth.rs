//! Authentication and authorisation: mod_authn_core (`AuthType`,
//! `AuthName`), mod_authz_core (`Require` and the `<RequireAll>`,
//! `<RequireAny>`, `<RequireNone>`, `<RequireNotAll>` containers, with
//! Apache's rules on negation), and the provider directives wsgid does not
//! implement yet.

use crate::ConfigError;
use crate::builder::{Builder, OpenAuthz};
use crate::lexer::words;
use crate::model::Require;
use crate::registry::{Action::*, Arity::*, *};
use crate::syntax::Section as Node;

const PROVIDERS: &str = "AuthBasicAuthoritative";

// One row per line reads as a table; rustfmt would explode it.
#[rustfmt::skip]
pub const ROWS: &[Row] = &[
    row("AuthType", Take1, OR_AUTHCFG, 0, "an HTTP authorization type (e.g., \"Basic\")", Set(auth_type)),
    row("AuthName", Take1, OR_AUTHCFG, 0, "the authentication realm (e.g. \"Members Only\")", Set(auth_name)),
    row("Require", Raw, OR_AUTHCFG, 0, "specifies authorization directives which one must pass (or not) for a request to suceeed", Set(require)),
    row("<RequireAll", Raw, OR_AUTHCFG, 0, "container for grouping authorization directives of which none must fail and at least one must pass for a request to succeed", Section(require_all)),
    row("<RequireAny", Raw, OR_AUTHCFG, 0, "container for grouping authorization directives of which one must pass for a request to succeed", Section(require_any)),
    row("<RequireNone", Raw, OR_AUTHCFG, 0, "container for grouping authorization directives of which none must pass for a request to succeed", Section(require_none)),
    row("<RequireNotAll", Raw, OR_AUTHCFG, 0, "container for grouping authorization directives of which some must fail or none must pass for a request to succeed", Section(require_not_all)),
    row("AuthMerging", Take1, OR_AUTHCFG, 0, "controls how a <Directory>, <Location>, or similar directive's authorization directives are combined with those of its predecessor", Planned("AuthMerging")),
    row("AuthBasicProvider", Iterate, OR_AUTHCFG, 0, "specify the auth providers for a directory or location", Set(auth_basic_provider)),
    row("AuthBasicAuthoritative", Flag, OR_AUTHCFG, 0, "Set to 'Off' to allow access control to be passed along to lower modules if the UserID is not known to this module", Planned(PROVIDERS)),
    row("AuthDigestProvider", Iterate, OR_AUTHCFG, 0, "specify the auth providers for a directory or location", Set(auth_digest_provider)),
    row("AuthDigestDomain", Iterate, OR_AUTHCFG, 0, "A list of URI's which belong to the same protection space as the current URI", Set(auth_digest_domain)),
    row("AuthDigestQop", Iterate, OR_AUTHCFG, 0, "A list of quality-of-protection options", Set(auth_digest_qop)),
    row("AuthDigestNonceLifetime", Take1, OR_AUTHCFG, 0, "Maximum lifetime of the server nonce (seconds)", Set(auth_digest_nonce_lifetime)),
    row("AuthDigestNonceFormat", Take1, OR_AUTHCFG, 0, "The format to use when generating the server nonce", Set(auth_digest_nonce_format)),
    row("AuthDigestNcCheck", Flag, OR_AUTHCFG, 0, "Whether or not to check the nonce-count sent by the client", Set(auth_digest_nc_check)),
    row("AuthDigestAlgorithm", Take1, OR_AUTHCFG, 0, "The algorithm used for the hash calculation", Set(auth_digest_algorithm)),
    row("AuthDigestShmemSize", Take1, RSRC_CONF, 0, "The amount of shared memory to allocate for keeping track of clients", Ignored("wsgid keeps Digest clients in process memory")),
    row("AuthUserFile", Take1, OR_AUTHCFG, 0, "text file containing user IDs and passwords", Set(auth_user_file)),
    row("AuthGroupFile", Take1, OR_AUTHCFG, 0, "text file containing group names and member user IDs", Set(auth_group_file)),
    row("<AuthnProviderAlias", Raw, RSRC_CONF, 0, "container for grouping an authentication provider's directives under a provider alias", Planned("provider aliases")),
    row("<AuthzProviderAlias", Raw, RSRC_CONF, 0, "container for grouping an authorization provider's directives under a provider alias", Planned("provider aliases")),
];

fn auth_type(b: &mut Builder, a: &Args) -> Result<(), String> {
    b.per_dir().auth_type = Some(a.get(0).to_owned());
    Ok(())
}

fn auth_name(b: &mut Builder, a: &Args) -> Result<(), String> {
    b.per_dir().auth_name = Some(a.get(0).to_owned());
    Ok(())
}

/// mod_auth_basic's `add_authn_provider`: each name must be a registered
/// provider (`file` from mod_authn_file, `wsgi` from mod_wsgi).
fn auth_basic_provider(b: &mut Builder, a: &Args) -> Result<(), String> {
    for name in &a.words {
        if !matches!(name.as_str(), "file" | "wsgi") {
            return Err(format!(
                "Unknown Authn provider: {name} (not implemented yet in wsgid: only file and wsgi)"
            ));
        }
    }
    let list = b.per_dir().auth_basic_provider.get_or_insert_with(Vec::new);
    list.extend(a.words.iter().cloned());
    Ok(())
}

fn auth_digest_provider(b: &mut Builder, a: &Args) -> Result<(), String> {
    for name in &a.words {
        if !matches!(name.as_str(), "file" | "wsgi") {
            return Err(format!(
                "Unknown Authn provider: {name} (not implemented yet in wsgid: only file and wsgi)"
            ));
        }
    }
    let list = b.per_dir().digest.providers.get_or_insert_with(Vec::new);
    list.extend(a.words.iter().cloned());
    Ok(())
}

fn auth_digest_domain(b: &mut Builder, a: &Args) -> Result<(), String> {
    let list = b.per_dir().digest.domain.get_or_insert_with(Vec::new);
    list.extend(a.words.iter().cloned());
    Ok(())
}

/// mod_auth_digest's `set_qop`: `none`, `auth` or `auth-int`.
fn auth_digest_qop(b: &mut Builder, a: &Args) -> Result<(), String> {
    for q in &a.words {
        let q = q.to_ascii_lowercase();
        match q.as_str() {
            "none" | "auth" => {}
            "auth-int" => {
                return Err("AuthDigestQop auth-int: not implemented yet in wsgid".to_owned());
            }
            _ => return Err(format!("Unrecognized qop: {q}")),
        }
        b.per_dir().digest.qop.get_or_insert_with(Vec::new).push(q);
    }
    Ok(())
}

fn auth_digest_nonce_lifetime(b: &mut Builder, a: &Args) -> Result<(), String> {
    let t = a.get(0);
    let n = t
        .trim()
        .parse::<i64>()
        .map_err(|_| format!("Invalid time in AuthDigestNonceLifetime: {t}"))?;
    b.per_dir().digest.nonce_lifetime = Some(n);
    Ok(())
}

fn auth_digest_nonce_format(_: &mut Builder, _: &Args) -> Result<(), String> {
    // mod_auth_digest's own answer.
    Err("AuthDigestNonceFormat is not implemented (yet)".to_owned())
}

fn auth_digest_nc_check(b: &mut Builder, a: &Args) -> Result<(), String> {
    b.per_dir().digest.nc_check = Some(a.get(0).eq_ignore_ascii_case("on"));
    Ok(())
}

fn auth_digest_algorithm(_: &mut Builder, a: &Args) -> Result<(), String> {
    let alg = a.get(0);
    if alg.eq_ignore_ascii_case("MD5") {
        Ok(())
    } else if alg.eq_ignore_ascii_case("MD5-sess") {
        Err("AuthDigestAlgorithm MD5-sess: not implemented yet in wsgid".to_owned())
    } else {
        Err(format!("Invalid algorithm in AuthDigestAlgorithm: {alg}"))
    }
}

fn auth_user_file(b: &mut Builder, a: &Args) -> Result<(), String> {
    let p = b.server_relative(a.get(0));
    b.per_dir().auth_user_file = Some(p);
    Ok(())
}

fn auth_group_file(b: &mut Builder, a: &Args) -> Result<(), String> {
    let p = b.server_relative(a.get(0));
    b.per_dir().auth_group_file = Some(p);
    Ok(())
}

fn is_negative(r: &Require) -> bool {
    match r {
        Require::Not(_) | Require::None(_) => true,
        Require::Limited(_, inner) => is_negative(inner),
        _ => false,
    }
}

/// Parses one `Require` line (without the directive name).
pub fn parse_require(raw: &str) -> Result<Require, String> {
    let mut w = words(raw);
    if w.first().is_some_and(|f| f.eq_ignore_ascii_case("not")) {
        w.remove(0);
        return parse_provider(&w).map(|r| Require::Not(Box::new(r)));
    }
    parse_provider(&w)
}

fn parse_provider(w: &[String]) -> Result<Require, String> {
    let provider = w.first().map_or("", String::as_str);
    let args: Vec<String> = w.iter().skip(1).cloned().collect();
    let need = |what: &str| -> Result<Vec<String>, String> {
        if args.is_empty() {
            Err(format!("'require {what}' requires an argument"))
        } else {
            Ok(args.clone())
        }
    };
    Ok(match provider.to_ascii_lowercase().as_str() {
        "all" => match args.first().map(|s| s.to_ascii_lowercase()).as_deref() {
            Some("granted") if args.len() == 1 => Require::AllGranted,
            Some("denied") if args.len() == 1 => Require::AllDenied,
            _ => return Err("Argument for 'Require all' must be 'granted' or 'denied'".to_owned()),
        },
        "ip" => {
            let list = need("ip")?;
            for ip in &list {
                if ip.is_empty()
                    || !ip
                        .chars()
                        .all(|c| c.is_ascii_hexdigit() || matches!(c, '.' | ':' | '/'))
                {
                    return Err(format!("ip address '{ip}' appears to be invalid"));
                }
            }
            Require::Ip(list)
        }
        "host" => Require::Host(need("host")?),
        "forward-dns" => return Err("Require forward-dns: not implemented yet in wsgid".to_owned()),
        "valid-user" => Require::ValidUser,
        "user" => Require::User(args),
        "group" => Require::Group(args),
        "wsgi-group" => Require::WsgiGroup(args),
        "env" => Require::Env(need("env")?),
        "method" => {
            let list = need("method")?;
            for m in &list {
                if m.is_empty() || !m.chars().all(|c| c.is_ascii_uppercase() || c == '-') {
                    return Err(format!("Invalid Method '{m}'"));
                }
            }
            Require::Method(list)
        }
        "expr" => return Err("Require expr: not implemented yet in wsgid".to_owned()),
        "" => return Err("Require takes at least one argument".to_owned()),
        other => return Err(format!("Unknown Authz provider: {other}")),
    })
}

fn require(b: &mut Builder, a: &Args) -> Result<(), String> {
    let mut r = parse_require(&a.raw)?;
    let (target, tag) = match b.authz.last_mut() {
        Some(open) => (&mut open.children, open.tag),
        None => match b.dirs.last_mut() {
            // The lines of a section form an implicit <RequireAny>.
            Some(open) => (&mut open.requires, "<RequireAny"),
            None => return Err("Require not allowed here".to_owned()),
        },
    };
    if is_negative(&r) && matches!(tag, "<RequireAny" | "<RequireNone") {
        return Err(format!(
            "negative Require directive has no effect in {tag}> directive"
        ));
    }
    if !b.limited.is_all() {
        r = Require::Limited(b.limited.clone(), Box::new(r));
    }
    target.push(r);
    Ok(())
}

/// The operator a container applies to its children (None and NotAll are
/// negated forms of Any and All).
fn is_or(tag: &str) -> bool {
    matches!(tag, "<RequireAny" | "<RequireNone")
}

fn require_all(b: &mut Builder, s: &Node, a: &Args) -> Result<(), ConfigError> {
    container(b, s, a, "<RequireAll")
}
fn require_any(b: &mut Builder, s: &Node, a: &Args) -> Result<(), ConfigError> {
    container(b, s, a, "<RequireAny")
}
fn require_none(b: &mut Builder, s: &Node, a: &Args) -> Result<(), ConfigError> {
    container(b, s, a, "<RequireNone")
}
fn require_not_all(b: &mut Builder, s: &Node, a: &Args) -> Result<(), ConfigError> {
    container(b, s, a, "<RequireNotAll")
}

/// mod_authz_core's `add_authz_section`: only authorization directives
/// inside, negated containers cannot sit in an OR group, nested groups of
/// the same operator are flattened, and an AND group of only negative
/// rules is refused.
fn container(b: &mut Builder, s: &Node, a: &Args, tag: &'static str) -> Result<(), ConfigError> {
    let span = Builder::span_of(s);
    let fail = |m: String| ConfigError::syntax(&span, tag, m);
    if !a.raw.is_empty() {
        return Err(fail(format!(
            "{tag}> directive doesn't take additional arguments"
        )));
    }
    b.authz.push(OpenAuthz {
        tag,
        children: Vec::new(),
    });
    let walked = b.walk_inside(tag, OR_AUTHCFG, &s.children);
    let Some(open) = b.authz.pop() else {
        return walked;
    };
    walked?;
    if open.children.is_empty() {
        return Ok(());
    }
    let negated = matches!(tag, "<RequireNone" | "<RequireNotAll");
    let (parent_tag, parent) = match b.authz.last_mut() {
        Some(p) => (p.tag, &mut p.children),
        None => match b.dirs.last_mut() {
            Some(d) => ("<RequireAny", &mut d.requires),
            None => return Err(fail(format!("{tag}> not allowed here"))),
        },
    };
    if negated && is_or(parent_tag) {
        return Err(fail(format!(
            "{tag}> directive has no effect in {parent_tag}> directive"
        )));
    }
    if !is_or(tag) && open.children.iter().all(is_negative) {
        return Err(fail(format!(
            "{tag}> directive contains only negative authorization directives"
        )));
    }
    let node = match tag {
        "<RequireAll" if parent_tag == "<RequireAll" => {
            parent.extend(open.children);
            return Ok(());
        }
        "<RequireAny" if parent_tag == "<RequireAny" => {
            parent.extend(open.children);
            return Ok(());
        }
        "<RequireAll" => Require::All(open.children),
        "<RequireAny" => Require::Any(open.children),
        "<RequireNone" => Require::None(open.children),
        _ => Require::Not(Box::new(Require::All(open.children))),
    };
    parent.push(node.limited_group());
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn require_lines() {
        assert_eq!(parse_require("all granted"), Ok(Require::AllGranted));
        assert_eq!(parse_require("ALL Denied"), Ok(Require::AllDenied));
        assert_eq!(
            parse_require("all maybe"),
            Err("Argument for 'Require all' must be 'granted' or 'denied'".into())
        );
        assert_eq!(
            parse_require("ip 10.1 ::1 192.168.0.0/16"),
            Ok(Require::Ip(vec![
                "10.1".into(),
                "::1".into(),
                "192.168.0.0/16".into()
            ]))
        );
        assert_eq!(
            parse_require("ip"),
            Err("'require ip' requires an argument".into())
        );
        assert_eq!(
            parse_require("ip nope"),
            Err("ip address 'nope' appears to be invalid".into())
        );
        assert_eq!(
            parse_require("not env X"),
            Ok(Require::Not(Box::new(Require::Env(vec!["X".into()]))))
        );
        assert_eq!(
            parse_require("method GET POST"),
            Ok(Require::Method(vec!["GET".into(), "POST".into()]))
        );
        assert_eq!(
            parse_require("wsgi-group admins"),
            Ok(Require::WsgiGroup(vec!["admins".into()]))
        );
        assert_eq!(
            parse_require("bogus x"),
            Err("Unknown Authz provider: bogus".into())
        );
    }
}
