//! Name-based virtual hosts on one port (oracle case 22): selection by the
//! Host header (case-insensitive, ServerAlias with wildcards, the first
//! vhost as default, absolute-form request targets), per-vhost settings
//! and inheritance, and a per-vhost ErrorLog.

use std::time::Duration;

use crate::support::{TestServer, server};

const APP: &str = r#"
import builtins

def application(environ, start_response):
    seen = builtins.__dict__.setdefault("_wsgid_seen", [])
    seen.append(environ.get("HTTP_HOST", "<none>"))
    if environ["PATH_INFO"] == "/log":
        environ["wsgi.errors"].write("wsgid vhost message from %s\n" % environ.get("WSGID_VHOST"))
        environ["wsgi.errors"].flush()
    lines = ["%s=%s" % (k, environ.get(k, "<unset>")) for k in
             ("WSGID_VHOST", "SERVER_NAME", "SERVER_PORT", "HTTP_HOST", "SCRIPT_NAME", "mod_wsgi.application_group")]
    lines.append("seen=" + ",".join(seen))
    body = ("\n".join(lines) + "\n").encode()
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [body]
"#;

fn vhost_site() -> TestServer {
    let site = "\
WSGIScriptAlias /main @DIR@/app.wsgi
<VirtualHost *:@PORT@>
    ServerName one.example
    WSGIScriptAlias /app @DIR@/app.wsgi
    WSGIApplicationGroup %{SERVER}
    SetEnv WSGID_VHOST one
</VirtualHost>
<VirtualHost *:@PORT@>
    ServerName two.example
    ServerAlias www.two.example *.wild.example
    WSGIScriptAlias /app @DIR@/app.wsgi
    WSGIApplicationGroup %{SERVER}
    SetEnv WSGID_VHOST two
    ErrorLog @DIR@/two-error.log
</VirtualHost>
<VirtualHost *:@PORT@>
    ServerName three.example
    WSGIScriptAlias /app @DIR@/app.wsgi
    SetEnv WSGID_VHOST three
</VirtualHost>
";
    server(site).file("app.wsgi", APP).start()
}

fn get_host(s: &TestServer, path: &str, host: &str) -> crate::support::Response {
    let r = s.get_with(path, &[&format!("Host: {host}")]);
    assert_eq!(r.status, 200, "GET {path} Host {host}: {}", r.describe());
    r
}

#[test]
fn host_header_selects_the_virtual_host() {
    let s = vhost_site();
    let p = s.port();
    let cases = [
        (
            format!("one.example:{p}"),
            "one",
            "one.example",
            format!("one.example:{p}"),
        ),
        (
            format!("two.example:{p}"),
            "two",
            "two.example",
            format!("two.example:{p}"),
        ),
        (
            format!("www.two.example:{p}"),
            "two",
            "www.two.example",
            format!("two.example:{p}"),
        ),
        (
            format!("x.wild.example:{p}"),
            "two",
            "x.wild.example",
            format!("two.example:{p}"),
        ),
        (
            format!("three.example:{p}"),
            "three",
            "three.example",
            format!("three.example:{p}|/app"),
        ),
        (
            format!("ONE.Example:{p}"),
            "one",
            "one.example",
            format!("one.example:{p}"),
        ),
        (
            format!("unknown.example:{p}"),
            "one",
            "unknown.example",
            format!("one.example:{p}"),
        ),
    ];
    for (host, vhost, server_name, group) in cases {
        let r = get_host(&s, "/app", &host);
        assert_eq!(r.var("WSGID_VHOST"), vhost, "Host {host}");
        assert_eq!(r.var("SERVER_NAME"), server_name, "Host {host}");
        assert_eq!(r.var("SERVER_PORT"), p.to_string(), "Host {host}");
        assert_eq!(r.var("mod_wsgi.application_group"), group, "Host {host}");
    }
}

#[test]
fn host_without_port_and_missing_host() {
    let s = vhost_site();
    let r = get_host(&s, "/app", "two.example");
    assert_eq!(
        (r.var("WSGID_VHOST").as_str(), r.var("SERVER_PORT").as_str()),
        ("two", "80")
    );
    assert_eq!(r.var("mod_wsgi.application_group"), "two.example");
    let r = s.request("GET /app HTTP/1.0\r\n\r\n");
    assert_eq!(r.status, 200, "{}", r.describe());
    assert_eq!(r.var("WSGID_VHOST"), "one", "no Host: the first vhost");
    assert_eq!(r.var("SERVER_NAME"), "one.example");
    assert_eq!(r.var("mod_wsgi.application_group"), "one.example");
}

#[test]
fn absolute_form_target_wins_over_host_header() {
    let s = vhost_site();
    let p = s.port();
    let r = s.request(format!(
        "GET http://two.example:{p}/app HTTP/1.1\r\nHost: one.example:{p}\r\nConnection: close\r\n\r\n"
    ));
    assert_eq!(r.status, 200, "{}", r.describe());
    assert_eq!(r.var("WSGID_VHOST"), "two");
    assert_eq!(r.var("HTTP_HOST"), format!("two.example:{p}"));
}

#[test]
fn server_level_alias_is_inherited() {
    let s = vhost_site();
    let p = s.port();
    let r = get_host(&s, "/main", &format!("one.example:{p}"));
    assert_eq!(
        (r.var("WSGID_VHOST").as_str(), r.var("SCRIPT_NAME").as_str()),
        ("one", "/main")
    );
    let r = get_host(&s, "/main", &format!("two.example:{p}"));
    assert_eq!(r.var("WSGID_VHOST"), "two");
}

