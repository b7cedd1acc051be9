//! Turning what the handlers produced into responses: the WSGI
//! application's head and body events, error pages and redirects, with the
//! framing Apache would choose.
//!
//! Apache (mod_wsgi 4.9) sends `Content-Length` only when the application
//! gave one, or when the whole body was known before the first write: an
//! empty body (`Content-Length: 0`) or a `wsgi.file_wrapper` over a whole
//! file.  Any non-empty iterable is flushed chunk by chunk, so it goes out
//! chunked (HTTP/1.1) or close-delimited (HTTP/1.0), even a one-element
//! list.  [`OutBody`] carries that decision in its size hint, which is what
//! the connection (`conn/write.rs`) uses to frame the body.

use std::collections::VecDeque;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use http::header::{CONTENT_LENGTH, HeaderName, HeaderValue, SERVER};
use http::{Response, StatusCode};
use http_body::{Body, Frame, SizeHint};
use tokio::sync::mpsc;
use wsgid_python::{EventReceiver, ResponseEvent, ResponseHead};

use crate::body::{BodyError, Chunk, ResponseBody};
use crate::error_pages::{self, PageContext};
use crate::frontend::Site;
use crate::phases::log::AccessRecord;
use crate::request::Request;

/// The body of every response the front end sends: a sequence of
/// [`ResponseBody`] parts, counted for the access log, which is written
/// when the body is finished or dropped.
pub struct OutBody {
    parts: VecDeque<ResponseBody>,
    /// Whether the size hint of a single part may be announced (so that
    /// the writer sends `Content-Length`); false forces chunked framing.
    exact: bool,
    sent: u64,
    /// The application's Content-Length: ending short of it is an error.
    declared: Option<u64>,
    /// Boxed: the record is large and most sites log nothing, so the
    /// response (moved several times per request) stays small.
    log: Option<Box<AccessRecord>>,
    /// `EnableSendfile On`: file ranges go to the writer as they are.
    sendfile: bool,
}

impl std::fmt::Debug for OutBody {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OutBody")
            .field("parts", &self.parts.len())
            .field("sent", &self.sent)
            .finish()
    }
}

impl OutBody {
    /// One part whose length may be announced.
    pub fn exact(body: ResponseBody) -> OutBody {
        OutBody {
            parts: VecDeque::from([body]),
            exact: true,
            sent: 0,
            declared: None,
            log: None,
            sendfile: false,
        }
    }

    /// Parts sent with chunked (or close-delimited) framing.
    pub fn streamed(parts: Vec<ResponseBody>) -> OutBody {
        OutBody {
            parts: parts.into(),
            exact: false,
            sent: 0,
            declared: None,
            log: None,
            sendfile: false,
        }
    }

    /// The length the application announced: a body that ends before it
    /// fails, so that the client sees a truncated response (as Apache).
    pub fn declare_length(&mut self, len: u64) {
        self.declared = Some(len);
    }

    /// Attach the access-log record written when the body ends.
    pub fn set_log(&mut self, record: AccessRecord) {
        self.log = Some(Box::new(record));
    }

    /// The access-log record, for the connection writer to complete with
    /// what only it knows (bytes on the wire, whether the connection stays)
    /// and write once the request's body is drained.
    pub fn take_log(&mut self) -> Option<Box<AccessRecord>> {
        self.log.take()
    }

    /// Body bytes sent so far (`%B`).
    pub fn sent(&self) -> u64 {
        self.sent
    }

    /// Hand file ranges to the writer (`EnableSendfile On`).
    pub fn set_sendfile(&mut self, on: bool) {
        self.sendfile = on;
    }

    /// Bytes of a [`Chunk::File`] the writer sent.
    pub fn count_sent(&mut self, n: u64) {
        self.sent += n;
    }

    /// The next piece for the connection writer (file ranges included when
    /// `sendfile` is on; the writer reports their bytes with `count_sent`).
    pub fn poll_chunk(&mut self, cx: &mut Context<'_>) -> Poll<Option<Result<Chunk, BodyError>>> {
        self.poll_next(cx, self.sendfile)
    }

