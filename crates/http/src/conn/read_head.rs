//! Reading one request head: waiting for its first byte (KeepAliveTimeout
//! between requests, Timeout for the first one), scanning it with Apache's
//! rules (`head_scan.rs`) as the bytes arrive, then building the
//! `http::request::Parts` the phases use from the very bytes scanned
//! (header values are slices of the head, not copies).

use std::future::Future;
use std::io::{self, Write as _};
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use bytes::Bytes;
use http::header::{
    CONNECTION, CONTENT_LENGTH, EXPECT, HeaderName, HeaderValue, TRANSFER_ENCODING,
};
use http::{HeaderMap, Method, Uri, Version};
use tokio::sync::watch;
use tokio::time::{Instant, Sleep};
use wsgid_log::Level;

use super::body_in::{Chunk, Framing};
use super::io::{Filled, Shared};
use super::reqtimeout::RateClock;
use crate::frontend::FrontEnd;
use crate::head_scan::{HeadScanner, Limits, Rejection, Scan, unfold};
use crate::request::{ConnInfo, ProtocolSent, RawTarget};

/// The largest head read: twice what Apache's limits allow, so that an
/// overlong head is still scanned to the line Apache would refuse.
fn max_head(l: Limits) -> usize {
    let head = l.line.saturating_add(2).saturating_add(
        l.fields
            .max(100)
            .saturating_mul(l.field_size.saturating_add(2)),
    );
    head.saturating_mul(2).clamp(64 * 1024, 16 * 1024 * 1024)
}

/// What waiting for a head produced.  Not boxed: it is moved once per
/// request, and a box would be an allocation per request.
#[allow(clippy::large_enum_variant)]
pub(super) enum HeadRead {
    Head(Head),
    /// Nothing to answer: the client closed or stayed silent before a
    /// request line, or the server is stopping.
    Close,
    /// Answer with Apache's page for this refusal, then close.
    Refuse(Rejection),
    /// The connection's first request line timed out unfinished: Apache
    /// answers nothing but logs the request as `"-" 408 -`.
    LineTimedOut,
}

/// A request head, parsed.
#[derive(Debug)]
pub(super) struct Head {
    pub(super) parts: http::request::Parts,
    /// How the body is delimited.
    pub(super) framing: Framing,
    /// The client may keep the connection open after this request.
    pub(super) keep_alive: bool,
    /// `Expect: 100-continue` on an HTTP/1.1 request with a body.
    pub(super) expect_continue: bool,
    /// A refusal found after the head was read (bad Transfer-Encoding):
    /// answered as a request of its virtual host.
    pub(super) refused: Option<Rejection>,
}

/// Resolves once shutdown was asked for (or the sender is gone).
pub(crate) async fn stopped(stop: &mut watch::Receiver<bool>) {
    // The returned guard is dropped here, before any await of the caller.
    let _ = stop.wait_for(|s| *s).await;
}

/// The connection task's waits for the client: one timer and one shutdown
/// watch for the whole connection.  A timer armed and cancelled per request
/// (as hyper's head timer is) costs two updates of tokio's timer wheel per
/// request; this one is only moved when it fires early (deadlines move
/// later as requests go by) or must fire sooner.
pub(super) struct Waits {
    stop: Pin<Box<dyn Future<Output = ()> + Send>>,
    stopped: bool,
    timer: Pin<Box<Sleep>>,
}

impl Waits {
    pub(super) fn new(mut stop: watch::Receiver<bool>, first_deadline: Instant) -> Waits {
        Waits {
            stop: Box::pin(async move { stopped(&mut stop).await }),
            stopped: false,
            timer: Box::pin(tokio::time::sleep_until(first_deadline)),
        }
    }

