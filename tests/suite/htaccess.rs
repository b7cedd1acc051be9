//! `.htaccess` files (issue 6): `AccessFileName`, `AllowOverride` classes
//! and `AllowOverrideList`, Apache's 500 and `[core:alert]` line for a
//! refused or unknown directive, `Nonfatal=`, and re-reading a changed file.
//! (`WSGIApplicationGroup`/`WSGIProcessGroup` are refused there: their
//! context is server config, virtual host and directory, in the
//! specification as in mod_wsgi 4.9.4.)

use std::time::{Duration, SystemTime};

use crate::support::{apps, server};

const WAIT: Duration = Duration::from_secs(5);

fn site(dir_options: &str) -> String {
    format!(
        "\
WSGIScriptAlias /app @DIR@/app/env.wsgi
<Directory @DIR@/app>
{dir_options}
</Directory>
"
    )
}

#[test]
fn allow_override_none_ignores_the_file() {
    let s = server(&site(""))
        .file("app/env.wsgi", apps::ENVIRON)
        .file("app/.htaccess", "Bogus directive\nRequire all denied\n")
        .start();
    let r = s.get("/app");
    assert_eq!(r.status, 200, "{}", r.describe());
}

#[test]
fn file_info_and_auth_config() {
    let users = "apr:$apr1$A7XmQofP$nnLNrRLXurnTb4fOr6kfO1\n";
    let s = server(&site("    AllowOverride FileInfo AuthConfig"))
        .file("app/env.wsgi", apps::ENVIRON)
        .file(
            "app/.htaccess",
            "# comment\nSetEnv HTACCESS_MARK one\nWSGIPassAuthorization On\n\
             AuthType Basic\nAuthName \"ht realm\"\nAuthUserFile @DIR@/users\nRequire valid-user\n",
        )
        .file("users", users)
        .start();
    let r = s.get("/app");
    assert_eq!(r.status, 401, "{}", r.describe());
    assert_eq!(
        r.header("WWW-Authenticate"),
        Some("Basic realm=\"ht realm\"")
    );
    let r = s.get_with("/app", &["Authorization: Basic YXByOnNlY3JldA=="]);
    assert_eq!(r.status, 200, "{}", r.describe());
    assert_eq!(r.var("HTACCESS_MARK"), "one");
    assert_eq!(r.var("REMOTE_USER"), "apr");
    assert_eq!(r.var("HTTP_AUTHORIZATION"), "Basic YXByOnNlY3JldA==");

    // Changed on disk: read again.
    std::fs::write(
        s.path("app/.htaccess"),
        "SetEnv HTACCESS_MARK changed-value\n",
    )
    .expect("rewrite .htaccess");
    let f = std::fs::File::options()
        .write(true)
        .open(s.path("app/.htaccess"))
        .expect("open");
    f.set_modified(SystemTime::now() + Duration::from_secs(5))
        .expect("set mtime");
    let r = s.get("/app");
    assert_eq!(r.status, 200, "{}", r.describe());
    assert_eq!(r.var("HTACCESS_MARK"), "changed-value");
    assert!(
        !r.kv().contains_key("REMOTE_USER"),
        "the Require is gone too"
    );
}

#[test]
fn refused_and_unknown_directives() {
    let s = server(&format!(
        "{}{}",
        site("    AllowOverride AuthConfig"),
        "\
WSGIScriptAlias /other @DIR@/other/env.wsgi
<Directory @DIR@/other>
    AllowOverride All
</Directory>
"
    ))
    .file("app/env.wsgi", apps::ENVIRON)
    .file("app/.htaccess", "WSGIApplicationGroup nope\n")
    .file("other/env.wsgi", apps::ENVIRON)
    .file("other/.htaccess", "WSGIApplicatonGroup typo\n")
    .start();
    let r = s.get("/app");
    assert_eq!(r.status, 500, "{}", r.describe());
    assert!(
        s.wait_for_log(
            &[
                "[core:alert]",
                "[client 127.0.0.1:",
                "app/.htaccess: WSGIApplicationGroup not allowed here"
            ],
            WAIT
        )
        .is_some(),
        "{}",
        s.diagnostics()
    );
    let r = s.get("/other");
    assert_eq!(r.status, 500);
    assert!(
        s.wait_for_log(
            &[
                "[core:alert]",
                "other/.htaccess: Invalid command 'WSGIApplicatonGroup', perhaps misspelled or defined by a module \
                 not included in the server configuration"
            ],
            WAIT
        )
        .is_some(),
        "{}",
        s.diagnostics()
    );
}

#[test]
fn access_file_name_list_and_nonfatal() {
    let s = server(
        "\
AccessFileName .acl
WSGIScriptAlias /listed @DIR@/listed/env.wsgi
WSGIScriptAlias /lenient @DIR@/lenient/env.wsgi
<Directory @DIR@/listed>
    AllowOverride None
    AllowOverrideList SetEnv
</Directory>
<Directory @DIR@/lenient>
    AllowOverride AuthConfig Nonfatal=Override
</Directory>
",
    )
    .file("listed/env.wsgi", apps::ENVIRON)
    .file("listed/.acl", "SetEnv HTACCESS_MARK listed\n")
    .file("listed/.htaccess", "Bogus\n")
    .file("lenient/env.wsgi", apps::ENVIRON)
    .file(
        "lenient/.acl",
        "SetEnv HTACCESS_MARK skipped\nRequire all granted\n",
    )
    .start();
    let r = s.get("/listed");
    assert_eq!(r.status, 200, "{}", r.describe());
    assert_eq!(r.var("HTACCESS_MARK"), "listed");
    let r = s.get("/lenient");
    assert_eq!(r.status, 200, "{}", r.describe());
    assert!(!r.kv().contains_key("HTACCESS_MARK"));
    assert!(
        s.wait_for_log(
            &[
                "[core:warn]",
                "SetEnv in .htaccess forbidden by AllowOverride"
            ],
            WAIT
        )
        .is_some(),
        "{}",
        s.diagnostics()
    );
}

#[test]
fn unreadable_file_is_forbidden() {
    // Root reads any file; a directory named like the file cannot be read
    // as one either, which is what Apache reports the same way.
    let s = server(&site("    AllowOverride All"))
        .file("app/env.wsgi", apps::ENVIRON)
        .file("app/.htaccess/x", "")
        .start();
    let r = s.get("/app");
    assert!(matches!(r.status, 403 | 500), "{}", r.describe());
}
