//! Writing a response: the status line and headers as the handlers left
//! them (plus `Date`, and the framing headers: `Content-Length` for a body
//! of known length, else `Transfer-Encoding: chunked` for HTTP/1.1 or a
//! close-delimited body for HTTP/1.0), then the body.
//!
//! Small bodies are copied behind the head in one buffer, so that a
//! typical response leaves in one `write`; large blocks (files) go out with
//! a vectored write next to the buffered bytes.  The buffer is flushed
//! whenever the body has nothing ready, so that streamed responses are not
//! held back.

use std::cell::RefCell;
use std::io::{IoSlice, Write as _};
use std::task::Poll;
use std::time::{SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use http::header::{self, HeaderName};
use http::{HeaderMap, Response, Version};
use http_body::Body as _;

use super::io::Shared;
use crate::body::{Chunk, FileRange};
use crate::phases::log::{AccessRecord, Wire};
use crate::response::{OutBody, ReasonPhrase, default_reason};

/// A data block up to this size is copied into the output buffer.
const COPY_MAX: usize = 16 * 1024;
/// The output buffer is written out before it grows past this.
const OUT_MAX: usize = 64 * 1024;

/// What the writer needs to know of the request.
#[derive(Debug, Clone, Copy)]
pub(super) struct ReqFacts {
    pub(super) head: bool,
    pub(super) version: Version,
    /// Neither side asked to close, and the server allows another request.
    pub(super) keep_alive: bool,
}

/// How the body goes on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Encoder {
    /// No body at all (HEAD, 204, 304).
    None,
    Length(u64),
    Chunked,
    /// Until the connection closes.
    Close,
}

thread_local! {
    /// The `Date` value of the current second (formatting it per response
    /// is measurable).
    static DATE: RefCell<(u64, String)> = const { RefCell::new((u64::MAX, String::new())) };
}

fn push_date(out: &mut Vec<u8>) {
    let now = SystemTime::now();
    let secs = now.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    DATE.with(|cell| {
        let mut cell = cell.borrow_mut();
        if cell.0 != secs {
            *cell = (secs, httpdate::fmt_http_date(now));
        }
        out.extend_from_slice(cell.1.as_bytes());
    });
}

/// The wire name of a header: Apache's spelling for the common ones (the
/// map keeps names in lower case); `None` for any other, which
/// [`push_other_header`] writes in the usual spelling.
fn wire_name(name: &HeaderName) -> Option<&'static str> {
    Some(match name.as_str() {
        "content-type" => "Content-Type",
        "content-length" => "Content-Length",
        "server" => "Server",
        "date" => "Date",
        "connection" => "Connection",
        "transfer-encoding" => "Transfer-Encoding",
        "last-modified" => "Last-Modified",
        "etag" => "ETag",
        "location" => "Location",
        "allow" => "Allow",
        "accept-ranges" => "Accept-Ranges",
        "content-range" => "Content-Range",
        "cache-control" => "Cache-Control",
        "vary" => "Vary",
        "www-authenticate" => "WWW-Authenticate",
        _ => return None,
    })
}

/// A header whose name has no fixed spelling: each word capitalised
/// (`x-request-id` as `X-Request-Id`), the way applications and Apache's
/// own modules write them (`http` does not keep the case they were given
/// in).
pub(super) fn push_other_header(out: &mut Vec<u8>, name: &str, value: &[u8]) {
    crate::response::push_canonical_name(out, name);
    out.extend_from_slice(b": ");
    out.extend_from_slice(value);
    out.extend_from_slice(b"\r\n");
}

fn push_header(out: &mut Vec<u8>, name: &str, value: &[u8]) {
    out.extend_from_slice(name.as_bytes());
    out.extend_from_slice(b": ");
    out.extend_from_slice(value);
    out.extend_from_slice(b"\r\n");
}

/// Statuses after which Apache ends the connection whatever the client
/// asked (`ap_status_drops_connection`): the request may not have been read
/// to its end, or the server is in trouble.
fn drops_connection(code: u16) -> bool {
    matches!(code, 400 | 408 | 411 | 413 | 414 | 500 | 501 | 503)
}

