//! Request bodies: `Content-Length` and chunked framing decoded from the
//! connection's read buffer ([`BodyIn`], what `request_body.rs` hands to the
//! WSGI application), and discarding what the handler left unread before
//! the next request is read ([`drain`]).

use std::io;
use std::sync::Arc;
use std::time::Duration;

use bytes::{Buf, Bytes};
use tokio::time::Instant;

use super::direct::{BodyDst, Direct};
use super::io::{Filled, ReadState, Shared};

/// A chunk-size line or trailer line longer than this is refused.
const MAX_CHUNK_LINE: usize = 8 * 1024;
/// All trailer lines together.
const MAX_TRAILERS: usize = 64 * 1024;
/// Unread body bytes discarded after a response to keep the connection;
/// a longer rest closes it instead (Apache would read it all, which a
/// client sending a large body to an error answer makes slow).
pub(super) const DRAIN_MAX: u64 = 1024 * 1024;

/// How much of the current request body is still to be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Framing {
    /// No body, or all of it read.
    Done,
    /// `Content-Length`: bytes still to come.
    Length(u64),
    Chunked(Chunk),
    /// The framing broke (bad chunk syntax, early end of stream): the
    /// connection cannot be reused.
    Broken,
}

/// Where the chunked decoder is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Chunk {
    /// Expecting a chunk-size line.
    Size,
    /// Inside a chunk's data.
    Data(u64),
    /// Expecting the CRLF after a chunk's data.
    DataEnd,
    /// After the last chunk: trailer lines until an empty one (`seen`
    /// bytes of trailers so far).
    Trailers(usize),
}

/// One step of decoding.
enum Step {
    Data(Bytes),
    End,
    NeedMore,
}

fn bad(what: &'static str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, what)
}

/// One line (without its CRLF or LF) at the start of `buf`, consumed.
fn take_line(st: &mut ReadState) -> Option<Bytes> {
    let lf = st.buf.iter().position(|&b| b == b'\n')?;
    st.consumed += lf as u64 + 1;
    let mut line = st.buf.split_to(lf + 1);
    line.truncate(lf);
    if line.last() == Some(&b'\r') {
        line.truncate(lf - 1);
    }
    Some(line.freeze())
}

fn chunk_size(line: &[u8]) -> io::Result<u64> {
    let digits = line.iter().take_while(|b| b.is_ascii_hexdigit()).count();
    if digits == 0 || digits > 16 {
        return Err(bad("invalid chunk size"));
    }
    // What follows the digits may only be whitespace and extensions.
    match line.get(digits) {
        None | Some(b';' | b' ' | b'\t') => {}
        Some(_) => return Err(bad("invalid chunk size")),
    }
    let text = std::str::from_utf8(&line[..digits]).map_err(|_| bad("invalid chunk size"))?;
    u64::from_str_radix(text, 16).map_err(|_| bad("invalid chunk size"))
}

/// Decode what the buffer holds of the body.
fn step(st: &mut ReadState) -> io::Result<Step> {
    loop {
        match st.framing {
            Framing::Done => return Ok(Step::End),
            Framing::Broken => return Err(bad("request body framing broken")),
            Framing::Length(0) => {
                st.framing = Framing::Done;
                return Ok(Step::End);
            }
            Framing::Length(rest) => {
                if st.buf.is_empty() {
                    return Ok(Step::NeedMore);
                }
                let n = usize::try_from(rest)
                    .unwrap_or(usize::MAX)
                    .min(st.buf.len());
                st.framing = Framing::Length(rest - n as u64);
                if rest == n as u64 {
                    st.framing = Framing::Done;
                }
                st.body_received(n);
                return Ok(Step::Data(st.buf.split_to(n).freeze()));
            }
            Framing::Chunked(Chunk::Data(rest)) => {
                if st.buf.is_empty() {
                    return Ok(Step::NeedMore);
                }
                let n = usize::try_from(rest)
                    .unwrap_or(usize::MAX)
                    .min(st.buf.len());
                st.framing = Framing::Chunked(if rest == n as u64 {
                    Chunk::DataEnd
                } else {
                    Chunk::Data(rest - n as u64)
                });
                st.body_received(n);
                return Ok(Step::Data(st.buf.split_to(n).freeze()));
            }
            Framing::Chunked(state) => {
                let Some(line) = take_line(st) else {
                    let limit = match state {
                        Chunk::Trailers(seen) => MAX_TRAILERS.saturating_sub(seen),
                        _ => MAX_CHUNK_LINE,
                    };
                    if st.buf.len() > limit {
                        return Err(bad("chunk line too long"));
                    }
                    return Ok(Step::NeedMore);
                };
                st.framing = Framing::Chunked(match state {
                    Chunk::Size => match chunk_size(&line)? {
                        0 => Chunk::Trailers(0),
                        n => Chunk::Data(n),
                    },
                    Chunk::DataEnd if line.is_empty() => Chunk::Size,
                    Chunk::DataEnd => return Err(bad("missing CRLF after chunk data")),
                    // Trailers are read and dropped (as Apache keeps them
                    // out of the request headers).
                    Chunk::Trailers(_) if line.is_empty() => {
                        st.framing = Framing::Done;
                        return Ok(Step::End);
                    }
                    Chunk::Trailers(seen) if seen + line.len() > MAX_TRAILERS => {
                        return Err(bad("trailers too large"));
                    }
                    Chunk::Trailers(seen) => Chunk::Trailers(seen + line.len() + 2),
                    // Handled by the arm above; kept as is.
                    data @ Chunk::Data(_) => data,
                });
            }
        }
    }
}

