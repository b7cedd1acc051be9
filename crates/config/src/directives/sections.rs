//! The containers: `<Directory>`, `<DirectoryMatch>`, `<Files>`,
//! `<FilesMatch>`, `<Location>`, `<LocationMatch>` (and their `~ regex`
//! forms), `<VirtualHost>`, plus the rows of the read-time conditionals and
//! of the containers wsgid does not implement yet.

use std::net::IpAddr;
use std::path::Path;

use crate::ConfigError;
use crate::builder::{Builder, HostMeta, OpenSection, empty_host};
use crate::merge::combine_requires;
use crate::method_set::MethodSet;
use crate::model::{PerDir, Section, SectionKind, SectionPattern, VhostAddr, VirtualHost};
use crate::registry::{Action::*, Arity::*, *};
use crate::syntax::Section as Node;

const COND: u16 = OR_ALL | RSRC_CONF | ACCESS_CONF;

// One row per line reads as a table; rustfmt would explode it.
#[rustfmt::skip]
pub const ROWS: &[Row] = &[
    row("<Directory", Raw, RSRC_CONF, NOT_IN_DIR_CONTEXT, "Container for directives affecting resources located in the specified directories", Section(directory)),
    row("<DirectoryMatch", Raw, RSRC_CONF, NOT_IN_DIR_CONTEXT, "Container for directives affecting resources located in the specified directories", Section(directory_match)),
    row("<Location", Raw, RSRC_CONF, NOT_IN_DIR_CONTEXT, "Container for directives affecting resources accessed through the specified URL paths", Section(location)),
    row("<LocationMatch", Raw, RSRC_CONF, NOT_IN_DIR_CONTEXT, "Container for directives affecting resources accessed through the specified URL paths", Section(location_match)),
    row("<Files", Raw, OR_ALL, NOT_IN_LOCATION | NOT_IN_LIMIT, "Container for directives affecting files matching specified patterns", Section(files)),
    row("<FilesMatch", Raw, OR_ALL, NOT_IN_LOCATION | NOT_IN_LIMIT, "Container for directives affecting files matching specified patterns", Section(files_match)),
    row("<VirtualHost", Raw, RSRC_CONF, GLOBAL_ONLY, "Container to map directives to a particular virtual host, takes one or more host addresses", Section(virtual_host)),
    row("<IfModule", Raw, COND, 0, "Container for directives based on existence of specified modules", ReadTime),
    row("<IfDefine", Raw, COND, 0, "Container for directives based on existence of command line defines", ReadTime),
    row("<IfFile", Raw, COND, 0, "Container for directives based on existence of files on disk", ReadTime),
    row("<IfDirective", Raw, COND, 0, "Container for directives based on existence of named directive", ReadTime),
    row("<IfSection", Raw, COND, 0, "Container for directives based on existence of named section", ReadTime),
    row("<IfVersion", Raw, COND, 0, "a comparison operator, a version (and a delimiter)", ReadTime),
    row("<Limit", Raw, OR_LIMIT | OR_AUTHCFG, 0, "Container for authentication directives when accessed using specified HTTP methods", Section(limit)),
    row("<LimitExcept", Raw, OR_LIMIT | OR_AUTHCFG, 0, "Container for authentication directives to be applied when any HTTP method other than those specified is used to access the resource", Section(limit_except)),
    row("<If", Raw, OR_ALL, 0, "Container for directives to be conditionally applied", Planned("<If> expressions")),
    row("<ElseIf", Raw, OR_ALL, 0, "Container for directives to be conditionally applied", Planned("<If> expressions")),
    row("<Else", Raw, OR_ALL, 0, "Container for directives to be conditionally applied", Planned("<If> expressions")),
];

fn directory(b: &mut Builder, s: &Node, a: &Args) -> Result<(), ConfigError> {
    open(b, s, a, SectionKind::Directory, "<Directory", false)
}
fn directory_match(b: &mut Builder, s: &Node, a: &Args) -> Result<(), ConfigError> {
    open(b, s, a, SectionKind::Directory, "<DirectoryMatch", true)
}
fn location(b: &mut Builder, s: &Node, a: &Args) -> Result<(), ConfigError> {
    open(b, s, a, SectionKind::Location, "<Location", false)
}
fn location_match(b: &mut Builder, s: &Node, a: &Args) -> Result<(), ConfigError> {
    open(b, s, a, SectionKind::Location, "<LocationMatch", true)
}
fn files(b: &mut Builder, s: &Node, a: &Args) -> Result<(), ConfigError> {
    open(b, s, a, SectionKind::Files, "<Files", false)
}
fn files_match(b: &mut Builder, s: &Node, a: &Args) -> Result<(), ConfigError> {
    open(b, s, a, SectionKind::Files, "<FilesMatch", true)
}

