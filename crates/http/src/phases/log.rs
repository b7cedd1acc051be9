//! The log phase: one `CustomLog` line per request for every access log of
//! the serving host, written when the response body has been sent (or the
//! connection dropped), so that `%b` counts what really went out.
//!
//! [`AccessRecord`] owns a snapshot of the request and response head taken
//! when the response is built; formatting is `access_log::Formatter`'s job.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::SystemTime;

use http::{HeaderMap, Response};

use crate::access_log::{ConnStatus, LogRecord};
use crate::frontend::{AccessSink, Site};
use crate::request::{Request, version_str};
use crate::response::OutBody;
use crate::uri::latin1;

/// Everything needed to write the access-log lines of one request later.
/// What the connection writer adds to a record (mod_logio's `%I` and `%O`,
/// and `%X`).
#[derive(Clone, Copy, Debug)]
pub struct Wire {
    /// The request's bytes read from the connection: head, body and its
    /// chunk framing, including a body drained after the response.
    pub bytes_in: u64,
    /// The response's bytes written: head, body and chunk framing.
    pub bytes_out: u64,
    /// Whether the connection stays open after it (None: the response
    /// could not be written whole).
    pub kept: Option<bool>,
}

pub struct AccessRecord {
    sinks: Arc<Vec<AccessSink>>,
    remote: SocketAddr,
    local: SocketAddr,
    request_line: String,
    method: String,
    uri_path: String,
    query: Option<String>,
    /// Borrowed unless the client sent an unusual protocol.
    protocol: std::borrow::Cow<'static, str>,
    status: u16,
    request_headers: HeaderMap,
    response_headers: HeaderMap,
    env: Vec<(String, String)>,
    start: SystemTime,
    server_hostname: String,
    server_name: String,
    port: u16,
    filename: Option<String>,
    handler: Option<String>,
    keep_alive: bool,
    user: Option<String>,
    /// `%s` after an internal redirect: the first request's own status.
    status_original: Option<u16>,
}

impl AccessRecord {
    /// Snapshot `r` and the response head; None when the host has no
    /// access log.
    pub fn new(site: &Site, r: &Request, resp: &Response<OutBody>) -> Option<AccessRecord> {
        if site.access_logs.is_empty() {
            return None;
        }
        let close = resp
            .headers()
            .get(http::header::CONNECTION)
            .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"close"));
        Some(AccessRecord {
            sinks: site.access_logs.clone(),
            remote: r.conn.peer,
            local: r.conn.local,
            request_line: r.the_request.clone(),
            method: r.method.as_str().to_owned(),
            uri_path: latin1(&r.uri),
            query: r.args.clone(),
            protocol: match &r.protocol_sent {
                Some(p) => std::borrow::Cow::Owned(p.to_string()),
                None => std::borrow::Cow::Borrowed(version_str(r.version)),
            },
            status: resp.status().as_u16(),
            request_headers: r.headers.clone(),
            response_headers: resp.headers().clone(),
            env: r.env.clone(),
            start: r.start,
            server_hostname: site.server_hostname.clone(),
            server_name: crate::environ::server_name(site, r).to_owned(),
            port: crate::environ::server_port(site, r),
            filename: r
                .filename
                .as_ref()
                .map(|f| f.to_string_lossy().into_owned()),
            handler: r.handler.as_deref().map(str::to_owned),
            keep_alive: !close,
            user: r.user.clone(),
            status_original: None,
        })
    }

    /// The record of a request that mod_rewrite redirected internally to
    /// `last`: mod_log_config takes most items from the last request and
    /// `%s`, `%U`, `%r`, `%R`, `%T`/`%D` from the first one, whose own
    /// status was 200.
    pub fn redirected(mut self, last: &Request) -> AccessRecord {
        self.method = last.method.as_str().to_owned();
        self.query.clone_from(&last.args);
        self.env.clone_from(&last.env);
        self.filename = last
            .filename
            .as_ref()
            .map(|f| f.to_string_lossy().into_owned());
        self.user.clone_from(&last.user);
        self.status_original = Some(200);
        self
    }

    /// Write the lines, `sent` body bytes having gone out; `wire`: what the
    /// connection writer knows, when it wrote the response.
    pub fn write(self, sent: u64, wire: Option<Wire>) {
        let duration = SystemTime::now()
            .duration_since(self.start)
            .unwrap_or_default();
        let record = LogRecord {
            remote_addr: Some(self.remote),
            local_addr: Some(self.local),
            request_line: &self.request_line,
            method: &self.method,
            uri_path: &self.uri_path,
            query: self.query.as_deref(),
            protocol: &self.protocol,
            status_original: self.status_original.unwrap_or(self.status),
            status_final: self.status,
            bytes_sent: sent,
            bytes_in: wire.map_or(0, |w| w.bytes_in),
            bytes_out: wire.map_or(sent, |w| w.bytes_out),
            request_headers: &self.request_headers,
            response_headers: &self.response_headers,
            env: &self.env,
            notes: &[],
            user: self.user.as_deref(),
            start: self.start,
            duration,
            pid: std::process::id(),
            tid: 0,
            server_hostname: &self.server_hostname,
            server_name: &self.server_name,
            canonical_port: self.port,
            filename: self.filename.as_deref(),
            handler: self.handler.as_deref(),
            keepalive_requests: 0,
            conn_status: match wire.map_or(Some(self.keep_alive), |w| w.kept) {
                Some(true) => ConnStatus::KeepAlive,
                Some(false) => ConnStatus::Close,
                None => ConnStatus::Aborted,
            },
        };
        for sink in self.sinks.iter() {
            let wanted = match &sink.condition {
                None => true,
                Some((present, var)) => self.env.iter().any(|(k, _)| k == var) == *present,
            };
            if wanted {
                sink.log.write_line(&sink.format.format(&record));
            }
        }
    }
}
