//! Access control and authentication, in Apache 2.4's order
//! (`ap_process_request_internal` with `Satisfy All`):
//!
//! 1. access_checker: mod_wsgi's `WSGIAccessScript` (`allow_access`):
//!    True or None go on, False (or a failure) is a 403;
//! 2. access_checker_ex: mod_authz_core's first pass over `Require`
//!    (`access::check`): decided there unless a user is needed;
//! 3. check_user_id: mod_auth_basic (`AuthType Basic`) with the providers of
//!    `AuthBasicProvider` in order: `file` (mod_authn_file, `AuthUserFile`
//!    in htpasswd format) and `wsgi` (`WSGIAuthUserScript`'s
//!    `check_password`); 401 with the `WWW-Authenticate` challenge;
//! 4. auth_checker: the second pass over `Require` with the user
//!    (`access::check_user`); a refused user gets a 401 too.
//!
//! Script calls go to the Python host's threads (`PythonHost::submit_auth`)
//! and are awaited: the front end never waits for the GIL.
//!
//! Sub-requests (DirectoryIndex, PATH_TRANSLATED) take the main request's
//! user, as Apache does when their configuration is the main request's;
//! they run only the synchronous first pass (see `phases::lookup`).
//!
//! `basic`: reading the Basic credentials; `file`: the `file` provider
//! (mod_authn_file, mod_authz_groupfile).  Digest is `phases::digest`.

use http::{HeaderName, HeaderValue};
use tokio::sync::oneshot;
use wsgid_config::model::AuthScript;
use wsgid_log::{Level, Peer};
use wsgid_python::{AuthAnswer, AuthCall, AuthKind};

use super::Outcome;
use super::access::{self, Authz, UserFacts};
use super::digest;
use crate::environ;
use crate::frontend::{FrontEnd, Site};
use crate::request::Request;
use crate::uri::latin1;

mod basic;
mod file;

pub use basic::{apr_base64_decode, basic_credentials};
use file::{file_groups, file_provider, file_realm_hash};

/// Run steps 1-4 for the main request.
pub async fn run(fe: &FrontEnd, site: &Site, r: &mut Request) -> Result<(), Outcome> {
    // mod_auth_digest's post_read_request: any valid Digest header counts
    // against its client's nonce count, whether or not the URI needs it.
    if let Some(line) = r.headers.get(http::header::AUTHORIZATION)
        && line.as_bytes().len() > 6
        && line.as_bytes()[..6].eq_ignore_ascii_case(b"digest")
        && let digest::Parsed::Valid(h) = digest::parse(Some(line.as_bytes()))
    {
        digest::count(&h);
    }
    if let Some(script) = r.per_dir.wsgi.access_script.clone() {
        let host = environ::client_ip(r);
        match call(fe, site, r, &script, AuthKind::AllowAccess { host }).await {
            AuthAnswer::Granted | AuthAnswer::NotFound => {}
            _ => {
                let pid = std::process::id();
                log(
                    site,
                    r,
                    "wsgi",
                    &format!(
                        "mod_wsgi (pid={pid}): Client denied by server configuration: '{}'.",
                        r.filename_str()
                    ),
                );
                return Err(Outcome::Error(403));
            }
        }
    }
    match access::check(r) {
        Authz::Granted => Ok(()),
        Authz::Denied | Authz::Neutral => Err(denied(site, r)),
        Authz::Error => Err(Outcome::Error(500)),
        Authz::NeedsUser => {
            authenticate(fe, site, r).await?;
            authorize(fe, site, r).await
        }
    }
}

/// The synchronous first pass, for sub-requests: a user-based rule is
/// satisfied by the main request's user (Apache skips authentication for a
/// sub-request with the main request's configuration).
pub fn check_sub(site: &Site, r: &Request) -> Result<(), Outcome> {
    match access::check(r) {
        Authz::Granted => Ok(()),
        Authz::NeedsUser if r.user.is_some() => Ok(()),
        Authz::NeedsUser => Err(no_authentication(site, r)),
        Authz::Denied | Authz::Neutral => Err(denied(site, r)),
        Authz::Error => Err(Outcome::Error(500)),
    }
}

pub(super) fn log(site: &Site, r: &Request, module: &str, line: &str) {
    site.error_log
        .log(module, Level::Error, Peer::Client(r.conn.peer), line);
}