fn limit(b: &mut Builder, s: &Node, a: &Args) -> Result<(), ConfigError> {
    limit_section(b, s, a, false)
}
fn limit_except(b: &mut Builder, s: &Node, a: &Args) -> Result<(), ConfigError> {
    limit_section(b, s, a, true)
}

/// core.c `ap_limit_section`: the directives inside belong to the
/// enclosing section, and the `Require` lines among them count only for
/// the methods listed (`<LimitExcept>`: for all others).  Sections nest,
/// each narrowing the set.  Other directives inside apply to every method,
/// as in Apache.
fn limit_section(b: &mut Builder, s: &Node, a: &Args, except: bool) -> Result<(), ConfigError> {
    let tag = if except { "<LimitExcept" } else { "<Limit" };
    let span = Builder::span_of(s);
    let fail = |m: String| ConfigError::syntax(&span, tag, m);
    let methods: Vec<&String> = a.words.iter().filter(|w| !w.is_empty()).collect();
    if methods.is_empty() {
        return Err(fail(format!(
            "{tag}> directive requires additional arguments"
        )));
    }
    if !except && methods.iter().any(|m| *m == "TRACE") {
        return Err(fail(
            "TRACE cannot be controlled by <Limit>, see TraceEnable".to_owned(),
        ));
    }
    // Apache registers every other name as an extension method (which
    // `HttpProtocolOptions RegisteredMethods` then lets through).
    for m in &methods {
        if !crate::method_set::is_built_in(m) && !b.cfg.registered_methods.contains(m) {
            b.cfg.registered_methods.push((*m).clone());
        }
    }
    let listed = MethodSet::of(&methods);
    let set = if except { listed.complement() } else { listed };
    let outer = b.limited.clone();
    let inner = outer.intersect(&set);
    if inner.is_empty() {
        return Err(fail(format!("{tag}> directive excludes all methods")));
    }
    if inner == outer {
        return Err(fail(format!(
            "{tag}> directive specifies methods already excluded"
        )));
    }
    b.limited = inner;
    let walked = b.walk_inside(tag, b.overrides, &s.children);
    b.limited = outer;
    walked
}

/// Compiles a section or alias regex.  Apache uses PCRE; wsgid uses the
/// `regex` crate, which lacks look-around and back-references.
pub fn compile(re: &str) -> Result<regex::Regex, String> {
    regex::Regex::new(re).map_err(|_| "Regex could not be compiled".to_owned())
}

/// The pattern of a section from its first words (core.c `dirsection`,
/// `urlsection`, `filesection`).
fn pattern(kind: SectionKind, words: &[String], is_match: bool) -> Result<SectionPattern, String> {
    let first = words.first().map_or("", String::as_str);
    if is_match {
        return compile(first).map(SectionPattern::Regex);
    }
    if first == "~" {
        return compile(words.get(1).map_or("", String::as_str)).map(SectionPattern::Regex);
    }
    if kind != SectionKind::Directory || first == "/" {
        return Ok(SectionPattern::Wildcard(first.to_owned()));
    }
    // Apache makes the path absolute against the current directory
    // (apr_filepath_merge with no root), not ServerRoot; the model keeps
    // it without a trailing slash.
    let abs = std::path::absolute(Path::new(first))
        .map_err(|_| format!("<Directory \"{first}\"> path is invalid."))?;
    let mut text = abs.to_string_lossy().into_owned();
    while text.len() > 1 && text.ends_with('/') {
        text.pop();
    }
    Ok(SectionPattern::Wildcard(text))
}

