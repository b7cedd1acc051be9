//! The handler phase: the checks each handler makes before producing a
//! response, with Apache's and mod_wsgi's exact log lines, and the hand-off
//! of a WSGI request to the Python host.
//!
//! * `wsgi-script` (mod_wsgi's `wsgi_hook_handler`): ExecCGI unless the
//!   script was aliased, the script must exist and not be a directory, the
//!   request body must be acceptable (Transfer-Encoding, Content-Length
//!   against LimitRequestBody); then the environ is built and the request
//!   submitted.
//! * a `WSGIHandlerScript` name: the same, the handler script's
//!   `handle_request` run for whatever the request maps to.
//! * anything else: the core's default handler (static files).

use std::borrow::Cow;
use std::fmt::Write as _;
use std::path::Path;

use wsgid_config::model::{AcceptPathInfo, HandlerScript};
use wsgid_log::{Level, Peer};
use wsgid_python::{EventReceiver, WsgiRequest};

use super::{Outcome, default_options};
use crate::environ::{self, EnvInputs, WsgiSettings};
use crate::frontend::{FrontEnd, Site};
use crate::request::{FileKind, Request};
use crate::request_body::IncomingBody;

/// Apache 2.4.54+'s default `LimitRequestBody` (1 GiB).
pub const DEFAULT_LIMIT_REQUEST_BODY: u64 = 1 << 30;

/// Room for response events between the Python thread and the writer.
const EVENT_QUEUE: usize = 8;

fn is_wsgi_handler(h: Option<&str>) -> bool {
    matches!(h, Some("wsgi-script" | "application/x-httpd-wsgi"))
}

/// The `WSGIHandlerScript` whose name is the request's handler, unless
/// the handler is mod_wsgi's own (`wsgi_hook_handler` checks that first).
pub fn handler_script(r: &Request) -> Option<&HandlerScript> {
    let name = r.handler_name()?;
    if is_wsgi_handler(Some(name)) {
        return None;
    }
    r.per_dir
        .wsgi
        .handler_scripts
        .iter()
        .find(|h| h.name == name)
}

fn script_error(site: &Site, r: &Request, what: &str) {
    site.error_log.log(
        "wsgi",
        Level::Error,
        Peer::Client(r.conn.peer),
        &format!("{what}: {}", r.filename_str()),
    );
}

/// Decide between the WSGI handler and the default handler, and make the
/// checks that fail before any response is produced.
pub fn select(site: &Site, r: &Request) -> Outcome {
    if let Some(target) = &r.rewrite_redirect {
        return Outcome::InternalRedirect(target.clone());
    }
    if is_wsgi_handler(r.handler_name()) {
        if !r.alias_forced && !r.per_dir.effective_options(default_options()).exec_cgi {
            script_error(site, r, "Options ExecCGI is off in this directory");
            return Outcome::Error(403);
        }
        return match r.kind {
            FileKind::Missing => {
                script_error(site, r, "Target WSGI script not found or unable to stat");
                Outcome::Error(404)
            }
            FileKind::Dir => {
                script_error(site, r, "Attempt to invoke directory as WSGI application");
                Outcome::Error(403)
            }
            FileKind::File | FileKind::Other => {
                if r.per_dir.accept_path_info == Some(AcceptPathInfo::Off)
                    && !r.path_info.is_empty()
                {
                    script_error(site, r, "AcceptPathInfo off disallows user's path");
                    return Outcome::Error(404);
                }
                Outcome::Wsgi
            }
        };
    }
    // A handler script serves whatever the request maps to, existing or
    // not: the script decides (no ExecCGI needed either).
    if handler_script(r).is_some() {
        if r.per_dir.accept_path_info == Some(AcceptPathInfo::Off) && !r.path_info.is_empty() {
            script_error(site, r, "AcceptPathInfo off disallows user's path");
            return Outcome::Error(404);
        }
        return Outcome::Wsgi;
    }
    let info = |msg: String| {
        site.error_log
            .log("core", Level::Info, Peer::Client(r.conn.peer), &msg)
    };
    let serves_content = matches!(
        r.method,
        http::Method::GET | http::Method::HEAD | http::Method::POST
    );
    if !serves_content {
        // The default handler's method answers (OPTIONS, 405, 501) do not
        // depend on the file; static_files builds them.
        return Outcome::Static;
    }
    match r.kind {
        FileKind::Missing => {
            info(format!(
                "AH00128: File does not exist: {}",
                r.filename_with_path_info()
            ));
            Outcome::Error(404)
        }
        FileKind::Dir => {
            info(format!(
                "AH00129: Attempt to serve directory: {}",
                r.filename_str()
            ));
            Outcome::Error(404)
        }
        // AcceptPathInfo: the default handler refuses path information
        // unless it is On.
        _ if !r.path_info.is_empty() && r.per_dir.accept_path_info != Some(AcceptPathInfo::On) => {
            info(format!(
                "AH00130: File does not exist: {}",
                r.filename_with_path_info()
            ));
            Outcome::Error(404)
        }
        _ => Outcome::Static,
    }
}