fn denied(site: &Site, r: &Request) -> Outcome {
    log(
        site,
        r,
        "authz_core",
        &format!(
            "AH01630: client denied by server configuration: {}",
            r.filename
                .as_ref()
                .map_or_else(|| latin1(&r.uri), |f| f.to_string_lossy().into_owned())
        ),
    );
    Outcome::Error(403)
}

fn no_authentication(site: &Site, r: &Request) -> Outcome {
    log(
        site,
        r,
        "core",
        &format!(
            "AH00027: No authentication done but request not allowed without authentication for {}. \
             Authentication not configured?",
            latin1(&r.uri)
        ),
    );
    Outcome::Error(500)
}

fn is_digest(r: &Request) -> bool {
    r.per_dir
        .auth_type
        .as_deref()
        .is_some_and(|t| t.eq_ignore_ascii_case("digest"))
}

/// `ap_note_auth_failure`: the challenge of the 401 for the configured
/// scheme (mod_auth_basic's `note_basic_auth_failure`, mod_auth_digest's
/// `note_digest_auth_failure`).
fn challenge(r: &mut Request, stale: bool) {
    let text = if is_digest(r) {
        let header = match digest::parse(
            r.headers
                .get(http::header::AUTHORIZATION)
                .map(|v| v.as_bytes()),
        ) {
            digest::Parsed::Valid(h) => Some(h),
            _ => None,
        };
        digest::challenge(r, header.as_ref(), stale)
    } else {
        let realm = r.per_dir.auth_name.clone().unwrap_or_default();
        format!("Basic realm=\"{realm}\"")
    };
    if let Ok(v) = HeaderValue::from_str(&text) {
        r.err_headers
            .push((HeaderName::from_static("www-authenticate"), v));
    }
}

fn unauthorized(r: &mut Request) -> Outcome {
    challenge(r, false);
    Outcome::Error(401)
}

/// Step 3: `AuthType Basic`.
async fn authenticate(fe: &FrontEnd, site: &Site, r: &mut Request) -> Result<(), Outcome> {
    let auth_type = match r.per_dir.auth_type.clone() {
        Some(t) if !t.eq_ignore_ascii_case("none") => t,
        _ => return Err(no_authentication(site, r)),
    };
    let uri = latin1(&r.uri);
    if auth_type.eq_ignore_ascii_case("digest") {
        return authenticate_digest(fe, site, r).await;
    }
    if !auth_type.eq_ignore_ascii_case("basic") {
        // No authentication module takes this type.
        log(
            site,
            r,
            "core",
            &format!(
                "AH00025: configuration error:  couldn't check user.  Check your authn provider!: {uri}"
            ),
        );
        return Err(Outcome::Error(500));
    }
    if r.per_dir.auth_name.is_none() {
        log(
            site,
            r,
            "auth_basic",
            &format!("AH01615: need AuthName: {uri}"),
        );
        return Err(Outcome::Error(500));
    }
    r.auth_type = Some(auth_type);
    let Some(line) = r.headers.get(http::header::AUTHORIZATION) else {
        return Err(unauthorized(r));
    };
    let Some((user, password)) = basic_credentials(line.as_bytes()) else {
        log(
            site,
            r,
            "auth_basic",
            &format!("AH01614: client used wrong authentication scheme: {uri}"),
        );
        return Err(unauthorized(r));
    };
    // Set before the check, as mod_auth_basic does (`%u` of a failure).
    r.user = Some(user.clone());
    let answer = ask_providers(
        fe,
        site,
        r,
        r.per_dir.auth_basic_provider.as_deref(),
        || AuthKind::CheckPassword {
            user: user.clone(),
            password: password.clone(),
        },
        |site, r| file_provider(site, r, &user, &password),
    )
    .await;
    match answer {
        AuthAnswer::Granted => Ok(()),
        AuthAnswer::User(name) => {
            r.user = Some(name);
            Ok(())
        }
        AuthAnswer::Denied => {
            log(
                site,
                r,
                "auth_basic",
                &format!(
                    "AH01617: user {user}: authentication failure for \"{uri}\": Password Mismatch"
                ),
            );
            Err(unauthorized(r))
        }
        AuthAnswer::NotFound => {
            log(
                site,
                r,
                "auth_basic",
                &format!("AH01618: user {user} not found: {uri}"),
            );
            Err(unauthorized(r))
        }
        _ => Err(Outcome::Error(500)),
    }
}

