//! The socket of one connection, shared by the connection task and the
//! request body reader ([`super::body_in::BodyIn`], which a pump task or a
//! read-ahead drives while the connection task waits for the response).
//!
//! Writes only need `&TcpStream` (tokio's `writable` and
//! `try_write_vectored` work on a shared reference), so one `Arc` per
//! connection replaces hyper's channels.  Reads go through the read half's
//! `poll_read`, which, unlike `try_read`, remembers that a short read
//! drained the socket and waits for epoll instead of trying a read that
//! would fail.  The read half, the read buffer and the body framing state
//! sit behind `std` mutexes that are held only inside one poll, never
//! across an `.await`.

use std::future::Future;
use std::io::{self, IoSlice};
use std::pin::pin;
use std::sync::atomic::{AtomicU8, AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll, ready};
use std::time::Duration;

use bytes::BytesMut;
use tokio::io::AsyncReadExt;
use tokio::net::TcpStream;
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::time::Instant;

use super::body_in::Framing;
use super::reqtimeout::BodyClock;

pub(super) use super::buffers::READ_CHUNK;
use super::buffers::{BODY_POOL, BODY_READ_MAX};
/// A body read asks for a little more than the body's rest, so that the
/// read that completes it comes short: tokio then knows the socket is
/// drained and the next head waits for epoll, instead of a `recv` that
/// fails with `EAGAIN` (one more system call per request).
const SHORT_READ_SLACK: usize = 512;

/// `Expect: 100-continue` progress of the current request.
const CONTINUE_NONE: u8 = 0;
const CONTINUE_PENDING: u8 = 1;
const CONTINUE_SENDING: u8 = 2;
const CONTINUE_DONE: u8 = 3;

/// What has been read from the client and not consumed yet (see
/// `buffers` for how much is held, and where).
#[derive(Debug)]
pub(super) struct ReadState {
    pub(super) buf: BytesMut,
    /// The connection's own head buffer while `buf` is a body buffer.
    spare: BytesMut,
    /// `buf` is a body buffer of this size (from `BODY_POOL`, to go back
    /// there); 0: it is the head buffer.
    body_buffer: usize,
    /// The client closed its sending side.
    pub(super) eof: bool,
    /// The body of the current request: how much of it is still to come.
    pub(super) framing: Framing,
    /// Number of the current request: a body reader of an earlier request
    /// (kept alive by the application) must not read a later one's body.
    pub(super) seq: u64,
    /// Room asked for by a read of a chunked body: doubled after a read
    /// that filled it, halved after one that used less than a quarter of
    /// it, between `READ_CHUNK` and `BODY_READ_MAX` (hyper's adaptive read
    /// strategy).
    chunked_read: usize,
    /// Bytes taken from the connection for requests so far (heads, bodies
    /// with their chunk framing): `%I` is a request's share of it.
    pub(super) consumed: u64,
    /// `RequestReadTimeout body=`: the current request's body stage.
    pub(super) body_clock: BodyClock,
    /// That stage ended a wait for the client (logged by the connection
    /// task: `AH01382`).
    pub(super) body_clock_expired: bool,
}

/// [`ReadState::chunked_read`] after a read of `n` bytes into `room`.
fn next_chunked_read(current: usize, room: usize, n: usize) -> usize {
    if n >= room {
        (current * 2).min(BODY_READ_MAX)
    } else if n < current / 4 {
        (current / 2).max(READ_CHUNK)
    } else {
        current
    }
}

impl ReadState {
    pub(super) fn new(buf: BytesMut, framing: Framing) -> ReadState {
        ReadState {
            buf,
            spare: BytesMut::new(),
            body_buffer: 0,
            eof: false,
            framing,
            seq: 0,
            chunked_read: READ_CHUNK,
            consumed: 0,
            body_clock: BodyClock::Off,
            body_clock_expired: false,
        }
    }

    /// `n` bytes of the current body were taken (they move the body
    /// stage's end later with `MinRate`).
    pub(super) fn body_received(&mut self, n: usize) {
        self.consumed += n as u64;
        self.body_clock.received(n);
    }

