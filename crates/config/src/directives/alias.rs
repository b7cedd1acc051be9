//! URL-to-file mappings: mod_alias's `Alias`/`AliasMatch` and mod_wsgi's
//! `WSGIScriptAlias`/`WSGIScriptAliasMatch` (with their `name=value`
//! options), mod_alias's `Redirect` family (server and virtual-host
//! level), plus the mod_alias directives wsgid does not implement yet.

use super::sections::compile;
use crate::builder::Builder;
use crate::lexer::{is_space, next_word};
use crate::model::{Alias, AliasKind, GroupSpec, ScriptAliasOptions, UrlMatcher};
use crate::registry::{Action::*, Arity::*, *};

// One row per line reads as a table; rustfmt would explode it.
#[rustfmt::skip]
pub const ROWS: &[Row] = &[
    row("Alias", Take12, RSRC_CONF | ACCESS_CONF, 0, "a fakename and a realname, or a realname in a Location", Set(alias)),
    row("AliasMatch", Take2, RSRC_CONF, 0, "a regular expression and a filename", Set(alias_match)),
    row("WSGIScriptAlias", Raw, RSRC_CONF, 0, "Map location to target WSGI script file.", Set(script_alias)),
    row("WSGIScriptAliasMatch", Raw, RSRC_CONF, 0, "Map location pattern to target WSGI script file.", Set(script_alias_match)),
    row("ScriptAlias", Take12, RSRC_CONF | ACCESS_CONF, 0, "a fakename and a realname, or a realname in a Location", Planned("CGI scripts")),
    row("ScriptAliasMatch", Take2, RSRC_CONF, 0, "a regular expression and a filename", Planned("CGI scripts")),
    row("Redirect", Take123, OR_FILEINFO, 0, "an optional status, then document to be redirected and destination URL", Set(redirect)),
    row("RedirectMatch", Take23, OR_FILEINFO, 0, "an optional status, then a regular expression and destination URL", Set(redirect_match)),
    row("RedirectTemp", Take2, OR_FILEINFO, 0, "a document to be redirected, then the destination URL", Set(redirect_temp)),
    row("RedirectPermanent", Take2, OR_FILEINFO, 0, "a document to be redirected, then the destination URL", Set(redirect_permanent)),
];

fn push(
    b: &mut Builder,
    kind: AliasKind,
    matcher: UrlMatcher,
    target: &str,
    wsgi: ScriptAliasOptions,
) {
    let span = b.current_span.clone();
    // mod_alias and mod_wsgi keep aliases per server even when the
    // directive sits inside a section.
    b.host().aliases.push(Alias {
        kind,
        matcher,
        target: target.to_owned(),
        wsgi,
        span,
    });
}

fn alias(b: &mut Builder, a: &Args) -> Result<(), String> {
    if a.words.len() == 1 {
        if b.at_host_level() {
            return Err("Alias must have two arguments when used globally".to_owned());
        }
        return Err(
            "Alias: the one-argument form inside <Location> is not implemented yet in wsgid"
                .to_owned(),
        );
    }
    push(
        b,
        AliasKind::Alias,
        UrlMatcher::Prefix(a.get(0).to_owned()),
        a.get(1),
        ScriptAliasOptions::default(),
    );
    Ok(())
}

fn alias_match(b: &mut Builder, a: &Args) -> Result<(), String> {
    let re =
        compile(a.get(0)).map_err(|_| "Regular expression could not be compiled.".to_owned())?;
    push(
        b,
        AliasKind::Alias,
        UrlMatcher::Regex(re),
        a.get(1),
        ScriptAliasOptions::default(),
    );
    Ok(())
}