/// The next piece of the body from the buffer or the socket.  `seq` is the
/// request the caller reads for; a later request's body is never returned.
/// `bounded`: each wait for the client ends at `Timeout` or at the end of
/// `RequestReadTimeout`'s body stage (false: the caller bounds it).
async fn next(shared: &Shared, seq: u64, bounded: bool) -> Option<io::Result<Bytes>> {
    loop {
        {
            let mut st = shared.state();
            if st.seq != seq {
                return None;
            }
            match step(&mut st) {
                Ok(Step::Data(b)) => return Some(Ok(b)),
                Ok(Step::End) => return None,
                Ok(Step::NeedMore) => {}
                Err(e) => {
                    st.framing = Framing::Broken;
                    return Some(Err(e));
                }
            }
        }
        let deadline = bounded.then(|| shared.body_wait_deadline());
        let failed = match shared.fill(deadline, Some(seq)).await {
            Ok(Filled::Data) => continue,
            Ok(Filled::Stale) => return None,
            Ok(Filled::Eof) => io::ErrorKind::UnexpectedEof.into(),
            Err(e) => {
                if let Some(d) = deadline {
                    shared.body_wait_timed_out(d);
                }
                e
            }
        };
        let mut st = shared.state();
        if st.seq == seq {
            st.framing = Framing::Broken;
        }
        return Some(Err(failed));
    }
}

/// A request's body as the handler reads it.
#[derive(Debug)]
pub struct BodyIn {
    source: Option<(Arc<Shared>, u64)>,
    continue_checked: bool,
}

impl BodyIn {
    /// A request without a body.
    pub fn empty() -> BodyIn {
        BodyIn {
            source: None,
            continue_checked: true,
        }
    }

    /// Known to have nothing to read (a request without a body, or one
    /// already read to its end).
    pub fn is_end(&self) -> bool {
        self.source.is_none()
    }

    pub(super) fn new(shared: Arc<Shared>, seq: u64) -> BodyIn {
        BodyIn {
            source: Some((shared, seq)),
            continue_checked: false,
        }
    }

    /// The next data of the body, `None` at its end.  The first call sends
    /// `100 Continue` when the client asked for it.  Waits for the client
    /// are not bounded here: the callers apply `Timeout`.
    pub async fn data(&mut self) -> Option<io::Result<Bytes>> {
        let (shared, seq) = self.source.as_ref()?;
        if !self.continue_checked {
            self.continue_checked = true;
            if let Err(e) = shared.send_continue().await {
                return Some(Err(e));
            }
        }
        let res = next(shared, *seq, false).await;
        if res.is_none() {
            self.source = None;
        }
        res
    }
}

/// Direct reads: a `Content-Length` body read by a Python thread straight
/// from the socket into the application's memory (one copy, the kernel's,
/// instead of a copy into a read buffer and another out of it).  Not for
/// a request that waits for `100 Continue` (that needs the async writer).
impl BodyIn {
    /// Bytes of the body not read yet.
    pub fn rest(&self) -> u64 {
        self.source
            .as_ref()
            .map_or(0, |(shared, seq)| shared.body_rest(*seq))
    }

    /// Fill the start of `dst` with body bytes at hand, without waiting.
    pub fn try_read_into(&mut self, dst: &mut BodyDst<'_, '_>) -> io::Result<Direct> {
        let Some((shared, seq)) = &self.source else {
            return Ok(Direct::End);
        };
        let res = shared.try_read_body(*seq, dst);
        if matches!(res, Ok(Direct::End)) {
            self.source = None;
        }
        res
    }

