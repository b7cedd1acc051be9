//! Access control and authentication (issue 6): `WSGIAccessScript`,
//! `AuthType Basic` with the `wsgi` (`WSGIAuthUserScript`) and `file`
//! (`AuthUserFile`) providers, `WSGIAuthGroupScript` (`Require
//! wsgi-group`), `AuthGroupFile` (`Require group`), the `Require` forms
//! with a user, `WSGIPassAuthorization`, and malformed credentials.
//! Expectations follow oracle cases 11, 12 and 13 and Apache's modules
//! (mod_auth_basic, mod_authn_file, mod_authz_user, mod_authz_groupfile).

use std::time::Duration;

use crate::support::{apps, server};

const WAIT: Duration = Duration::from_secs(5);

/// `Authorization: Basic base64(user:password)`.
fn basic(user: &str, password: &str) -> String {
    format!(
        "Authorization: Basic {}",
        b64(format!("{user}:{password}").as_bytes())
    )
}

fn b64(input: &[u8]) -> String {
    const A: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in input.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(char::from(A[((n >> (18 - 6 * i)) & 63) as usize]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// The access script of oracle case 13, plus answers of the wrong type, a
/// write to `wsgi.errors`, and an environ report through a header.
const ACCESS: &str = r#"
import builtins

def allow_access(environ, host):
    mode = environ.get("HTTP_X_ACCESS", "")
    builtins.__dict__.setdefault("_access_calls", []).append(
        "%s|%s|%s|%s|%s" % (mode, host, environ.get("SCRIPT_NAME"), environ.get("PATH_INFO"),
                            environ.get("mod_wsgi.application_group")))
    if mode == "allow":
        return True
    if mode == "none":
        return None
    if mode == "raise":
        raise RuntimeError("allow_access exploded")
    if mode == "string":
        return "yes"
    if mode == "errors":
        environ["wsgi.errors"].write("access script says hello\n")
        return True
    if mode == "environ":
        return ("HTTP_AUTHORIZATION" not in environ and "wsgi.input" not in environ
                and environ["REQUEST_URI"] == "/acc/x?q=1" and environ["QUERY_STRING"] == "q=1"
                and environ["mod_wsgi.process_group"] == "" and environ["mod_wsgi.script_reloading"] == 1
                and environ["mod_wsgi.version"] == (4, 9, 4) and environ["REMOTE_ADDR"] == "127.0.0.1")
    return False
"#;

const REPORT: &str = r#"
import builtins

def application(environ, start_response):
    body = "\n".join(["calls=" + ";".join(builtins.__dict__.get("_access_calls", []))]) + "\n"
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [body.encode()]
"#;

#[test]
fn access_script_answers() {
    let site = "\
WSGIScriptAlias /acc @DIR@/app.wsgi
WSGIScriptAlias /grouped @DIR@/app.wsgi
WSGIScriptAlias /nofunc @DIR@/app.wsgi
WSGIScriptAlias /report @DIR@/report.wsgi
WSGIScriptAlias /report-g @DIR@/report.wsgi
<Location /acc>
    WSGIAccessScript @DIR@/access.py
</Location>
<Location /grouped>
    WSGIAccessScript @DIR@/access.py application-group=checks
</Location>
<Location /nofunc>
    WSGIAccessScript @DIR@/nofunc.py
</Location>
<Location /report>
    WSGIApplicationGroup %{GLOBAL}
</Location>
<Location /report-g>
    WSGIApplicationGroup checks
</Location>
";
    let s = server(site)
        .file("app.wsgi", apps::text_app("app ran"))
        .file("access.py", ACCESS)
        .file("nofunc.py", "x = 1\n")
        .file("report.wsgi", REPORT)
        .start();
    let cases = [
        ("allow", 200),
        ("deny", 403),
        ("none", 200),
        ("raise", 403),
        ("string", 403),
        ("errors", 200),
    ];
    for (mode, status) in cases {
        let r = s.get_with("/acc", &[&format!("X-Access: {mode}")]);
        assert_eq!(r.status, status, "mode {mode}: {}", r.describe());
    }
    let r = s.get_with("/acc/x?q=1", &["X-Access: environ", &basic("a", "b")]);
    assert_eq!(
        r.status,
        200,
        "the environ mod_wsgi gives: {}",
        r.describe()
    );
    assert!(
        s.wait_for_log(
            &["[wsgi:error]", "RuntimeError: allow_access exploded"],
            WAIT
        )
        .is_some(),
        "{}",
        s.diagnostics()
    );
    assert!(
        s.wait_for_log(
            &[
                "[wsgi:error]",
                "[client 127.0.0.1:",
                "Indicator of host accessibility returned from",
                "must a boolean or None."
            ],
            WAIT
        )
        .is_some(),
        "{}",
        s.diagnostics()
    );
    assert!(
        s.wait_for_log(&["[client 127.0.0.1:", "access script says hello"], WAIT)
            .is_some()
    );
    let denied = s
        .error_log()
        .lines()
        .filter(|l| {
            l.contains("Client denied by server configuration: '") && l.contains("app.wsgi'.")
        })
        .count();
    assert_eq!(denied, 3, "deny, raise, string: {}", s.error_log());
    // The default group is %{GLOBAL}; application-group= picks another.
    let r = s.get_with("/grouped", &["X-Access: allow"]);
    assert_eq!(r.status, 200);
    let global = s.get("/report").var("calls");
    assert!(
        global.starts_with("allow|127.0.0.1|/acc||;deny|"),
        "{global}"
    );
    assert!(global.contains("environ|127.0.0.1|/acc|/x|"), "{global}");
    assert!(!global.contains("checks"), "{global}");
    let grouped = s.get("/report-g").var("calls");
    assert_eq!(grouped, "allow|127.0.0.1|/grouped||checks");
    // A script without allow_access denies.
    let r = s.get("/nofunc");
    assert_eq!(r.status, 403);
    assert!(
        s.wait_for_log(
            &[
                "Target WSGI host access script '",
                "nofunc.py' does not provide host validator."
            ],
            WAIT
        )
        .is_some(),
        "{}",
        s.diagnostics()
    );
}

/// The authentication script of oracle case 12, plus a renaming answer and
/// a wrong type.
const AUTH: &str = r#"
USERS = {"alice": "wonderland", "bob": "builder", "boom": "x"}
GROUPS = {"alice": ["admins", "users"], "bob": ["users"], "loner": []}

def check_password(environ, user, password):
    assert "HTTP_AUTHORIZATION" not in environ
    if user == "boom":
        raise RuntimeError("check_password exploded")
    if user == "rename":
        return "renamed"
    if user == "weird":
        return 42
    if user == "loner":
        return True
    if user == "gboom":
        return True
    if user not in USERS:
        return None
    return USERS[user] == password

def groups_for_user(environ, user):
    if user == "gboom":
        raise RuntimeError("groups_for_user exploded")
    return GROUPS.get(user, [])
"#;

fn auth_site(extra: &str) -> String {
    format!(
        "\
WSGIScriptAlias /private @DIR@/env.wsgi
WSGIScriptAlias /grouped @DIR@/env.wsgi
WSGIScriptAlias /public @DIR@/env.wsgi
<Location /private>
    AuthType Basic
    AuthName \"Oracle Realm\"
    AuthBasicProvider wsgi
    WSGIAuthUserScript @DIR@/auth.py
    Require valid-user
</Location>
<Location /grouped>
    AuthType Basic
    AuthName \"Group Realm\"
    AuthBasicProvider wsgi
    WSGIAuthUserScript @DIR@/auth.py
    WSGIAuthGroupScript @DIR@/auth.py
    Require wsgi-group admins
</Location>
{extra}"
    )
}

#[test]
fn basic_auth_through_check_password() {
    let s = server(&auth_site(""))
        .file("env.wsgi", apps::ENVIRON)
        .file("auth.py", AUTH)
        .start();
    let challenge = Some("Basic realm=\"Oracle Realm\"");

    let r = s.get("/private");
    assert_eq!(r.status, 401, "{}", r.describe());
    assert_eq!(r.header("WWW-Authenticate"), challenge);
    assert_eq!(r.title().as_deref(), Some("401 Unauthorized"));

    let r = s.get_with("/private/sub?x=1", &[&basic("alice", "wonderland")]);
    assert_eq!(r.status, 200, "{}", r.describe());
    assert_eq!(r.var("REMOTE_USER"), "alice");
    assert_eq!(r.var("AUTH_TYPE"), "Basic");
    assert_eq!(r.var("SCRIPT_NAME"), "/private");
    assert!(!r.kv().contains_key("HTTP_AUTHORIZATION"));
    assert_eq!(r.header("WWW-Authenticate"), None);

    // A string answer grants and names the user.
    let r = s.get_with("/private", &[&basic("rename", "x")]);
    assert_eq!(r.status, 200, "{}", r.describe());
    assert_eq!(r.var("REMOTE_USER"), "renamed");

    let refusals = [
        (
            basic("alice", "wrong"),
            "AH01617: user alice: authentication failure for \"/private\": Password Mismatch",
        ),
        (
            basic("carol", "x"),
            "AH01618: user carol not found: /private",
        ),
        // Not base64: APR decodes nothing, the user is empty.
        (
            "Authorization: Basic !!!notbase64".to_owned(),
            "AH01618: user  not found: /private",
        ),
        (
            "Authorization: Bearer abc".to_owned(),
            "AH01614: client used wrong authentication scheme: /private",
        ),
        // No colon: all of it is the user, with an empty password.
        (
            format!("Authorization: Basic {}", b64(b"nocolon")),
            "AH01618: user nocolon not found: /private",
        ),
    ];
    for (header, line) in &refusals {
        let r = s.get_with("/private", &[header]);
        assert_eq!(r.status, 401, "{header}: {}", r.describe());
        assert_eq!(r.header("WWW-Authenticate"), challenge, "{header}");
        assert!(
            s.wait_for_log(&["[auth_basic:error]", "[client 127.0.0.1:", line], WAIT)
                .is_some(),
            "{header}: {}",
            s.diagnostics()
        );
    }

    // Exceptions and wrong types: 500, with the traceback.
    let r = s.get_with("/private", &[&basic("boom", "x")]);
    assert_eq!(r.status, 500, "{}", r.describe());
    assert_eq!(r.header("WWW-Authenticate"), None);
    for needle in [
        "Exception occurred processing WSGI script '",
        "in check_password",
        "RuntimeError: check_password exploded",
    ] {
        assert!(
            s.wait_for_log(&["[wsgi:error]", "[client 127.0.0.1:", needle], WAIT)
                .is_some(),
            "{needle}"
        );
    }
    let r = s.get_with("/private", &[&basic("weird", "x")]);
    assert_eq!(r.status, 500);
    assert!(
        s.wait_for_log(
            &["TypeError: Basic auth provider must return True, False None or user name as string"],
            WAIT
        )
        .is_some(),
        "{}",
        s.diagnostics()
    );

    // HEAD gets the challenge too; an unprotected location ignores
    // credentials; an over-long header is refused before any of this.
    let r = s.request(format!(
        "HEAD /private HTTP/1.1\r\nHost: localhost:{}\r\nConnection: close\r\n\r\n",
        s.port()
    ));
    assert_eq!(r.status, 401);
    assert_eq!(r.header("WWW-Authenticate"), challenge);
    let r = s.get_with("/public", &[&basic("alice", "wonderland")]);
    assert_eq!(r.status, 200);
    assert!(!r.kv().contains_key("REMOTE_USER"));
    assert!(!r.kv().contains_key("AUTH_TYPE"));
    let long = format!("Authorization: Basic {}", "QUFB".repeat(3000));
    let r = s.get_with("/private", &[&long]);
    assert_eq!(r.status, 400, "{}", r.describe());

    // The access log names the user (`%u`), also on a refusal.
    let logged = crate::support::wait_until(WAIT, || {
        let log = s.read_file("access.log");
        (log.contains("\"GET /private/sub?x=1 HTTP/1.1\" 200") && log.contains(" alice ["))
            .then_some(log)
    });
    let log = logged.unwrap_or_else(|| s.read_file("access.log"));
    assert!(
        log.lines()
            .any(|l| l.contains(" - alice [") && l.contains("/private/sub?x=1")),
        "{log}"
    );
    assert!(
        log.lines()
            .any(|l| l.contains(" - carol [") && l.contains("401")),
        "{log}"
    );
}

#[test]
fn group_script_and_require_forms() {
    let extra = "\
WSGIScriptAlias /who @DIR@/env.wsgi
WSGIScriptAlias /all @DIR@/env.wsgi
WSGIScriptAlias /any @DIR@/env.wsgi
WSGIScriptAlias /none @DIR@/env.wsgi
WSGIScriptAlias /nogroupscript @DIR@/env.wsgi
WSGIScriptAlias /denied @DIR@/env.wsgi
<Location /who>
    AuthType Basic
    AuthName who
    AuthBasicProvider wsgi
    WSGIAuthUserScript @DIR@/auth.py
    Require user bob renamed
</Location>
<Location /all>
    AuthType Basic
    AuthName all
    AuthBasicProvider wsgi
    WSGIAuthUserScript @DIR@/auth.py
    WSGIAuthGroupScript @DIR@/auth.py
    WSGIGroupAuthoritative Off
    <RequireAll>
        Require wsgi-group users
        Require ip 127.0.0.1
        Require not user bob
    </RequireAll>
</Location>
<Location /any>
    AuthType Basic
    AuthName any
    AuthBasicProvider wsgi
    WSGIAuthUserScript @DIR@/auth.py
    WSGIAuthGroupScript @DIR@/auth.py
    <RequireAny>
        Require user bob
        Require wsgi-group admins
    </RequireAny>
</Location>
<Location /none>
    AuthType Basic
    AuthName none
    AuthBasicProvider wsgi
    WSGIAuthUserScript @DIR@/auth.py
    <RequireAll>
        Require valid-user
        <RequireNone>
            Require user bob
        </RequireNone>
    </RequireAll>
</Location>
<Location /nogroupscript>
    AuthType Basic
    AuthName x
    AuthBasicProvider wsgi
    WSGIAuthUserScript @DIR@/auth.py
    Require wsgi-group admins
</Location>
<Location /denied>
    AuthType Basic
    AuthName x
    AuthBasicProvider wsgi
    WSGIAuthUserScript @DIR@/auth.py
    Require all denied
</Location>
";
    let s = server(&auth_site(extra))
        .file("env.wsgi", apps::ENVIRON)
        .file("auth.py", AUTH)
        .start();
    let alice = basic("alice", "wonderland");
    let bob = basic("bob", "builder");
    let steps: &[(&str, &str, u16)] = &[
        ("/grouped", &alice, 200),
        ("/grouped", &bob, 401),
        ("/grouped", &basic("alice", "nope"), 401),
        ("/grouped", &basic("loner", "x"), 401),
        ("/grouped", &basic("gboom", "x"), 401),
        ("/who", &bob, 200),
        ("/who", &alice, 401),
        // The name check_password returned is the one `Require user` sees.
        ("/who", &basic("rename", "x"), 200),
        ("/all", &alice, 200),
        ("/all", &bob, 401),
        ("/any", &alice, 200),
        ("/any", &bob, 200),
        ("/any", &basic("loner", "x"), 401),
        ("/none", &alice, 200),
        ("/none", &bob, 401),
        ("/nogroupscript", &alice, 401),
        // Decided before authentication: no challenge.
        ("/denied", &alice, 403),
    ];
    for (path, header, status) in steps {
        let r = s.get_with(path, &[header]);
        assert_eq!(r.status, *status, "{path} {header}: {}", r.describe());
        if *status == 401 {
            assert!(
                r.header("WWW-Authenticate")
                    .is_some_and(|v| v.starts_with("Basic realm=\""))
            );
        }
        if *status == 200 {
            assert!(!r.var("REMOTE_USER").is_empty());
        }
    }
    for needles in [
        &[
            "[wsgi:error]",
            "[client 127.0.0.1:",
            "Authorization of user 'bob' to access '/grouped' failed. User is not a member of designated groups.",
        ][..],
        &[
            "[authz_core:error]",
            "[client 127.0.0.1:",
            "AH01631: user bob: authorization failure for \"/grouped\": ",
        ][..],
        &[
            "Authorization of user 'loner' to access '/grouped' failed. User is not a member of any groups.",
        ][..],
        &["RuntimeError: groups_for_user exploded"][..],
        &[
            "AH01663: access to /who failed, reason: user 'alice' does not meet 'require'ments for user to be allowed access",
        ][..],
        &["Location of WSGI group authorization script not provided."][..],
        &["AH01630: client denied by server configuration: "][..],
    ] {
        assert!(
            s.wait_for_log(needles, WAIT).is_some(),
            "{needles:?}: {}",
            s.diagnostics()
        );
    }
}

#[test]
fn htpasswd_and_group_files() {
    // htpasswd -nbm / -nbB / -nbs / -nbd, and SHA-512 crypt(3).
    let users = "\
# comment line
apr:$apr1$A7XmQofP$nnLNrRLXurnTb4fOr6kfO1
bcrypt:$2y$04$VD7MlCNObUan77xNSKv7OeT1fGOcBUE4LKYGnuVP/WlywDkWlw/Dq
sha:{SHA}5en6G6MezRroT3XKqkdPOmY/BfQ=

des:WlvNGCd5pW0YI
sha512:$6$abc$IdWKNKTJEb8LxY7CGg8YBXlvtfZzFw7Mp/r6niK9YB2mdvgY..TKjv1T..8RadRt2qvUHYRLr/TsVArtr91iR1
";
    let groups = "staff: apr sha\nother: des\n";
    let site = "\
WSGIScriptAlias /file @DIR@/env.wsgi
WSGIScriptAlias /chain @DIR@/env.wsgi
WSGIScriptAlias /staff @DIR@/env.wsgi
WSGIScriptAlias /missing @DIR@/env.wsgi
WSGIScriptAlias /noauthname @DIR@/env.wsgi
WSGIScriptAlias /noauthtype @DIR@/env.wsgi
<Location /file>
    AuthType Basic
    AuthName files
    AuthUserFile users.htpasswd
    Require valid-user
</Location>
<Location /chain>
    AuthType basic
    AuthName chain
    AuthBasicProvider file wsgi
    AuthUserFile @DIR@/users.htpasswd
    WSGIAuthUserScript @DIR@/auth.py
    Require valid-user
</Location>
<Location /staff>
    AuthType Basic
    AuthName staff
    AuthBasicProvider file
    AuthUserFile @DIR@/users.htpasswd
    AuthGroupFile @DIR@/groups
    Require group staff
</Location>
<Location /missing>
    AuthType Basic
    AuthName missing
    AuthBasicProvider file
    AuthUserFile @DIR@/nowhere
    Require valid-user
</Location>
<Location /noauthname>
    AuthType Basic
    AuthBasicProvider file
    AuthUserFile @DIR@/users.htpasswd
    Require valid-user
</Location>
<Location /noauthtype>
    Require valid-user
</Location>
";
    let s = server(site)
        .file("env.wsgi", apps::ENVIRON)
        .file("auth.py", AUTH)
        .file("users.htpasswd", users)
        .file("groups", groups)
        .start();
    for user in ["apr", "bcrypt", "sha", "des", "sha512"] {
        let r = s.get_with("/file", &[&basic(user, "secret")]);
        assert_eq!(r.status, 200, "{user}: {}", r.describe());
        assert_eq!(r.var("REMOTE_USER"), user);
        let r = s.get_with("/file", &[&basic(user, "Secret")]);
        assert_eq!(r.status, 401, "{user} with a wrong password");
    }
    let r = s.get_with("/file", &[&basic("nobody", "secret")]);
    assert_eq!(r.status, 401);
    assert_eq!(r.header("WWW-Authenticate"), Some("Basic realm=\"files\""));
    assert!(
        s.wait_for_log(&["AH01618: user nobody not found: /file"], WAIT)
            .is_some()
    );
    assert!(
        s.wait_for_log(
            &["AH01617: user des: authentication failure for \"/file\": Password Mismatch"],
            WAIT
        )
        .is_some()
    );

    // file first, then wsgi for users the file does not know.
    let r = s.get_with("/chain", &[&basic("apr", "secret")]);
    assert_eq!(r.status, 200);
    assert_eq!(r.var("AUTH_TYPE"), "basic");
    let r = s.get_with("/chain", &[&basic("alice", "wonderland")]);
    assert_eq!(r.status, 200, "{}", r.describe());
    // A wrong password in the file is final.
    let r = s.get_with("/chain", &[&basic("apr", "wonderland")]);
    assert_eq!(r.status, 401);

    let r = s.get_with("/staff", &[&basic("sha", "secret")]);
    assert_eq!(r.status, 200, "{}", r.describe());
    let r = s.get_with("/staff", &[&basic("des", "secret")]);
    assert_eq!(r.status, 401);
    let r = s.get_with("/staff", &[&basic("bcrypt", "secret")]);
    assert_eq!(r.status, 401);
    assert!(s.wait_for_log(&["[authz_groupfile:error]", "AH01666: Authorization of user bcrypt to access /staff failed, reason: user doesn't appear in group file"], WAIT).is_some(), "{}", s.diagnostics());

    let r = s.get_with("/missing", &[&basic("apr", "secret")]);
    assert_eq!(r.status, 500);
    assert!(
        s.wait_for_log(
            &[
                "[authn_file:error]",
                "(2)No such file or directory: AH01620: Could not open password file: "
            ],
            WAIT
        )
        .is_some(),
        "{}",
        s.diagnostics()
    );
    let r = s.get_with("/noauthname", &[&basic("apr", "secret")]);
    assert_eq!(r.status, 500);
    assert!(
        s.wait_for_log(&["AH01615: need AuthName: /noauthname"], WAIT)
            .is_some()
    );
    let r = s.get_with("/noauthtype", &[&basic("apr", "secret")]);
    assert_eq!(r.status, 500);
    assert!(s.wait_for_log(&["AH00027: No authentication done but request not allowed without authentication for /noauthtype."], WAIT).is_some());
}

#[test]
fn pass_authorization() {
    // Oracle case 11's embedded steps, and the header next to Basic auth.
    let site = "\
WSGIScriptAlias /on @DIR@/env.wsgi
WSGIScriptAlias /off @DIR@/env.wsgi
WSGIScriptAlias /default @DIR@/env.wsgi
WSGIScriptAlias /alias-on @DIR@/env.wsgi pass-authorization=On
WSGIScriptAlias /both @DIR@/env.wsgi
<Location /on>
    WSGIPassAuthorization On
</Location>
<Location /off>
    WSGIPassAuthorization Off
</Location>
<Location /both>
    WSGIPassAuthorization On
    AuthType Basic
    AuthName both
    AuthBasicProvider wsgi
    WSGIAuthUserScript @DIR@/auth.py
    Require valid-user
</Location>
";
    let s = server(site)
        .file("env.wsgi", apps::ENVIRON)
        .file("auth.py", AUTH)
        .start();
    let kv = |path: &str, h: &str| s.get_with(path, &[h]).kv();
    assert_eq!(
        kv("/on", "Authorization: Basic dXNlcjpwYXNz")
            .get("HTTP_AUTHORIZATION")
            .map(String::as_str),
        Some("Basic dXNlcjpwYXNz")
    );
    assert_eq!(
        kv("/on", "authorization: Token xyz")
            .get("HTTP_AUTHORIZATION")
            .map(String::as_str),
        Some("Token xyz")
    );
    assert_eq!(
        kv("/alias-on", "Authorization: Bearer abc.def")
            .get("HTTP_AUTHORIZATION")
            .map(String::as_str),
        Some("Bearer abc.def")
    );
    for path in ["/off", "/default"] {
        let e = kv(path, "Authorization: Basic dXNlcjpwYXNz");
        assert!(!e.keys().any(|k| k.contains("AUTH")), "{path}: {e:?}");
    }
    let e = kv("/both", &basic("alice", "wonderland"));
    assert_eq!(e.get("REMOTE_USER").map(String::as_str), Some("alice"));
    assert_eq!(e.get("AUTH_TYPE").map(String::as_str), Some("Basic"));
    assert_eq!(
        e.get("HTTP_AUTHORIZATION").map(String::as_str),
        Some(basic("alice", "wonderland").trim_start_matches("Authorization: "))
    );
}

#[test]
fn auth_directive_errors() {
    let cases = [
        (
            "WSGIAccessScript",
            "Location of access script not supplied.",
        ),
        (
            "WSGIAccessScript /x.py process-group=a",
            "Invalid option to WSGI access script definition.",
        ),
        (
            "WSGIAuthUserScript /x.py application-group=",
            "Invalid name for WSGI application group.",
        ),
        (
            "WSGIAuthGroupScript /x.py bogus",
            "Invalid option to WSGI auth group script definition.",
        ),
        (
            "WSGIGroupAuthoritative maybe",
            "WSGIGroupAuthoritative must be one of: Off | On",
        ),
        ("AuthBasicProvider ldap", "Unknown Authn provider: ldap"),
        (
            "AuthDigestAlgorithm MD5-sess",
            "not implemented yet in wsgid",
        ),
        ("AuthDigestQop auth-int", "not implemented yet in wsgid"),
        (
            "AuthDigestAlgorithm SHA-256",
            "Invalid algorithm in AuthDigestAlgorithm: SHA-256",
        ),
        (
            "AuthDigestNonceFormat x",
            "AuthDigestNonceFormat is not implemented (yet)",
        ),
        ("AuthDigestProvider dbm", "Unknown Authn provider: dbm"),
    ];
    for (line, message) in cases {
        let site = format!("<Location /x>\n    {line}\n</Location>\n");
        let out = server(&site).prepare().config_test();
        assert_eq!(out.code(), Some(1), "{line}: {out:?}");
        assert!(out.stderr.contains(message), "{line}: {}", out.stderr);
    }
}

fn md5_hex(text: &str) -> String {
    use md5::Digest as _;
    md5::Md5::digest(text.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The value of `key="..."` (or `key=token`) in a challenge.
fn param(challenge: &str, key: &str) -> Option<String> {
    let start = challenge.find(&format!("{key}="))? + key.len() + 1;
    let rest = &challenge[start..];
    Some(match rest.strip_prefix('"') {
        Some(q) => q[..q.find('"')?].to_owned(),
        None => rest.split([',', ' ']).next()?.to_owned(),
    })
}

/// A client's `Authorization: Digest` header for `GET uri`.
struct DigestClient {
    realm: String,
    nonce: String,
    opaque: Option<String>,
}

impl DigestClient {
    fn from_challenge(challenge: &str) -> DigestClient {
        DigestClient {
            realm: param(challenge, "realm").expect("realm"),
            nonce: param(challenge, "nonce").expect("nonce"),
            opaque: param(challenge, "opaque"),
        }
    }

    fn header(&self, user: &str, password: &str, uri: &str, nc: u32) -> String {
        let ha1 = md5_hex(&format!("{user}:{}:{password}", self.realm));
        let ha2 = md5_hex(&format!("GET:{uri}"));
        let cnonce = "0a4f113b";
        let nc = format!("{nc:08x}");
        let response = md5_hex(&format!("{ha1}:{}:{nc}:{cnonce}:auth:{ha2}", self.nonce));
        let opaque = self
            .opaque
            .as_ref()
            .map(|o| format!(", opaque=\"{o}\""))
            .unwrap_or_default();
        format!(
            "Authorization: Digest username=\"{user}\", realm=\"{}\", nonce=\"{}\", uri=\"{uri}\", qop=auth, \
             nc={nc}, cnonce=\"{cnonce}\", response=\"{response}\"{opaque}",
            self.realm, self.nonce
        )
    }

    /// RFC 2069: no qop.
    fn header_2069(&self, user: &str, password: &str, uri: &str) -> String {
        let ha1 = md5_hex(&format!("{user}:{}:{password}", self.realm));
        let ha2 = md5_hex(&format!("GET:{uri}"));
        let response = md5_hex(&format!("{ha1}:{}:{ha2}", self.nonce));
        format!(
            "Authorization: Digest username=\"{user}\", realm=\"{}\", nonce=\"{}\", uri=\"{uri}\", response=\"{response}\"",
            self.realm, self.nonce
        )
    }
}

const REALM_HASH: &str = r#"
import hashlib

def get_realm_hash(environ, user, realm):
    if user == "boom":
        raise RuntimeError("get_realm_hash exploded")
    if user != "carol":
        return None
    return hashlib.md5(("%s:%s:%s" % (user, realm, "pw")).encode()).hexdigest()
"#;

#[test]
fn digest_authentication() {
    let htdigest = format!(
        "dave:Digest Realm:{}\n",
        md5_hex("dave:Digest Realm:secret")
    );
    let site = "\
WSGIScriptAlias /d @DIR@/env.wsgi
WSGIScriptAlias /w @DIR@/env.wsgi
WSGIScriptAlias /short @DIR@/env.wsgi
WSGIScriptAlias /nc @DIR@/env.wsgi
<Location /d>
    AuthType Digest
    AuthName \"Digest Realm\"
    AuthUserFile @DIR@/users.htdigest
    AuthDigestDomain /d /w
    Require valid-user
</Location>
<Location /w>
    AuthType Digest
    AuthName \"Digest Realm\"
    AuthDigestProvider file wsgi
    AuthUserFile @DIR@/users.htdigest
    WSGIAuthUserScript @DIR@/realm.py
    Require valid-user
</Location>
<Location /short>
    AuthType Digest
    AuthName \"Digest Realm\"
    AuthUserFile @DIR@/users.htdigest
    AuthDigestNonceLifetime 1
    Require valid-user
</Location>
<Location /nc>
    AuthType Digest
    AuthName \"Digest Realm\"
    AuthUserFile @DIR@/users.htdigest
    AuthDigestNcCheck On
    Require user dave
</Location>
";
    let s = server(site)
        .file("env.wsgi", apps::ENVIRON)
        .file("users.htdigest", htdigest)
        .file("realm.py", REALM_HASH)
        .start();

    let r = s.get("/d");
    assert_eq!(r.status, 401, "{}", r.describe());
    let ch = r.header("WWW-Authenticate").expect("challenge").to_owned();
    assert!(
        ch.starts_with("Digest realm=\"Digest Realm\", nonce=\""),
        "{ch}"
    );
    assert!(
        ch.ends_with(", algorithm=MD5, domain=\"/d /w\", qop=\"auth\""),
        "{ch}"
    );
    let client = DigestClient::from_challenge(&ch);
    assert_eq!(client.nonce.len(), 52, "{ch}");
    assert!(client.opaque.is_none());

    let r = s.get_with(
        "/d/x?y=1",
        &[&client.header("dave", "secret", "/d/x?y=1", 1)],
    );
    assert_eq!(r.status, 200, "{}", r.describe());
    assert_eq!(r.var("REMOTE_USER"), "dave");
    assert_eq!(r.var("AUTH_TYPE"), "Digest");
    let info = r
        .header("Authentication-Info")
        .expect("Authentication-Info")
        .to_owned();
    assert!(
        info.starts_with("rspauth=\"")
            && info.ends_with(", cnonce=\"0a4f113b\", nc=00000001, qop=auth"),
        "{info}"
    );
    // RFC 2069 clients (no qop) are accepted too.
    let r = s.get_with("/d", &[&client.header_2069("dave", "secret", "/d")]);
    assert_eq!(r.status, 200, "{}", r.describe());

    let refusals: &[(String, u16, &str)] = &[
        (
            client.header("dave", "wrong", "/d", 1),
            401,
            "AH01794: user dave: password mismatch: /d",
        ),
        (
            client.header("erin", "secret", "/d", 1),
            401,
            "AH01790: user `erin' in realm `Digest Realm' not found: /d",
        ),
        (
            client.header("dave", "secret", "/elsewhere", 1),
            400,
            "AH01786: uri mismatch - </elsewhere> does not match request-uri </d>",
        ),
        (
            "Authorization: Basic ZGF2ZTpzZWNyZXQ=".to_owned(),
            401,
            "AH01781: client used wrong authentication scheme `Basic': /d",
        ),
        (
            "Authorization: Digest username=\"dave\"".to_owned(),
            401,
            "AH01782: missing user, realm, nonce, uri, digest, cnonce, or nonce_count",
        ),
        (
            DigestClient {
                realm: "Other".into(),
                nonce: client.nonce.clone(),
                opaque: None,
            }
            .header("dave", "secret", "/d", 1),
            401,
            "AH01788: realm mismatch - got `Other' but expected `Digest Realm'",
        ),
        (
            DigestClient {
                realm: client.realm.clone(),
                nonce: format!("{}0000", &client.nonce[..48]),
                opaque: None,
            }
            .header("dave", "secret", "/d", 1),
            401,
            "AH01776: invalid nonce",
        ),
        (
            DigestClient {
                realm: client.realm.clone(),
                nonce: "short".into(),
                opaque: None,
            }
            .header("dave", "secret", "/d", 1),
            401,
            "AH01775: invalid nonce 'short' received - length is not 52",
        ),
    ];
    for (header, status, line) in refusals {
        let r = s.get_with("/d", &[header]);
        assert_eq!(r.status, *status, "{header}: {}", r.describe());
        if *status == 401 {
            let ch = r.header("WWW-Authenticate").unwrap_or_default();
            assert!(
                ch.starts_with("Digest realm=\"Digest Realm\""),
                "{header}: {ch}"
            );
            assert_eq!(
                ch.contains("stale=true"),
                line.contains("invalid nonce"),
                "{header}: {ch}"
            );
        }
        assert!(
            s.wait_for_log(&["[auth_digest:error]", "[client 127.0.0.1:", line], WAIT)
                .is_some(),
            "{line}: {}",
            s.diagnostics()
        );
    }

    // The wsgi provider: get_realm_hash.
    let ch = s
        .get("/w")
        .header("WWW-Authenticate")
        .expect("challenge")
        .to_owned();
    let wc = DigestClient::from_challenge(&ch);
    assert_eq!(
        s.get_with("/w", &[&wc.header("carol", "pw", "/w", 1)])
            .status,
        200
    );
    assert_eq!(
        s.get_with("/w", &[&wc.header("dave", "secret", "/w", 1)])
            .status,
        200,
        "file first"
    );
    assert_eq!(
        s.get_with("/w", &[&wc.header("carol", "nope", "/w", 1)])
            .status,
        401
    );
    assert_eq!(
        s.get_with("/w", &[&wc.header("frank", "x", "/w", 1)])
            .status,
        401
    );
    assert_eq!(
        s.get_with("/w", &[&wc.header("boom", "x", "/w", 1)]).status,
        500
    );
    assert!(
        s.wait_for_log(&["RuntimeError: get_realm_hash exploded"], WAIT)
            .is_some()
    );

    // A nonce past AuthDigestNonceLifetime: stale=true, a fresh nonce.
    let ch = s
        .get("/short")
        .header("WWW-Authenticate")
        .expect("challenge")
        .to_owned();
    let sc = DigestClient::from_challenge(&ch);
    assert_eq!(
        s.get_with("/short", &[&sc.header("dave", "secret", "/short", 1)])
            .status,
        200
    );
    std::thread::sleep(Duration::from_millis(2100));
    let r = s.get_with("/short", &[&sc.header("dave", "secret", "/short", 2)]);
    assert_eq!(r.status, 401, "{}", r.describe());
    let ch = r.header("WWW-Authenticate").expect("challenge").to_owned();
    assert!(ch.contains(", stale=true"), "{ch}");
    assert_ne!(DigestClient::from_challenge(&ch).nonce, sc.nonce);
    assert!(
        s.wait_for_log(
            &[
                "[auth_digest:info]",
                "AH01778: user dave: nonce expired (",
                "max lifetime 1.00) - sending new nonce"
            ],
            WAIT
        )
        .is_some(),
        "{}",
        s.diagnostics()
    );

    // AuthDigestNcCheck On: an opaque per client, each nc used once.
    let ch = s
        .get("/nc")
        .header("WWW-Authenticate")
        .expect("challenge")
        .to_owned();
    let nc = DigestClient::from_challenge(&ch);
    assert!(nc.opaque.is_some(), "{ch}");
    assert_eq!(
        s.get_with("/nc", &[&nc.header("dave", "secret", "/nc", 1)])
            .status,
        200
    );
    assert_eq!(
        s.get_with("/nc", &[&nc.header("dave", "secret", "/nc", 2)])
            .status,
        200
    );
    let r = s.get_with("/nc", &[&nc.header("dave", "secret", "/nc", 2)]);
    assert_eq!(r.status, 401, "a replayed nc: {}", r.describe());
    assert!(
        s.wait_for_log(
            &["AH01774: Warning, possible replay attack: nonce-count check failed: 2 != 3"],
            WAIT
        )
        .is_some(),
        "{}",
        s.diagnostics()
    );
}
