//! A connection from a front-end worker as a request thread uses it: a
//! non-blocking UNIX stream, read into one growing buffer of frames and
//! written directly; a read or write that would block waits in `poll`
//! (with the GIL released: the callers are request threads).
//!
//! Why not tokio here: the thread that runs the application reads its
//! request and writes its response itself, so no other thread has to be
//! woken for either (see `thread`); these are plain blocking-style calls
//! on that thread.

use std::io::{self, IoSlice};
use std::mem::MaybeUninit;
use std::os::fd::{AsFd, BorrowedFd};
use std::os::unix::net::UnixStream;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use rustix::event::{PollFd, PollFlags, Timespec};
use rustix::net::{RecvFlags, SendAncillaryBuffer, SendAncillaryMessage, SendFlags};

use wsgid_python::Filling;

use super::state::State;
use crate::protocol::{self, MAX_FRAME};

/// How long a closing connection waits for what was queued in it (it is
/// all there already: the receiving side is shut down).
const CLOSE_READ_WAIT: Duration = Duration::from_secs(1);
/// Room a read leaves for the small frames that follow a frame (the
/// end-of-body frame after the last `B`), so that one read takes both.
const FOLLOWING_FRAMES: usize = 4096;
/// Buffer capacity an idle kept connection may hold on to.
const IDLE_BUFFER_MAX: usize = 64 * 1024;

/// What one read brought.
enum Fill {
    Data,
    WouldBlock,
    Eof,
}

/// What a direct body read ([`Conn::read_body_into`]) brought.
pub(super) enum BodyRead {
    /// Bytes written into the destination (never 0).
    Data(usize),
    /// Nothing more without waiting.
    WouldBlock,
    /// A frame other than `B` (the end of the body, or an error).
    Frame(u8, Bytes),
}

/// The next frame, or why there is none.
pub(super) enum Next {
    Frame(u8, Bytes),
    /// Nothing more without waiting (only when not waiting).
    WouldBlock,
    /// A clean end of the stream, between frames.
    Eof,
}

/// Body payloads at least this large are read straight into a buffer of
/// their own, which becomes the chunk `wsgi.input` hands out: no copy.
const DIRECT: usize = 8 * 1024;
/// The frame buffer's usual size.
const BUFFER: usize = 16 * 1024;

/// A connection to a front-end worker, counted in the process's open
/// connections for as long as it lives.
///
/// Reading without zero-filling and without `unsafe` (this crate forbids
/// it): small frames are read into `buf`, which is initialised once and
/// reused, and copied out (heads and small chunks: cheap); a large body
/// payload is read into its own `Vec`'s spare capacity (rustix extends
/// the `Vec` safely) and handed over as it is.  When `wsgi.input.read`
/// knows how much it wants (a body with `CONTENT_LENGTH`), the payload
/// goes instead straight into the `bytes` object it returns
/// (`read_body_into`): measured on the benchmark's daemon-mode 64 KiB POST,
/// 4-5% less CPU per request than the chunk, which `read` then copied
/// (`bench/paired_ab.py`, 8 pairs each way: 0.948, and 1.038 swapped).
pub(super) struct Conn {
    stream: UnixStream,
    /// Frames read and not yet handed out are `buf[start..end]`.
    buf: Vec<u8>,
    start: usize,
    end: usize,
    /// A large `B` payload being read: its length and the bytes so far.
    large: Option<(usize, Vec<u8>)>,
    /// Payload bytes of the current `B` frame still to come after a
    /// direct read (`read_body_into`) stopped inside it; its header and
    /// the bytes before are consumed.
    body_left: usize,
    /// Since when a request has been waiting on this idle connection while
    /// every request thread was busy (see `Poller::take_waiting`).
    pub waiting_since: Option<Instant>,
    /// Whether the stream is in the poller's epoll set.
    pub registered: bool,
    state: Arc<State>,
}

impl Drop for Conn {
    fn drop(&mut self) {
        self.state.connection_closed();
    }
}

impl Conn {
    /// `stream` must be non-blocking.
    pub fn new(stream: UnixStream, state: Arc<State>) -> Conn {
        state.connection_opened();
        Conn {
            stream,
            buf: vec![0; BUFFER],
            start: 0,
            end: 0,
            large: None,
            body_left: 0,
            waiting_since: None,
            registered: false,
            state,
        }
    }

    pub fn stream(&self) -> &UnixStream {
        &self.stream
    }

