//! The wire format between a front-end worker and a daemon process, over
//! a UNIX stream connection that carries one request at a time and is kept
//! for the next one (mod_wsgi connects once per request; the connection
//! set-up and teardown were most of daemon mode's cost).
//!
//! Everything is a frame: a 5-byte header — the kind (one ASCII byte) and
//! the payload length (u32, little endian) — then the payload.  Strings
//! inside payloads are a u32 length then UTF-8 bytes (environ values are
//! latin-1 "native strings", one `char` per byte, so they round-trip).
//!
//! Front end → daemon:
//!
//! | kind | payload |
//! |------|---------|
//! | `R`  | the request head ([`RequestHead`]): sent first, once per request |
//! | `B`  | a request body chunk (never empty) |
//! | `E`  | end of the request body |
//! | `X`  | the body read failed: u8 code (0 I/O, 1 too large, 2 timeout), message |
//!
//! Daemon → front end:
//!
//! | kind | payload |
//! |------|---------|
//! | `H`  | response head: u16 status, reason, u32 count, (name, value)* |
//! | `C`  | head (as `H`) then the whole body: the complete response |
//! | `D`  | a body chunk |
//! | `G`  | a `wsgi.file_wrapper` file: u64 offset, u64 length (`u64::MAX`: to its end); the open file itself travels with the frame's bytes as an `SCM_RIGHTS` descriptor, and the front end sends it with `sendfile` |
//! | `Z`  | end of the body |
//! | `A`  | abort (close the client connection without completing) |
//! | `F`  | failed before a head: u16 status for the error page |
//! | `J`  | rejected, not started: u8 reason — 0: the process is restarting (its script changed and the reload mechanism is `Process`; the front end reconnects as mod_wsgi does after a restart), 1: the connection is being closed (the process is stopping, or reached `maximum-requests`), 2: all the process's threads stayed busy (the request goes through the group's socket to the first process with a thread free, as in mod_wsgi); in every case the front end sends the request again on a new connection |
//!
//! A small response is one `C` frame: one `write` on the daemon side and
//! one `read` on the front end.  Streamed bodies go as `D` frames written
//! as the application yields them (several queued events are coalesced
//! into one write); the request body is sent as the client sends it, in
//! both directions with the sockets' flow control as backpressure (the
//! daemon stops reading when `wsgi.input` is not being read).  An early
//! EOF before `H`/`C` is mod_wsgi's "Truncated or oversized response
//! headers".
//!
//! Keep-alive.  After a clean exchange — the front end sent the whole body
//! through `E`, the daemon answered through `C` or `Z` and read that `E` —
//! both sides keep the connection and the daemon waits for the next `R`.
//! Anything else (`A`, `F`, `J`, `X`, a body the application did not read,
//! a timeout, the client gone) ends it: the side that knows closes it.
//!
//! Closing an idle connection (the daemon stops, recycles, or reached
//! `maximum-requests`) is done so that the front end can tell "not
//! started" from "may have started":
//!
//! 1. the daemon first shuts down its *receiving* side
//!    (`shutdown(SHUT_RD)`): from then on a write by the front end fails
//!    with `EPIPE` and delivers nothing (the kernel checks the peer's
//!    shutdown state and queues the data under the same lock, so a write
//!    is either wholly before the shutdown or fails);
//! 2. it then reads what was queued before the shutdown: if that holds a
//!    complete `R`, it answers `J` (reason 1) — that request was not
//!    started — and closes; otherwise it just closes.
//!
//! So, on the front end, a request may be sent again only when (a) writing
//! its `R` frame failed before every byte of it was accepted by the
//! kernel (the daemon can never have had the whole head, and it starts
//! nothing before it has), or (b) the daemon answered `J`.  An EOF or a
//! reset after the whole `R` was accepted and before any response frame
//! means the daemon may have started the request (it died, or was killed,
//! while running it): that is answered as mod_wsgi does (500, "Truncated
//! or oversized response headers"), never retried.

use std::borrow::Cow;
use std::fmt::Write as _;
use std::net::SocketAddr;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::{Buf, BufMut, Bytes, BytesMut};
use wsgid_python::{BodyError, CgiEnv, ReloadMechanism, ResponseHead};