fn has_token(headers: &HeaderMap, token: &[u8]) -> bool {
    headers.get_all(header::CONNECTION).iter().any(|v| {
        v.as_bytes()
            .split(|&b| b == b',')
            .any(|t| t.trim_ascii().eq_ignore_ascii_case(token))
    })
}

/// The head into `out` and the body's encoder; `keep` is cleared when the
/// framing needs the connection to end.
fn encode_head(
    out: &mut Vec<u8>,
    parts: &http::response::Parts,
    body: &OutBody,
    req: ReqFacts,
    keep: &mut bool,
) -> Encoder {
    let status = parts.status;
    let code = status.as_u16();
    let informational = status.is_informational();
    let no_content = informational || code == 204 || code == 304;
    let can_body = !(req.head || no_content);
    let can_chunked = can_body && req.version == Version::HTTP_11;
    let h = &parts.headers;

    out.extend_from_slice(b"HTTP/1.1 ");
    out.extend_from_slice(status.as_str().as_bytes());
    out.push(b' ');
    match parts.extensions.get::<ReasonPhrase>() {
        Some(reason) => out.extend_from_slice(reason.as_bytes()),
        None => out.extend_from_slice(default_reason(status).as_bytes()),
    }
    out.extend_from_slice(b"\r\n");

    if has_token(h, b"close") || drops_connection(code) {
        *keep = false;
    }
    let app_length = h.get(header::CONTENT_LENGTH).and_then(|v| {
        std::str::from_utf8(v.as_bytes())
            .ok()
            .and_then(|s| s.trim().parse::<u64>().ok())
    });
    let app_chunked = can_chunked && h.contains_key(header::TRANSFER_ENCODING);
    let mut encoder = match (app_length, app_chunked) {
        (_, true) => Encoder::Chunked,
        (Some(n), false) => Encoder::Length(n),
        (None, false) => match body.size_hint().exact() {
            Some(n) => Encoder::Length(n),
            None if can_chunked => Encoder::Chunked,
            None if can_body => {
                *keep = false;
                Encoder::Close
            }
            None => Encoder::None,
        },
    };
    let mut wrote_length = false;
    let mut wrote_date = false;
    // AP_STATUS_IS_HEADER_ONLY: the http header filter sends a 204 or 304
    // without the entity's type and length (every other header stays).
    let header_only = code == 204 || code == 304;
    for (name, value) in h {
        match *name {
            header::CONTENT_TYPE if header_only => continue,
            header::CONTENT_LENGTH => {
                // One Content-Length line, whatever the handler added.
                if wrote_length || app_chunked || header_only {
                    continue;
                }
                wrote_length = true;
            }
            header::TRANSFER_ENCODING => {
                if !app_chunked {
                    continue;
                }
                let chunked_last = value
                    .as_bytes()
                    .rsplit(|&b| b == b',')
                    .next()
                    .is_some_and(|t| t.trim_ascii().eq_ignore_ascii_case(b"chunked"));
                out.extend_from_slice(b"Transfer-Encoding: ");
                out.extend_from_slice(value.as_bytes());
                out.extend_from_slice(if chunked_last {
                    b"\r\n"
                } else {
                    b", chunked\r\n"
                });
                continue;
            }
            header::DATE => wrote_date = true,
            _ => {}
        }
        match wire_name(name) {
            Some(wire) => push_header(out, wire, value.as_bytes()),
            None => push_other_header(out, name.as_str(), value.as_bytes()),
        }
    }
    if app_length.is_none() && !app_chunked {
        match encoder {
            Encoder::Length(n) if !(no_content || req.head && n == 0) => {
                out.extend_from_slice(b"Content-Length: ");
                let _ = write!(out, "{n}");
                out.extend_from_slice(b"\r\n");
            }
            Encoder::Chunked => out.extend_from_slice(b"Transfer-Encoding: chunked\r\n"),
            _ => {}
        }
    }
    // Connection: what HTTP/1.0 and HTTP/1.1 clients need to know.
    match req.version {
        Version::HTTP_10 if *keep && !has_token(h, b"keep-alive") => {
            out.extend_from_slice(b"Connection: keep-alive\r\n");
        }
        Version::HTTP_11 if !*keep && !has_token(h, b"close") => {
            out.extend_from_slice(b"Connection: close\r\n");
        }
        _ => {}
    }
    if !wrote_date {
        out.extend_from_slice(b"Date: ");
        push_date(out);
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"\r\n");
    if !can_body {
        encoder = Encoder::None;
    }
    encoder
}