    /// Make room in `buf` for the next read.
    fn make_room(&mut self) {
        match self.framing {
            Framing::Length(rest) => {
                let want = usize::try_from(rest)
                    .unwrap_or(BODY_READ_MAX)
                    .saturating_sub(self.buf.len())
                    .saturating_add(SHORT_READ_SLACK)
                    .clamp(READ_CHUNK, BODY_READ_MAX);
                let room = self.buf.capacity() - self.buf.len();
                if room >= READ_CHUNK {
                    // The rest of a body buffer (a read that came short).
                } else if self.buf.is_empty() {
                    // Everything read was handed out: a body buffer, the
                    // head buffer set aside for the next head.
                    let (body, size) = BODY_POOL.take(want);
                    let old = std::mem::replace(&mut self.buf, body);
                    if self.body_buffer != 0 {
                        BODY_POOL.give_back(old, self.body_buffer);
                    } else {
                        self.spare = old;
                    }
                    self.body_buffer = size;
                } else {
                    self.buf.reserve(want);
                }
            }
            Framing::Chunked(_) => self.buf.reserve(self.chunked_read),
            Framing::Done | Framing::Broken => {
                if self.body_buffer != 0 && self.buf.is_empty() {
                    let body = std::mem::replace(&mut self.buf, std::mem::take(&mut self.spare));
                    BODY_POOL.give_back(body, self.body_buffer);
                    self.body_buffer = 0;
                }
                self.buf.reserve(READ_CHUNK);
            }
        }
    }
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// One client connection's socket and read side.
#[derive(Debug)]
pub(super) struct Shared {
    /// Locked after `read` when both are needed.
    reader: Mutex<OwnedReadHalf>,
    writer: OwnedWriteHalf,
    read: Mutex<ReadState>,
    continue_state: AtomicU8,
    /// `Timeout`: bound of every read and write once a request started.
    pub(super) timeout: Duration,
    /// Bound of each wait to write, in milliseconds: `Timeout`, or the
    /// response's own (`response-socket-timeout` of a daemon group) while
    /// that response is written.
    write_timeout_ms: AtomicU64,
}

/// How a read attempt ended.
pub(super) enum Filled {
    /// Some bytes were appended to the buffer.
    Data,
    /// End of stream.
    Eof,
    /// The request the caller reads for is over (see [`ReadState::seq`]).
    Stale,
}

impl Shared {
    pub(super) fn new(stream: TcpStream, timeout: Duration) -> Shared {
        let (reader, writer) = stream.into_split();
        Shared {
            reader: Mutex::new(reader),
            writer,
            read: Mutex::new(ReadState::new(
                BytesMut::with_capacity(READ_CHUNK),
                Framing::Done,
            )),
            continue_state: AtomicU8::new(CONTINUE_NONE),
            timeout,
            write_timeout_ms: AtomicU64::new(millis(timeout)),
        }
    }

    /// The read state (a panic elsewhere cannot leave it inconsistent in a
    /// way that matters more than closing the connection would).
    pub(super) fn state(&self) -> MutexGuard<'_, ReadState> {
        self.read.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub(super) fn stream(&self) -> &TcpStream {
        self.writer.as_ref()
    }

    /// Append what the socket has to the buffer, or register for its
    /// readiness.  The read half keeps one waker: a body reader of a
    /// request that is over (`seq` no longer current) must not register,
    /// or it would take the wake-up from the connection task.
    fn poll_fill(&self, cx: &mut Context<'_>, seq: Option<u64>) -> Poll<io::Result<Filled>> {
        let mut st = self.state();
        if seq.is_some_and(|seq| seq != st.seq) {
            return Poll::Ready(Ok(Filled::Stale));
        }
        if st.eof {
            return Poll::Ready(Ok(Filled::Eof));
        }
        st.make_room();
        let chunked = matches!(st.framing, Framing::Chunked(_));
        let room = st.buf.capacity() - st.buf.len();
        let mut reader = self.reader.lock().unwrap_or_else(PoisonError::into_inner);
        // A fresh `read_buf` future per poll: it holds no state of its own
        // beyond the borrows, and none may outlive this poll.
        let read = pin!(reader.read_buf(&mut st.buf));
        match ready!(read.poll(cx)) {
            Ok(0) => {
                st.eof = true;
                Poll::Ready(Ok(Filled::Eof))
            }
            Ok(n) => {
                if chunked {
                    st.chunked_read = next_chunked_read(st.chunked_read, room, n);
                }
                Poll::Ready(Ok(Filled::Data))
            }
            Err(e) => Poll::Ready(Err(e)),
        }
    }

    /// Append more bytes to the buffer, waiting at most until `deadline`
    /// (None: no bound here).  `seq`: the request a body reader reads for
    /// (None: the connection task).
    pub(super) async fn fill(
        &self,
        deadline: Option<Instant>,
        seq: Option<u64>,
    ) -> io::Result<Filled> {
        let fill = std::future::poll_fn(|cx| self.poll_fill(cx, seq));
        match deadline {
            None => fill.await,
            Some(deadline) => match tokio::time::timeout_at(deadline, fill).await {
                Ok(r) => r,
                Err(_) => Err(io::ErrorKind::TimedOut.into()),
            },
        }
    }

