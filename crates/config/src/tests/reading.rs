//! Reading: quoting, continuation, comments, case-insensitive names,
//! includes, conditionals, Define and `${VAR}`.

use std::fs;
use std::path::Path;

use super::{err, msg, ok};
use crate::model::{SectionPattern, UrlMatcher};
use crate::parse_str;

fn prefixes(c: &crate::ServerConfig) -> Vec<String> {
    c.main
        .aliases
        .iter()
        .map(|a| match &a.matcher {
            UrlMatcher::Prefix(p) => p.clone(),
            UrlMatcher::Regex(r) => r.as_str().to_owned(),
        })
        .collect()
}

#[test]
fn quoting_continuation_comments_and_case() {
    let c = ok(
        "  # comment\nwsgiscriptalias \"/a b\" '/srv/x y.wsgi'\nWSGIScriptAlias /c \\\n    /srv/c.wsgi   \nSetEnv Q \"say \\\"hi\\\"\"\n",
    );
    assert_eq!(prefixes(&c), vec!["/a b", "/c"]);
    assert_eq!(c.main.aliases[0].target, "/srv/x y.wsgi");
    assert_eq!(c.main.aliases[1].span.line, 4);
    assert_eq!(
        c.main.per_dir.set_env,
        vec![("Q".to_owned(), "say \"hi\"".to_owned())]
    );
}

#[test]
fn if_module_and_if_define() {
    let c = parse_str(
        "<IfModule wsgi_module>\nWSGIScriptAlias /a /x\n</IfModule>\n\
         <IfModule !mod_wsgi.c>\nWSGIScriptAlias /b /x\n</IfModule>\n\
         <IfModule mod_missing.c>\nNot A Directive at all\n<Nested>\n</Nested>\n</IfModule>\n\
         <IfDefine FOREGROUND>\nWSGIScriptAlias /c /x\n</IfDefine>\n\
         <IfDefine !FOREGROUND>\nWSGIScriptAlias /d /x\n</IfDefine>\n\
         <ifmodule alias_module>\n<IfModule rewrite_module>\nWSGIScriptAlias /e /x\n</IfModule>\n</ifmodule>\n\
         <IfDirective WSGIScriptAlias>\nWSGIScriptAlias /f /x\n</IfDirective>\n\
         <IfSection !VirtualHost>\nWSGIScriptAlias /g /x\n</IfSection>\n",
        Path::new("/t.conf"),
        &["FOREGROUND".to_owned()],
    )
    .expect("loads");
    assert_eq!(prefixes(&c), vec!["/a", "/c", "/e", "/f"]);
}

#[test]
fn conditional_errors() {
    assert_eq!(
        msg("<IfModule mod_x.c>\n<Directory />\n</Files>\n</IfModule>"),
        "Expected </Directory> but saw </Files>"
    );
    assert_eq!(
        msg("<IfModule mod_x.c>\nFoo\n"),
        "Expected </IfModule> before end of configuration"
    );
    assert_eq!(
        msg("<IfModule>\n</IfModule>"),
        "<IfModule> directive requires additional arguments"
    );
    assert_eq!(
        msg("<IfModule wsgi_module\n</IfModule>"),
        "<IfModule> directive missing closing '>'"
    );
    assert_eq!(
        msg("<IfModule wsgi_module>\n<Directory />\n</IfModule>"),
        "Expected </Directory> but saw </IfModule>"
    );
}