    /// The next piece, file ranges as they are only with `direct`.
    fn poll_next(
        &mut self,
        cx: &mut Context<'_>,
        direct: bool,
    ) -> Poll<Option<Result<Chunk, BodyError>>> {
        while let Some(front) = self.parts.front_mut() {
            match front.poll_chunk(cx, direct) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(None) => {
                    self.parts.pop_front();
                }
                Poll::Ready(Some(Ok(chunk))) => {
                    if let Chunk::Data(data) = &chunk {
                        self.sent += data.len() as u64;
                    }
                    return Poll::Ready(Some(Ok(chunk)));
                }
                Poll::Ready(Some(Err(e))) => {
                    // The writer sends what it holds, then closes the
                    // connection: the client sees a truncated response.
                    self.parts.clear();
                    self.finish_log();
                    return Poll::Ready(Some(Err(e)));
                }
            }
        }
        if self.declared.is_some_and(|d| self.sent < d) {
            self.declared = None;
            self.finish_log();
            return Poll::Ready(Some(Err(BodyError::Incomplete)));
        }
        self.finish_log();
        Poll::Ready(None)
    }

    fn finish_log(&mut self) {
        if let Some(record) = self.log.take() {
            record.write(self.sent, None);
        }
    }
}

impl Drop for OutBody {
    fn drop(&mut self) {
        self.finish_log();
    }
}

impl Body for OutBody {
    type Data = Bytes;
    type Error = BodyError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BodyError>>> {
        let res = std::task::ready!(self.poll_next(cx, false));
        Poll::Ready(res.map(|r| r.and_then(Chunk::into_frame)))
    }

    fn is_end_stream(&self) -> bool {
        self.declared.is_none_or(|d| self.sent >= d) && self.parts.iter().all(Body::is_end_stream)
    }

    fn size_hint(&self) -> SizeHint {
        if !self.exact {
            return SizeHint::default();
        }
        match self.parts.len() {
            0 => SizeHint::with_exact(0),
            1 => self.parts.front().map(Body::size_hint).unwrap_or_default(),
            _ => SizeHint::default(),
        }
    }
}

/// The body for events already received, followed by the rest of the
/// stream unless those events ended it.
fn stream_after(events: Vec<ResponseEvent>, rx: EventReceiver) -> OutBody {
    let ended = matches!(
        events.last(),
        Some(ResponseEvent::End | ResponseEvent::Abort)
    );
    let (tx, replayed) = mpsc::channel(events.len() + 1);
    for ev in events {
        // Cannot fail: the channel has room for every event.
        let _ = tx.try_send(ev);
    }
    if ended {
        return OutBody::streamed(vec![ResponseBody::from_events(EventReceiver::from_stream(
            replayed,
        ))]);
    }
    let _ = tx.try_send(ResponseEvent::End);
    OutBody::streamed(vec![
        ResponseBody::from_events(EventReceiver::from_stream(replayed)),
        ResponseBody::from_events(rx),
    ])
}

/// The error page for `status`, as the host's configuration shapes it.
pub fn error_page(
    site: &Site,
    r: &Request,
    status: u16,
    location: Option<String>,
) -> Response<OutBody> {
    error_page_noted(site, r, status, location, None)
}

/// The page context of a request on `site` (method, admin, signature).
pub fn page_context(site: &Site, r: &Request) -> PageContext {
    let mut ctx = PageContext::new(r.method.as_str(), crate::uri::latin1(&r.uri));
    ctx.server_admin = site.host.server_admin.clone().unwrap_or_default();
    ctx.signature = signature_line(site, r);
    ctx.expect = crate::request::expectation(&r.headers);
    ctx
}

