//! mod_rewrite's per-directory rules (repo oracle case 46): mod_wsgi's
//! `.htaccess` recipe that sends every missing file to the script, the
//! internal redirect it makes (method, body, `REDIRECT_*` variables, the
//! access log), `RewriteBase`, the redirect limit, and the fixups running
//! after the access checks.

use std::time::Duration;

use crate::support::server;

/// The environ as `key=value` lines, then the body it read.
const ECHO: &str = r#"
def application(environ, start_response):
    n = int(environ.get("CONTENT_LENGTH") or 0)
    body = environ["wsgi.input"].read(n) if n else b""
    lines = ["%s=%s" % (k, v) for k, v in sorted(environ.items()) if isinstance(v, str)]
    lines.append("@body=" + body.decode("latin-1"))
    out = ("\n".join(lines) + "\n").encode("latin-1")
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [out]
"#;

const RECIPE: &str = "\
RewriteEngine On
RewriteCond %{REQUEST_FILENAME} !-f
RewriteRule ^(.*)$ /site.wsgi/$1 [QSA,PT,L]
";

fn site(extra: &str) -> String {
    format!(
        "\
DocumentRoot @DIR@/www
LogFormat \"%U %s %>s %R %f %q\" redirects
CustomLog @DIR@/access.log redirects
<Directory @DIR@/www>
    AllowOverride FileInfo
    Options ExecCGI FollowSymLinks
    AddHandler wsgi-script .wsgi
    Require all granted
    SetEnv FROM_DIR yes
</Directory>
{extra}"
    )
}

#[test]
fn the_htaccess_recipe_runs_the_script() {
    let s = server(&site(""))
        .file("www/site.wsgi", ECHO)
        .file("www/.htaccess", RECIPE)
        .file("www/static.txt", "static\n")
        .start();
    let env = s.get("/a/b?x=1").kv();
    for (key, value) in [
        ("SCRIPT_NAME", "/site.wsgi"),
        ("PATH_INFO", "/a/b"),
        ("QUERY_STRING", "x=1"),
        ("REQUEST_URI", "/a/b?x=1"),
        ("FROM_DIR", "yes"),
        ("REDIRECT_FROM_DIR", "yes"),
        ("REDIRECT_STATUS", "200"),
        ("REDIRECT_URL", "/a/b"),
        ("REDIRECT_QUERY_STRING", "x=1"),
    ] {
        assert_eq!(env.get(key).map(String::as_str), Some(value), "{key}");
    }
    // The method and the body go with the redirect.
    let env = s.post("/form", b"a=1&b=2").kv();
    assert_eq!(env["REQUEST_METHOD"], "POST");
    assert_eq!(env["PATH_INFO"], "/form");
    assert_eq!(env["@body"], "a=1&b=2");
    assert!(!env.contains_key("REDIRECT_QUERY_STRING"));
    // An existing file is not rewritten.
    let r = s.get("/static.txt");
    assert_eq!((r.status, r.text()), (200, "static\n".to_owned()));
    // The log shows the first request's URL, handler and `%s`, the last
    // one's file name and query, and the final status.
    let dir = s.dir().display().to_string();
    let line = s
        .wait_for_log_in("access.log", &["/a/b "], Duration::from_secs(5))
        .unwrap_or_default();
    assert_eq!(
        line.trim_end(),
        format!("/a/b 200 200 redirect-handler {dir}/www/site.wsgi ?x=1")
    );
}

