//! mod_rewrite's directives, the subset wsgid implements: `RewriteEngine`,
//! `RewriteBase`, `RewriteCond` and `RewriteRule` (flags `E`, `L`, `END`,
//! `PT`, `NC`, `QSA`, `QSD`, `F`, `G`, `R`, `NE`); `RewriteMap`,
//! `RewriteOptions` and the other flags are refused.  Outside sections they go to the host (run in
//! translate_name), inside to the section's per-directory config (run in
//! the fixup phase).

use regex::{Regex, RegexBuilder};

use crate::builder::Builder;
use crate::model::{
    CondPattern, FileTest, IntOp, Rewrite, RewriteCond, RewriteOptions, RewriteRule,
    SectionPattern, StrOp, Template,
};
use crate::registry::{Action::*, Arity::*, *};

#[rustfmt::skip]
pub const ROWS: &[Row] = &[
    row("RewriteEngine", Flag, OR_FILEINFO, 0, "On or Off to enable or disable (default) the whole rewriting engine", Set(engine)),
    row("RewriteOptions", Iterate, OR_FILEINFO, 0, "List of option strings to set", Set(options)),
    row("RewriteBase", Take1, OR_FILEINFO, 0, "the base URL of the per-directory context", Set(base)),
    row("RewriteCond", Raw, OR_FILEINFO, 0, "an input string and a to be applied regexp-pattern", Set(cond)),
    row("RewriteRule", Raw, OR_FILEINFO, 0, "an URL-applied regexp-pattern and a substitution URL", Set(rule)),
    row("RewriteMap", Take23, RSRC_CONF, 0, "a mapname and a filename and options", Planned("mod_rewrite: RewriteMap")),
];

/// The configuration record directives write to: the host's outside
/// sections, else the innermost section's (created on first use, as
/// Apache creates a module's dir config lazily).
fn target(b: &mut Builder) -> &mut Rewrite {
    if b.at_host_level() {
        return &mut b.host().rewrite;
    }
    // mod_rewrite's `dconf->directory`: the section's argument (a regex
    // section's expression too) with a trailing slash.
    let prefix = b.dirs.last().map(|d| {
        let path = match &d.section.pattern {
            SectionPattern::Wildcard(p) => p.as_str(),
            SectionPattern::Regex(re) => re.as_str(),
        };
        format!("{}/", path.trim_end_matches('/'))
    });
    b.per_dir().rewrite.get_or_insert_with(|| Rewrite {
        dir_prefix: prefix,
        ..Rewrite::default()
    })
}

/// Identifies the configuration record, so pending conds stay with it.
fn scope(b: &Builder) -> String {
    let section = b.dirs.last().map(|d| &d.section.span);
    format!("{:?}|{}|{:?}", b.vhost, b.dirs.len(), section)
}

/// `cmd_rewriteoptions` (one word per call: the directive iterates).  At
/// server level it sets the base directory configuration's options too.
fn options(b: &mut Builder, a: &Args) -> Result<(), String> {
    let w = a.get(0);
    // What the word turns on; the options a level already has stay on.
    let set: fn(&mut RewriteOptions) = match w.to_ascii_lowercase().as_str() {
        "inherit" => |o| o.inherit = true,
        "inheritbefore" => |o| o.inherit_before = true,
        "inheritdown" => |o| o.inherit_down = true,
        "inheritdownbefore" => |o| o.inherit_down_before = true,
        "ignoreinherit" => |o| o.ignore_inherit = true,
        "allownoslash" => |o| o.allow_no_slash = true,
        "allowanyuri" => |o| o.allow_any_uri = true,
        "ignorecontextinfo" => |o| o.ignore_context_info = true,
        // Only how mod_rewrite allocates memory for long URLs.
        "longurloptimization" => |_| {},
        // MergeBase: Apache 2.4.71 was seen not to inherit a RewriteBase
        // with it (sections and .htaccess alike), against its manual;
        // refused rather than guessed.
        "mergebase" | "legacyprefixdocroot" | "unsafeprefixstat" => {
            return Err(format!(
                "RewriteOptions: option '{w}' is not implemented yet in wsgid"
            ));
        }
        lower if lower.starts_with("maxredirects=") => {
            let span = b.current_span.clone();
            b.warn(
                "AH00664: RewriteOptions: MaxRedirects option has been removed in favor of the global \
                 LimitInternalRecursion directive and will be ignored."
                    .to_owned(),
                &span,
            );
            |_| {}
        }
        _ => return Err(format!("RewriteOptions: unknown option '{w}'")),
    };
    // At server level it sets the base directory configuration's too.
    if b.at_host_level() {
        set(b
            .per_dir()
            .rewrite
            .get_or_insert_with(Rewrite::default)
            .options
            .get_or_insert_with(RewriteOptions::default));
    }
    set(target(b)
        .options
        .get_or_insert_with(RewriteOptions::default));
    Ok(())
}