#[test]
fn server_level_alias_shares_the_vhost_interpreter() {
    let s = vhost_site();
    let p = s.port();
    get_host(&s, "/main", &format!("two.example:{p}"));
    // Same %{SERVER} group as two.example's /app: one interpreter.
    let r2 = get_host(&s, "/app", &format!("two.example:{p}"));
    assert_eq!(
        r2.var("seen"),
        format!("two.example:{p},two.example:{p}"),
        "{}",
        r2.describe()
    );
}

#[test]
fn vhost_error_log_receives_its_own_lines() {
    let s = vhost_site();
    let p = s.port();
    get_host(&s, "/app/log", &format!("two.example:{p}"));
    get_host(&s, "/app/log", &format!("one.example:{p}"));
    let two = s.wait_for_log_in(
        "two-error.log",
        &["wsgid vhost message from two"],
        Duration::from_secs(5),
    );
    assert!(
        two.is_some(),
        "two-error.log: {:?}",
        s.read_file("two-error.log")
    );
    let one = s.wait_for_log(&["wsgid vhost message from one"], Duration::from_secs(5));
    assert!(one.is_some(), "error.log: {}", s.error_log());
    assert!(
        !s.read_file("two-error.log").contains("message from one"),
        "one's line went to two's log"
    );
    assert!(
        !s.error_log().contains("message from two"),
        "two's line went to the main log"
    );
}

/// `AllowEncodedSlashes` is per server (oracle case `34-encoded-slashes`
/// in the repository): Off refuses `%2F` (404, AH00026), On decodes it,
/// NoDecode keeps it as sent; `%00` is refused whatever the setting.
#[test]
fn allow_encoded_slashes_is_each_virtual_hosts_own() {
    const ENV_APP: &str = r#"
def application(environ, start_response):
    body = "%s|%s" % (environ["SCRIPT_NAME"], environ["PATH_INFO"])
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [body.encode()]
"#;
    let s = server(
        "WSGIScriptAlias /app @DIR@/env.wsgi\n\
         <VirtualHost *:@PORT@>\n    ServerName on.example\n    AllowEncodedSlashes On\n    WSGIScriptAlias /app @DIR@/env.wsgi\n</VirtualHost>\n\
         <VirtualHost *:@PORT@>\n    ServerName nodecode.example\n    AllowEncodedSlashes NoDecode\n    WSGIScriptAlias /app @DIR@/env.wsgi\n</VirtualHost>\n\
         <VirtualHost *:@PORT@>\n    ServerName off.example\n    WSGIScriptAlias /app @DIR@/env.wsgi\n</VirtualHost>\n",
    )
    .file("env.wsgi", ENV_APP)
    .start();
    let get =
        |host: &str, path: &str| s.get_with(path, &[&format!("Host: {host}"), "Connection: close"]);
    let on = get("on.example", "/app/a%2Fb%41");
    assert_eq!(
        (on.status, on.text().as_str()),
        (200, "/app|/a/bA"),
        "{}",
        on.describe()
    );
    let keep = get("nodecode.example", "/app/a%2fb%41");
    assert_eq!(
        (keep.status, keep.text().as_str()),
        (200, "/app|/a%2fbA"),
        "{}",
        keep.describe()
    );
    let off = get("off.example", "/app/a%2Fb");
    assert_eq!(off.status, 404, "{}", off.describe());
    for host in ["on.example", "nodecode.example"] {
        let nul = get(host, "/app/x%00y");
        assert_eq!(nul.status, 404, "{host}: {}", nul.describe());
    }
    assert!(
        s.wait_for_log(
            &["AH00026: found %2f (encoded '/') in URI path (/app/a%2Fb), returning 404"],
            Duration::from_secs(5)
        )
        .is_some(),
        "{}",
        s.error_log()
    );
}

/// `UseCanonicalName On` (oracle case `38-canonical-name` in the
/// repository): SERVER_NAME and SERVER_PORT come from the ServerName (its
/// port, else 80), not from the client's Host.
#[test]
fn use_canonical_name_on_reports_the_server_name_and_port() {
    const ENV_APP: &str = r#"
def application(environ, start_response):
    body = "%s:%s" % (environ["SERVER_NAME"], environ["SERVER_PORT"])
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [body.encode()]
"#;
    let s = server(
        "<VirtualHost *:@PORT@>\n    ServerName canon.example:8123\n    UseCanonicalName On\n    WSGIScriptAlias /env @DIR@/env.wsgi\n</VirtualHost>\n\
         <VirtualHost *:@PORT@>\n    ServerName noport.example\n    UseCanonicalName On\n    WSGIScriptAlias /env @DIR@/env.wsgi\n</VirtualHost>\n\
         <VirtualHost *:@PORT@>\n    ServerName plain.example\n    WSGIScriptAlias /env @DIR@/env.wsgi\n</VirtualHost>\n",
    )
    .file("env.wsgi", ENV_APP)
    .start();
    for (host, expected) in [
        ("canon.example:9999", "canon.example:8123"),
        ("noport.example:7777", "noport.example:80"),
        ("plain.example:7777", "plain.example:7777"),
    ] {
        let r = s.get_with("/env", &[&format!("Host: {host}"), "Connection: close"]);
        assert_eq!(r.text(), expected, "{host}: {}", r.describe());
    }
    let dns = server("UseCanonicalName DNS\n").prepare().config_test();
    assert_eq!(dns.code(), Some(1), "{dns:?}");
    assert!(
        dns.stderr.contains("not implemented yet in wsgid"),
        "{}",
        dns.stderr
    );
}
