//! Unit tests of the rewrite engine: rules and conditions parsed from
//! configuration text, applied to hand-built requests.

use std::path::Path;
use std::sync::Arc;

use wsgid_config::model::ServerSignature;
use wsgid_log::{ErrorLog, Level};

use super::*;

fn site(conf: &str) -> Site {
    let cfg = wsgid_config::parse_str(conf, Path::new("/tmp/t.conf"), &[]).expect("config");
    Site {
        host: cfg.main.clone(),
        sections: cfg.main.sections.clone(),
        alias_res: Vec::new(),
        server_hostname: "example.org".to_owned(),
        error_log: ErrorLog::stderr(Level::Warn),
        access_logs: Arc::new(Vec::new()),
        signature: ServerSignature::Off,
        server_banner: String::new(),
        server_header: None,
        dir_rewrites: true,
        dir_order: crate::phases::walk::directory_order(&cfg.main.sections),
        merges: Default::default(),
        translated: Default::default(),
        access_file_names: Arc::new(vec![".htaccess".to_owned()]),
        overrides_anywhere: false,
        symlinks_restricted: false,
        server_root: "/tmp".into(),
    }
}

fn request(target: &str, headers: &[(&'static str, &'static str)]) -> Request {
    let mut all = vec![("Host", "h")];
    all.extend_from_slice(headers);
    crate::request::test_request(target, &all)
}

fn env<'a>(r: &'a Request, k: &str) -> Option<&'a str> {
    r.env.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str())
}

#[test]
fn cond_backreference_into_env() {
    let s = site(
        "RewriteEngine On\nRewriteCond %{REQUEST_URI} ^/~([^/]+)\n\
         RewriteRule . - [E=APPLICATION_GROUP:~%1]\n",
    );
    let mut r = request("/~alice/x", &[]);
    assert_eq!(translate(&s, &mut r), Ok(()));
    assert_eq!(env(&r, "APPLICATION_GROUP"), Some("~alice"));
    assert!(r.filename.is_none());
    let mut r = request("/env", &[]);
    assert_eq!(translate(&s, &mut r), Ok(()));
    assert_eq!(env(&r, "APPLICATION_GROUP"), None);
}

#[test]
fn engine_off_does_nothing() {
    let s = site("RewriteRule . - [F]\n");
    let mut r = request("/x", &[]);
    assert_eq!(translate(&s, &mut r), Ok(()));
}

#[test]
fn status_flags_and_negation() {
    let s = site("RewriteEngine On\nRewriteRule ^/secret - [F]\nRewriteRule !^/keep - [G]\n");
    assert_eq!(
        translate(&s, &mut request("/secret", &[])),
        Err(Stop::Status(403))
    );
    assert_eq!(
        translate(&s, &mut request("/other", &[])),
        Err(Stop::Status(410))
    );
    assert_eq!(translate(&s, &mut request("/keep", &[])), Ok(()));
}

#[test]
fn or_chain_nc_and_headers() {
    let s = site(
        "RewriteEngine On\nRewriteCond %{HTTP:X-A} =yes [OR]\nRewriteCond %{HTTP_HOST} ^H$ [NC]\n\
         RewriteRule ^/(.*) - [E=HIT:$1,E=!GONE]\n",
    );
    let mut r = request("/p", &[]);
    r.set_env("GONE", "1".into());
    assert_eq!(translate(&s, &mut r), Ok(()));
    assert_eq!(env(&r, "HIT"), Some("p"));
    assert_eq!(env(&r, "GONE"), None);
    let s = site(
        "RewriteEngine On\nRewriteCond %{HTTP:X-A} =yes [OR]\nRewriteCond %{HTTP_HOST} =other\n\
         RewriteRule ^/(.*) - [E=HIT:$1]\n",
    );
    let mut r = request("/p", &[]);
    assert_eq!(translate(&s, &mut r), Ok(()));
    assert_eq!(env(&r, "HIT"), None);
    let mut r = request("/p", &[("X-A", "yes")]);
    assert_eq!(translate(&s, &mut r), Ok(()));
    assert_eq!(env(&r, "HIT"), Some("p"));
}

#[test]
fn pass_through_rewrites_the_uri_and_query() {
    let s = site(
        "RewriteEngine On\nRewriteRule ^/old/(.*) /new/$1?a=1 [PT,QSA]\nRewriteRule . - [E=NOT_REACHED:1]\n",
    );
    let mut r = request("/old/x?b=2", &[]);
    assert_eq!(translate(&s, &mut r), Ok(()));
    assert_eq!(r.uri, b"/new/x");
    assert_eq!(r.args.as_deref(), Some("a=1&b=2"));
    assert!(r.filename.is_none());
    assert_eq!(env(&r, "NOT_REACHED"), None);
}

#[test]
fn file_path_substitution() {
    let s = site(
        "DocumentRoot /tmp\nRewriteEngine On\nRewriteRule ^/a$ /no-such-top/b [L]\nRewriteRule ^/t$ /tmp/x\n",
    );
    let mut r = request("/a", &[]);
    assert_eq!(translate(&s, &mut r), Ok(()));
    assert_eq!(r.filename.as_deref(), Some(Path::new("/tmp/no-such-top/b")));
    let mut r = request("/t", &[]);
    assert_eq!(translate(&s, &mut r), Ok(()));
    assert_eq!(r.filename.as_deref(), Some(Path::new("/tmp/x")));
}

#[test]
fn per_directory_rules_match_the_stripped_file_name() {
    let s = site(
        "<Directory /srv/app>\nRewriteEngine On\nRewriteRule ^sub/(.*)$ - [E=REST:$1]\n</Directory>\n",
    );
    let mut r = request("/x", &[]);
    r.filename = Some("/srv/app/sub/f.txt".into());
    r.per_dir = std::sync::Arc::new(s.sections[0].per_dir.clone());
    assert_eq!(fixup(&s, &mut r), Ok(()));
    assert_eq!(env(&r, "REST"), Some("f.txt"));
}

#[test]
fn subst_prefix_path_as_mod_rewrite() {
    // The directory (its trailing slash optional) must be followed by one.
    assert_eq!(
        subst_prefix_path("/w/d/x/y", "/w/d/", "/base/"),
        "/base/x/y"
    );
    assert_eq!(subst_prefix_path("/w/d/x", "/w/d", "/base"), "/base/x");
    assert_eq!(subst_prefix_path("/w/dx/y", "/w/d/", "/base/"), "/w/dx/y");
    assert_eq!(subst_prefix_path("/w/d", "/w/d/", "/base/"), "/w/d");
    // An empty replacement leaves the rest without a leading slash.
    assert_eq!(subst_prefix_path("w/d/x", "w/d/", ""), "x");
}

#[test]
fn relative_substitutions_get_the_directory() {
    let dir = Context::Dir {
        prefix: "/w/d/",
        base: None,
    };
    assert_eq!(with_dir_prefix(dir, "a.wsgi/x".into()), "/w/d/a.wsgi/x");
    assert_eq!(with_dir_prefix(dir, "/a.wsgi".into()), "/a.wsgi");
    assert_eq!(with_dir_prefix(dir, "http://h/x".into()), "http://h/x");
    assert_eq!(with_dir_prefix(Context::Server, "a".into()), "a");
}
