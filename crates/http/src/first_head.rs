//! The first request head of a connection, read before hyper gets the
//! socket: checked with Apache's rules (`head_scan.rs`), refused with
//! Apache's status and page, or handed back to hyper with every byte read
//! (`prefixed.rs`).  Also the same refusal for a later head that hyper
//! parsed and `head_scan::check_parts` refused.
//!
//! hyper enforces its own head limits with its own empty-bodied answers
//! (431, 414, 400) or none at all; Apache answers 414/400 pages with
//! `error-notes`.  hyper is therefore configured with bounds well above
//! the configured limits ([`hyper_max_buf`], [`hyper_max_headers`]); only a
//! head beyond those still gets hyper's own answer.

use std::io::Write as _;
use std::time::{Duration, SystemTime};

use bytes::{Bytes, BytesMut};
use http::header::{CONNECTION, CONTENT_LENGTH, CONTENT_TYPE, DATE, HeaderValue, SERVER};
use http::{Response, StatusCode, Version};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::Instant;
use wsgid_log::{Level, Peer};

use crate::body::ResponseBody;
use crate::error_pages::{self, ERROR_CONTENT_TYPE};
use crate::frontend::{FrontEnd, Site};
use crate::head_scan::{HeadScanner, Limits, Rejection, Scan, unfold};
use crate::phases::log::AccessRecord;
use crate::request::{ConnInfo, Request};
use crate::response::{OutBody, error_page_noted, page_context};

/// How long a refused connection is drained before it is closed, so that
/// the client reads the answer instead of a reset (Apache's lingering
/// close, `SECONDS_TO_LINGER`).
const LINGER: Duration = Duration::from_secs(2);

/// Size of one read of the head.
const READ_CHUNK: usize = 8192;

/// The largest head hyper reads (and the first-head scan reads): twice what
/// Apache's limits allow, so that an overlong head is still parsed and
/// refused with Apache's page.
pub(crate) fn hyper_max_buf(l: Limits) -> usize {
    let head = l.line.saturating_add(2).saturating_add(
        l.fields
            .max(100)
            .saturating_mul(l.field_size.saturating_add(2)),
    );
    head.saturating_mul(2).clamp(64 * 1024, 16 * 1024 * 1024)
}

/// hyper's header count bound: well above LimitRequestFields (hyper
/// allocates this many slots per parsed head).
pub(crate) fn hyper_max_headers(l: Limits) -> usize {
    match l.fields {
        0 => 1000,
        n => n.saturating_mul(2).clamp(100, 20_000),
    }
}

impl FrontEnd {
    pub(crate) fn limits(&self) -> Limits {
        Limits {
            line: self.cfg.limit_request_line,
            field_size: self.cfg.limit_request_field_size,
            fields: self.cfg.limit_request_fields,
        }
    }

    /// Read the first head; `Some(bytes)` to replay to hyper, or None when
    /// the connection was answered (or closed) here.
    pub(crate) async fn first_head(
        &self,
        stream: &mut TcpStream,
        conn: &ConnInfo,
    ) -> Option<Bytes> {
        let limits = self.limits();
        let bound = hyper_max_buf(limits);
        let mut scanner = HeadScanner::new(limits);
        let mut buf = BytesMut::with_capacity(READ_CHUNK);
        let deadline = Instant::now() + self.cfg.timeout;
        loop {
            if buf.len() >= bound {
                let r = scanner.refusal(400, Level::Debug, "request head too large".into());
                self.refuse_raw(stream, conn, r).await;
                return None;
            }
            buf.reserve(READ_CHUNK);
            let read = tokio::time::timeout_at(deadline, stream.read_buf(&mut buf)).await;
            match read {
                Ok(Ok(n)) if n > 0 => {}
                // A read error, EOF or timeout before the request line is
                // complete ends the connection without an answer.
                Ok(Err(_)) => return None,
                _ if !scanner.in_fields() => return None,
                Ok(_) => {
                    let r = scanner.refusal(
                        400,
                        Level::Debug,
                        "Failed to read request header line".into(),
                    );
                    self.refuse_raw(stream, conn, r).await;
                    return None;
                }
                Err(_) => {
                    let r = scanner.refusal(408, Level::Debug, String::new());
                    self.refuse_raw(stream, conn, r).await;
                    return None;
                }
            }
            match scanner.scan(&buf) {
                Scan::Incomplete => {}
                Scan::Reject(r) => {
                    self.refuse_raw(stream, conn, r).await;
                    return None;
                }
                Scan::Complete(head) => {
                    if let Some(at) = head.version_at
                        && let Some(v) = buf.get_mut(at..at + 8)
                    {
                        v.copy_from_slice(b"HTTP/1.1");
                    }
                    if head.folded {
                        let mut out = unfold(&buf[..head.len]);
                        out.extend_from_slice(&buf[head.len..]);
                        return Some(Bytes::from(out));
                    }
                    return Some(buf.freeze());
                }
            }
        }
    }

    /// A stand-in request for a head that never became one: the main
    /// server of the address, the request line Apache logs.
    fn refused_request(&self, conn: &ConnInfo, r: &Rejection) -> Option<Request> {
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

    /// Answer a refused first head ourselves (hyper has not seen it), log
    /// it, and close the connection.
    async fn refuse_raw(&self, stream: &mut TcpStream, conn: &ConnInfo, rej: Rejection) {
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
            out.extend_from_slice(canonical(name.as_str()).as_bytes());
            out.extend_from_slice(b": ");
            out.extend_from_slice(value.as_bytes());
            out.extend_from_slice(b"\r\n");
        }
        out.extend_from_slice(b"\r\n");
        out.extend_from_slice(body.as_bytes());
        let sent = stream.write_all(&out).await.is_ok();
        if let Some(record) = AccessRecord::new(site, &r, &resp) {
            record.write(if sent { body.len() as u64 } else { 0 });
        }
        linger(stream).await;
    }

    /// The answer to a later head refused by `check_parts`: the page, with
    /// `Connection: close` so that hyper ends the connection after it.
    pub(crate) fn refuse_parsed(
        &self,
        conn: &ConnInfo,
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

/// Header names as Apache writes them (`Content-Length`).
fn canonical(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    let mut upper = true;
    for c in name.chars() {
        out.push(if upper { c.to_ascii_uppercase() } else { c });
        upper = c == '-';
    }
    out
}

/// Half-close, then read and drop what the client still sends, for at most
/// [`LINGER`], before the socket is closed.
async fn linger(stream: &mut TcpStream) {
    let _ = stream.shutdown().await;
    let _ = tokio::time::timeout(LINGER, async {
        let mut sink = [0u8; 4096];
        while let Ok(n) = stream.read(&mut sink).await {
            if n == 0 {
                break;
            }
        }
    })
    .await;
}