/// The request-body checks mod_wsgi makes before building the environ.
/// `Err(status)` is the error page to send (already logged).
pub fn check_body(site: &Site, r: &Request, settings: &WsgiSettings) -> Result<Option<u64>, u16> {
    if let Some(te) = r.headers.get(http::header::TRANSFER_ENCODING) {
        let te = String::from_utf8_lossy(te.as_bytes()).into_owned();
        if !te.eq_ignore_ascii_case("chunked") {
            script_error(
                site,
                r,
                &format!(
                    "Unexpected value for Transfer-Encoding of '{te}' supplied. Only 'chunked' supported."
                ),
            );
            return Err(501);
        }
        if !settings.chunked_request {
            script_error(
                site,
                r,
                "Received request requiring chunked transfer encoding, but optional support for chunked \
                 transfer encoding has not been enabled.",
            );
            return Err(411);
        }
    }
    let Some(value) = r.headers.get(http::header::CONTENT_LENGTH) else {
        return Ok(None);
    };
    let text = String::from_utf8_lossy(value.as_bytes()).into_owned();
    let Ok(length) = text.trim().parse::<u64>() else {
        script_error(
            site,
            r,
            &format!("Invalid Content-Length header value of '{text}' was supplied."),
        );
        return Err(400);
    };
    let limit = limit_request_body(r);
    if limit != 0 && length > limit {
        site.error_log.log(
            "http",
            Level::Info,
            Peer::Client(r.conn.peer),
            &format!(
                "AH01588: Requested content-length of {length} is larger than the configured limit of {limit}"
            ),
        );
        return Err(413);
    }
    Ok(Some(length))
}

/// LimitRequestBody in effect (0: unlimited).
pub fn limit_request_body(r: &Request) -> u64 {
    r.per_dir
        .limit_request_body
        .unwrap_or(DEFAULT_LIMIT_REQUEST_BODY)
}

/// Why a WSGI request could not be handed to Python.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SubmitError {
    /// No Python host in this process (503: nothing can run scripts).
    NoPython,
    /// The host is shutting down (503).
    ShuttingDown,
}

/// mod_wsgi's checks before a request runs (`wsgi_execute_remote`, then
/// the embedded-mode restriction): `Err(500)` once logged.  `Ok(Some(group))`
/// for a daemon group, `Ok(None)` for embedded mode.
fn route<'c>(
    fe: &'c FrontEnd,
    r: &Request,
    settings: &WsgiSettings,
) -> Result<Option<&'c wsgid_config::model::DaemonProcess>, u16> {
    let site = fe.site(r.host);
    let group = settings.process_group.as_str();
    if let Some(allowed) = &r.per_dir.wsgi.restrict_process
        && !allowed.iter().any(|g| g == group)
    {
        script_error(
            site,
            r,
            &format!(
                "Daemon process called '{group}' cannot be accessed by this WSGI application as not a member of allowed groups"
            ),
        );
        return Err(500);
    }
    if group.is_empty() {
        if fe.cfg.wsgi.restrict_embedded {
            script_error(
                site,
                r,
                "Embedded mode of mod_wsgi disabled by runtime configuration",
            );
            return Err(500);
        }
        return Ok(None);
    }
    let Some(daemon) = fe.cfg.wsgi.daemon(group) else {
        script_error(
            site,
            r,
            &format!("No WSGI daemon process called '{group}' has been configured"),
        );
        return Err(500);
    };
    // A group defined in a <VirtualHost> serves only hosts with its ServerName.
    if let Some(v) = daemon.vhost
        && v + 1 != r.host
        && fe.site(v + 1).server_hostname != site.server_hostname
    {
        script_error(
            site,
            r,
            &format!("Daemon process called '{group}' cannot be accessed by this WSGI application"),
        );
        return Err(500);
    }
    if let Some(owner) = &daemon.script_owner {
        script_owner_check(site, r, owner)?;
    }
    Ok(Some(daemon))
}