/// `cmd_rewritebase`.
fn base(b: &mut Builder, a: &Args) -> Result<(), String> {
    let url = a.get(0);
    if b.at_host_level() {
        return Err("RewriteBase: only valid in per-directory config files".to_owned());
    }
    if url.is_empty() {
        return Err("RewriteBase: empty URL not allowed".to_owned());
    }
    if !url.starts_with('/') {
        return Err("RewriteBase: argument is not a valid URL".to_owned());
    }
    target(b).base = Some(url.to_owned());
    Ok(())
}

/// `cmd_rewriteengine`: at server level it sets the base directory
/// configuration's state too, so `.htaccess` and section rules run without
/// their own `RewriteEngine On`.
fn engine(b: &mut Builder, a: &Args) -> Result<(), String> {
    let on = Some(a.get(0).eq_ignore_ascii_case("on"));
    if b.at_host_level() {
        b.per_dir()
            .rewrite
            .get_or_insert_with(Rewrite::default)
            .engine = on;
    }
    target(b).engine = on;
    Ok(())
}

fn compile(re: &str, icase: bool) -> Option<Regex> {
    RegexBuilder::new(re).case_insensitive(icase).build().ok()
}

/// `[flag,flag=value,...]` → (key, value) pairs; None when not bracketed.
fn split_flags(s: &str) -> Option<Vec<(String, String)>> {
    let inner = s.strip_prefix('[')?.strip_suffix(']')?;
    Some(
        inner
            .split(',')
            .filter(|f| !f.trim().is_empty())
            .map(|f| {
                let f = f.trim();
                match f.split_once('=') {
                    Some((k, v)) => (k.to_owned(), v.to_owned()),
                    None => (f.to_owned(), String::new()),
                }
            })
            .collect(),
    )
}

fn cond(b: &mut Builder, a: &Args) -> Result<(), String> {
    let c = parse_cond(&a.words, &a.raw)?;
    let key = scope(b);
    match &mut b.rewrite_conds {
        Some((k, list)) if *k == key => list.push(c),
        slot => *slot = Some((key, vec![c])),
    }
    Ok(())
}

/// `cmd_rewritecond`.
pub fn parse_cond(words: &[String], raw: &str) -> Result<RewriteCond, String> {
    let (test, pat, flags) = match words {
        [t, p] => (t, p, None),
        [t, p, f] => (t, p, Some(f)),
        _ => return Err(format!("RewriteCond: bad argument line '{raw}'")),
    };
    let (mut nocase, mut or_next) = (false, false);
    if let Some(f) = flags {
        let list = split_flags(f).ok_or("RewriteCond: bad flag delimiters")?;
        for (k, _) in list {
            match k.to_ascii_lowercase().as_str() {
                "nocase" | "nc" => nocase = true,
                "ornext" | "or" => or_next = true,
                "novary" | "nv" => {}
                _ => return Err(format!("RewriteCond: unknown flag '{k}'")),
            }
        }
    }
    let (negate, pat) = match pat.strip_prefix('!') {
        Some(p) => (true, p),
        None => (false, pat.as_str()),
    };
    let pattern = cond_pattern(pat, nocase)?;
    let test = Template::parse(test).map_err(|e| format!("RewriteCond: {e}"))?;
    Ok(RewriteCond {
        test,
        pattern,
        negate,
        or_next,
    })
}

fn cond_pattern(p: &str, nocase: bool) -> Result<CondPattern, String> {
    let file = |t| Ok(CondPattern::File(t));
    let int = |op, v: &str| Ok(CondPattern::Int(op, v.to_owned()));
    let string = |op, v: &str| Ok(CondPattern::Str(op, v.to_owned(), nocase));
    if let Some(op) = p.strip_prefix('-') {
        match op {
            "d" => return file(FileTest::Dir),
            "f" => return file(FileTest::File),
            "s" => return file(FileTest::NonEmpty),
            "l" | "L" | "h" => return file(FileTest::Symlink),
            "x" => return file(FileTest::Executable),
            "F" | "U" => {
                return Err(format!(
                    "RewriteCond: -{op} (sub-request tests) is not implemented yet in wsgid"
                ));
            }
            _ => {}
        }
        for (name, iop) in [
            ("eq", IntOp::Eq),
            ("ne", IntOp::Ne),
            ("lt", IntOp::Lt),
            ("le", IntOp::Le),
            ("gt", IntOp::Gt),
            ("ge", IntOp::Ge),
        ] {
            if let Some(v) = op.strip_prefix(name) {
                return int(iop, v);
            }
        }
    }
    if let Some(v) = p.strip_prefix("<=") {
        return string(StrOp::Le, v);
    }
    if let Some(v) = p.strip_prefix(">=") {
        return string(StrOp::Ge, v);
    }
    if let Some(v) = p.strip_prefix('<') {
        return string(StrOp::Lt, v);
    }
    if let Some(v) = p.strip_prefix('>') {
        return string(StrOp::Gt, v);
    }
    if let Some(v) = p.strip_prefix('=') {
        // `=""` compares with the empty string.
        return string(StrOp::Eq, if v == "\"\"" { "" } else { v });
    }
    if p.eq_ignore_ascii_case("expr") {
        return Err("RewriteCond: expr is not implemented yet in wsgid".to_owned());
    }
    compile(p, nocase)
        .map(CondPattern::Regex)
        .ok_or_else(|| format!("RewriteCond: cannot compile regular expression '{p}'"))
}