    /// Take `n` buffered bytes as handed out; an emptied buffer starts
    /// over at its front.
    fn consume(&mut self, n: usize) {
        self.start += n;
        if self.start == self.end {
            (self.start, self.end) = (0, 0);
        }
    }

    /// Whether nothing read is waiting to be handed out.
    pub fn is_empty(&self) -> bool {
        self.start == self.end && self.large.is_none() && self.body_left == 0
    }

    /// Whether a large payload begun by [`Conn::next`] is being read (a
    /// direct read may not start inside it).
    pub fn in_large_payload(&self) -> bool {
        self.large.is_some()
    }

    /// The kind and length of the next frame, if its header is buffered
    /// (an error for a length past `MAX_FRAME`).
    fn header(&self) -> io::Result<Option<(u8, usize)>> {
        let b = &self.buf[self.start..self.end];
        if b.len() < 5 {
            return Ok(None);
        }
        let len = u32::from_le_bytes([b[1], b[2], b[3], b[4]]) as usize;
        if len > MAX_FRAME {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "frame too large",
            ));
        }
        Ok(Some((b[0], len)))
    }

    /// The next frame if it is wholly buffered.
    fn buffered(&mut self) -> io::Result<Option<(u8, Bytes)>> {
        let Some((kind, len)) = self.header()? else {
            return Ok(None);
        };
        if self.end - self.start < 5 + len {
            return Ok(None);
        }
        let payload = Bytes::copy_from_slice(&self.buf[self.start + 5..self.start + 5 + len]);
        self.consume(5 + len);
        Ok(Some((kind, payload)))
    }

    /// The next frame.  `wait`: `None` — do not wait (`Next::WouldBlock`);
    /// `Some(deadline)` — wait until then (`None`: for as long as it
    /// takes), failing with `TimedOut`.
    pub fn next(&mut self, wait: Option<Option<Instant>>) -> io::Result<Next> {
        loop {
            if self.large.is_some() {
                match self.read_large()? {
                    Some(payload) => return Ok(Next::Frame(protocol::BODY, payload)),
                    None => match wait {
                        None => return Ok(Next::WouldBlock),
                        Some(deadline) => wait_for(self.stream.as_fd(), PollFlags::IN, deadline)?,
                    },
                }
                continue;
            }
            if self.body_left > 0 {
                // The rest of a frame a direct read stopped inside, as a
                // chunk of its own.
                let left = std::mem::take(&mut self.body_left);
                let have = (self.end - self.start).min(left);
                let mut v = Vec::with_capacity(if have == left { have } else { left + 5 });
                v.extend_from_slice(&self.buf[self.start..self.start + have]);
                self.consume(have);
                if have == left {
                    return Ok(Next::Frame(protocol::BODY, Bytes::from(v)));
                }
                self.large = Some((left, v));
                continue;
            }
            if let Some((kind, payload)) = self.buffered()? {
                return Ok(Next::Frame(kind, payload));
            }
            if let Some((protocol::BODY, len)) = self.header()?
                && len >= DIRECT
            {
                // Room for the end-of-body frame that usually follows, so
                // that one read takes both.
                let mut v = Vec::with_capacity(len + 5);
                v.extend_from_slice(&self.buf[self.start + 5..self.end]);
                (self.start, self.end) = (0, 0);
                self.large = Some((len, v));
                continue;
            }
            match self.fill()? {
                Fill::Data => {}
                Fill::WouldBlock => match wait {
                    None => return Ok(Next::WouldBlock),
                    Some(deadline) => wait_for(self.stream.as_fd(), PollFlags::IN, deadline)?,
                },
                Fill::Eof if self.start == self.end => return Ok(Next::Eof),
                Fill::Eof => return Err(io::ErrorKind::UnexpectedEof.into()),
            }
        }
    }

    /// [`Conn::next`], waiting until `deadline`; `Ok(None)` on a clean EOF.
    pub fn next_frame(&mut self, deadline: Option<Instant>) -> io::Result<Option<(u8, Bytes)>> {
        match self.next(Some(deadline))? {
            Next::Frame(kind, payload) => Ok(Some((kind, payload))),
            Next::WouldBlock | Next::Eof => Ok(None),
        }
    }

    /// Go on reading a large payload: the payload once it is whole, `None`
    /// when the rest would have to be waited for.
    fn read_large(&mut self) -> io::Result<Option<Bytes>> {
        let Some((len, v)) = &mut self.large else {
            return Ok(None);
        };
        let len = *len;
        while v.len() < len {
            match rustix::net::recv(
                &self.stream,
                rustix::buffer::spare_capacity(v),
                RecvFlags::empty(),
            ) {
                Ok((0, _)) => return Err(io::ErrorKind::UnexpectedEof.into()),
                Ok(_) => {}
                Err(rustix::io::Errno::AGAIN) => return Ok(None),
                Err(rustix::io::Errno::INTR) => {}
                Err(e) => return Err(e.into()),
            }
        }
        // What came after the payload (the next frame's start) goes back
        // to the frame buffer, which is empty now.
        let extra = v.len() - len;
        if extra > 0 {
            if self.buf.len() < extra {
                self.buf.resize(extra, 0);
            }
            self.buf[..extra].copy_from_slice(&v[len..]);
            (self.start, self.end) = (0, extra);
            v.truncate(len);
        }
        Ok(self.large.take().map(|(_, v)| Bytes::from(v)))
    }

    /// Request body bytes straight into `dst` (the `bytes` object
    /// `wsgi.input.read` returns) without waiting: the kernel copies a
    /// payload not read yet into it, so a large body is copied once on
    /// this side, not into a buffer and then into the object.  Bytes
    /// already in the frame buffer are copied from there.  At a frame
    /// boundary a `B` header is taken and reading goes on; any other frame
    /// (`E`, `X`, or one out of turn) is handed back whole.  `dst` must
    /// have room.
    pub fn read_body_into(&mut self, dst: &mut Filling<'_>) -> io::Result<BodyRead> {
        if self.large.is_some() {
            return Err(io::Error::other("direct body read inside a large payload"));
        }
        loop {
            if self.body_left > 0 {
                let buffered = (self.end - self.start).min(self.body_left);
                if buffered > 0 {
                    let n = dst.put(&self.buf[self.start..self.start + buffered]);
                    self.consume(n);
                    self.body_left -= n;
                    return Ok(BodyRead::Data(n));
                }
                return match dst.recv(&self.stream, self.body_left, RecvFlags::empty()) {
                    Ok(0) => Err(io::ErrorKind::UnexpectedEof.into()),
                    Ok(n) => {
                        self.body_left -= n;
                        Ok(BodyRead::Data(n))
                    }
                    Err(rustix::io::Errno::AGAIN) => Ok(BodyRead::WouldBlock),
                    Err(rustix::io::Errno::INTR) => continue,
                    Err(e) => Err(e.into()),
                };
            }
            match self.header()? {
                Some((protocol::BODY, len)) => {
                    self.consume(5);
                    self.body_left = len;
                    continue;
                }
                Some(_) => {
                    if let Some((kind, payload)) = self.buffered()? {
                        return Ok(BodyRead::Frame(kind, payload));
                    }
                }
                None => {}
            }
            match self.fill()? {
                Fill::Data => {}
                Fill::WouldBlock => return Ok(BodyRead::WouldBlock),
                Fill::Eof => return Err(io::ErrorKind::UnexpectedEof.into()),
            }
        }
    }

    /// Wait until the stream has something to read (for a direct body
    /// read that would block).
    pub fn wait_readable(&self) -> io::Result<()> {
        wait_for(self.stream.as_fd(), PollFlags::IN, None)
    }

    /// One `recv` into the frame buffer, without waiting.
    fn fill(&mut self) -> io::Result<Fill> {
        let pending = self.end - self.start;
        let need = match self.header()? {
            Some((_, len)) => 5 + len + FOLLOWING_FRAMES,
            None => 4096,
        };
        if self.buf.len() - self.start < need || self.buf.len() - self.end < 1024 {
            // Move what is pending to the front, and grow for a frame
            // larger than the buffer (a head with many headers).
            self.buf.copy_within(self.start..self.end, 0);
            (self.start, self.end) = (0, pending);
            if self.buf.len() < need {
                self.buf.resize(need, 0);
            }
        }
        match rustix::net::recv(&self.stream, &mut self.buf[self.end..], RecvFlags::empty()) {
            Ok((0, _)) => Ok(Fill::Eof),
            Ok((n, _)) => {
                self.end += n;
                Ok(Fill::Data)
            }
            Err(rustix::io::Errno::AGAIN) => Ok(Fill::WouldBlock),
            Err(rustix::io::Errno::INTR) => Ok(Fill::Data),
            Err(e) => Err(e.into()),
        }
    }

    /// Write what goes of `slices` without waiting; the number of bytes
    /// taken.
    pub fn try_write_vectored(&self, slices: &[IoSlice<'_>]) -> io::Result<usize> {
        loop {
            match rustix::net::sendmsg(
                &self.stream,
                slices,
                &mut SendAncillaryBuffer::default(),
                SendFlags::NOSIGNAL,
            ) {
                Ok(n) => return Ok(n),
                Err(rustix::io::Errno::AGAIN) => return Ok(0),
                Err(rustix::io::Errno::INTR) => {}
                Err(e) => return Err(e.into()),
            }
        }
    }

    /// Write all of `data`, waiting for room as needed.
    pub fn write_all(&self, mut data: &[u8]) -> io::Result<()> {
        while !data.is_empty() {
            let n = self.try_write_vectored(&[IoSlice::new(data)])?;
            if n == 0 {
                wait_for(self.stream.as_fd(), PollFlags::OUT, None)?;
            }
            data = &data[n..];
        }
        Ok(())
    }

    /// Write `frame` with `fd` attached to its first byte (`SCM_RIGHTS`),
    /// waiting for room as needed.
    pub fn write_with_fd(&self, frame: &[u8], fd: BorrowedFd<'_>) -> io::Result<()> {
        let sent = loop {
            let mut space = [MaybeUninit::<u8>::uninit(); rustix::cmsg_space!(ScmRights(1))];
            let mut control = SendAncillaryBuffer::new(&mut space);
            let fds = [fd];
            control.push(SendAncillaryMessage::ScmRights(&fds));
            match rustix::net::sendmsg(
                &self.stream,
                &[IoSlice::new(frame)],
                &mut control,
                SendFlags::NOSIGNAL,
            ) {
                Ok(n) => break n,
                Err(rustix::io::Errno::AGAIN) => {
                    wait_for(self.stream.as_fd(), PollFlags::OUT, None)?;
                }
                Err(rustix::io::Errno::INTR) => {}
                Err(e) => return Err(e.into()),
            }
        };
        // The descriptor went with the first byte; the rest is plain data.
        self.write_all(&frame[sent..])
    }

    /// `J`: the request just read (or about to be) was not started.
    pub fn reject(&self, reason: u8) {
        let mut out = BytesMut::with_capacity(6);
        protocol::put_frame(&mut out, protocol::REJECTED, &[reason]);
        let _ = self.write_all(&out);
    }

    /// Between requests: let go of buffer space a large head left.
    pub fn shrink(&mut self) {
        if self.buf.len() > IDLE_BUFFER_MAX && self.end - self.start <= BUFFER {
            let mut small = vec![0; BUFFER];
            small[..self.end - self.start].copy_from_slice(&self.buf[self.start..self.end]);
            (self.start, self.end) = (0, self.end - self.start);
            self.buf = small;
        }
    }

    /// Close an idle connection without losing a request the front end
    /// may be sending on it right now (see `protocol`): shut the receiving
    /// side down — later writes by the front end fail and deliver nothing
    /// — then answer `J` to a request queued before that.
    pub fn close_idle(mut self) {
        if rustix::net::shutdown(&self.stream, rustix::net::Shutdown::Read).is_err() {
            return;
        }
        let deadline = Instant::now() + CLOSE_READ_WAIT;
        while let Ok(Some((kind, _))) = self.next_frame(Some(deadline)) {
            if kind == protocol::REQUEST {
                self.reject(protocol::REJECTED_CLOSING);
                return;
            }
        }
    }
}

