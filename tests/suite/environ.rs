//! The WSGI environ as mod_wsgi builds it (oracle cases 01, 05, 23): the
//! CGI variables, `HTTP_*` (headers with `_` dropped), `SetEnv`, the
//! `wsgi.*` and `mod_wsgi.*` keys, and WSGIApplicationGroup naming and
//! interpreter sharing.

use std::collections::BTreeSet;

use crate::support::{TestServer, apps, server};

fn env_site() -> TestServer {
    server("DocumentRoot @DIR@/htdocs\nWSGIScriptAlias /app @DIR@/env.wsgi\n")
        .file("htdocs/index.html", "<p>index</p>\n")
        .file("env.wsgi", apps::ENVIRON)
        .start()
}

#[test]
fn cgi_variables_match_apache() {
    let s = env_site();
    let r = s.get_with(
        "/app/x/y?q=1",
        &[
            "X-Custom-Header: abc",
            "Accept: text/plain",
            "Cookie: a=1; b=2",
        ],
    );
    assert_eq!(r.status, 200, "{}", r.describe());
    let env = r.kv();
    let dir = s.dir().display().to_string();
    let port = s.port().to_string();
    let host = format!("localhost:{port}");
    let expected = [
        ("CONTEXT_DOCUMENT_ROOT", format!("{dir}/htdocs")),
        ("CONTEXT_PREFIX", String::new()),
        ("DOCUMENT_ROOT", format!("{dir}/htdocs")),
        ("GATEWAY_INTERFACE", "CGI/1.1".into()),
        ("HTTP_ACCEPT", "text/plain".into()),
        ("HTTP_CONNECTION", "close".into()),
        ("HTTP_COOKIE", "a=1; b=2".into()),
        ("HTTP_HOST", host.clone()),
        ("HTTP_X_CUSTOM_HEADER", "abc".into()),
        ("PATH_INFO", "/x/y".into()),
        ("PATH_TRANSLATED", format!("{dir}/htdocs/x/y")),
        ("QUERY_STRING", "q=1".into()),
        ("REMOTE_ADDR", "127.0.0.1".into()),
        ("REQUEST_METHOD", "GET".into()),
        ("REQUEST_SCHEME", "http".into()),
        ("REQUEST_URI", "/app/x/y?q=1".into()),
        ("SCRIPT_FILENAME", format!("{dir}/env.wsgi")),
        ("SCRIPT_NAME", "/app".into()),
        ("SERVER_ADDR", "127.0.0.1".into()),
        ("SERVER_ADMIN", "webmaster@localhost".into()),
        ("SERVER_NAME", "localhost".into()),
        ("SERVER_PORT", port.clone()),
        ("SERVER_PROTOCOL", "HTTP/1.1".into()),
    ];
    for (k, v) in expected {
        assert_eq!(env.get(k), Some(&v), "{k}\n{}", r.describe());
    }
    let remote_port: u16 = env
        .get("REMOTE_PORT")
        .and_then(|p| p.parse().ok())
        .expect("REMOTE_PORT is a port number");
    assert_ne!(remote_port, 0);
    for k in ["SERVER_SOFTWARE", "SERVER_SIGNATURE"] {
        assert!(env.contains_key(k), "{k} missing\n{}", r.describe());
    }
}

/// PATH_TRANSLATED is remembered per site by PATH_INFO (translate.rs,
/// `TranslatedMemo`): requests that repeat one, alternate with others,
/// or go through an Alias must each get their own.
#[test]
fn path_translated_is_each_requests_own() {
    let s = server(
        "DocumentRoot @DIR@/htdocs\nAlias /x/static @DIR@/static\nWSGIScriptAlias /app @DIR@/env.wsgi\n",
    )
    .file("htdocs/index.html", "<p>index</p>\n")
    .file("static/a.txt", "a\n")
    .file("env.wsgi", apps::ENVIRON)
    .start();
    let dir = s.dir().display().to_string();
    for _ in 0..3 {
        for (path, want) in [
            ("/app/x/y", format!("{dir}/htdocs/x/y")),
            ("/app/other", format!("{dir}/htdocs/other")),
            ("/app/x/static/a.txt", format!("{dir}/static/a.txt")),
            ("/app/x/y", format!("{dir}/htdocs/x/y")),
        ] {
            let r = s.get(path);
            assert_eq!(r.status, 200, "{}", r.describe());
            assert_eq!(r.kv().get("PATH_TRANSLATED"), Some(&want), "{path}");
        }
    }
}