fn rule(b: &mut Builder, a: &Args) -> Result<(), String> {
    let mut r = parse_rule(&a.words, &a.raw)?;
    let key = scope(b);
    if let Some((k, conds)) = b.rewrite_conds.take() {
        if k == key {
            r.conds = conds;
        } else {
            b.rewrite_conds = Some((k, conds));
        }
    }
    target(b).rules.push(r);
    Ok(())
}

/// `cmd_rewriterule` (without the conds, which the caller attaches).
pub fn parse_rule(words: &[String], raw: &str) -> Result<RewriteRule, String> {
    let (pat, sub, flags) = match words {
        [p, s] => (p, s, None),
        [p, s, f] => (p, s, Some(f)),
        _ => return Err(format!("RewriteRule: bad argument line '{raw}'")),
    };
    let mut r = RewriteRule {
        conds: Vec::new(),
        pattern: compile("", false).ok_or("RewriteRule: internal error")?,
        negate: false,
        substitution: None,
        env: Vec::new(),
        last: false,
        end: false,
        pass_through: false,
        qs_append: false,
        qs_discard: false,
        status: None,
        redirect: None,
        no_escape: false,
        handler: None,
        mime_type: None,
    };
    let mut nocase = false;
    if let Some(f) = flags {
        let list = split_flags(f).ok_or("RewriteRule: bad flag delimiters")?;
        for (k, v) in list {
            rule_flag(&mut r, &mut nocase, &k, &v)?;
        }
    }
    let (negate, pat) = match pat.strip_prefix('!') {
        Some(p) => (true, p),
        None => (false, pat.as_str()),
    };
    r.negate = negate;
    r.pattern = compile(pat, nocase)
        .ok_or_else(|| format!("RewriteRule: cannot compile regular expression '{pat}'"))?;
    let lower = sub.to_ascii_lowercase();
    if r.redirect.is_none()
        && lower.contains("://")
        && lower
            .split("://")
            .next()
            .is_some_and(|s| s.chars().all(|c| c.is_ascii_alphanumeric()))
    {
        return Err(format!(
            "RewriteRule: absolute URL substitutions without [R] (redirect unless the host is this server's) are not implemented yet in wsgid: '{sub}'"
        ));
    }
    if sub != "-" {
        r.substitution = Some(Template::parse(sub).map_err(|e| format!("RewriteRule: {e}"))?);
    }
    Ok(r)
}