/// `script-user=` / `script-group=` of the group: `Err(403)` once logged.
fn script_owner_check(
    site: &Site,
    r: &Request,
    owner: &wsgid_config::model::ScriptOwner,
) -> Result<(), u16> {
    let (Some(file), Some(meta)) = (&r.filename, r.meta.as_ref()) else {
        let what = match owner {
            wsgid_config::model::ScriptOwner::User(_) => "User",
            wsgid_config::model::ScriptOwner::Group(_) => "Group",
        };
        script_error(
            site,
            r,
            &format!("{what} information not available for WSGI script file"),
        );
        return Err(403);
    };
    match super::script_owner::check(owner, file, meta) {
        Ok(()) => Ok(()),
        Err(refused) => {
            let path = refused.path.unwrap_or_else(|| r.filename_str());
            site.error_log.log(
                "wsgi",
                Level::Error,
                Peer::Client(r.conn.peer),
                &format!("{}: {path}", refused.message),
            );
            Err(403)
        }
    }
}

/// Build the environ and queue the request (to this process's Python host,
/// or to the daemon process group the request is delegated to); the
/// receiver yields the response events.
pub fn submit(
    fe: &FrontEnd,
    r: &Request,
    settings: WsgiSettings,
    body: IncomingBody,
) -> Result<EventReceiver, SubmitError> {
    let daemon = match route(fe, r, &settings) {
        Ok(d) => d,
        Err(status) => return Ok(crate::daemon_client::failed(status)),
    };
    if daemon.is_none() && fe.python.is_none() {
        return Err(SubmitError::NoPython);
    }
    let site = fe.site(r.host);
    let inputs = EnvInputs {
        settings: &settings,
        path_translated: super::path_translated(fe, r),
        request_id: request_id(fe, r),
        server_software: &site.server_banner,
    };
    let (environ, url_scheme) = environ::build(site, r, &inputs);
    // A handler script runs instead of the file (the host stats it).
    let (script, script_mtime) = match &settings.handler_script {
        Some(path) => (path.as_path(), None),
        None => (
            r.filename.as_deref().unwrap_or(Path::new("")),
            r.meta.as_ref().and_then(|m| m.modified().ok()),
        ),
    };
    if let Some(group) = daemon {
        // Borrowed: `forward` encodes the head before it returns.
        let head = wsgid_daemon::protocol::RequestHead {
            host: u32::try_from(r.host).unwrap_or(0),
            script: script.to_string_lossy(),
            callable: Cow::Borrowed(&settings.callable),
            application_group: Cow::Borrowed(&settings.application_group),
            script_reloading: settings.script_reloading,
            // In daemon mode the default reload mechanism is `Process`.
            reload: match r.per_dir.wsgi.reload_mechanism {
                None => wsgid_python::ReloadMechanism::Process,
                Some(_) => settings.reload,
            },
            script_mtime,
            https: url_scheme == "https",
            client: Some(r.conn.peer),
            queued_at: std::time::SystemTime::now(),
            ignore_activity: r.per_dir.wsgi.ignore_activity.unwrap_or(false),
            environ,
        };
        let rlog = wsgid_daemon::client::RequestLog {
            log: site.error_log.clone(),
            peer: Some(r.conn.peer),
            filename: r.filename_str().to_string(),
        };
        let target = fe
            .daemons
            .get(group)
            .unwrap_or_else(|| std::sync::Arc::new(crate::daemon_client::target(&fe.cfg, group)));
        return Ok(crate::daemon_client::spawn(
            target,
            &head,
            body,
            rlog,
            EVENT_QUEUE,
        ));
    }
    let script = script.to_path_buf();
    let Some(python) = &fe.python else {
        return Err(SubmitError::NoPython);
    };
    let (tx, rx) = wsgid_python::event_channel(EVENT_QUEUE);
    let req = WsgiRequest {
        script,
        callable: settings.callable,
        application_group: settings.application_group,
        script_reloading: settings.script_reloading,
        reload: settings.reload,
        script_mtime,
        environ,
        url_scheme,
        body: Box::new(body),
        client: Some(r.conn.peer),
        error_log: site.error_log.clone(),
        events: tx,
    };
    python.submit(req).map_err(|_| SubmitError::ShuttingDown)?;
    Ok(rx)
}

/// `mod_wsgi.request_id`.  Fixed width (until a counter passes 2^32):
/// successive requests then build environ tables of one layout, which the
/// Python side compares as a whole (python/src/environ/layout.rs).
pub fn request_id(fe: &FrontEnd, r: &Request) -> String {
    let mut id = String::with_capacity(33);
    let _ = write!(
        id,
        "{:08x}-{:08x}",
        r.conn.id,
        fe.next_id
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed)
    );
    id
}
