//! URL → script mapping: WSGIScriptAlias to a file (oracle case 01) and to a
//! directory (case 02), WSGIScriptAliasMatch with `$N` (case 03); how the
//! URL splits into SCRIPT_NAME and PATH_INFO, and the 404/403/301 answers
//! around them.

use std::time::Duration;

use crate::support::{TestServer, apps, server};

fn file_alias() -> TestServer {
    server("DocumentRoot @DIR@/htdocs\nWSGIScriptAlias /app @DIR@/env.wsgi\n")
        .file("htdocs/index.html", "<p>index</p>\n")
        .file("env.wsgi", apps::ENVIRON)
        .start()
}

/// (SCRIPT_NAME, PATH_INFO, QUERY_STRING, REQUEST_URI) of a 200 answer.
fn split(s: &TestServer, path: &str) -> (String, String, String, String) {
    let r = s.get(path);
    assert_eq!(r.status, 200, "GET {path}: {}", r.describe());
    (
        r.var("SCRIPT_NAME"),
        r.var("PATH_INFO"),
        r.var("QUERY_STRING"),
        r.var("REQUEST_URI"),
    )
}

fn strs(t: (&str, &str, &str, &str)) -> (String, String, String, String) {
    (
        t.0.to_owned(),
        t.1.to_owned(),
        t.2.to_owned(),
        t.3.to_owned(),
    )
}

#[test]
fn alias_to_file_splits_script_name_and_path_info() {
    let s = file_alias();
    let cases = [
        ("/app", ("/app", "", "", "/app")),
        ("/app/", ("/app", "/", "", "/app/")),
        ("/app/x/y?q=1", ("/app", "/x/y", "q=1", "/app/x/y?q=1")),
        (
            "/app?only=query&b=%20c",
            ("/app", "", "only=query&b=%20c", "/app?only=query&b=%20c"),
        ),
        (
            "/app/a%20b/c?x=%20y&z=%2F",
            (
                "/app",
                "/a b/c",
                "x=%20y&z=%2F",
                "/app/a%20b/c?x=%20y&z=%2F",
            ),
        ),
        (
            "/app/caf%C3%A9",
            ("/app", "/caf\u{e9}", "", "/app/caf%C3%A9"),
        ),
        ("/%61pp/z", ("/app", "/z", "", "/%61pp/z")),
        ("/app//x//y", ("/app", "/x/y", "", "/app//x//y")),
        ("/app/./x/../y", ("/app", "/y", "", "/app/./x/../y")),
        ("/app/x;p=1", ("/app", "/x;p=1", "", "/app/x;p=1")),
    ];
    for (path, expected) in cases {
        assert_eq!(split(&s, path), strs(expected), "GET {path}");
    }
}

#[test]
fn alias_to_file_does_not_match_other_prefixes() {
    let s = file_alias();
    for path in ["/application", "/APP", "/app/a%2Fb"] {
        let r = s.get(path);
        assert_eq!(r.status, 404, "GET {path}: {}", r.describe());
        assert_eq!(r.title().as_deref(), Some("404 Not Found"), "GET {path}");
        assert_eq!(
            r.header("Content-Type"),
            Some("text/html; charset=iso-8859-1"),
            "GET {path}"
        );
    }
    // The document root still answers outside the alias.
    let r = s.get("/");
    assert_eq!(
        (r.status, r.text().as_str()),
        (200, "<p>index</p>\n"),
        "{}",
        r.describe()
    );
}

#[test]
fn script_filename_is_the_aliased_file() {
    let s = file_alias();
    let r = s.get("/app/x");
    assert_eq!(
        r.var("SCRIPT_FILENAME"),
        s.path("env.wsgi").display().to_string()
    );
}

fn dir_alias() -> TestServer {
    server("DocumentRoot @DIR@/htdocs\nWSGIScriptAlias /wsgi/ @DIR@/scripts/\n")
        .file("htdocs/index.html", "<p>index</p>\n")
        .file("scripts/env.wsgi", apps::ENVIRON)
        .file(
            "scripts/hello",
            apps::text_app("hello from a script without extension\n"),
        )
        .file("scripts/sub/deep.wsgi", apps::ENVIRON)
        .start()
}

#[test]
fn alias_to_directory_runs_the_named_script() {
    let s = dir_alias();
    let cases = [
        (
            "/wsgi/env.wsgi",
            ("/wsgi/env.wsgi", "", "", "/wsgi/env.wsgi"),
        ),
        (
            "/wsgi/env.wsgi/extra/path?a=b",
            (
                "/wsgi/env.wsgi",
                "/extra/path",
                "a=b",
                "/wsgi/env.wsgi/extra/path?a=b",
            ),
        ),
        (
            "/wsgi/env.wsgi/",
            ("/wsgi/env.wsgi", "/", "", "/wsgi/env.wsgi/"),
        ),
        (
            "/wsgi/sub/deep.wsgi/x",
            ("/wsgi/sub/deep.wsgi", "/x", "", "/wsgi/sub/deep.wsgi/x"),
        ),
    ];
    for (path, expected) in cases {
        assert_eq!(split(&s, path), strs(expected), "GET {path}");
    }
    let r = s.get("/wsgi/sub/deep.wsgi/x");
    assert_eq!(
        r.var("SCRIPT_FILENAME"),
        s.path("scripts/sub/deep.wsgi").display().to_string()
    );
    assert_eq!(
        r.var("mod_wsgi.application_group"),
        format!("localhost:{}|/wsgi/sub/deep.wsgi", s.port())
    );
    let r = s.get("/wsgi/hello");
    assert_eq!(
        (r.status, r.text().as_str()),
        (200, "hello from a script without extension\n")
    );
}