    /// Read more into the buffer: `Err(TimedOut)` at `deadline`, `Ok(None)`
    /// when shutdown is asked for and `stoppable` — except for a
    /// connection's first request (`first`) in a process that stops
    /// because it is recycled (`recycling`): an Apache child at
    /// MaxConnectionsPerChild serves the connection that reached the
    /// limit, whose request may not have arrived yet when it stops
    /// accepting.
    async fn fill(
        &mut self,
        shared: &Shared,
        deadline: Instant,
        stoppable: bool,
        first: bool,
        recycling: &AtomicBool,
    ) -> io::Result<Option<Filled>> {
        if self.timer.deadline() > deadline {
            self.timer.as_mut().reset(deadline);
        }
        loop {
            tokio::select! {
                biased;
                filled = shared.fill(None, None) => return filled.map(Some),
                () = &mut self.stop, if stoppable && !self.stopped => {
                    self.stopped = true;
                    if !(first && recycling.load(Ordering::Relaxed)) {
                        return Ok(None);
                    }
                }
                () = &mut self.timer => {
                    if Instant::now() >= deadline {
                        return Err(io::ErrorKind::TimedOut.into());
                    }
                    self.timer.as_mut().reset(deadline);
                }
            }
        }
    }
}

impl FrontEnd {
    /// Read the next head of the connection.  `first`: the connection's
    /// first request (its whole head is bounded by Timeout from
    /// `accepted`); later ones wait KeepAliveTimeout for a first byte,
    /// then Timeout for the rest.
    pub(super) async fn read_head(
        &self,
        shared: &Shared,
        conn: &Arc<ConnInfo>,
        first: bool,
        accepted: Instant,
        waits: &mut Waits,
    ) -> HeadRead {
        let limits = self.limits();
        let bound = max_head(limits);
        let mut scanner = HeadScanner::new(limits);
        if limits.registered_methods_only {
            scanner = scanner.with_extension_methods(self.extension_methods.clone());
        }
        // `RequestReadTimeout header=`: from the connection's start for its
        // first request, else from the first byte of the request.
        let stage = self.cfg.request_read_timeout.map(|rt| rt.header);
        let mut clock = match stage {
            Some(st) if first => RateClock::start(&st, accepted),
            _ => None,
        };
        let deadline = if shared.state().buf.is_empty() {
            let idle = if first {
                accepted + self.cfg.timeout
            } else {
                Instant::now() + self.cfg.keep_alive_timeout
            };
            let idle_end = clock.map_or(idle, |c| c.deadline().min(idle));
            // An idle connection closes at shutdown, or at the deadline.
            match waits
                .fill(shared, idle_end, true, first, &self.recycling)
                .await
            {
                Ok(Some(Filled::Data)) => {}
                Err(e) if e.kind() == std::io::ErrorKind::TimedOut && idle_end < idle => {
                    self.log_read_timeout(conn, "header");
                    return HeadRead::Close;
                }
                _ => return HeadRead::Close,
            }
            if first {
                idle
            } else {
                Instant::now() + self.cfg.timeout
            }
        } else {
            // Pipelined: the head is already (partly) here.
            Instant::now() + self.cfg.timeout
        };
        if !first && let Some(st) = stage {
            clock = RateClock::start(&st, Instant::now());
        }
        let mut counted = 0;
        loop {
            let (scan, len) = {
                let st = shared.state();
                (scanner.scan(&st.buf), st.buf.len())
            };
            if let Some(c) = clock.as_mut() {
                c.received(len.saturating_sub(counted));
                counted = len;
            }
            match scan {
                Scan::Complete(head) => {
                    let raw = {
                        let mut st = shared.state();
                        st.consumed += head.len as u64;
                        st.buf.split_to(head.len).freeze()
                    };
                    let raw = if head.folded {
                        Bytes::from(unfold(&raw))
                    } else {
                        raw
                    };
                    return match parse(&raw, head.http09, head.fields) {
                        Ok(parts) => HeadRead::Head(finish(parts)),
                        Err(why) => HeadRead::Refuse(scanner.refusal(400, Level::Debug, why)),
                    };
                }
                Scan::Reject(r) => return HeadRead::Refuse(r),
                Scan::Incomplete => {}
            }
            if len >= bound {
                let r = scanner.refusal(400, Level::Debug, "request head too large".into());
                return HeadRead::Refuse(r);
            }
            let end = clock.map_or(deadline, |c| c.deadline().min(deadline));
            let filled = waits.fill(shared, end, false, first, &self.recycling).await;
            if matches!(&filled, Err(e) if e.kind() == std::io::ErrorKind::TimedOut)
                && end < deadline
            {
                self.log_read_timeout(conn, "header");
            }
            match filled {
                Ok(Some(Filled::Data)) => {}
                // EOF or timeout before the request line is complete ends
                // the connection without an answer (as Apache).
                Ok(Some(Filled::Eof)) if scanner.in_fields() => {
                    return HeadRead::Refuse(scanner.refusal(
                        400,
                        Level::Debug,
                        "Failed to read request header line".into(),
                    ));
                }
                Err(e) if e.kind() == std::io::ErrorKind::TimedOut && scanner.in_fields() => {
                    return HeadRead::Refuse(scanner.refusal(408, Level::Debug, String::new()));
                }
                Err(e) if e.kind() == std::io::ErrorKind::TimedOut && first => {
                    return HeadRead::LineTimedOut;
                }
                Ok(_) | Err(_) => return HeadRead::Close,
            }
        }
    }
}