/// [`error_page`] with Apache's `error-notes` appended to the page text.
pub fn error_page_noted(
    site: &Site,
    r: &Request,
    status: u16,
    location: Option<String>,
    notes: Option<&str>,
) -> Response<OutBody> {
    let mut ctx = page_context(site, r);
    ctx.location = location;
    ctx.error_notes = notes.map(str::to_owned);
    error_page_from(site, status, &ctx)
}

/// The server's page for `status` from a context the caller filled.
pub fn error_page_from(site: &Site, status: u16, ctx: &PageContext) -> Response<OutBody> {
    let resp = error_pages::error_response(status, ctx);
    let (mut parts, body) = resp.into_parts();
    add_server_header(site, &mut parts.headers);
    parts.extensions.insert(ServerGenerated);
    Response::from_parts(parts, OutBody::exact(body))
}

/// Marks the page that replaced a daemon's error response
/// (`WSGIErrorOverride`): mod_wsgi had copied the request's CGI variables
/// into Apache's `subprocess_env` by then, so an `ErrorDocument` redirect
/// passes them on as `REDIRECT_*`.
#[derive(Clone, Copy, Debug)]
pub struct ErrorOverridden;

/// Marks a response the server made itself (an error page, a redirect),
/// as opposed to a handler's: mod_headers' `onsuccess` rules skip it.
#[derive(Clone, Copy, Debug)]
pub struct ServerGenerated;

/// Bound of each wait to write this response to the client, instead of
/// `Timeout`: a daemon group's `response-socket-timeout` (or its
/// `socket-timeout`).
#[derive(Debug, Clone, Copy)]
pub struct WriteTimeout(pub std::time::Duration);

fn signature_line(site: &Site, r: &Request) -> Option<String> {
    use wsgid_config::model::ServerSignature;
    let name = crate::environ::server_name(site, r);
    let port = crate::environ::server_port(site, r);
    match site.signature {
        ServerSignature::Off => None,
        ServerSignature::On => Some(format!(
            "<address>{} Server at {} Port {}</address>\n",
            site.server_banner, name, port
        )),
        ServerSignature::Email => Some(format!(
            "<address>{} Server at <a href=\"mailto:{}\">{}</a> Port {}</address>\n",
            site.server_banner,
            site.host.server_admin.as_deref().unwrap_or(""),
            name,
            port
        )),
    }
}

/// `ap_http_header_filter`'s use of mod_mime's metadata: the request's
/// encoding replaces `Content-Encoding`; its languages, followed by those
/// of the response's own `Content-Language` not among them, become one
/// `Content-Language` joined with ",".  Not on the server's own error
/// pages (`ap_send_error_response` clears both) nor on a 204 or 304 (the
/// header filter clears them for a status without a body).
pub fn add_metadata(r: &Request, resp: &mut Response<OutBody>) {
    let header_only = matches!(
        resp.status(),
        StatusCode::NOT_MODIFIED | StatusCode::NO_CONTENT
    );
    if resp.extensions().get::<ServerGenerated>().is_some() || header_only {
        return;
    }
    let headers = resp.headers_mut();
    if let Some(encoding) = &r.content_encoding
        && let Ok(v) = HeaderValue::from_str(encoding)
    {
        headers.insert(http::header::CONTENT_ENCODING, v);
    }
    if r.content_languages.is_empty() {
        return;
    }
    let mut languages = r.content_languages.clone();
    if let Some(own) = headers.get(http::header::CONTENT_LANGUAGE) {
        for token in own.to_str().unwrap_or_default().split(',').map(str::trim) {
            if !token.is_empty() && !languages.iter().any(|l| l.eq_ignore_ascii_case(token)) {
                languages.push(token.to_owned());
            }
        }
    }
    if let Ok(v) = HeaderValue::from_str(&languages.join(",")) {
        headers.insert(http::header::CONTENT_LANGUAGE, v);
    }
}