#[test]
fn alias_to_directory_missing_script_is_404_and_logged() {
    let s = dir_alias();
    for path in ["/wsgi/missing.wsgi", "/wsgi/missing.wsgi/more", "/wsgi"] {
        let r = s.get(path);
        assert_eq!(r.status, 404, "GET {path}: {}", r.describe());
        assert_eq!(r.title().as_deref(), Some("404 Not Found"), "GET {path}");
    }
    let missing = s.path("scripts/missing.wsgi").display().to_string();
    let line = s.wait_for_log(
        &["Target WSGI script not found or unable to stat: ", &missing],
        Duration::from_secs(5),
    );
    assert!(
        line.is_some(),
        "no 'Target WSGI script not found' line in:\n{}",
        s.error_log()
    );
}

#[test]
fn alias_to_directory_refuses_directories() {
    let s = dir_alias();
    for path in ["/wsgi/", "/wsgi/sub/"] {
        let r = s.get(path);
        assert_eq!(r.status, 403, "GET {path}: {}", r.describe());
        assert_eq!(r.title().as_deref(), Some("403 Forbidden"), "GET {path}");
    }
    let line = s.wait_for_log(
        &["Attempt to invoke directory as WSGI application: "],
        Duration::from_secs(5),
    );
    assert!(
        line.is_some(),
        "no 'Attempt to invoke directory' line in:\n{}",
        s.error_log()
    );

    let r = s.get("/wsgi/sub");
    assert_eq!(r.status, 301, "{}", r.describe());
    assert_eq!(
        r.header("Location"),
        Some(format!("http://localhost:{}/wsgi/sub/", s.port()).as_str())
    );
}

#[test]
fn alias_match_substitutes_groups() {
    let site = "\
DocumentRoot @DIR@/htdocs
WSGIScriptAliasMatch ^/wsgi-scripts/([^/]+) @DIR@/scripts/$1.wsgi
WSGIScriptAliasMatch ^/by-dir/([^/]+)/ @DIR@/scripts/
WSGIScriptAliasMatch ^/two/([a-z]+)/([a-z]+) @DIR@/scripts/$2.wsgi
";
    let s = server(site)
        .file("htdocs/index.html", "<p>index</p>\n")
        .file("scripts/env.wsgi", apps::ENVIRON)
        .file("scripts/other.wsgi", apps::ENVIRON)
        .start();
    let cases = [
        (
            "/wsgi-scripts/env",
            ("/wsgi-scripts/env", "", "", "/wsgi-scripts/env"),
        ),
        (
            "/wsgi-scripts/env/extra/info?q=2",
            (
                "/wsgi-scripts/env",
                "/extra/info",
                "q=2",
                "/wsgi-scripts/env/extra/info?q=2",
            ),
        ),
        (
            "/wsgi-scripts/other/",
            ("/wsgi-scripts/other", "/", "", "/wsgi-scripts/other/"),
        ),
        (
            "/by-dir/x/env.wsgi/tail",
            ("/by-dir/x/env.wsgi", "/tail", "", "/by-dir/x/env.wsgi/tail"),
        ),
        (
            "/two/abc/env/more",
            ("/two/abc/env", "/more", "", "/two/abc/env/more"),
        ),
        (
            "/wsgi-scripts/%65nv/p",
            ("/wsgi-scripts/env", "/p", "", "/wsgi-scripts/%65nv/p"),
        ),
    ];
    for (path, expected) in cases {
        assert_eq!(split(&s, path), strs(expected), "GET {path}");
    }
    let r = s.get("/wsgi-scripts/other/");
    assert_eq!(
        r.var("SCRIPT_FILENAME"),
        s.path("scripts/other.wsgi").display().to_string()
    );
    for path in [
        "/wsgi-scripts/nope",
        "/wsgi-scripts/env.wsgi",
        "/wsgi-scripts",
    ] {
        let r = s.get(path);
        assert_eq!(r.status, 404, "GET {path}: {}", r.describe());
    }
}

/// mod_alias's `Redirect` family answers in translate, before any alias (a
/// `WSGIScriptAlias` included): the target plus the rest of the path
/// (escaped), the query string appended, a path target made absolute;
/// `gone` and other non-3xx statuses without a Location.  Answers recorded
/// from Apache 2.4.71.
#[test]
fn redirects_come_before_script_aliases() {
    let s = server(
        "WSGIScriptAlias /app @DIR@/env.wsgi\n\
         Redirect /app/old http://example.com/new\n\
         Redirect permanent /perm https://example.com/p/\n\
         Redirect gone /gone\n\
         Redirect seeother /so http://example.com/so\n\
         RedirectMatch ^/rm/(.*)\\.html$ http://example.com/m/$1\n\
         RedirectTemp /rt /local/path\n\
         RedirectMatch 410 ^/rmgone\n",
    )
    .file("env.wsgi", apps::ENVIRON)
    .start();
    let here = format!("http://localhost:{}", s.port());
    for (path, status, location) in [
        (
            "/app/old/a%20b?x=1",
            302,
            Some("http://example.com/new/a%20b?x=1".to_owned()),
        ),
        ("/app/oldx", 200, None),
        ("/perm/q", 301, Some("https://example.com/p//q".to_owned())),
        ("/gone/x", 410, None),
        ("/so?z", 303, Some("http://example.com/so?z".to_owned())),
        (
            "/rm/a%20b.html?q=1",
            302,
            Some("http://example.com/m/a%20b?q=1".to_owned()),
        ),
        ("/rm/x.txt", 404, None),
        ("/rt/x", 302, Some(format!("{here}/local/path/x"))),
        ("/rmgone/y", 410, None),
    ] {
        let r = s.get(path);
        assert_eq!(r.status, status, "{path}: {}", r.describe());
        assert_eq!(r.header("Location").map(str::to_owned), location, "{path}");
    }
}