fn open(
    b: &mut Builder,
    s: &Node,
    a: &Args,
    kind: SectionKind,
    tag: &'static str,
    is_match: bool,
) -> Result<(), ConfigError> {
    let span = Builder::span_of(s);
    let words: Vec<String> = a.words.iter().filter(|w| !w.is_empty()).cloned().collect();
    if words.is_empty() {
        return Err(ConfigError::syntax(
            &span,
            tag,
            format!("{tag}> directive requires additional arguments"),
        ));
    }
    let pattern =
        pattern(kind, &words, is_match).map_err(|m| ConfigError::syntax(&span, tag, m))?;
    b.dirs.push(OpenSection {
        section: Section {
            kind,
            pattern,
            per_dir: PerDir::default(),
            nested: Vec::new(),
            span,
        },
        requires: Vec::new(),
    });
    b.walk_inside(tag, SECTION_OVERRIDE, &s.children)?;
    let Some(mut done) = b.dirs.pop() else {
        return Ok(());
    };
    if let Some(r) = combine_requires(std::mem::take(&mut done.requires)) {
        done.section.per_dir.require = Some(r);
    }
    match b.dirs.last_mut() {
        Some(parent) => parent.section.nested.push(done.section),
        None => b.host().sections.push(done.section),
    }
    Ok(())
}

/// One `<VirtualHost>` address (vhost.c `get_addresses`).
pub fn parse_vhost_addr(w: &str) -> Result<VhostAddr, String> {
    let (host, port) = match w.strip_prefix('[') {
        Some(v6) => {
            let (h, rest) = v6
                .split_once(']')
                .ok_or_else(|| format!("Invalid address or port: {w}"))?;
            (h, rest.strip_prefix(':'))
        }
        None => match w.rsplit_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (w, None),
        },
    };
    let port = match port {
        None | Some("*") => None,
        Some(p) => Some(
            p.parse::<u16>()
                .map_err(|_| format!("The address or port is invalid: {w}"))?,
        ),
    };
    let ip = match host {
        "*" | "_default_" => None,
        h => Some(h.parse::<IpAddr>().map_err(|_| {
            format!(
                "<VirtualHost {w}>: host names are not supported by wsgid; use an IP address or *"
            )
        })?),
    };
    Ok(VhostAddr { ip, port })
}

fn virtual_host(b: &mut Builder, s: &Node, a: &Args) -> Result<(), ConfigError> {
    let span = Builder::span_of(s);
    let fail = |m: String| ConfigError::syntax(&span, "<VirtualHost", m);
    let words: Vec<&String> = a.words.iter().filter(|w| !w.is_empty()).collect();
    if words.is_empty() {
        return Err(fail(
            "<VirtualHost> directive requires additional arguments".to_owned(),
        ));
    }
    let addrs = words
        .iter()
        .map(|w| parse_vhost_addr(w))
        .collect::<Result<Vec<_>, _>>()
        .map_err(fail)?;
    b.cfg.virtual_hosts.push(VirtualHost {
        addrs,
        host: empty_host(Some(span.clone())),
        span: span.clone(),
    });
    let index = b.cfg.virtual_hosts.len() - 1;
    b.meta.push(HostMeta::default());
    b.vhost = Some(index);
    let result = b.walk_inside("<VirtualHost", SERVER_OVERRIDE, &s.children);
    b.vhost = None;
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vhost_addresses() {
        assert_eq!(
            parse_vhost_addr("*:80"),
            Ok(VhostAddr {
                ip: None,
                port: Some(80)
            })
        );
        assert_eq!(
            parse_vhost_addr("_default_:*"),
            Ok(VhostAddr {
                ip: None,
                port: None
            })
        );
        assert_eq!(
            parse_vhost_addr("[::1]:8080"),
            Ok(VhostAddr {
                ip: "::1".parse().ok(),
                port: Some(8080)
            })
        );
        assert_eq!(
            parse_vhost_addr("10.0.0.1"),
            Ok(VhostAddr {
                ip: "10.0.0.1".parse().ok(),
                port: None
            })
        );
        assert!(parse_vhost_addr("example.org:80").is_err());
    }

    #[test]
    fn directory_patterns() {
        let w = |s: &str| vec![s.to_owned()];
        match pattern(SectionKind::Directory, &w("/srv/app/"), false) {
            Ok(SectionPattern::Wildcard(p)) => assert_eq!(p, "/srv/app"),
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            pattern(SectionKind::Directory, &["~".into(), "^/a".into()], false),
            Ok(SectionPattern::Regex(_))
        ));
        assert_eq!(
            pattern(SectionKind::Files, &w("("), true).err().as_deref(),
            Some("Regex could not be compiled")
        );
    }
}