/// `wsgi.url_scheme` is https when HTTPS is on: from SetEnv, or from a
/// trusted proxy header (WSGITrustedProxyHeaders); a client's own header
/// named `HTTPS` does not count (it becomes HTTP_HTTPS).
#[test]
fn url_scheme_follows_https_from_setenv_or_a_trusted_proxy_header() {
    let s = server(
        "WSGIScriptAlias /app @DIR@/env.wsgi\nWSGIScriptAlias /on @DIR@/env.wsgi\n\
         <Location /on>\nSetEnv HTTPS on\n</Location>\n\
         <Location /app>\nWSGITrustedProxyHeaders X-Forwarded-Proto\n</Location>\n",
    )
    .file("env.wsgi", apps::ENVIRON)
    .start();
    let scheme = |path: &str, headers: &[&str]| {
        let r = s.get_with(path, headers);
        assert_eq!(r.status, 200, "{}", r.describe());
        r.kv().get("wsgi.url_scheme").cloned()
    };
    assert_eq!(scheme("/on/x", &[]).as_deref(), Some("https"));
    assert_eq!(scheme("/on/x", &["HTTPS: off"]).as_deref(), Some("https"));
    assert_eq!(scheme("/app/x", &[]).as_deref(), Some("http"));
    assert_eq!(scheme("/app/x", &["HTTPS: on"]).as_deref(), Some("http"));
    assert_eq!(
        scheme("/app/x", &["X-Forwarded-Proto: https"]).as_deref(),
        Some("https")
    );
}

#[test]
fn environ_has_exactly_the_keys_apache_gives() {
    // The key set of oracle case 01, `GET /app/x/y?q=1` (values differ per run).
    let s = env_site();
    let r = s.get("/app/x/y?q=1");
    // Variables inherited from the server's own environment (Apache copies
    // LD_LIBRARY_PATH, which `cargo test` sets) are not part of the contract.
    let inherited = ["LD_LIBRARY_PATH", "PATH"];
    let keys: BTreeSet<String> = r
        .kv()
        .into_keys()
        .filter(|k| !k.starts_with('@') && !inherited.contains(&k.as_str()))
        .collect();
    let expected: BTreeSet<String> = "CONTEXT_DOCUMENT_ROOT CONTEXT_PREFIX DOCUMENT_ROOT GATEWAY_INTERFACE \
        HTTP_CONNECTION HTTP_HOST PATH_INFO PATH_TRANSLATED QUERY_STRING REMOTE_ADDR REMOTE_PORT \
        REQUEST_METHOD REQUEST_SCHEME REQUEST_URI SCRIPT_FILENAME SCRIPT_NAME SERVER_ADDR SERVER_ADMIN \
        SERVER_NAME SERVER_PORT SERVER_PROTOCOL SERVER_SIGNATURE SERVER_SOFTWARE apache.version \
        mod_wsgi.application_group mod_wsgi.callable_object mod_wsgi.enable_sendfile mod_wsgi.handler_script \
        mod_wsgi.ignore_activity mod_wsgi.listener_host mod_wsgi.listener_port mod_wsgi.path_info \
        mod_wsgi.process_group mod_wsgi.request_handler mod_wsgi.request_id mod_wsgi.request_start \
        mod_wsgi.script_name mod_wsgi.script_reloading mod_wsgi.script_start mod_wsgi.thread_id \
        mod_wsgi.thread_requests mod_wsgi.total_requests mod_wsgi.version wsgi.errors wsgi.file_wrapper \
        wsgi.input wsgi.input_terminated wsgi.multiprocess wsgi.multithread wsgi.run_once wsgi.url_scheme \
        wsgi.version"
        .split_whitespace()
        .map(str::to_owned)
        .collect();
    let missing: Vec<_> = expected.difference(&keys).collect();
    let extra: Vec<_> = keys.difference(&expected).collect();
    assert!(
        missing.is_empty() && extra.is_empty(),
        "missing {missing:?}, extra {extra:?}"
    );
}

