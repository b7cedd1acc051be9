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