/// `AddDefaultCharset`: a `Content-Type` that names no charset and contains
/// `text/plain` or `text/html` (anywhere, in any case, as Apache's
/// `ap_make_content_type` looks for them) gets `; charset=NAME`.
pub fn add_default_charset(headers: &mut http::HeaderMap, charset: &str) {
    let Some(value) = headers.get(http::header::CONTENT_TYPE) else {
        return;
    };
    let lower = value.as_bytes().to_ascii_lowercase();
    let has = |needle: &[u8]| lower.windows(needle.len()).any(|w| w == needle);
    if has(b"charset=") || !(has(b"text/plain") || has(b"text/html")) {
        return;
    }
    let mut with = value.as_bytes().to_vec();
    with.extend_from_slice(b"; charset=");
    with.extend_from_slice(charset.as_bytes());
    if let Ok(v) = HeaderValue::from_bytes(&with) {
        headers.insert(http::header::CONTENT_TYPE, v);
    }
}

/// A header name as Apache writes it (`Content-Length`): the `http` crate
/// keeps names in lower case.
pub(crate) fn canonical_name(name: &str) -> String {
    let mut out = Vec::with_capacity(name.len());
    push_canonical_name(&mut out, name);
    String::from_utf8_lossy(&out).into_owned()
}

/// [`canonical_name`] appended to `out`, without a `String` of its own
/// (the response writer's path).
pub(crate) fn push_canonical_name(out: &mut Vec<u8>, name: &str) {
    let mut upper = true;
    for b in name.bytes() {
        out.push(if upper { b.to_ascii_uppercase() } else { b });
        upper = b == b'-';
    }
}

pub fn add_server_header(site: &Site, headers: &mut http::HeaderMap) {
    if let Some(v) = &site.server_header {
        headers.entry(SERVER).or_insert_with(|| v.clone());
    }
}

/// The application's status line and headers as a response head.
/// `None` when `http` cannot represent them (then the caller answers 500).
/// The header values become slices of the head's one buffer, not copies.
fn head_parts(site: &Site, head: ResponseHead) -> Option<http::response::Parts> {
    let status = StatusCode::from_u16(head.status).ok()?;
    let (mut parts, ()) = Response::new(()).into_parts();
    parts.status = status;
    let own_reason = default_reason(status) != head.reason()
        && !head.reason().bytes().any(|b| b == b'\r' || b == b'\n');
    parts.headers.reserve(head.header_count() + 1);
    let head = head.into_shared();
    if own_reason {
        parts.extensions.insert(ReasonPhrase(head.reason.clone()));
    }
    for (name, value) in head.headers() {
        let name = HeaderName::from_bytes(name).ok()?;
        // Header values are latin-1 text in WSGI: one byte per character
        // (the same bytes as the UTF-8 when all are ASCII, the usual case,
        // whose slice becomes the value without a copy).
        let value = if value.is_ascii() {
            HeaderValue::from_maybe_shared(value).ok()?
        } else {
            let text = std::str::from_utf8(&value).ok()?;
            HeaderValue::from_bytes(&crate::uri::latin1_bytes(text)).ok()?
        };
        parts.headers.append(name, value);
    }
    add_server_header(site, &mut parts.headers);
    Some(parts)
}

fn app_content_length(head: &ResponseHead) -> Option<u64> {
    head.header("content-length")
        .and_then(|v| v.trim().parse().ok())
}

fn bodyless(status: u16) -> bool {
    status == 204 || status == 304 || (100..200).contains(&status)
}

/// The application's own reason phrase, when it differs from the one
/// Apache would send for the status.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReasonPhrase(Bytes);

impl ReasonPhrase {
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }
}

/// The reason phrase sent with `status` when the handler gave none of its
/// own: Apache's table, else the registered one.
pub fn default_reason(status: StatusCode) -> &'static str {
    error_pages::reason_phrase(status.as_u16())
        .or(status.canonical_reason())
        .unwrap_or("Unknown Reason")
}