#[test]
fn define_and_variables() {
    let c = ok(
        "Define APP /srv/app\nDefine FLAG\nWSGIScriptAlias /a ${APP}/a.wsgi\n<IfDefine FLAG>\nWSGIScriptAlias /b ${APP}/b.wsgi\n</IfDefine>\nUnDefine FLAG\n<IfDefine FLAG>\nWSGIScriptAlias /c /x\n</IfDefine>\nWSGIScriptAlias /d ${WSGID_TEST_NOT_SET}\n",
    );
    assert_eq!(prefixes(&c), vec!["/a", "/b", "/d"]);
    assert_eq!(c.main.aliases[0].target, "/srv/app/a.wsgi");
    assert_eq!(c.main.aliases[2].target, "${WSGID_TEST_NOT_SET}");
    assert_eq!(
        c.warnings[0].0,
        "AH00111: Config variable ${WSGID_TEST_NOT_SET} is not defined"
    );
    assert_eq!(c.warnings[0].1.line, 11);
    assert!(c.defines.iter().any(|d| d == "APP"));
    assert_eq!(msg("Define a:b"), "Variable name must not contain ':'");
    // A value with spaces splits into several arguments (substitution
    // happens on the whole line, before words are split).
    assert_eq!(
        msg("Define TWO \"a b\"\nDocumentRoot ${TWO}"),
        "DocumentRoot takes one argument, Root directory of the document tree"
    );
}

#[test]
fn includes_globs_directories_optional_and_cycles() {
    let dir = tempfile::tempdir().expect("tempdir");
    let r = dir.path();
    fs::create_dir_all(r.join("conf.d")).expect("mkdir");
    fs::write(r.join("conf.d/b.conf"), "WSGIScriptAlias /b /x\n").expect("write");
    fs::write(r.join("conf.d/a.conf"), "WSGIScriptAlias /a /x\n").expect("write");
    fs::write(
        r.join("one.conf"),
        "<Location /inc>\nSetEnv A 1\n</Location>\n",
    )
    .expect("write");
    let main = format!(
        "ServerRoot {}\nInclude conf.d/*.conf\nInclude one.conf\nIncludeOptional missing/*.conf\nIncludeOptional nothing.conf\nInclude conf.d\n",
        r.display()
    );
    let c = ok(&main);
    assert_eq!(prefixes(&c), vec!["/a", "/b", "/a", "/b"]);
    assert!(matches!(&c.main.sections[0].pattern, SectionPattern::Wildcard(p) if p == "/inc"));
    assert_eq!(*c.main.sections[0].span.file, r.join("one.conf"));

    let missing = format!("ServerRoot {}\nInclude nope/*.conf\n", r.display());
    assert_eq!(
        msg(&missing),
        format!(
            "No matches for the wildcard '*.conf' in '{}/nope', failing",
            r.display()
        )
    );

    fs::write(r.join("loop1.conf"), "Include loop2.conf\n").expect("write");
    fs::write(r.join("loop2.conf"), "Include loop1.conf\n").expect("write");
    let looping = format!("ServerRoot {}\nInclude loop1.conf\n", r.display());
    let e = err(&looping);
    assert!(
        e.contains(&format!("of {}:", r.join("loop2.conf").display())),
        "{e}"
    );
    assert!(
        e.ends_with("includes itself (directly or through other files)"),
        "{e}"
    );

    fs::write(r.join("open.conf"), "<Directory />\n").expect("write");
    let unbalanced = format!(
        "ServerRoot {}\nInclude open.conf\n</Directory>\n",
        r.display()
    );
    assert!(msg(&unbalanced).ends_with("open.conf:1: <Directory> was not closed."));
}

#[test]
fn server_root_must_exist() {
    assert_eq!(
        msg("ServerRoot /no/such/dir/anywhere"),
        "ServerRoot must be a valid directory"
    );
}

#[test]
fn main_file_errors() {
    let e = crate::load(Path::new("/no/such/wsgid.conf"), &[])
        .err()
        .map(|e| e.to_string());
    assert_eq!(
        e.as_deref(),
        Some(
            "Could not open configuration file /no/such/wsgid.conf: No such file or directory (os error 2)"
        )
    );
}

#[test]
fn dump_round_trips_structure() {
    let nodes = crate::parse_tree(
        "<Location /a>\n  SetEnv A \"b c\"\n</Location>\n",
        Path::new("/t"),
        &[],
    )
    .expect("tree");
    assert_eq!(
        crate::syntax::Dump(&nodes).to_string(),
        "<Location /a>\n    SetEnv A \"b c\"\n</Location>\n"
    );
}