/// Write `data` (framed by `prefix` already in `out` and `suffix`):
/// copied into `out` when small, else written out with it.
async fn put(shared: &Shared, out: &mut Vec<u8>, data: &Bytes, suffix: &'static [u8]) -> bool {
    if data.len() <= COPY_MAX && out.len() + data.len() <= OUT_MAX {
        out.extend_from_slice(data);
        out.extend_from_slice(suffix);
        return true;
    }
    let mut bufs = [IoSlice::new(out), IoSlice::new(data), IoSlice::new(suffix)];
    let ok = shared.write_all_vectored(&mut bufs).await.is_ok();
    out.clear();
    ok
}

async fn flush(shared: &Shared, out: &mut Vec<u8>) -> bool {
    if out.is_empty() {
        return true;
    }
    let ok = shared.write_all(out).await.is_ok();
    out.clear();
    ok
}

/// Send a file range with `sendfile(2)` in the response's framing; false
/// when the connection must close (write failure, a file shorter than
/// promised, more bytes than the announced length).
async fn send_range(
    shared: &Shared,
    out: &mut Vec<u8>,
    body: &mut OutBody,
    encoder: &mut Encoder,
    range: FileRange,
    framing: &mut u64,
) -> bool {
    let FileRange { file, offset, len } = range;
    // The bytes this range may put on the wire, and whether sending fewer
    // (the file ended) is an error.
    let (want, exact) = match (*encoder, len) {
        (Encoder::Length(rest), Some(len)) => (len.min(rest), true),
        (Encoder::Length(rest), None) => (rest, false),
        // A chunk needs its size up front: the file as it is now.
        (Encoder::Chunked, None) => match file.metadata() {
            Ok(meta) => (meta.len().saturating_sub(offset), true),
            Err(_) => return false,
        },
        (_, Some(len)) => (len, true),
        (_, None) => (u64::MAX, false),
    };
    if want == 0 {
        // Nothing may go out; bytes beyond the announced length close.
        return !(matches!(*encoder, Encoder::Length(_)) && len.is_some_and(|l| l > 0));
    }
    if *encoder == Encoder::Chunked {
        let before = out.len();
        let _ = write!(out, "{want:x}\r\n");
        *framing += (out.len() - before) as u64 + 2;
    }
    if !flush(shared, out).await {
        return false;
    }
    let sent = match shared.send_file(&file, offset, want).await {
        Ok(n) => n,
        Err(_) => return false,
    };
    body.count_sent(sent);
    if exact && sent < want {
        // The file shrank: the client must see a truncated response.
        return false;
    }
    match encoder {
        Encoder::Length(rest) => {
            *rest -= sent;
            // More than announced: the rest is not sent, and the
            // connection cannot be trusted to be in step.
            len.is_none_or(|len| len <= want)
        }
        Encoder::Chunked => {
            out.extend_from_slice(b"\r\n");
            true
        }
        Encoder::Close | Encoder::None => true,
    }
}

/// A response's access-log record with what its writer learned, written
/// by the connection once the request's body is drained (`%I` counts it);
/// if the connection's task ends before that (shutdown), when dropped, with
/// the bytes read up to the response.
pub(super) struct Pending {
    record: Option<Box<AccessRecord>>,
    sent: u64,
    bytes_out: u64,
    kept: Option<bool>,
    read_by_response: u64,
}

impl Pending {
    pub(super) fn write(mut self, bytes_in: u64) {
        self.finish(bytes_in);
    }

    fn finish(&mut self, bytes_in: u64) {
        if let Some(record) = self.record.take() {
            record.write(
                self.sent,
                Some(Wire {
                    bytes_in,
                    bytes_out: self.bytes_out,
                    kept: self.kept,
                }),
            );
        }
    }
}

impl Drop for Pending {
    fn drop(&mut self) {
        self.finish(self.read_by_response);
    }
}