/// mod_alias's `add_redirect_internal`: `[status] path|regex [URL]`, with
/// `status` one of permanent, temp, seeother, gone or a number.  A 3xx
/// needs a URL (an absolute one or a path; a relative `Redirect` target is
/// refused), any other status takes none.
fn add_redirect(b: &mut Builder, a: &Args, forced: Option<u16>, regex: bool) -> Result<(), String> {
    if !b.at_host_level() {
        return Err(format!(
            "{} inside <Directory>, <Location>, <Files> or .htaccess is not implemented yet in wsgid",
            a.name
        ));
    }
    let words: Vec<&str> = (0..a.words.len()).map(|i| a.get(i)).collect();
    let keyword = |w: &str| -> Option<Result<u16, String>> {
        match w.to_ascii_lowercase().as_str() {
            "permanent" => Some(Ok(301)),
            "temp" => Some(Ok(302)),
            "seeother" => Some(Ok(303)),
            "gone" => Some(Ok(410)),
            _ if w.starts_with(|c: char| c.is_ascii_digit()) => Some(
                w.parse::<u16>()
                    .ok()
                    .filter(|s| (100..600).contains(s))
                    .ok_or_else(|| "Redirect: invalid HTTP response status code".to_owned()),
            ),
            _ => None,
        }
    };
    let (status, rest) = match (forced, words.first().and_then(|w| keyword(w))) {
        (Some(s), _) => (s, &words[..]),
        (None, Some(s)) => (s?, &words[1..]),
        (None, None) => (302, &words[..]),
    };
    let (path, url) = match rest {
        [path] => (*path, None),
        [path, url] => (*path, Some(*url)),
        _ => {
            return Err(format!(
                "{}: a URL path and a target URL, after an optional status",
                a.name
            ));
        }
    };
    let url = match (status, url) {
        (300..=399, None) => return Err("URL to redirect to is missing".to_owned()),
        (300..=399, Some(u)) => {
            if !regex && !is_url(u) && !u.starts_with('/') {
                return Err("Redirect to non-URL".to_owned());
            }
            u
        }
        (_, Some(_)) => return Err("Redirect URL not valid for this status".to_owned()),
        (_, None) => "",
    };
    let matcher = if regex {
        UrlMatcher::Regex(
            compile(path).map_err(|_| "Regular expression could not be compiled.".to_owned())?,
        )
    } else {
        UrlMatcher::Prefix(path.to_owned())
    };
    push(
        b,
        AliasKind::Redirect(status),
        matcher,
        url,
        ScriptAliasOptions::default(),
    );
    Ok(())
}

/// `ap_is_url`: a scheme (letters, digits, `+-.`) followed by `:`.
fn is_url(u: &str) -> bool {
    match u.find(':') {
        Some(i) if i > 0 => u[..i]
            .bytes()
            .all(|c| c.is_ascii_alphanumeric() || b"+-.".contains(&c)),
        _ => false,
    }
}

fn redirect(b: &mut Builder, a: &Args) -> Result<(), String> {
    add_redirect(b, a, None, false)
}

fn redirect_match(b: &mut Builder, a: &Args) -> Result<(), String> {
    add_redirect(b, a, None, true)
}

fn redirect_temp(b: &mut Builder, a: &Args) -> Result<(), String> {
    add_redirect(b, a, Some(302), false)
}

fn redirect_permanent(b: &mut Builder, a: &Args) -> Result<(), String> {
    add_redirect(b, a, Some(301), false)
}

fn script_alias(b: &mut Builder, a: &Args) -> Result<(), String> {
    wsgi_alias(b, a, false)
}

fn script_alias_match(b: &mut Builder, a: &Args) -> Result<(), String> {
    wsgi_alias(b, a, true)
}

/// mod_wsgi's `wsgi_parse_option`: `name=value` where the value is one
/// configuration word (so it may be quoted).
pub fn parse_option(rest: &mut &str) -> Option<(String, String)> {
    let s = rest.trim_start_matches(is_space);
    let end = s.find(|c: char| c == '=' || is_space(c))?;
    if end == 0 || !s[end..].starts_with('=') {
        return None;
    }
    let name = s[..end].to_owned();
    let mut after = &s[end + 1..];
    let value = next_word(&mut after);
    *rest = after;
    Some((name, value))
}