    /// Block the calling (non-runtime) thread until the socket is
    /// readable, at most `Timeout`.
    pub fn wait_readable(&self) -> io::Result<()> {
        match &self.source {
            Some((shared, _)) => shared.wait_readable_blocking(),
            None => Ok(()),
        }
    }

    /// Wait, on the runtime, until `enough` bytes of the body have arrived
    /// (see [`Shared::wait_body_bytes`]); at most `Timeout` (or the end of
    /// `RequestReadTimeout`'s body stage).
    pub async fn wait_arrived(&self, enough: u64) {
        if let Some((shared, seq)) = &self.source {
            let deadline = shared.body_wait_deadline();
            shared.wait_body_bytes(*seq, enough, deadline).await;
        }
    }

    /// The end of the next wait for body data: `Timeout` from now, or the
    /// end of `RequestReadTimeout`'s body stage when that comes first
    /// (`timeout` only for a body with nothing left to read).
    pub fn wait_deadline(&self, timeout: Duration) -> Instant {
        match &self.source {
            Some((shared, _)) => shared.body_wait_deadline(),
            None => Instant::now() + timeout,
        }
    }

    /// A wait for body data that ended at `deadline` timed out.
    pub fn timed_out(&self, deadline: Instant) {
        if let Some((shared, _)) = &self.source {
            shared.body_wait_timed_out(deadline);
        }
    }
}

/// Read and drop what is left of the current request's body, up to
/// [`DRAIN_MAX`] bytes, each wait bounded by `Timeout`.  False when the
/// connection cannot carry another request.
pub(super) async fn drain(shared: &Shared, seq: u64) -> bool {
    let mut dropped: u64 = 0;
    {
        let st = shared.state();
        match st.framing {
            Framing::Done => return true,
            Framing::Broken => return false,
            Framing::Length(n) if n > DRAIN_MAX => return false,
            _ => {}
        }
    }
    loop {
        match next(shared, seq, true).await {
            None => return true,
            Some(Err(_)) => return false,
            Some(Ok(b)) => {
                dropped += b.remaining() as u64;
                if dropped > DRAIN_MAX {
                    return false;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::BytesMut;

    fn state(bytes: &[u8], framing: Framing) -> ReadState {
        ReadState::new(BytesMut::from(bytes), framing)
    }

    fn decode_all(st: &mut ReadState) -> io::Result<(Vec<u8>, bool)> {
        let mut out = Vec::new();
        loop {
            match step(st)? {
                Step::Data(b) => out.extend_from_slice(&b),
                Step::End => return Ok((out, true)),
                Step::NeedMore => return Ok((out, false)),
            }
        }
    }

    #[test]
    fn content_length_leaves_the_next_request() {
        let mut st = state(b"helloGET /", Framing::Length(5));
        let (got, ended) = decode_all(&mut st).expect("ok");
        assert_eq!((got.as_slice(), ended), (&b"hello"[..], true));
        assert_eq!(&st.buf[..], b"GET /");
    }

    #[test]
    fn chunked_with_extensions_and_trailers() {
        let raw = b"5;ext=1\r\nhello\r\n1\r\n!\r\n0\r\nX-T: 1\r\n\r\nNEXT";
        let mut st = state(raw, Framing::Chunked(Chunk::Size));
        let (got, ended) = decode_all(&mut st).expect("ok");
        assert_eq!((got.as_slice(), ended), (&b"hello!"[..], true));
        assert_eq!(&st.buf[..], b"NEXT");
    }

    #[test]
    fn chunked_in_pieces() {
        let mut st = state(b"a\r\n01234", Framing::Chunked(Chunk::Size));
        let (got, ended) = decode_all(&mut st).expect("ok");
        assert_eq!((got.as_slice(), ended), (&b"01234"[..], false));
        st.buf.extend_from_slice(b"56789\r\n0\r\n\r\n");
        let (got, ended) = decode_all(&mut st).expect("ok");
        assert_eq!((got.as_slice(), ended), (&b"56789"[..], true));
    }

    #[test]
    fn bad_chunks_fail() {
        for raw in [&b"zz\r\n"[..], b"5\r\nhelloX\r\n", b"5x\r\nhello\r\n"] {
            let mut st = state(raw, Framing::Chunked(Chunk::Size));
            assert!(decode_all(&mut st).is_err(), "{raw:?}");
        }
    }
}