#[test]
fn headers_with_underscores_are_dropped_and_repeats_are_joined() {
    let s = env_site();
    let r = s.get_with(
        "/app",
        &[
            "X-Both: dash",
            "X_Both: underscore",
            "X_Only_Under: u",
            "X-Dup: one",
            "X-Other: o",
            "X-Dup: two",
        ],
    );
    let env = r.kv();
    assert_eq!(
        env.get("HTTP_X_BOTH").map(String::as_str),
        Some("dash"),
        "{}",
        r.describe()
    );
    assert!(!env.contains_key("HTTP_X_ONLY_UNDER"), "{}", r.describe());
    // Repeated fields are one variable, joined as Apache joins them.
    assert_eq!(env.get("HTTP_X_DUP").map(String::as_str), Some("one, two"));
    assert_eq!(env.get("HTTP_X_OTHER").map(String::as_str), Some("o"));
}

#[test]
fn wsgi_and_mod_wsgi_keys() {
    let s = env_site();
    let r = s.get("/app/pi");
    let env = r.kv();
    let port = s.port().to_string();
    let expected = [
        ("wsgi.version", "!tuple:(1, 0)".to_owned()),
        ("wsgi.url_scheme", "http".into()),
        ("wsgi.multithread", "!bool:True".into()),
        ("wsgi.multiprocess", "!bool:False".into()),
        ("wsgi.run_once", "!bool:False".into()),
        ("wsgi.input_terminated", "!bool:True".into()),
        (
            "mod_wsgi.application_group",
            format!("localhost:{port}|/app"),
        ),
        ("mod_wsgi.process_group", String::new()),
        ("mod_wsgi.callable_object", "application".into()),
        ("mod_wsgi.request_handler", "wsgi-script".into()),
        ("mod_wsgi.handler_script", String::new()),
        ("mod_wsgi.script_reloading", "1".into()),
        ("mod_wsgi.enable_sendfile", "0".into()),
        ("mod_wsgi.ignore_activity", "0".into()),
        ("mod_wsgi.listener_host", "127.0.0.1".into()),
        ("mod_wsgi.listener_port", port.clone()),
        ("mod_wsgi.script_name", "/app".into()),
        ("mod_wsgi.path_info", "/pi".into()),
    ];
    for (k, v) in expected {
        assert_eq!(env.get(k), Some(&v), "{k}\n{}", r.describe());
    }
    for k in ["wsgi.input", "wsgi.errors", "wsgi.file_wrapper"] {
        assert!(
            env.get(k).is_some_and(|v| v.starts_with('!')),
            "{k} must be an object\n{}",
            r.describe()
        );
    }
    for k in [
        "mod_wsgi.version",
        "mod_wsgi.request_id",
        "mod_wsgi.request_start",
        "mod_wsgi.script_start",
    ] {
        assert!(env.contains_key(k), "{k} missing\n{}", r.describe());
    }
}

#[test]
fn http10_without_host_uses_server_name_and_port_80() {
    let s = env_site();
    let r = s.request("GET /app/old HTTP/1.0\r\n\r\n");
    assert_eq!(r.status, 200, "{}", r.describe());
    let env = r.kv();
    assert_eq!(
        env.get("SERVER_PROTOCOL").map(String::as_str),
        Some("HTTP/1.0")
    );
    assert_eq!(
        env.get("SERVER_NAME").map(String::as_str),
        Some("localhost")
    );
    assert_eq!(env.get("SERVER_PORT").map(String::as_str), Some("80"));
    assert!(!env.contains_key("HTTP_HOST"));
    assert_eq!(
        env.get("mod_wsgi.application_group").map(String::as_str),
        Some("localhost|/app")
    );
}

#[test]
fn set_env_values_are_in_the_environ() {
    let site = "\
SetEnv WSGID_GLOBAL global-value
SetEnv WSGID_OVERRIDE from-server
SetEnv WSGID_EMPTY
WSGIScriptAlias /env @DIR@/env.wsgi
<Location /env/loc>
    SetEnv WSGID_LOCATION loc-value
    SetEnv WSGID_OVERRIDE from-location
</Location>
";
    let s = server(site).file("env.wsgi", apps::ENVIRON).start();
    let env = s.get("/env").kv();
    assert_eq!(
        env.get("WSGID_GLOBAL").map(String::as_str),
        Some("global-value")
    );
    assert_eq!(
        env.get("WSGID_OVERRIDE").map(String::as_str),
        Some("from-server")
    );
    assert_eq!(env.get("WSGID_EMPTY").map(String::as_str), Some(""));
    assert!(!env.contains_key("WSGID_LOCATION"));
    let env = s.get("/env/loc").kv();
    assert_eq!(
        env.get("WSGID_LOCATION").map(String::as_str),
        Some("loc-value")
    );
    assert_eq!(
        env.get("WSGID_OVERRIDE").map(String::as_str),
        Some("from-location")
    );
}

