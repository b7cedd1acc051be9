//! Refused request heads: Apache's status and page for a head the scanner
//! refused (or one that timed out half-read), written straight to the
//! socket and followed by a lingering close; and the page for a head that
//! parsed but cannot be served (an unknown Transfer-Encoding), answered as
//! a request of its virtual host.

use std::io::Write as _;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use http::header::{CONNECTION, CONTENT_LENGTH, CONTENT_TYPE, DATE, HeaderValue, SERVER};
use http::{Response, StatusCode, Version};
use tokio::time::Instant;
use wsgid_log::{Level, Peer};

use super::io::{Filled, Shared};
use crate::body::ResponseBody;
use crate::error_pages::{self, ERROR_CONTENT_TYPE};
use crate::frontend::{FrontEnd, Site};
use crate::head_scan::{Limits, Rejection};
use crate::phases::log::{AccessRecord, Wire};
use crate::request::{ConnInfo, Request};
use crate::response::{OutBody, error_page_noted, page_context};

/// How long a refused connection is drained before it is closed, so that
/// the client reads the answer instead of a reset (Apache's lingering
/// close, `SECONDS_TO_LINGER`).
const LINGER: Duration = Duration::from_secs(2);

impl FrontEnd {
    pub(crate) fn limits(&self) -> Limits {
        Limits {
            line: self.cfg.limit_request_line,
            field_size: self.cfg.limit_request_field_size,
            fields: self.cfg.limit_request_fields,
            require_http10: self.cfg.require_http10,
            registered_methods_only: self.cfg.registered_methods_only,
        }
    }

    /// A stand-in request for a head that never became one: the main
    /// server of the address, the request line Apache logs.
    fn refused_request(&self, conn: &Arc<ConnInfo>, r: &Rejection) -> Option<Request> {
        let mut b = http::Request::builder().version(Version::HTTP_10);
        if r.header_only {
            b = b.method(http::Method::HEAD);
        }
        let parts = b.body(()).ok()?.into_parts().0;
        let mut req = match Request::from_head(&parts, conn.clone()) {
            Ok(req) => req,
            Err((req, _)) => *req,
        };
        req.host = self.vhosts.select(conn.local, None);
        req.version = Version::HTTP_11;
        req.the_request = r.the_request.clone().unwrap_or_default();
        req.uri.clear();
        Some(req)
    }

    /// Answer a refused head, log it, and close the connection.
    pub(super) async fn refuse_raw(&self, shared: &Shared, conn: &Arc<ConnInfo>, rej: Rejection) {
        let Some(r) = self.refused_request(conn, &rej) else {
            return;
        };
        let site = self.site(r.host);
        log_refusal(site, conn, &rej);
        let mut ctx = page_context(site, &r);
        ctx.error_notes = rej.notes.map(str::to_owned);
        let (reason, html) = error_pages::error_body(rej.status, &ctx);
        let body = if rej.header_only { "" } else { html.as_str() };

        let mut resp = Response::new(OutBody::exact(ResponseBody::empty()));
        *resp.status_mut() = StatusCode::from_u16(rej.status).unwrap_or(StatusCode::BAD_REQUEST);
        let h = resp.headers_mut();
        let date = httpdate::fmt_http_date(SystemTime::now());
        if let Ok(v) = HeaderValue::from_str(&date) {
            h.insert(DATE, v);
        }
        if let Ok(v) = HeaderValue::from_str(&site.server_banner) {
            h.insert(SERVER, v);
        }
        if !rej.header_only {
            h.insert(CONTENT_LENGTH, HeaderValue::from(body.len()));
        }
        h.insert(CONNECTION, HeaderValue::from_static("close"));
        h.insert(CONTENT_TYPE, HeaderValue::from_static(ERROR_CONTENT_TYPE));

        let mut out = Vec::with_capacity(256 + body.len());
        let _ = write!(out, "HTTP/1.1 {} {reason}\r\n", rej.status);
        for (name, value) in resp.headers() {
            super::write::push_other_header(&mut out, name.as_str(), value.as_bytes());
        }
        out.extend_from_slice(b"\r\n");
        out.extend_from_slice(body.as_bytes());
        // What was read of the refused head (`%I`).
        let read = shared.state().buf.len() as u64;
        let sent = shared.write_all(&out).await.is_ok();
        if let Some(record) = AccessRecord::new(site, &r, &resp) {
            record.write(
                if sent { body.len() as u64 } else { 0 },
                Some(Wire {
                    bytes_in: read,
                    bytes_out: if sent { out.len() as u64 } else { 0 },
                    kept: sent.then_some(false),
                }),
            );
        }
        linger(shared).await;
    }

