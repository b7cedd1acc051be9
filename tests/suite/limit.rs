//! `<Limit>` and `<LimitExcept>`: the `Require` lines inside count only
//! for the methods listed (all others for `<LimitExcept>`), `HEAD` with
//! `GET`; other directives inside apply to every method.  Expectations
//! from Apache 2.4.71 (repository oracle case `39-limit`).

use std::time::Duration;

use crate::support::{TestServer, server};

const WAIT: Duration = Duration::from_secs(5);

const APP: &str = r#"
def application(environ, start_response):
    body = ("%s %s\n" % (environ["REQUEST_METHOD"], environ.get("REMOTE_USER", "-"))).encode()
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [body]
"#;

const SITE: &str = r#"
WSGIScriptAlias /hardened @DIR@/app.wsgi
WSGIScriptAlias /mixed @DIR@/app.wsgi
WSGIScriptAlias /login @DIR@/app.wsgi
<Location /hardened>
    <LimitExcept GET POST HEAD>
        Require all denied
    </LimitExcept>
</Location>
<Location /mixed>
    Require all denied
    <Limit PUT>
        Require all granted
    </Limit>
</Location>
<Location /login>
    <Limit POST>
        AuthType Basic
        AuthName "Posting"
        AuthUserFile @DIR@/users
        Require valid-user
    </Limit>
</Location>
"#;

fn site() -> TestServer {
    server(SITE)
        .file("app.wsgi", APP)
        // alice:wonderland (htpasswd -m).
        .file("users", "alice:$apr1$tJFioEuX$cmtYn2IoZZn5YMTYXtgow0\n")
        .start()
}

fn call(s: &TestServer, method: &str, path: &str, extra: &str) -> (u16, String) {
    let r = s.request(format!(
        "{method} {path} HTTP/1.1\r\nHost: localhost:{}\r\n{extra}Content-Length: 0\r\nConnection: close\r\n\r\n",
        s.port()
    ));
    (r.status, r.text())
}

#[test]
fn limit_except_refuses_every_other_method() {
    let s = site();
    assert_eq!(call(&s, "GET", "/hardened", ""), (200, "GET -\n".into()));
    assert_eq!(call(&s, "POST", "/hardened", "").0, 200);
    for method in ["PUT", "DELETE", "PATCH", "BREW"] {
        assert_eq!(call(&s, method, "/hardened", "").0, 403, "{method}");
    }
    assert!(
        s.wait_for_log(&["AH01630: client denied by server configuration"], WAIT)
            .is_some()
    );
}

#[test]
fn a_limited_line_is_neutral_beside_the_others() {
    let s = site();
    // `Require all denied` decides for GET; the PUT line only for PUT.
    assert_eq!(call(&s, "GET", "/mixed", "").0, 403);
    assert_eq!(call(&s, "PUT", "/mixed", ""), (200, "PUT -\n".into()));
}

#[test]
fn authentication_only_for_the_limited_methods() {
    let s = site();
    assert_eq!(call(&s, "GET", "/login", ""), (200, "GET -\n".into()));
    let (status, _) = call(&s, "POST", "/login", "");
    assert_eq!(status, 401);
    let auth = "Authorization: Basic YWxpY2U6d29uZGVybGFuZA==\r\n";
    assert_eq!(
        call(&s, "POST", "/login", auth),
        (200, "POST alice\n".into())
    );
}