/// Reports its group and the SCRIPT_NAMEs its interpreter has served.
const GROUP_APP: &str = r#"
import builtins

def application(environ, start_response):
    seen = builtins.__dict__.setdefault("_wsgid_seen", [])
    seen.append(environ["SCRIPT_NAME"])
    body = ("group=%s\nseen=%s\n" % (environ["mod_wsgi.application_group"], ",".join(seen))).encode()
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [body]
"#;

#[test]
fn application_group_names() {
    application_groups(false);
}

#[test]
fn application_groups_have_their_own_interpreters() {
    application_groups(true);
}

/// Oracle case 05: the names mod_wsgi gives the groups and, with
/// `check_sharing`, which requests share an interpreter.
fn application_groups(check_sharing: bool) {
    let site = "\
WSGIScriptAlias /global-a @DIR@/ag.wsgi
WSGIScriptAlias /global-b @DIR@/ag2.wsgi
WSGIScriptAlias /server-a @DIR@/ag.wsgi
WSGIScriptAlias /server-b @DIR@/ag2.wsgi
WSGIScriptAlias /resource-a @DIR@/ag.wsgi
WSGIScriptAlias /env-set @DIR@/ag.wsgi
WSGIScriptAlias /named-a @DIR@/ag.wsgi
WSGIScriptAlias /named-b @DIR@/ag2.wsgi
WSGIScriptAlias /named-other @DIR@/ag.wsgi
<Location /global-a>
    WSGIApplicationGroup %{GLOBAL}
</Location>
<Location /global-b>
    WSGIApplicationGroup %{GLOBAL}
</Location>
<Location /server-a>
    WSGIApplicationGroup %{SERVER}
</Location>
<Location /server-b>
    WSGIApplicationGroup %{SERVER}
</Location>
<Location /env-set>
    SetEnv WSGID_GROUP group-from-env
    WSGIApplicationGroup %{ENV:WSGID_GROUP}
</Location>
<Location /named-a>
    WSGIApplicationGroup shared-name
</Location>
<Location /named-b>
    WSGIApplicationGroup shared-name
</Location>
<Location /named-other>
    WSGIApplicationGroup other-name
</Location>
";
    let s = server(site)
        .file("ag.wsgi", GROUP_APP)
        .file("ag2.wsgi", GROUP_APP)
        .start();
    let port = s.port();
    let steps: [(&str, String, &str); 10] = [
        ("/global-a", String::new(), "/global-a"),
        ("/global-b", String::new(), "/global-a,/global-b"),
        ("/server-a", format!("localhost:{port}"), "/server-a"),
        (
            "/server-b",
            format!("localhost:{port}"),
            "/server-a,/server-b",
        ),
        (
            "/resource-a",
            format!("localhost:{port}|/resource-a"),
            "/resource-a",
        ),
        ("/env-set", "group-from-env".into(), "/env-set"),
        ("/named-a", "shared-name".into(), "/named-a"),
        ("/named-b", "shared-name".into(), "/named-a,/named-b"),
        ("/named-other", "other-name".into(), "/named-other"),
        ("/global-a", String::new(), "/global-a,/global-b,/global-a"),
    ];
    for (path, group, seen) in steps {
        let r = s.get(path);
        assert_eq!(r.status, 200, "GET {path}: {}", r.describe());
        assert_eq!(r.var("group"), group, "GET {path}");
        if check_sharing {
            assert_eq!(
                r.var("seen"),
                seen,
                "GET {path}: which requests share this interpreter"
            );
        }
    }
    // %{SERVER} uses ServerName and the port of the Host header, if any.
    let r = s.get_with("/server-a", &[&format!("Host: 127.0.0.1:{port}")]);
    assert_eq!(r.var("group"), format!("localhost:{port}"));
    let r = s.get_with("/server-b", &["Host: localhost"]);
    assert_eq!(r.var("group"), "localhost");
    if check_sharing {
        assert_eq!(
            r.var("seen"),
            "/server-b",
            "a group without the port is another interpreter"
        );
    }
}