/// `line` without its CRLF, and the offset after it.
fn line_at(raw: &[u8], at: usize) -> (usize, usize) {
    let rest = raw.get(at..).unwrap_or_default();
    match memchr::memchr(b'\n', rest) {
        Some(lf) => {
            let end = if lf > 0 && rest[lf - 1] == b'\r' {
                lf - 1
            } else {
                lf
            };
            (at + end, at + lf + 1)
        }
        None => (raw.len(), raw.len()),
    }
}

fn trim_ows(raw: &[u8], mut start: usize, mut end: usize) -> (usize, usize) {
    while start < end && matches!(raw[start], b' ' | b'\t') {
        start += 1;
    }
    while end > start && matches!(raw[end - 1], b' ' | b'\t') {
        end -= 1;
    }
    (start, end)
}

/// The parts of a head the scanner accepted (so its grammar is known
/// good: single spaces on the request line, `name:value` field lines).
fn parse(raw: &Bytes, http09: bool, fields: usize) -> Result<http::request::Parts, String> {
    let mut at = 0;
    // Blank lines before the request line (Apache skips a few).
    let (mut end, mut next) = line_at(raw, at);
    while end == at && next < raw.len() {
        at = next;
        (end, next) = line_at(raw, at);
    }
    let line = &raw[at..end];
    let mut words = line.splitn(3, |&b| b == b' ');
    let method = words.next().unwrap_or_default();
    let target_len = words.next().map_or(0, <[u8]>::len);
    let protocol = words.next().unwrap_or_default();
    let target_at = at + method.len() + 1;
    if target_len == 0 || target_at + target_len > end {
        // The scanner refuses such lines; never slice out of bounds.
        return Err("AH03446: HTTP Request Line; Missing URI".to_owned());
    }
    let method = Method::from_bytes(method).map_err(|_| "invalid method".to_owned())?;
    let target = raw.slice(target_at..target_at + target_len);
    let mut raw_target = None;
    let uri = match Uri::from_maybe_shared(target.clone()) {
        Ok(uri) => uri,
        Err(_) => {
            // Apache takes bytes over 0x7f as they are; `Uri` only takes
            // them escaped, and the request keeps the original.
            let mut escaped = Vec::with_capacity(target.len() * 3);
            for &b in &target[..] {
                if b >= 0x80 {
                    let _ = write!(escaped, "%{b:02X}");
                } else {
                    escaped.push(b);
                }
            }
            let uri = Uri::from_maybe_shared(Bytes::from(escaped)).map_err(|_| {
                format!(
                    "AH03454: HTTP Request Line; URI incorrectly encoded: '{}'",
                    crate::head_scan::escape_log(&target)
                )
            })?;
            raw_target = Some(RawTarget(target));
            uri
        }
    };
    let mut protocol_sent = None;
    let version = match protocol {
        _ if http09 => Version::HTTP_09,
        b"HTTP/1.0" => Version::HTTP_10,
        b"HTTP/1.1" => Version::HTTP_11,
        // HTTP/1.2, HTTP/2.0...: Apache serves them as HTTP/1.1, and
        // shows them as sent.
        other => {
            protocol_sent = Some(ProtocolSent(crate::uri::latin1(other)));
            Version::HTTP_11
        }
    };
    // Sized once: growing the map rehashes it.
    let mut headers = HeaderMap::with_capacity(fields);
    let mut at = next;
    while at < raw.len() {
        let (end, next) = line_at(raw, at);
        if end == at {
            break;
        }
        let colon = raw[at..end]
            .iter()
            .position(|&b| b == b':')
            .ok_or_else(|| "header line without a colon".to_owned())?;
        let name = HeaderName::from_bytes(&raw[at..at + colon])
            .map_err(|_| "invalid header name".to_owned())?;
        let (vs, ve) = trim_ows(raw, at + colon + 1, end);
        let value = HeaderValue::from_maybe_shared(raw.slice(vs..ve))
            .map_err(|_| "invalid header value".to_owned())?;
        headers.append(name, value);
        at = next;
    }
    let mut parts = http::Request::new(()).into_parts().0;
    parts.method = method;
    parts.uri = uri;
    parts.version = version;
    parts.headers = headers;
    if let Some(raw) = raw_target {
        parts.extensions.insert(raw);
    }
    if let Some(p) = protocol_sent {
        parts.extensions.insert(p);
    }
    Ok(parts)
}