fn rule_flag(r: &mut RewriteRule, nocase: &mut bool, k: &str, v: &str) -> Result<(), String> {
    let refuse = |what: &str| {
        Err(format!(
            "RewriteRule: flag '{what}' is not implemented yet in wsgid"
        ))
    };
    match k.to_ascii_lowercase().as_str() {
        "e" | "env" => {
            let (var, val) = match v.strip_prefix('!') {
                Some(var) => (var.to_owned(), None),
                None => match v.split_once(':') {
                    Some((var, val)) => (var.to_owned(), Some(val)),
                    None => (v.to_owned(), Some("")),
                },
            };
            let val = val
                .map(Template::parse)
                .transpose()
                .map_err(|e| format!("RewriteRule: {e}"))?;
            r.env.push((var, val));
        }
        "l" | "last" => r.last = true,
        "pt" | "passthrough" => r.pass_through = true,
        "nc" | "nocase" => *nocase = true,
        "qsa" | "qsappend" => r.qs_append = true,
        "qsd" | "qsdiscard" => r.qs_discard = true,
        "f" | "forbidden" => r.status = Some(403),
        "r" | "redirect" => {
            r.redirect = Some(match v.to_ascii_lowercase().as_str() {
                "" | "temp" => 302,
                "permanent" => 301,
                "seeother" => 303,
                code => code
                    .parse::<u16>()
                    .ok()
                    .filter(|c| (100..600).contains(c))
                    .ok_or_else(|| {
                        format!("RewriteRule: invalid HTTP response code '{v}' for flag 'R'")
                    })?,
            });
        }
        "ne" | "noescape" => r.no_escape = true,
        "end" => {
            r.last = true;
            r.end = true;
        }
        "g" | "gone" => r.status = Some(410),
        "h" | "handler" => {
            r.handler = Some(Template::parse(v).map_err(|e| format!("RewriteRule: {e}"))?);
        }
        "t" | "type" => {
            r.mime_type = Some(Template::parse(v).map_err(|e| format!("RewriteRule: {e}"))?);
        }
        "p" | "proxy" | "c" | "chain" | "s" | "skip" | "n" | "next" | "co" | "cookie" | "ns"
        | "nosubreq" | "b" | "bnp" | "backrefnoplus" | "bctls" | "bned" | "dpi" | "discardpath"
        | "discardpathinfo" | "qsl" | "qslast" | "unsafeallow3f" | "unsafeprefixstat" => {
            return refuse(k);
        }
        _ => return Err(format!("RewriteRule: unknown flag '{k}'")),
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Piece;

    fn w(s: &str) -> Vec<String> {
        s.split(' ').map(str::to_owned).collect()
    }

    fn rule_err(s: &str) -> String {
        parse_rule(&w(s), s).err().unwrap_or_default()
    }

    #[test]
    fn rule_flags() {
        let Ok(r) = parse_rule(&w(". - [E=APPLICATION_GROUP:~%1,L,PT,NC,QSA,E=!X]"), "") else {
            panic!("should parse")
        };
        assert!(r.substitution.is_none() && r.last && r.pass_through && r.qs_append);
        assert_eq!(r.env.len(), 2);
        assert_eq!(
            r.env[0].1,
            Some(Template(vec![Piece::Lit("~".into()), Piece::CondRef(1)]))
        );
        assert_eq!(r.env[1], ("X".to_owned(), None));
        let Ok(r) = parse_rule(&w("^/A(.*) /b$1 [nc]"), "") else {
            panic!("should parse")
        };
        assert!(r.pattern.is_match("/a"));
        assert!(r.substitution.is_some());
        let Ok(r) = parse_rule(&w("!^/x - [F]"), "") else {
            panic!("should parse")
        };
        assert!(r.negate && r.status == Some(403));
        let Ok(r) = parse_rule(&w("^/x - [G]"), "") else {
            panic!("should parse")
        };
        assert_eq!(r.status, Some(410));
    }

    #[test]
    fn rule_errors() {
        assert_eq!(rule_err("a b [X]"), "RewriteRule: unknown flag 'X'");
        assert_eq!(rule_err("a b X]"), "RewriteRule: bad flag delimiters");
        assert_eq!(rule_err("a"), "RewriteRule: bad argument line 'a'");
        assert_eq!(
            rule_err("a b [CO=x:y]"),
            "RewriteRule: flag 'CO' is not implemented yet in wsgid"
        );
        assert_eq!(
            rule_err("a b [R=999]"),
            "RewriteRule: invalid HTTP response code '999' for flag 'R'"
        );
        assert_eq!(
            rule_err("( b"),
            "RewriteRule: cannot compile regular expression '('"
        );
        assert!(rule_err("a ${m:k}").contains("RewriteMap"));
        assert!(rule_err("a http://x/").contains("not implemented yet"));
    }

    #[test]
    fn conds() {
        let Ok(c) = parse_cond(&w("%{HTTP_HOST} !^www\\. [NC,OR]"), "") else {
            panic!("should parse")
        };
        assert!(c.negate && c.or_next);
        assert!(matches!(&c.pattern, CondPattern::Regex(re) if re.is_match("WWW.x")));
        let Ok(c) = parse_cond(&w("%{REQUEST_FILENAME} -f"), "") else {
            panic!("should parse")
        };
        assert!(matches!(c.pattern, CondPattern::File(FileTest::File)));
        let Ok(c) = parse_cond(&w("%{QUERY_STRING} =\"\""), "") else {
            panic!("should parse")
        };
        assert!(matches!(&c.pattern, CondPattern::Str(StrOp::Eq, v, false) if v.is_empty()));
        let Ok(c) = parse_cond(&w("%{REMOTE_PORT} -ge1024"), "") else {
            panic!("should parse")
        };
        assert!(matches!(&c.pattern, CondPattern::Int(IntOp::Ge, v) if v == "1024"));
        assert_eq!(
            parse_cond(&w("a b [Q]"), "").err(),
            Some("RewriteCond: unknown flag 'Q'".to_owned())
        );
        assert!(parse_cond(&w("%{X} -F"), "").is_err());
        assert!(parse_cond(&w("%{TIME_YEAR} x"), "").is_err());
    }
}