fn wsgi_alias(b: &mut Builder, a: &Args, is_match: bool) -> Result<(), String> {
    let name = a.name;
    let mut rest = a.raw.as_str();
    let url = next_word(&mut rest);
    let two = || {
        format!(
            "{name} requires at least two arguments, {}",
            registry_help(name)
        )
    };
    if url.is_empty() || rest.is_empty() {
        return Err(two());
    }
    let target = next_word(&mut rest);
    if target.is_empty() {
        return Err(two());
    }
    let mut opts = ScriptAliasOptions::default();
    let (mut raw_process_group, mut raw_application_group) = (None::<String>, None::<String>);
    while !rest.is_empty() {
        let (option, value) = parse_option(&mut rest)
            .ok_or_else(|| "Invalid option to WSGI script alias definition.".to_owned())?;
        match option.as_str() {
            "application-group" => {
                if value.is_empty() {
                    return Err("Invalid name for WSGI application group.".to_owned());
                }
                opts.application_group = Some(GroupSpec::parse(&value));
                raw_application_group = Some(value);
            }
            "process-group" => {
                if value.is_empty() {
                    return Err("Invalid name for WSGI process group.".to_owned());
                }
                opts.process_group = Some(GroupSpec::parse(&value));
                raw_process_group = Some(value);
            }
            "callable-object" => {
                if value.is_empty() {
                    return Err("Invalid name for WSGI callable object.".to_owned());
                }
                opts.callable_object = Some(value);
            }
            "pass-authorization" => {
                let v = if value.eq_ignore_ascii_case("on") {
                    true
                } else if value.eq_ignore_ascii_case("off") {
                    false
                } else {
                    return Err("Invalid value for authorization flag.".to_owned());
                };
                opts.pass_authorization = Some(v);
            }
            _ => return Err("Invalid option to WSGI script alias definition.".to_owned()),
        }
    }
    // As mod_wsgi: with both groups given literally (and a target without
    // `$n` substitutions) the script is also preloaded at process start,
    // and the process group must then exist and be usable from here.
    let global = |g: &String| {
        if g == "%{GLOBAL}" {
            String::new()
        } else {
            g.clone()
        }
    };
    if let (Some(pg), Some(ag)) = (
        raw_process_group.as_ref().map(global),
        raw_application_group.as_ref().map(global),
    ) && !pg.contains("%{")
        && !ag.contains("%{")
        && (!is_match || !target.contains('$'))
    {
        super::daemon::check_group_usable(b, &pg)?;
        b.cfg.wsgi.import_scripts.push(crate::model::ImportScript {
            path: std::path::PathBuf::from(&target),
            process_group: pg,
            application_group: ag,
        });
    }
    let matcher = if is_match {
        UrlMatcher::Regex(
            compile(&url).map_err(|_| "Regular expression could not be compiled.".to_owned())?,
        )
    } else {
        UrlMatcher::Prefix(url)
    };
    push(b, AliasKind::WsgiScript, matcher, &target, opts);
    Ok(())
}

fn registry_help(name: &str) -> &'static str {
    crate::registry::lookup(name).map_or("", |r| r.help)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options_and_groups() {
        let mut rest = r#"process-group=%{GLOBAL} application-group="a b" x"#;
        assert_eq!(
            parse_option(&mut rest),
            Some(("process-group".into(), "%{GLOBAL}".into()))
        );
        assert_eq!(
            parse_option(&mut rest),
            Some(("application-group".into(), "a b".into()))
        );
        assert_eq!(parse_option(&mut rest), None);
        assert_eq!(GroupSpec::parse("%{ENV:X}"), GroupSpec::Env("X".into()));
        assert_eq!(GroupSpec::parse("%{RESOURCE}"), GroupSpec::Resource);
        assert_eq!(GroupSpec::parse("name"), GroupSpec::Named("name".into()));
    }
}