/// Whether a comma-separated header value lists `token`.
fn has_token(headers: &HeaderMap, name: HeaderName, token: &[u8]) -> bool {
    headers.get_all(name).iter().any(|v| {
        v.as_bytes()
            .split(|&b| b == b',')
            .any(|t| t.trim_ascii().eq_ignore_ascii_case(token))
    })
}

/// A 400 for a head whose body framing cannot be trusted, logged at debug
/// as Apache logs it (`AH10242` for the length, `AH02539` for the coding).
fn refusal(parts: &http::request::Parts, log: String) -> Rejection {
    let mut r = Rejection::new(400, Level::Debug, log);
    r.header_only = parts.method == Method::HEAD;
    r
}

/// A request field as Apache's `headers_in` holds it: repeated ones joined
/// with ", ".
fn merged(h: &HeaderMap, name: HeaderName) -> String {
    crate::uri::latin1(&crate::request::joined_field(h, &name).unwrap_or_default())
}

/// Body framing and connection options of a parsed head.
fn finish(mut parts: http::request::Parts) -> Head {
    let h = &parts.headers;
    let version = parts.version;
    let mut keep_alive = match version {
        Version::HTTP_11 => !has_token(h, CONNECTION, b"close"),
        Version::HTTP_10 => {
            has_token(h, CONNECTION, b"keep-alive") && !has_token(h, CONNECTION, b"close")
        }
        _ => false,
    };
    let mut refused = None;
    let framing = if let Some(te) = h.get_all(TRANSFER_ENCODING).iter().next_back() {
        let last = te
            .as_bytes()
            .rsplit(|&b| b == b',')
            .next()
            .unwrap_or_default();
        if last.trim_ascii().eq_ignore_ascii_case(b"chunked") {
            // Transfer-Encoding wins over Content-Length (RFC 9112 6.3),
            // which Apache then removes; such a request may be an attempt
            // at request smuggling, so the connection ends after it.
            if parts.headers.remove(CONTENT_LENGTH).is_some() {
                keep_alive = false;
            }
            Framing::Chunked(Chunk::Size)
        } else {
            // Apache 2.4.71 answers 400 and logs nothing at LogLevel info.
            let log = format!(
                "AH02539: client sent unknown Transfer-Encoding ({}): {}",
                merged(h, TRANSFER_ENCODING),
                parts.uri.path()
            );
            refused = Some(refusal(&parts, log));
            keep_alive = false;
            Framing::Done
        }
    } else {
        let mut lengths = h.get_all(CONTENT_LENGTH).iter();
        let length = |v: &HeaderValue| {
            std::str::from_utf8(v.as_bytes())
                .ok()
                .filter(|s| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()))
                .and_then(|s| s.parse::<u64>().ok())
        };
        match (lengths.next(), lengths.next()) {
            (None, _) => Framing::Done,
            (Some(only), None) if let Some(n) = length(only) => Framing::Length(n),
            // Where the body ends is unknown: Apache's core answers 400
            // (logging nothing at info) and closes.  That includes the same
            // length twice: Apache merges repeated headers ("5, 5"), which
            // is no number, so no intermediary can read the body's end
            // differently from the server.
            _ => {
                let log = format!(
                    "AH10242: client sent invalid Content-Length ({}): {}",
                    merged(h, CONTENT_LENGTH),
                    parts.uri.path()
                );
                refused = Some(refusal(&parts, log));
                keep_alive = false;
                Framing::Done
            }
        }
    };
    let expect_continue = version == Version::HTTP_11
        && framing != Framing::Done
        && framing != Framing::Length(0)
        && parts
            .headers
            .get(EXPECT)
            .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"100-continue"));
    Head {
        parts,
        framing,
        keep_alive,
        expect_continue,
        refused,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn head(raw: &str, http09: bool) -> Head {
        finish(parse(&Bytes::copy_from_slice(raw.as_bytes()), http09, 4).expect("parses"))
    }

    #[test]
    fn parses_line_and_fields() {
        let h = head(
            "\r\nPOST /a?b=1 HTTP/1.1\r\nHost: x\r\nX-A:  v v \r\nContent-Length: 3\r\n\r\n",
            false,
        );
        assert_eq!(h.parts.method, Method::POST);
        assert_eq!(h.parts.uri, "/a?b=1");
        assert_eq!(h.parts.version, Version::HTTP_11);
        assert_eq!(h.parts.headers["x-a"], "v v");
        assert_eq!(h.framing, Framing::Length(3));
        assert!(h.keep_alive);
    }

    #[test]
    fn http09_and_http10() {
        let h = head("GET /x\r\n", true);
        assert_eq!(h.parts.version, Version::HTTP_09);
        assert!(!h.keep_alive);
        let h = head("GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n", false);
        assert!(h.keep_alive);
        let h = head("GET / HTTP/1.0\r\n\r\n", false);
        assert!(!h.keep_alive);
    }

    #[test]
    fn framing_rules() {
        let h = head(
            "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\nContent-Length: 4\r\n\r\n",
            false,
        );
        assert_eq!(h.framing, Framing::Chunked(Chunk::Size));
        assert!(h.parts.headers.get(CONTENT_LENGTH).is_none() && !h.keep_alive);
        let h = head("POST / HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\n", false);
        assert_eq!(h.refused.map(|r| r.status), Some(400));
        let h = head("POST / HTTP/1.1\r\nContent-Length: x\r\n\r\n", false);
        assert_eq!(h.framing, Framing::Done);
        assert_eq!(h.refused.map(|r| r.status), Some(400));
        assert!(!h.keep_alive);
        let h = head(
            "POST / HTTP/1.1\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\n",
            false,
        );
        assert!(h.refused.is_some());
        let h = head(
            "POST / HTTP/1.1\r\nContent-Length: 2\r\nContent-Length: 2\r\n\r\n",
            false,
        );
        assert_eq!(h.refused.map(|r| r.status), Some(400));
        assert!(!h.keep_alive);
        let h = head(
            "POST / HTTP/1.1\r\nContent-Length: 2\r\nExpect: 100-continue\r\n\r\n",
            false,
        );
        assert!(h.expect_continue);
    }
}