/// Wait for the application's answer and build the response.
pub async fn from_events(
    site: &Site,
    r: &Request,
    error_override: bool,
    mut rx: EventReceiver,
) -> Response<OutBody> {
    let first = rx.recv().await;
    let head = match first {
        Some(ResponseEvent::Failed(status)) => return error_page(site, r, status, None),
        Some(ResponseEvent::Complete(head, _) | ResponseEvent::Head(head))
            if error_override && head.status >= 400 =>
        {
            // WSGIErrorOverride: Apache's page replaces the application's.
            let mut page = error_page(site, r, head.status, None);
            page.extensions_mut().insert(ErrorOverridden);
            return page;
        }
        Some(ResponseEvent::Complete(head, bytes)) => {
            let app_len = app_content_length(&head);
            let status = head.status;
            let Some(mut parts) = head_parts(site, head) else {
                return error_page(site, r, 500, None);
            };
            // With the application's Content-Length the body's length is
            // left unknown to the writer, so that the header (not the data)
            // frames the response, as in Apache.
            let body = if bodyless(status) {
                OutBody::exact(ResponseBody::empty())
            } else if app_len.is_none() && bytes.is_empty() {
                parts
                    .headers
                    .insert(CONTENT_LENGTH, HeaderValue::from(0u64));
                OutBody::exact(ResponseBody::empty())
            } else {
                let mut body = OutBody::streamed(vec![ResponseBody::full(bytes)]);
                if let Some(len) = app_len {
                    body.declare_length(len);
                }
                body
            };
            return Response::from_parts(parts, body);
        }
        Some(ResponseEvent::Head(head)) => head,
        // The host went away or broke the protocol before a head: say so
        // here too (the Python side logs a panic, not which request).
        other => {
            let what = if other.is_none() {
                "no response"
            } else {
                "a body event before the head"
            };
            site.error_log.log(
                "wsgi",
                wsgid_log::Level::Error,
                wsgid_log::Peer::Client(r.conn.peer),
                &format!(
                    "wsgid: the WSGI host gave {what} for WSGI script '{}'.",
                    r.filename_str()
                ),
            );
            return error_page(site, r, 500, None);
        }
    };
    let app_len = app_content_length(&head);
    let status = head.status;
    let Some(mut parts) = head_parts(site, head) else {
        return error_page(site, r, 500, None);
    };
    if bodyless(status) {
        return Response::from_parts(parts, OutBody::exact(ResponseBody::from_events(rx)));
    }
    // Look ahead so that a body known in full before the first write gets
    // a Content-Length, as Apache's content-length filter gives it one.
    let body = match rx.recv().await {
        Some(ResponseEvent::End) if app_len.is_none() => {
            parts
                .headers
                .insert(CONTENT_LENGTH, HeaderValue::from(0u64));
            OutBody::exact(ResponseBody::empty())
        }
        Some(ResponseEvent::End) => OutBody::streamed(Vec::new()),
        Some(ResponseEvent::File { file, offset, len }) => {
            let available =
                len.or_else(|| file.metadata().ok().map(|m| m.len().saturating_sub(offset)));
            match rx.recv().await {
                Some(ResponseEvent::End) if available.is_some() => {
                    let len = available.unwrap_or(0);
                    match app_len {
                        None => {
                            parts.headers.insert(CONTENT_LENGTH, HeaderValue::from(len));
                            OutBody::exact(ResponseBody::file(file, offset, len))
                        }
                        Some(app) => {
                            OutBody::streamed(vec![ResponseBody::file(file, offset, len.min(app))])
                        }
                    }
                }
                next => {
                    let mut events = vec![ResponseEvent::File { file, offset, len }];
                    events.extend(next);
                    stream_after(events, rx)
                }
            }
        }
        Some(other) => stream_after(vec![other], rx),
        // The host dropped the stream: the body fails, the connection closes.
        None => OutBody::streamed(vec![ResponseBody::from_events(rx)]),
    };
    // An application Content-Length header frames a streamed body too:
    // the writer takes the header over the size hint.
    let mut body = body;
    if let Some(len) = app_len
        && !body.exact
    {
        body.declare_length(len);
    }
    Response::from_parts(parts, body)
}