mod reader;

pub use reader::{FrameReader, read_frame};

pub const REQUEST: u8 = b'R';
pub const BODY: u8 = b'B';
pub const BODY_END: u8 = b'E';
pub const BODY_ERROR: u8 = b'X';
pub const HEAD: u8 = b'H';
pub const COMPLETE: u8 = b'C';
pub const DATA: u8 = b'D';
pub const FILE: u8 = b'G';
pub const END: u8 = b'Z';
pub const ABORT: u8 = b'A';
pub const FAILED: u8 = b'F';
pub const REJECTED: u8 = b'J';

/// `J` reasons.
pub const REJECTED_RESTARTING: u8 = 0;
pub const REJECTED_CLOSING: u8 = 1;
pub const REJECTED_BUSY: u8 = 2;

/// Largest payload accepted (heads are small; body frames are cut at 1 MiB).
pub const MAX_FRAME: usize = 64 << 20;
/// Body chunks larger than this are split into several frames.
pub const MAX_CHUNK: usize = 1 << 20;

/// Everything of a `WsgiRequest` except the body and the channels.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestHead<'a> {
    /// Index of the virtual host (0: main server) whose error log gets
    /// the request's `wsgi.errors`.
    pub host: u32,
    // Borrowed from the request and its settings in the front end (which
    // encodes the head at once), owned where the daemon decodes it.
    pub script: Cow<'a, str>,
    pub callable: Cow<'a, str>,
    pub application_group: Cow<'a, str>,
    pub script_reloading: bool,
    pub reload: ReloadMechanism,
    pub script_mtime: Option<SystemTime>,
    /// `wsgi.url_scheme` is `https` (else `http`).
    pub https: bool,
    /// The client address.
    pub client: Option<SocketAddr>,
    /// When the front end accepted the request (for `queue-timeout`).
    pub queued_at: SystemTime,
    /// `WSGIIgnoreActivity On`: the request does not count as activity
    /// for `inactivity-timeout`.
    pub ignore_activity: bool,
    pub environ: CgiEnv,
}

/// Append a frame header for `len` payload bytes.
pub fn put_header(out: &mut BytesMut, kind: u8, len: usize) {
    out.put_u8(kind);
    out.put_u32_le(u32::try_from(len).unwrap_or(u32::MAX));
}

/// Append a whole frame.
pub fn put_frame(out: &mut BytesMut, kind: u8, payload: &[u8]) {
    put_header(out, kind, payload.len());
    out.put_slice(payload);
}

fn put_str(out: &mut BytesMut, s: &str) {
    out.put_u32_le(u32::try_from(s.len()).unwrap_or(u32::MAX));
    out.put_slice(s.as_bytes());
}

/// The client address as text (empty: none), written in place: its length
/// is filled in after the address is formatted.
fn put_client(out: &mut BytesMut, client: Option<SocketAddr>) {
    let at = out.len();
    out.put_u32_le(0);
    if let Some(addr) = client {
        // Formatting into a BytesMut cannot fail (it grows as needed).
        let _ = write!(out, "{addr}");
    }
    fill_len(out, at);
}

/// Fill in the little-endian length written as 0 at `at` (a string's
/// prefix, a frame header's length): what follows it, to the end.
fn fill_len(out: &mut BytesMut, at: usize) {
    let len = u32::try_from(out.len() - at - 4).unwrap_or(u32::MAX);
    out[at..at + 4].copy_from_slice(&len.to_le_bytes());
}

fn micros(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_micros()).unwrap_or(u64::MAX))
}

/// A malformed payload.
#[derive(Debug)]
pub struct Malformed;

impl std::fmt::Display for Malformed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("malformed frame")
    }
}

