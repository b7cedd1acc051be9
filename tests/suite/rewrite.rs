//! mod_setenvif and the mod_rewrite subset (oracle case 23): SetEnvIf
//! values in the environ, and the RewriteRule recipe that picks the
//! application group from the URL.

use crate::support::{apps, server};

const SITE: &str = "\
SetEnvIf User-Agent \"^OracleBot/([0-9]+)\" WSGID_BOT=yes WSGID_BOT_VERSION=$1
SetEnvIfNoCase X-Flag \"^on$\" WSGID_FLAG=1
RewriteEngine On
RewriteCond %{REQUEST_URI} ^/~([^/]+)
RewriteRule . - [E=APPLICATION_GROUP:~%1]
RewriteRule ^/forbidden - [F]
WSGIScriptAlias /env @DIR@/env.wsgi
WSGIScriptAliasMatch ^/~([^/]+) @DIR@/env.wsgi
<Directory @DIR@>
    WSGIApplicationGroup %{ENV:APPLICATION_GROUP}
</Directory>
<Location /env>
    WSGIApplicationGroup %{GLOBAL}
</Location>
";

#[test]
fn set_env_if_values_reach_the_environ() {
    let s = server(SITE).file("env.wsgi", apps::ENVIRON).start();
    let env = s
        .get_with("/env", &["User-Agent: OracleBot/42", "X-Flag: ON"])
        .kv();
    assert_eq!(env.get("WSGID_BOT").map(String::as_str), Some("yes"));
    assert_eq!(env.get("WSGID_BOT_VERSION").map(String::as_str), Some("42"));
    assert_eq!(env.get("WSGID_FLAG").map(String::as_str), Some("1"));
    let env = s.get("/env").kv();
    assert!(!env.contains_key("WSGID_BOT"));
    assert!(!env.contains_key("WSGID_FLAG"));
}

#[test]
fn rewrite_env_picks_the_application_group() {
    let s = server(SITE).file("env.wsgi", apps::ENVIRON).start();
    let env = s.get("/~alice/x").kv();
    assert_eq!(
        env.get("APPLICATION_GROUP").map(String::as_str),
        Some("~alice")
    );
    assert_eq!(
        env.get("mod_wsgi.application_group").map(String::as_str),
        Some("~alice")
    );
    let env = s.get("/env").kv();
    assert!(!env.contains_key("APPLICATION_GROUP"));
    assert_eq!(s.get("/forbidden").status, 403);
}

/// `[R]` external redirects as Apache 2.4.71 answers them (the certbot
/// rule among them): a path target made absolute, escaped unless `[NE]`,
/// the query string kept, replaced or appended (`QSA`), `R=4xx` answering
/// that status, and a `?` that came from an encoded `%3f` refused (403,
/// AH10508).
#[test]
fn external_redirects() {
    let s = server(
        "RewriteEngine on\n\
         RewriteRule ^/certbot(.*)$ https://%{SERVER_NAME}%{REQUEST_URI} [END,NE,R=permanent]\n\
         RewriteRule ^/rr/(.*)$ /new/$1 [R]\n\
         RewriteRule ^/rq/(.*)$ /new/$1?a=b [R=303,QSA]\n\
         RewriteRule ^/rne/(.*)$ /new/$1 [R,NE]\n\
         RewriteRule ^/r404 /x [R=404]\n\
         RewriteRule ^/rabs/(.*)$ http://other.example/$1?z [R=307]\n\
         WSGIScriptAlias / @DIR@/env.wsgi\n",
    )
    .file("env.wsgi", apps::ENVIRON)
    .start();
    let here = format!("http://localhost:{}", s.port());
    for (path, status, location) in [
        (
            "/certbot/a%20b?q=1%202",
            301,
            Some("https://localhost/certbot/a b?q=1%202".to_owned()),
        ),
        ("/rr/a%20b?q=1", 302, Some(format!("{here}/new/a%20b?q=1"))),
        ("/rq/x?o=1", 303, Some(format!("{here}/new/x?a=b&o=1"))),
        ("/rq/x", 303, Some(format!("{here}/new/x?a=b"))),
        ("/rne/a%20b", 302, Some(format!("{here}/new/a b"))),
        ("/r404", 404, None),
        (
            "/rabs/p%20q?o=1",
            307,
            Some("http://other.example/p%20q?z".to_owned()),
        ),
        ("/rr/%3Fx", 403, None),
        ("/other", 200, None),
    ] {
        let r = s.get(path);
        assert_eq!(r.status, status, "{path}: {}", r.describe());
        assert_eq!(r.header("Location").map(str::to_owned), location, "{path}");
    }
    assert!(
        s.error_log().contains("[rewrite:error]")
            && s.error_log()
                .contains("AH10508: Unsafe URL with %3f URL rewritten without UnsafeAllow3F"),
        "{}",
        s.error_log()
    );
}