/// Wait until `fd` is ready for `flags`, or `deadline` passes
/// (`TimedOut`).
pub(super) fn wait_for(
    fd: BorrowedFd<'_>,
    flags: PollFlags,
    deadline: Option<Instant>,
) -> io::Result<()> {
    loop {
        let timeout = match deadline {
            None => None,
            Some(d) => {
                let left = d.saturating_duration_since(Instant::now());
                if left.is_zero() {
                    return Err(io::ErrorKind::TimedOut.into());
                }
                Some(Timespec::try_from(left).unwrap_or(Timespec {
                    tv_sec: i64::MAX,
                    tv_nsec: 0,
                }))
            }
        };
        let mut fds = [PollFd::from_borrowed_fd(fd, flags)];
        match rustix::event::poll(&mut fds, timeout.as_ref()) {
            Ok(0) => {}
            Ok(_) => return Ok(()),
            Err(rustix::io::Errno::INTR) => {}
            Err(e) => return Err(e.into()),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::io::{Read, Write};

    use super::*;

    fn request_frame() -> BytesMut {
        let head = protocol::test_head(Default::default());
        let mut out = BytesMut::new();
        head.encode(&mut out);
        protocol::put_frame(&mut out, protocol::BODY_END, b"");
        out
    }

    fn pair() -> (UnixStream, Conn) {
        let (front, daemon) = UnixStream::pair().expect("pair");
        daemon.set_nonblocking(true).expect("non-blocking");
        (front, Conn::new(daemon, Arc::new(State::new(0))))
    }

    /// One frame as the front end reads it.
    fn read_one(front: &mut UnixStream) -> Option<(u8, Vec<u8>)> {
        let mut hdr = [0u8; 5];
        front.read_exact(&mut hdr).ok()?;
        let len = u32::from_le_bytes([hdr[1], hdr[2], hdr[3], hdr[4]]) as usize;
        let mut payload = vec![0; len];
        front.read_exact(&mut payload).ok()?;
        Some((hdr[0], payload))
    }

    #[test]
    fn closing_answers_j_to_a_request_queued_before_it() {
        let (mut front, daemon) = pair();
        front.write_all(&request_frame()).expect("write");
        daemon.close_idle();
        let (kind, payload) = read_one(&mut front).expect("frame");
        assert_eq!(kind, protocol::REJECTED);
        assert_eq!(payload, [protocol::REJECTED_CLOSING]);
    }

    #[test]
    fn after_closing_a_write_delivers_nothing() {
        let (mut front, daemon) = pair();
        let fd = daemon.stream().try_clone().expect("clone");
        daemon.close_idle();
        // The daemon's end is still open (`fd`), but its receiving side is
        // shut.
        let err = front.write_all(&request_frame()).expect_err("EPIPE");
        assert_eq!(err.kind(), std::io::ErrorKind::BrokenPipe);
        drop(fd);
        assert!(read_one(&mut front).is_none());
    }

    #[test]
    fn frames_of_every_size_come_whole_and_in_order() {
        let (mut front, mut daemon) = pair();
        let sizes = [0usize, 1, 4095, DIRECT - 1, DIRECT, 70_000, 3 * BUFFER + 7];
        let writer = std::thread::spawn(move || {
            let mut out = BytesMut::new();
            for (i, n) in sizes.iter().enumerate() {
                let payload: Vec<u8> = (0..*n).map(|j| (i + j) as u8).collect();
                protocol::put_frame(&mut out, protocol::BODY, &payload);
            }
            protocol::put_frame(&mut out, protocol::BODY_END, b"");
            // In small pieces, so that frames straddle reads.
            for piece in out.chunks(3000) {
                front.write_all(piece).expect("write");
            }
            front
        });
        for (i, n) in sizes.iter().enumerate() {
            let (kind, payload) = daemon.next_frame(None).expect("io").expect("frame");
            assert_eq!(kind, protocol::BODY);
            let want: Vec<u8> = (0..*n).map(|j| (i + j) as u8).collect();
            assert_eq!(&payload[..], &want[..], "frame {i} of {n} bytes");
        }
        let (kind, _) = daemon.next_frame(None).expect("io").expect("frame");
        assert_eq!(kind, protocol::BODY_END);
        drop(writer.join().expect("writer"));
        assert!(daemon.next_frame(None).expect("io").is_none(), "clean EOF");
    }

    #[test]
    fn not_waiting_gives_would_block_and_keeps_a_partial_frame() {
        let (mut front, mut daemon) = pair();
        let mut out = BytesMut::new();
        protocol::put_frame(&mut out, protocol::BODY, &vec![7u8; 20_000]);
        front.write_all(&out[..10_000]).expect("write");
        assert!(matches!(daemon.next(None).expect("io"), Next::WouldBlock));
        front.write_all(&out[10_000..]).expect("write");
        match daemon.next(None).expect("io") {
            Next::Frame(kind, payload) => {
                assert_eq!(kind, protocol::BODY);
                assert_eq!(payload.len(), 20_000);
            }
            _ => panic!("the frame is whole now"),
        }
    }
}