fn get_u8(b: &mut Bytes) -> Result<u8, Malformed> {
    if b.remaining() < 1 {
        return Err(Malformed);
    }
    Ok(b.get_u8())
}
fn get_u16(b: &mut Bytes) -> Result<u16, Malformed> {
    if b.remaining() < 2 {
        return Err(Malformed);
    }
    Ok(b.get_u16_le())
}
fn get_u32(b: &mut Bytes) -> Result<u32, Malformed> {
    if b.remaining() < 4 {
        return Err(Malformed);
    }
    Ok(b.get_u32_le())
}
fn get_u64(b: &mut Bytes) -> Result<u64, Malformed> {
    if b.remaining() < 8 {
        return Err(Malformed);
    }
    Ok(b.get_u64_le())
}
fn get_bytes(b: &mut Bytes) -> Result<Bytes, Malformed> {
    let n = get_u32(b)? as usize;
    if b.remaining() < n {
        return Err(Malformed);
    }
    Ok(b.split_to(n))
}
fn get_str(b: &mut Bytes) -> Result<String, Malformed> {
    Ok(utf8(&get_bytes(b)?)?.to_owned())
}

fn utf8(b: &[u8]) -> Result<&str, Malformed> {
    std::str::from_utf8(b).map_err(|_| Malformed)
}

impl RequestHead<'_> {
    /// The whole `R` frame.
    pub fn encode(&self, out: &mut BytesMut) {
        // Written in place after a header whose length is filled in last
        // (before, the payload was built in a buffer of its own and then
        // copied behind the header).
        let start = out.len();
        let (env_buf, env_spans) = self.environ.raw_parts();
        out.reserve(5 + 256 + env_buf.len() + 16 * env_spans.len());
        put_header(out, REQUEST, 0);
        out.put_u32_le(self.host);
        put_str(out, &self.script);
        put_str(out, &self.callable);
        put_str(out, &self.application_group);
        out.put_u8(u8::from(self.script_reloading));
        out.put_u8(match self.reload {
            ReloadMechanism::Module => 0,
            ReloadMechanism::Interpreter => 1,
            ReloadMechanism::Process => 2,
        });
        match self
            .script_mtime
            .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
        {
            Some(d) => {
                out.put_u8(1);
                out.put_u64_le(d.as_secs());
                out.put_u32_le(d.subsec_nanos());
            }
            None => out.put_u8(0),
        }
        put_str(out, if self.https { "https" } else { "http" });
        put_client(out, self.client);
        out.put_u64_le(micros(self.queued_at));
        out.put_u8(u8::from(self.ignore_activity));
        // The environ as the front end built it: its buffer, then its
        // table of offsets (decoding is one UTF-8 check and one copy, not
        // two strings an entry).
        put_str(out, env_buf);
        out.put_u32_le(u32::try_from(env_spans.len()).unwrap_or(u32::MAX));
        for span in env_spans {
            // One 16-byte copy a span rather than four 4-byte puts, each
            // with its own capacity check (this loop runs some 40 times
            // a request).
            let mut packed = [0u8; 16];
            for (slot, offset) in packed.chunks_exact_mut(4).zip(span) {
                slot.copy_from_slice(&offset.to_le_bytes());
            }
            out.put_slice(&packed);
        }
        fill_len(out, start + 1);
    }

    pub fn decode(mut b: Bytes) -> Result<RequestHead<'static>, Malformed> {
        let host = get_u32(&mut b)?;
        let script = get_str(&mut b)?.into();
        let callable = get_str(&mut b)?.into();
        let application_group = get_str(&mut b)?.into();
        let script_reloading = get_u8(&mut b)? != 0;
        let reload = match get_u8(&mut b)? {
            0 => ReloadMechanism::Module,
            1 => ReloadMechanism::Interpreter,
            _ => ReloadMechanism::Process,
        };
        let script_mtime = match get_u8(&mut b)? {
            0 => None,
            _ => {
                let secs = get_u64(&mut b)?;
                let nanos = get_u32(&mut b)?;
                Some(UNIX_EPOCH + Duration::new(secs, nanos.min(999_999_999)))
            }
        };
        let https = &get_bytes(&mut b)?[..] == b"https";
        // Parsed from the frame's bytes (no string of its own).
        let client = utf8(&get_bytes(&mut b)?)?.parse::<SocketAddr>().ok();
        let queued_at = UNIX_EPOCH + Duration::from_micros(get_u64(&mut b)?);
        let ignore_activity = get_u8(&mut b)? != 0;
        let env_buf = get_str(&mut b)?;
        let n = get_u32(&mut b)? as usize;
        if b.remaining() < n.saturating_mul(16) {
            return Err(Malformed);
        }
        let table = b.split_to(n * 16);
        let spans = table.chunks_exact(16).map(|row| {
            std::array::from_fn(|i| {
                let mut w = [0u8; 4];
                w.copy_from_slice(&row[4 * i..4 * i + 4]);
                u32::from_le_bytes(w)
            })
        });
        let environ = CgiEnv::from_raw_parts(env_buf, spans).ok_or(Malformed)?;
        Ok(RequestHead {
            host,
            script,
            callable,
            application_group,
            script_reloading,
            reload,
            script_mtime,
            https,
            client,
            queued_at,
            ignore_activity,
            environ,
        })
    }
}