    /// The end of the next wait for body bytes: `Timeout` from now, or the
    /// body stage's end when that comes first (the first such wait starts
    /// the stage, as mod_reqtimeout's clock starts at the first body read).
    pub(super) fn body_wait_deadline(&self) -> Instant {
        let now = Instant::now();
        let by_timeout = now + self.timeout;
        let mut st = self.state();
        match st.body_clock.deadline(now) {
            Some(end) if end <= by_timeout => {
                if end <= now {
                    st.body_clock_expired = true;
                }
                end
            }
            _ => by_timeout,
        }
    }

    /// A wait that ended at `deadline` timed out: note it when the body
    /// stage's end was that deadline.
    pub(super) fn body_wait_timed_out(&self, deadline: Instant) {
        let mut st = self.state();
        if matches!(st.body_clock, BodyClock::Running(c) if c.deadline() <= deadline) {
            st.body_clock_expired = true;
        }
    }

    /// Bound the waits of the writes that follow by `t` (None: `Timeout`).
    pub(super) fn set_write_timeout(&self, t: Option<Duration>) {
        let ms = millis(t.unwrap_or(self.timeout));
        self.write_timeout_ms.store(ms, Ordering::Relaxed);
    }

    fn write_timeout(&self) -> Duration {
        Duration::from_millis(self.write_timeout_ms.load(Ordering::Relaxed))
    }

