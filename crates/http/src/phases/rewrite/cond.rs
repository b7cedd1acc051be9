//! `RewriteCond` evaluation (with `[OR]`, `[NC]`, file tests, `%N`
//! capture) and the expansion of substitutions and test strings: `$N`,
//! `%N`, `%{VAR}`, `%{ENV:…}`, `%{HTTP:…}`.

use std::ffi::OsString;
use std::os::unix::ffi::OsStringExt;
use std::path::PathBuf;

use wsgid_config::model::{
    CondPattern, FileTest, IntOp, Piece, RewriteCond, ServerVar, StrOp, Template,
};

use crate::frontend::Site;
use crate::request::Request;
use crate::uri::{from_latin1, latin1, latin1_cow};

use super::Refs;

/// The conditions of a rule with `[OR]` chaining; the last matching regex
/// condition provides `%N`.
pub(super) fn conds_pass(site: &Site, r: &Request, conds: &[RewriteCond], refs: &mut Refs) -> bool {
    let mut i = 0;
    while i < conds.len() {
        let c = &conds[i];
        let ok = cond_matches(site, r, c, refs);
        if c.or_next {
            if ok {
                // Skip the rest of this OR chain (including its last member).
                while i < conds.len() && conds[i].or_next {
                    i += 1;
                }
            }
        } else if !ok {
            return false;
        }
        i += 1;
    }
    true
}

fn cond_matches(site: &Site, r: &Request, c: &RewriteCond, refs: &mut Refs) -> bool {
    let test = expand(&c.test, site, r, refs);
    let hit = match &c.pattern {
        CondPattern::Regex(re) => match re.captures(&test) {
            Some(caps) => {
                if !c.negate {
                    refs.cond = groups(&caps);
                }
                true
            }
            None => false,
        },
        CondPattern::Str(op, v, nocase) => {
            let (a, b) = if *nocase {
                (test.to_lowercase(), v.to_lowercase())
            } else {
                (test.clone(), v.clone())
            };
            match op {
                StrOp::Eq => a == b,
                StrOp::Lt => a < b,
                StrOp::Gt => a > b,
                StrOp::Le => a <= b,
                StrOp::Ge => a >= b,
            }
        }
        CondPattern::Int(op, v) => {
            let a: i64 = test.trim().parse().unwrap_or(0);
            let b: i64 = v.trim().parse().unwrap_or(0);
            match op {
                IntOp::Eq => a == b,
                IntOp::Ne => a != b,
                IntOp::Lt => a < b,
                IntOp::Le => a <= b,
                IntOp::Gt => a > b,
                IntOp::Ge => a >= b,
            }
        }
        CondPattern::File(t) => file_test(*t, &test),
    };
    hit != c.negate
}

fn file_test(t: FileTest, path: &str) -> bool {
    use std::os::unix::fs::PermissionsExt;
    let p = PathBuf::from(OsString::from_vec(from_latin1(path)));
    match t {
        FileTest::Symlink => p
            .symlink_metadata()
            .is_ok_and(|m| m.file_type().is_symlink()),
        _ => match p.metadata() {
            Err(_) => false,
            Ok(m) => match t {
                FileTest::Dir => m.is_dir(),
                FileTest::File => m.is_file(),
                FileTest::NonEmpty => m.is_file() && m.len() > 0,
                FileTest::Executable => m.permissions().mode() & 0o111 != 0,
                FileTest::Symlink => false,
            },
        },
    }
}

pub(super) fn groups(caps: &regex::Captures<'_>) -> Vec<String> {
    (0..caps.len())
        .map(|i| caps.get(i).map_or(String::new(), |m| m.as_str().to_owned()))
        .collect()
}

/// `do_expand`.
pub(super) fn expand(t: &Template, site: &Site, r: &Request, refs: &Refs) -> String {
    let mut out = String::new();
    for piece in &t.0 {
        match piece {
            Piece::Lit(s) => out.push_str(&latin1_cow(s.as_bytes())),
            Piece::RuleRef(n) => out.push_str(refs.rule.get(*n).map_or("", String::as_str)),
            Piece::CondRef(n) => out.push_str(refs.cond.get(*n).map_or("", String::as_str)),
            Piece::Var(v) => out.push_str(&variable(v, site, r)),
        }
    }
    out
}

/// `lookup_variable`: unset values are the empty string.
fn variable(v: &ServerVar, site: &Site, r: &Request) -> String {
    match v {
        ServerVar::Header(h) => r.header_str(h).unwrap_or_default(),
        ServerVar::Env(name) => r
            .env
            .iter()
            .rev()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
            .or_else(|| std::env::var(name).ok())
            .unwrap_or_default(),
        ServerVar::RequestUri => latin1(&r.uri),
        // In translate_name mod_rewrite has set r->filename to r->uri.
        ServerVar::RequestFilename => match &r.filename {
            Some(_) => r.filename_latin1().into_owned(),
            None => latin1(&r.uri),
        },
        ServerVar::QueryString => r.args.clone().unwrap_or_default(),
        ServerVar::RequestMethod => r.method.as_str().to_owned(),
        ServerVar::RemoteAddr => r.conn.peer.ip().to_string(),
        ServerVar::RemotePort => r.conn.peer.port().to_string(),
        ServerVar::ServerName => crate::environ::server_name(site, r).to_owned(),
        ServerVar::ServerAddr => r.conn.local.ip().to_string(),
        ServerVar::ServerPort => crate::environ::server_port(site, r).to_string(),
        ServerVar::ServerProtocol => r.protocol().to_owned(),
        ServerVar::DocumentRoot => site.host.document_root.to_string_lossy().into_owned(),
        ServerVar::TheRequest => r.the_request.clone(),
        ServerVar::RequestScheme => "http".to_owned(),
        ServerVar::Https => "off".to_owned(),
        ServerVar::PathInfo => latin1(&r.path_info),
        ServerVar::IsSubreq => if r.is_sub { "true" } else { "false" }.to_owned(),
    }
}