/// Step 3 for `AuthType Digest` (mod_auth_digest's
/// `authenticate_digest_user`).
async fn authenticate_digest(fe: &FrontEnd, site: &Site, r: &mut Request) -> Result<(), Outcome> {
    let uri = latin1(&r.uri);
    let Some(realm) = r.per_dir.auth_name.clone() else {
        log(
            site,
            r,
            "auth_digest",
            &format!("AH01780: need AuthName: {uri}"),
        );
        return Err(Outcome::Error(500));
    };
    let header = match digest::parse(
        r.headers
            .get(http::header::AUTHORIZATION)
            .map(|v| v.as_bytes()),
    ) {
        digest::Parsed::Valid(h) => h,
        other => {
            match other {
                digest::Parsed::NotDigest(scheme) => log(
                    site,
                    r,
                    "auth_digest",
                    &format!("AH01781: client used wrong authentication scheme `{scheme}': {uri}"),
                ),
                digest::Parsed::Invalid(_) => log(
                    site,
                    r,
                    "auth_digest",
                    &format!(
                        "AH01782: missing user, realm, nonce, uri, digest, cnonce, or nonce_count in \
                         authorization header: {uri}"
                    ),
                ),
                _ => {}
            }
            return Err(unauthorized(r));
        }
    };
    let user = header.username.clone().unwrap_or_default();
    r.user = Some(user.clone());
    r.auth_type = Some("Digest".to_owned());
    let fail = |r: &mut Request, f: digest::Failure| -> Outcome {
        match f {
            digest::Failure::BadRequest(line) => {
                log(site, r, "auth_digest", &line);
                Outcome::Error(400)
            }
            digest::Failure::Challenge { line, stale, info } => {
                if let Some(line) = line {
                    let level = if info { Level::Info } else { Level::Error };
                    site.error_log
                        .log("auth_digest", level, Peer::Client(r.conn.peer), &line);
                }
                challenge(r, stale);
                Outcome::Error(401)
            }
        }
    };
    if let Err(f) = digest::precheck(r, &header, &realm) {
        return Err(fail(r, f));
    }
    let answer = ask_providers(
        fe,
        site,
        r,
        r.per_dir.digest.providers.as_deref(),
        || AuthKind::RealmHash {
            user: user.clone(),
            realm: realm.clone(),
        },
        |site, r| file_realm_hash(site, r, &user, &realm),
    )
    .await;
    let ha1 = match answer {
        AuthAnswer::Hash(h) => h,
        AuthAnswer::NotFound => {
            let line = format!("AH01790: user `{user}' in realm `{realm}' not found: {uri}");
            return Err(fail(
                r,
                digest::Failure::Challenge {
                    line: Some(line),
                    stale: false,
                    info: false,
                },
            ));
        }
        _ => return Err(Outcome::Error(500)),
    };
    if let Err(f) = digest::verify(r, &header, &ha1) {
        return Err(fail(r, f));
    }
    if let Some(ai) = digest::auth_info(r, &header, &ha1)
        && let Ok(v) = HeaderValue::from_str(&ai)
    {
        r.err_headers
            .push((HeaderName::from_static("authentication-info"), v));
    }
    Ok(())
}

/// Step 4: `Require` again, with the user.
async fn authorize(fe: &FrontEnd, site: &Site, r: &mut Request) -> Result<(), Outcome> {
    let user = r.user.clone().unwrap_or_default();
    let mut facts = UserFacts {
        user: user.clone(),
        ..UserFacts::default()
    };
    if let Some(req) = &r.per_dir.require {
        if access::mentions(req, true) {
            facts.wsgi_groups = match r.per_dir.wsgi.auth_group_script.clone() {
                Some(script) => {
                    let kind = AuthKind::GroupsForUser { user: user.clone() };
                    match call(fe, site, r, &script, kind).await {
                        AuthAnswer::Groups(g) => Some(g),
                        _ => None,
                    }
                }
                None => {
                    let pid = std::process::id();
                    site.error_log.log(
                        "wsgi",
                        Level::Error,
                        Peer::None,
                        &format!(
                            "mod_wsgi (pid={pid}): Location of WSGI group authorization script not provided."
                        ),
                    );
                    None
                }
            };
        }
        if access::mentions(req, false) {
            facts.file_groups = r
                .per_dir
                .auth_group_file
                .as_deref()
                .map(|f| file_groups(f, &user));
        }
    }
    let result = access::check_user(r, &mut facts);
    for (module, line) in &facts.log {
        log(site, r, module, line);
    }
    match result {
        Authz::Granted => Ok(()),
        Authz::Error => Err(Outcome::Error(500)),
        _ => {
            log(
                site,
                r,
                "authz_core",
                &format!(
                    "AH01631: user {user}: authorization failure for \"{}\": ",
                    latin1(&r.uri)
                ),
            );
            Err(unauthorized(r))
        }
    }
}