fn head_len(h: &ResponseHead) -> usize {
    2 + 4
        + h.reason().len()
        + 4
        + h.headers()
            .map(|(k, v)| 8 + k.len() + v.len())
            .sum::<usize>()
}

fn put_head(out: &mut BytesMut, h: &ResponseHead) {
    out.put_u16_le(h.status);
    put_str(out, h.reason());
    out.put_u32_le(u32::try_from(h.header_count()).unwrap_or(u32::MAX));
    for (k, v) in h.headers() {
        put_str(out, k);
        put_str(out, v);
    }
}

/// An `H` frame.
pub fn encode_head(out: &mut BytesMut, h: &ResponseHead) {
    let len = head_len(h);
    // One reservation, not a reallocation per string that does not fit.
    out.reserve(5 + len);
    put_header(out, HEAD, len);
    put_head(out, h);
}

/// A `C` frame: head and whole body.
pub fn encode_complete(out: &mut BytesMut, h: &ResponseHead, body: &[u8]) {
    encode_complete_head(out, h, body.len());
    out.put_slice(body);
}

/// A `C` frame up to its body, which follows (`body_len` bytes).
pub fn encode_complete_head(out: &mut BytesMut, h: &ResponseHead, body_len: usize) {
    let len = head_len(h);
    out.reserve(5 + len);
    put_header(out, COMPLETE, len + body_len);
    put_head(out, h);
}

/// Decode an `H` payload (or the head part of a `C` payload; the rest of
/// `b` is then the body).
pub fn decode_head(b: &mut Bytes) -> Result<ResponseHead, Malformed> {
    let status = get_u16(b)?;
    let reason = get_bytes(b)?;
    let reason = utf8(&reason)?;
    let n = get_u32(b)? as usize;
    // A guess at the text's size (it grows if needed): the rest of a `C`
    // payload is mostly body.
    let room = n.min(1024);
    let mut head = ResponseHead::with_capacity(status, reason, room, 48 * room);
    for _ in 0..n {
        let k = get_bytes(b)?;
        let v = get_bytes(b)?;
        head.push(utf8(&k)?, utf8(&v)?);
    }
    Ok(head)
}

/// A `G` frame (its descriptor is sent alongside, see `server`).
pub fn encode_file(out: &mut BytesMut, offset: u64, len: Option<u64>) {
    put_header(out, FILE, 16);
    out.put_u64_le(offset);
    out.put_u64_le(len.unwrap_or(u64::MAX));
}

/// Decode a `G` payload: (offset, length; None: to the end).
pub fn decode_file(mut b: Bytes) -> Result<(u64, Option<u64>), Malformed> {
    let offset = get_u64(&mut b)?;
    let len = get_u64(&mut b)?;
    Ok((offset, (len != u64::MAX).then_some(len)))
}

/// Split the next whole frame off `buf`, if it is there.
pub fn split_frame(buf: &mut BytesMut) -> std::io::Result<Option<(u8, Bytes)>> {
    if buf.len() < 5 {
        return Ok(None);
    }
    let len = u32::from_le_bytes([buf[1], buf[2], buf[3], buf[4]]) as usize;
    if len > MAX_FRAME {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            "frame too large",
        ));
    }
    if buf.len() < 5 + len {
        return Ok(None);
    }
    let mut frame = buf.split_to(5 + len);
    let kind = frame[0];
    Ok(Some((kind, frame.split_off(5).freeze())))
}