    /// Write every byte of `bufs`, each wait for the socket bounded by
    /// `Timeout` (or the response's own bound, see `set_write_timeout`).  `bufs` is consumed (advanced) as it is written.
    pub(super) async fn write_all_vectored(&self, mut bufs: &mut [IoSlice<'_>]) -> io::Result<()> {
        IoSlice::advance_slices(&mut bufs, 0);
        while !bufs.is_empty() {
            let n = match self.stream().try_write_vectored(bufs) {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    let deadline = Instant::now() + self.write_timeout();
                    match tokio::time::timeout_at(deadline, self.stream().writable()).await {
                        Ok(r) => r?,
                        Err(_) => return Err(io::ErrorKind::TimedOut.into()),
                    }
                    continue;
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            };
            IoSlice::advance_slices(&mut bufs, n);
        }
        Ok(())
    }

    /// Send up to `count` bytes of `file` from `offset` with `sendfile(2)`:
    /// the kernel copies from the page cache to the socket, nothing passes
    /// through this process.  Each wait for the socket is bounded by
    /// `Timeout`.  The number sent is less than `count` only at the end of
    /// the file.  (The page-cache read happens on this thread, as with
    /// nginx's `sendfile on`; a cold file costs the event loop its disk
    /// wait, which `EnableSendfile Off`, the default, avoids.)
    pub(super) async fn send_file(
        &self,
        file: &std::fs::File,
        offset: u64,
        count: u64,
    ) -> io::Result<u64> {
        // One call moves at most this much, so that other connections are
        // served between the calls of a large file.
        const STEP: u64 = 1 << 20;
        let mut sent = 0;
        while sent < count {
            let mut off = i64::try_from(offset + sent)
                .map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
            let want = usize::try_from((count - sent).min(STEP)).unwrap_or(STEP as usize);
            let attempt = self.stream().try_io(tokio::io::Interest::WRITABLE, || {
                nix::sys::sendfile::sendfile64(self.stream(), file, Some(&mut off), want)
                    .map_err(io::Error::from)
            });
            match attempt {
                Ok(0) => break,
                Ok(n) => sent += n as u64,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    let deadline = Instant::now() + self.write_timeout();
                    match tokio::time::timeout_at(deadline, self.stream().writable()).await {
                        Ok(r) => r?,
                        Err(_) => return Err(io::ErrorKind::TimedOut.into()),
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                // A file system or file type sendfile cannot read from
                // (EINVAL, ENOSYS): copy it instead, as Apache falls back.
                Err(e)
                    if sent == 0
                        && e.raw_os_error().is_some_and(|c| {
                            c == nix::errno::Errno::EINVAL as i32
                                || c == nix::errno::Errno::ENOSYS as i32
                        }) =>
                {
                    return self.copy_file(file, offset, count).await;
                }
                Err(e) => return Err(e),
            }
        }
        Ok(sent)
    }

    /// [`Shared::send_file`] through memory: blocks read with `pread` on
    /// the blocking pool, then written.
    async fn copy_file(&self, file: &std::fs::File, offset: u64, count: u64) -> io::Result<u64> {
        let mut sent = 0;
        while sent < count {
            let want = (count - sent).min(crate::body::FILE_BLOCK);
            let f = file.try_clone()?;
            let at = offset + sent;
            // Allocated here, freed here (see `FileReader::start_read`).
            let buf = Vec::with_capacity(usize::try_from(want).unwrap_or(0));
            let block = tokio::task::spawn_blocking(move || {
                crate::body::read_block(&f, at, want, false, buf)
            })
            .await
            .map_err(io::Error::other)??;
            if block.is_empty() {
                break;
            }
            self.write_all(&block).await?;
            sent += block.len() as u64;
        }
        Ok(sent)
    }

    pub(super) async fn write_all(&self, buf: &[u8]) -> io::Result<()> {
        self.write_all_vectored(&mut [IoSlice::new(buf)]).await
    }

    /// Shut down the sending side: the client sees the end of the stream
    /// even if a body reader still holds the socket.
    pub(super) fn shutdown_write(&self) {
        let _ = socket2::SockRef::from(self.stream()).shutdown(std::net::Shutdown::Write);
    }

    /// A new request: whether it waits for `100 Continue`.
    pub(super) fn expect_continue(&self, expects: bool) {
        let state = if expects {
            CONTINUE_PENDING
        } else {
            CONTINUE_NONE
        };
        self.continue_state.store(state, Ordering::Release);
    }

    /// The body is being read for the first time: send `100 Continue` if
    /// the client waits for it and no response was started.
    pub(super) async fn send_continue(&self) -> io::Result<()> {
        if self
            .continue_state
            .compare_exchange(
                CONTINUE_PENDING,
                CONTINUE_SENDING,
                Ordering::AcqRel,
                Ordering::Acquire,
            )
            .is_err()
        {
            return Ok(());
        }
        let sent = self.write_all(b"HTTP/1.1 100 Continue\r\n\r\n").await;
        self.continue_state.store(CONTINUE_DONE, Ordering::Release);
        sent
    }

    /// The response is about to be written: no `100 Continue` may follow.
    /// True when the client was still waiting for one (it may never send
    /// the body, so the connection cannot be reused).
    pub(super) async fn cancel_continue(&self) -> bool {
        loop {
            match self.continue_state.compare_exchange(
                CONTINUE_PENDING,
                CONTINUE_DONE,
                Ordering::AcqRel,
                Ordering::Acquire,
            ) {
                Ok(_) => return true,
                // A body read is writing `100 Continue` right now: the
                // response must not interleave with it.
                Err(CONTINUE_SENDING) => tokio::task::yield_now().await,
                Err(_) => return false,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunked_reads_grow_when_filled_and_shrink_when_mostly_empty() {
        let mut size = READ_CHUNK;
        for _ in 0..2 {
            size = next_chunked_read(size, size, size);
        }
        assert_eq!(size, 4 * READ_CHUNK);
        assert_eq!(next_chunked_read(size, size, size), 8 * READ_CHUNK);
        assert_eq!(
            next_chunked_read(BODY_READ_MAX, BODY_READ_MAX, BODY_READ_MAX),
            BODY_READ_MAX
        );
        // A read that used a good part of the room keeps it.
        assert_eq!(next_chunked_read(size, size, size / 2), size);
        // Small reads bring it back down, never below the first size.
        let mut size = BODY_READ_MAX;
        for _ in 0..10 {
            size = next_chunked_read(size, size, 200);
        }
        assert_eq!(size, READ_CHUNK);
    }

    /// A file range through `send_file` and through the copy fallback
    /// arrives whole, and a range past the end stops at the end.
    #[tokio::test]
    async fn file_ranges_arrive_whole_by_sendfile_and_by_copy() {
        let data: Vec<u8> = (0..700_000u32).map(|i| (i * 7 % 251) as u8).collect();
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("f.bin");
        std::fs::write(&path, &data).expect("write");
        let file = std::fs::File::open(&path).expect("open");
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        let client = tokio::spawn(async move {
            let mut s = TcpStream::connect(addr).await.expect("connect");
            let mut got = Vec::new();
            s.read_to_end(&mut got).await.expect("read");
            got
        });
        let (stream, _) = listener.accept().await.expect("accept");
        let shared = Shared::new(stream, Duration::from_secs(5));
        assert_eq!(
            shared.send_file(&file, 10, 400_000).await.expect("send"),
            400_000
        );
        assert_eq!(
            shared
                .copy_file(&file, 400_010, 200_000)
                .await
                .expect("copy"),
            200_000
        );
        let rest = data.len() as u64 - 600_010;
        assert_eq!(
            shared
                .send_file(&file, 600_010, u64::MAX)
                .await
                .expect("to eof"),
            rest
        );
        drop(shared);
        let got = client.await.expect("client");
        assert!(got == data[10..], "bytes differ");
    }
}