/// The provider loop of mod_auth_basic and mod_auth_digest: each provider
/// of `AuthBasicProvider`/`AuthDigestProvider` in order (default `file`)
/// until one knows the user.
async fn ask_providers(
    fe: &FrontEnd,
    site: &Site,
    r: &Request,
    providers: Option<&[String]>,
    wsgi: impl Fn() -> AuthKind,
    file: impl Fn(&Site, &Request) -> AuthAnswer,
) -> AuthAnswer {
    let default = ["file".to_owned()];
    let mut answer = AuthAnswer::NotFound;
    for provider in providers.unwrap_or(&default) {
        answer = match provider.as_str() {
            "wsgi" => wsgi_provider(fe, site, r, wsgi()).await,
            _ => file(site, r),
        };
        if answer != AuthAnswer::NotFound {
            break;
        }
    }
    answer
}

/// The `wsgi` authentication provider (Basic and Digest alike): the
/// `WSGIAuthUserScript` of the request's directory answers `kind`.
async fn wsgi_provider(fe: &FrontEnd, site: &Site, r: &Request, kind: AuthKind) -> AuthAnswer {
    match r.per_dir.wsgi.auth_user_script.clone() {
        Some(script) => call(fe, site, r, &script, kind).await,
        None => {
            let pid = std::process::id();
            site.error_log.log(
                "wsgi",
                Level::Error,
                Peer::None,
                &format!(
                    "mod_wsgi (pid={pid}): Location of WSGI user authentication script not provided."
                ),
            );
            AuthAnswer::Error
        }
    }
}

/// `WSGIDispatchScript` (mod_wsgi's `wsgi_execute_dispatch`): what its
/// functions chose for this request; None when the script failed (logged
/// with its traceback; the request gets a 500).
///
/// Its environ is mod_wsgi's `Dispatch_environ`: the request's CGI and
/// `mod_wsgi.*` strings as the application would get them, before the
/// callable is known (so without `mod_wsgi.callable_object`), plus
/// `wsgi.errors`.
pub async fn dispatch(
    fe: &FrontEnd,
    site: &Site,
    r: &Request,
    script: &AuthScript,
    settings: &environ::WsgiSettings,
) -> Option<wsgid_python::Dispatched> {
    let inputs = environ::EnvInputs {
        settings,
        path_translated: super::path_translated(fe, r),
        request_id: super::handler::request_id(fe, r),
        server_software: &site.server_banner,
    };
    let (mut vars, _) = environ::build(site, r, &inputs);
    vars.unset("mod_wsgi.callable_object");
    // ap_add_common_vars' PATH, which the application's environ leaves out.
    let path = std::env::var("PATH").unwrap_or_else(|_| "/usr/local/bin:/usr/bin:/bin".into());
    vars.push("PATH", &path);
    match call_with(fe, site, r, script, AuthKind::Dispatch, vars).await {
        AuthAnswer::Dispatch(d) => Some(d),
        _ => None,
    }
}

/// Hand a script call to the Python host and wait for its answer (the
/// environ of an auth script: `environ::auth_environ`).
async fn call(
    fe: &FrontEnd,
    site: &Site,
    r: &Request,
    script: &AuthScript,
    kind: AuthKind,
) -> AuthAnswer {
    let vars = environ::auth_environ(site, r, &site.server_banner);
    call_with(fe, site, r, script, kind, vars).await
}

async fn call_with(
    fe: &FrontEnd,
    site: &Site,
    r: &Request,
    script: &AuthScript,
    kind: AuthKind,
    vars: wsgid_python::CgiEnv,
) -> AuthAnswer {
    let Some(python) = &fe.python else {
        return AuthAnswer::Error;
    };
    let (tx, rx) = oneshot::channel();
    let call = AuthCall {
        script: script.path.clone(),
        application_group: environ::auth_script_group(site, r, &script.application_group),
        script_reloading: r.per_dir.wsgi.script_reloading.unwrap_or(true),
        environ: vars,
        kind,
        client: Some(r.conn.peer),
        error_log: site.error_log.clone(),
        answer: tx,
    };
    if python.submit_auth(call).is_err() {
        return AuthAnswer::Error;
    }
    rx.await.unwrap_or(AuthAnswer::Error)
}