/// An `X` frame for a failed body read.
pub fn encode_body_error(out: &mut BytesMut, e: &BodyError) {
    let (code, msg) = match e {
        BodyError::Io(m) => (0u8, m.as_str()),
        BodyError::TooLarge => (1, ""),
        BodyError::Timeout => (2, ""),
    };
    let mut p = BytesMut::with_capacity(5 + msg.len());
    p.put_u8(code);
    put_str(&mut p, msg);
    put_frame(out, BODY_ERROR, &p);
}

pub fn decode_body_error(mut b: Bytes) -> BodyError {
    match (get_u8(&mut b), get_str(&mut b)) {
        (Ok(1), _) => BodyError::TooLarge,
        (Ok(2), _) => BodyError::Timeout,
        (_, Ok(m)) => BodyError::Io(m),
        (_, Err(_)) => BodyError::Io("malformed body error frame".into()),
    }
}

/// A plain request for `/app.wsgi`, for the client's and the server's tests.
#[cfg(test)]
pub(crate) fn test_head(environ: CgiEnv) -> RequestHead<'static> {
    RequestHead {
        host: 0,
        script: "/app.wsgi".into(),
        callable: "application".into(),
        application_group: "".into(),
        script_reloading: false,
        reload: ReloadMechanism::Module,
        script_mtime: None,
        https: false,
        client: None,
        queued_at: SystemTime::now(),
        ignore_activity: false,
        environ,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_head_round_trips() {
        let h = RequestHead {
            host: 2,
            script: "/srv/app.wsgi".into(),
            callable: "application".into(),
            application_group: "".into(),
            script_reloading: true,
            reload: ReloadMechanism::Interpreter,
            script_mtime: Some(UNIX_EPOCH + Duration::new(1_700_000_000, 5)),
            https: true,
            client: Some(([127, 0, 0, 1], 5000).into()),
            queued_at: UNIX_EPOCH + Duration::from_micros(123_456),
            ignore_activity: true,
            environ: [("PATH_INFO", "/\u{e9}")].into_iter().collect(),
        };
        // Twice in one buffer: the frame's length is filled in where the
        // frame starts, not at the buffer's start.
        let mut out = BytesMut::new();
        h.encode(&mut out);
        h.encode(&mut out);
        for _ in 0..2 {
            let (kind, payload) = split_frame(&mut out).expect("valid").expect("whole");
            assert_eq!(kind, REQUEST);
            assert_eq!(RequestHead::decode(payload).expect("decode"), h);
        }
        assert!(out.is_empty());
        // An environ offset outside its buffer is a malformed frame, not a
        // panic when the entry is read.
        let mut out = BytesMut::new();
        h.encode(&mut out);
        let last = out.len() - 4;
        out[last..].copy_from_slice(&u32::MAX.to_le_bytes());
        let (_, payload) = split_frame(&mut out).expect("valid").expect("whole");
        assert!(RequestHead::decode(payload).is_err());
    }

    #[tokio::test]
    async fn complete_frame_round_trips() {
        let mut head = ResponseHead::new(200, "OK");
        head.push("Content-Type", "text/plain");
        let mut out = BytesMut::new();
        encode_complete(&mut out, &head, b"hello");
        put_frame(&mut out, END, b"");
        let mut r = &out[..];
        let (kind, mut p) = read_frame(&mut r).await.expect("io").expect("frame");
        assert_eq!(kind, COMPLETE);
        let h = decode_head(&mut p).expect("head");
        assert_eq!(h, head);
        assert_eq!(&p[..], b"hello");
        let (kind, _) = read_frame(&mut r).await.expect("io").expect("frame");
        assert_eq!(kind, END);
        assert!(read_frame(&mut r).await.expect("io").is_none());
        let mut fr = FrameReader::new(&out[..]);
        assert_eq!(fr.next().await.expect("io").expect("frame").0, COMPLETE);
        assert_eq!(fr.next().await.expect("io").expect("frame").0, END);
        assert!(fr.next().await.expect("io").is_none());
    }
}