#[test]
fn rewrite_base_redirects_and_the_limit() {
    let s = server(&site("LimitInternalRecursion 4\n"))
        .file("www/site.wsgi", ECHO)
        .file(
            "www/based/.htaccess",
            "RewriteEngine On\n\
             RewriteBase /based/\n\
             RewriteRule ^go$ target.txt [L]\n\
             RewriteRule ^old$ new?a=b [R=301,L]\n",
        )
        .file("www/based/target.txt", "target\n")
        .file(
            "www/loop/.htaccess",
            "RewriteEngine On\nRewriteRule ^(.*)$ loop.wsgi/$1 [L]\n",
        )
        .file("www/loop/loop.wsgi", ECHO)
        .file(
            "www/end/.htaccess",
            "RewriteEngine On\nRewriteRule ^(.*)$ end.wsgi/$1 [END]\n",
        )
        .file("www/end/end.wsgi", ECHO)
        .start();
    let r = s.get("/based/go");
    assert_eq!((r.status, r.text()), (200, "target\n".to_owned()));
    let r = s.get("/based/old?z=1");
    assert_eq!(r.status, 301);
    assert_eq!(
        r.header("Location"),
        Some(format!("http://localhost:{}/based/new?a=b", s.port()).as_str())
    );
    // Without the `!-f` condition the script's own URL is rewritten again:
    // the fifth redirect is refused.
    let r = s.get("/loop/x");
    assert_eq!(r.status, 500, "{}", r.describe());
    assert!(
        s.wait_for_log(
            &[
                "[core:error]",
                "AH00124: Request exceeded the limit of 4 internal redirects"
            ],
            Duration::from_secs(5)
        )
        .is_some(),
        "{}",
        s.error_log()
    );
    // `[END]` holds across the redirect it makes.
    let env = s.get("/end/y").kv();
    assert_eq!(env["SCRIPT_NAME"], "/end/end.wsgi");
    assert_eq!(env["PATH_INFO"], "/y");
}

#[test]
fn fixups_run_after_the_access_checks() {
    let s = server(&site(
        "<Directory @DIR@/www/locked>\n    Require all denied\n</Directory>\n\
         <Directory @DIR@/www/nofollow>\n    Options -FollowSymLinks\n</Directory>\n\
         <Directory @DIR@/www/env>\n    SetEnv LETIN 1\n    Require env LETIN\n</Directory>\n",
    ))
    .file("www/site.wsgi", ECHO)
    .file(
        "www/locked/.htaccess",
        "RewriteEngine On\nRewriteRule ^(.*)$ /site.wsgi/$1 [L]\n",
    )
    .file(
        "www/nofollow/.htaccess",
        "RewriteEngine On\nRewriteRule ^(.*)$ /site.wsgi/$1 [L]\n",
    )
    .file("www/env/ok.txt", "ok\n")
    .start();
    // The rewrite would lead out of the denied directory: it never runs.
    assert_eq!(s.get("/locked/x").status, 403);
    assert_eq!(s.get("/nofollow/x").status, 403);
    assert!(
        s.wait_for_log(
            &[
                "[rewrite:error]",
                "AH00670: Options FollowSymLinks and SymLinksIfOwnerMatch are both off"
            ],
            Duration::from_secs(5)
        )
        .is_some(),
        "{}",
        s.error_log()
    );
    // SetEnv is a fixup: `Require env` cannot see it.
    assert_eq!(s.get("/env/ok.txt").status, 403);
}

/// The server's `RewriteEngine On` alone: `SCRIPT_URL`/`SCRIPT_URI` in
/// every environ (the first request's across redirects), `.htaccess`
/// rules run without their own `RewriteEngine`, and an `[R]` rule does not
/// apply to DirectoryIndex sub-requests.
#[test]
fn the_server_engine_and_sub_requests() {
    let s = server(&site("RewriteEngine On\n"))
        .file("www/site.wsgi", ECHO)
        .file(
            "www/.htaccess",
            "RewriteCond %{REQUEST_FILENAME} !-f\nRewriteRule ^(.*)$ /site.wsgi/$1 [L]\n",
        )
        .file(
            "www/idx/.htaccess",
            "RewriteEngine On\nRewriteRule ^index\\.html$ /idx/ [R=301,L]\n",
        )
        .file("www/idx/index.html", "index\n")
        .start();
    let env = s.get("/a/b").kv();
    let here = format!("http://localhost:{}", s.port());
    assert_eq!(env["SCRIPT_URL"], "/a/b");
    assert_eq!(env["SCRIPT_URI"], format!("{here}/a/b"));
    assert_eq!(env["REDIRECT_SCRIPT_URL"], "/a/b");
    assert_eq!(env["PATH_INFO"], "/a/b");
    let r = s.get("/idx/");
    assert_eq!((r.status, r.text()), (200, "index\n".to_owned()));
    assert_eq!(s.get("/idx/index.html").status, 301);
}