/// Write `resp`; true when the connection may carry another request, and
/// the access-log record to write (if the site keeps one).
pub(super) async fn write_response(
    shared: &Shared,
    out: &mut Vec<u8>,
    resp: Response<OutBody>,
    req: ReqFacts,
    consumed_before: u64,
) -> (bool, Option<Pending>) {
    let (parts, mut body) = resp.into_parts();
    let record = body.take_log();
    // The head's and the chunk framing's bytes.
    let mut framing = 0;
    let own_timeout = parts
        .extensions
        .get::<crate::response::WriteTimeout>()
        .map(|t| t.0);
    if own_timeout.is_some() {
        shared.set_write_timeout(own_timeout);
    }
    let kept = write_parts(shared, out, &parts, &mut body, req, &mut framing).await;
    if own_timeout.is_some() {
        shared.set_write_timeout(None);
    }
    let pending = record.map(|record| Pending {
        record: Some(record),
        sent: body.sent(),
        bytes_out: framing + body.sent(),
        kept,
        read_by_response: shared.state().consumed - consumed_before,
    });
    (kept == Some(true), pending)
}

/// [`write_response`]'s work: `Some(keep)` once the response is out, None
/// when it could not be written whole.
async fn write_parts(
    shared: &Shared,
    out: &mut Vec<u8>,
    parts: &http::response::Parts,
    body: &mut OutBody,
    req: ReqFacts,
    framing: &mut u64,
) -> Option<bool> {
    out.clear();
    let mut keep = req.keep_alive;
    let mut encoder = if req.version == Version::HTTP_09 {
        // A simple request gets the body alone, and the connection ends.
        keep = false;
        Encoder::Close
    } else {
        encode_head(out, parts, body, req, &mut keep)
    };
    *framing += out.len() as u64;
    if encoder == Encoder::None || encoder == Encoder::Length(0) {
        // The body is not sent (hyper does not poll it either).
        return flush(shared, out).await.then_some(keep);
    }
    loop {
        // Look at the body without waiting: what is ready goes out with
        // the head; the buffer is written before waiting for more.
        let polled = std::future::poll_fn(|cx| Poll::Ready(body.poll_chunk(cx))).await;
        let chunk = match polled {
            Poll::Ready(chunk) => chunk,
            Poll::Pending => {
                if !flush(shared, out).await {
                    return None;
                }
                std::future::poll_fn(|cx| body.poll_chunk(cx)).await
            }
        };
        let data = match chunk {
            None => break,
            Some(Err(_)) => {
                // The body failed: what was produced goes out, then the
                // connection closes so that the client sees it truncated.
                let _ = flush(shared, out).await;
                return None;
            }
            Some(Ok(Chunk::File(range))) => {
                if !send_range(shared, out, body, &mut encoder, range, framing).await {
                    return None;
                }
                continue;
            }
            Some(Ok(Chunk::Data(data))) if data.is_empty() => continue,
            Some(Ok(Chunk::Data(data))) => data,
        };
        let ok = match encoder {
            Encoder::Length(rest) => {
                let n = rest.min(data.len() as u64);
                encoder = Encoder::Length(rest - n);
                // `truncate`, not `slice`: a slice of a vector-backed
                // `Bytes` allocates (it becomes shared).
                let mut data = data;
                let whole = data.len() as u64;
                data.truncate(n as usize);
                let ok = put(shared, out, &data, b"").await;
                if n < whole {
                    // More than announced: the extra is not sent, and the
                    // connection cannot be trusted to be in step.
                    return flush(shared, out).await.then_some(false);
                }
                ok
            }
            Encoder::Chunked => {
                let before = out.len();
                let _ = write!(out, "{:x}\r\n", data.len());
                *framing += (out.len() - before) as u64 + 2;
                put(shared, out, &data, b"\r\n").await
            }
            Encoder::Close | Encoder::None => put(shared, out, &data, b"").await,
        };
        if !ok {
            return None;
        }
    }
    match encoder {
        Encoder::Chunked => {
            out.extend_from_slice(b"0\r\n\r\n");
            *framing += 5;
        }
        // The body ended before its announced length.
        Encoder::Length(rest) if rest > 0 => keep = false,
        _ => {}
    }
    flush(shared, out).await.then_some(keep)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::body::ResponseBody;
    use http::HeaderValue;

    #[test]
    fn other_header_names_go_out_capitalised() {
        let mut out = Vec::new();
        push_other_header(&mut out, "x-request-id", b"7");
        push_other_header(&mut out, "strict-transport-security", b"max-age=1");
        assert_eq!(
            out,
            b"X-Request-Id: 7\r\nStrict-Transport-Security: max-age=1\r\n"
        );
    }

    fn head_of(resp: &Response<OutBody>, req: ReqFacts) -> (String, Encoder, bool) {
        let mut out = Vec::new();
        let mut keep = req.keep_alive;
        let mut parts = Response::new(()).into_parts().0;
        parts.status = resp.status();
        parts.headers = resp.headers().clone();
        let enc = encode_head(&mut out, &parts, resp.body(), req, &mut keep);
        let text = String::from_utf8_lossy(&out).into_owned();
        (text, enc, keep)
    }

    const GET11: ReqFacts = ReqFacts {
        head: false,
        version: Version::HTTP_11,
        keep_alive: true,
    };

    #[test]
    fn exact_body_gets_content_length() {
        let resp = Response::new(OutBody::exact(ResponseBody::full(Bytes::from_static(
            b"hi",
        ))));
        let (text, enc, keep) = head_of(&resp, GET11);
        assert!(text.starts_with("HTTP/1.1 200 OK\r\nContent-Length: 2\r\nDate: "));
        assert!(text.ends_with("\r\n\r\n"));
        assert_eq!((enc, keep), (Encoder::Length(2), true));
    }

    #[test]
    fn streamed_body_framing() {
        let resp = Response::new(OutBody::streamed(vec![ResponseBody::full(
            Bytes::from_static(b"hi"),
        )]));
        let (text, enc, _) = head_of(&resp, GET11);
        assert!(text.contains("Transfer-Encoding: chunked\r\n"));
        assert_eq!(enc, Encoder::Chunked);
        let req10 = ReqFacts {
            version: Version::HTTP_10,
            keep_alive: true,
            ..GET11
        };
        let (text, enc, keep) = head_of(&resp, req10);
        assert!(!text.contains("chunked") && !text.contains("Connection"));
        assert_eq!((enc, keep), (Encoder::Close, false));
        let head = ReqFacts {
            head: true,
            ..GET11
        };
        let (text, enc, keep) = head_of(&resp, head);
        assert!(!text.contains("chunked") && !text.contains("Content-Length"));
        assert_eq!((enc, keep), (Encoder::None, true));
    }

    #[test]
    fn connection_headers() {
        let mut resp = Response::new(OutBody::exact(ResponseBody::empty()));
        let (text, _, _) = head_of(
            &resp,
            ReqFacts {
                keep_alive: false,
                ..GET11
            },
        );
        assert!(text.contains("Content-Length: 0\r\nConnection: close\r\n"));
        resp.headers_mut()
            .insert(header::CONNECTION, HeaderValue::from_static("close"));
        let (text, _, keep) = head_of(&resp, GET11);
        assert_eq!(text.matches("close").count(), 1);
        assert!(!keep);
        let (text, _, keep) = head_of(
            &Response::new(OutBody::exact(ResponseBody::empty())),
            ReqFacts {
                version: Version::HTTP_10,
                ..GET11
            },
        );
        assert!(text.contains("Connection: keep-alive\r\n") && keep);
    }

    #[test]
    fn statuses_that_drop_the_connection() {
        for (code, drops) in [
            (400, true),
            (413, true),
            (500, true),
            (503, true),
            (404, false),
            (417, false),
            (502, false),
        ] {
            let mut resp = Response::new(OutBody::exact(ResponseBody::empty()));
            *resp.status_mut() = http::StatusCode::from_u16(code).expect("status");
            let (text, _, keep) = head_of(&resp, GET11);
            assert_eq!(keep, !drops, "{code}");
            assert_eq!(text.contains("Connection: close\r\n"), drops, "{code}");
        }
    }
}