    /// A first request line that timed out unfinished: nothing is sent,
    /// and the access log gets Apache's `"-" 408 -` line.
    pub(super) fn log_line_timeout(&self, conn: &Arc<ConnInfo>) {
        let mut rej = Rejection::new(408, Level::Debug, String::new());
        // Apache had no request line: `%r` shows `-`.
        rej.the_request = Some("-".into());
        let Some(r) = self.refused_request(conn, &rej) else {
            return;
        };
        let site = self.site(r.host);
        let mut resp = Response::new(OutBody::exact(ResponseBody::empty()));
        *resp.status_mut() = StatusCode::REQUEST_TIMEOUT;
        if let Some(record) = AccessRecord::new(site, &r, &resp) {
            record.write(0, None);
        }
    }

    /// mod_reqtimeout's line when a `RequestReadTimeout` stage (`header`,
    /// `body`) ended a read (the server's log: it is a connection-level
    /// module).
    pub(super) fn log_read_timeout(&self, conn: &Arc<ConnInfo>, stage: &str) {
        self.site(0).error_log.log(
            "reqtimeout",
            Level::Info,
            wsgid_log::Peer::Client(conn.peer),
            &format!("AH01382: Request {stage} read timeout"),
        );
    }

    /// The answer to a head that parsed but is refused (merged fields over
    /// the limit, an unknown Transfer-Encoding): the page, with
    /// `Connection: close`, as a request of its virtual host.
    pub(crate) fn refuse_parsed(
        &self,
        conn: &Arc<ConnInfo>,
        parts: &http::request::Parts,
        rej: &Rejection,
    ) -> (Request, Response<OutBody>) {
        let mut r = match Request::from_head(parts, conn.clone()) {
            Ok(r) => r,
            Err((r, _)) => *r,
        };
        r.host = self.vhosts.select(conn.local, r.hostname.as_deref());
        let site = self.site(r.host);
        log_refusal(site, conn, rej);
        let mut resp = error_page_noted(site, &r, rej.status, None, rej.notes);
        resp.headers_mut()
            .insert(CONNECTION, HeaderValue::from_static("close"));
        (r, resp)
    }
}

/// The refusal's own line, then AH00567 for a refusal in the header lines
/// (ap_read_request logs it after `ap_get_mime_headers_core` failed).
fn log_refusal(site: &Site, conn: &ConnInfo, rej: &Rejection) {
    let peer = Peer::Client(conn.peer);
    if !rej.log.is_empty() {
        site.error_log.log("core", rej.level, peer, &rej.log);
    }
    if rej.headers {
        site.error_log.log(
            "core",
            Level::Debug,
            peer,
            "AH00567: request failed: error reading the headers",
        );
    }
}

/// Half-close, then read and drop what the client still sends, for at most
/// [`LINGER`], before the socket is closed.
pub(super) async fn linger(shared: &Shared) {
    shared.shutdown_write();
    let deadline = Instant::now() + LINGER;
    loop {
        shared.state().buf.clear();
        match shared.fill(Some(deadline), None).await {
            Ok(Filled::Data) => {}
            Ok(Filled::Eof | Filled::Stale) | Err(_) => return,
        }
    }
}
