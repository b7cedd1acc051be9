//! `wsgi.input`'s source: the connection's request body ([`BodyIn`])
//! delivered to a Python thread, in one of three ways.
//!
//! - **Direct** (embedded mode, a `Content-Length` body without `Expect:
//!   100-continue`): the Python thread reads the socket itself, straight
//!   into the `bytes` object `wsgi.input.read(n)` returns, so the body is
//!   copied once (by the kernel) instead of into a read buffer and then
//!   out of it: 11-14% less CPU per 64 KiB POST.  Before the request is
//!   queued, the runtime waits without reading until the body (or its
//!   first 32 KiB) has arrived, so a slow client does not hold a Python
//!   thread for its first bytes.
//! - **Read ahead** (daemon mode, a small `Content-Length` body without
//!   `Expect`): read on the runtime before the request is sent, so that
//!   it goes to the daemon with the request head in one write.  Read
//!   errors are kept and reported at the same point of the stream.
//! - **Pumped** (chunked bodies, `Expect: 100-continue`, large daemon
//!   bodies): not touched until the application first reads it, so that
//!   `100 Continue` is sent only then, as with mod_wsgi; then a task on
//!   the runtime pumps frames into a small bounded channel, on which the
//!   Python thread blocks with the GIL released.  The pump enforces
//!   `LimitRequestBody` for bodies without a Content-Length and `Timeout`
//!   between frames.

use std::collections::VecDeque;
use std::time::Duration;

use bytes::Bytes;
use tokio::runtime::Handle;
use tokio::sync::mpsc;
use wsgid_python::{BodyError, Filling, RequestBody};

use crate::conn::{BodyDst, BodyIn, Direct};

/// Frames buffered between the pump and the reader.
const QUEUE: usize = 4;

/// Bodies of at most this many bytes (by Content-Length) are read ahead.
pub const READ_AHEAD_MAX: u64 = 256 * 1024;

/// A direct-read body is queued for Python once this much of it (or all
/// of it) has arrived: more could be more than the client may send before
/// the body is read (its TCP window), and would then only be a wait.
pub const ARRIVED_ENOUGH: u64 = 32 * 1024;

/// Most one chunk of a direct-read body holds (`readline`, iteration).
const DIRECT_CHUNK: u64 = 64 * 1024;

fn body_error(e: &std::io::Error) -> BodyError {
    if e.kind() == std::io::ErrorKind::TimedOut {
        BodyError::Timeout
    } else {
        BodyError::Io(e.to_string())
    }
}

enum State {
    /// Not read yet: the body and the runtime to pump it on.
    Idle(BodyIn, Handle),
    Pumping(mpsc::Receiver<Result<Bytes, BodyError>>),
    /// Read ahead: the frames, then how the body ended (None: complete).
    Buffered(VecDeque<Bytes>, Option<BodyError>),
    /// Read by the Python thread itself, from the socket into the
    /// application's memory (see [`IncomingBody::for_embedded`]).
    Direct(BodyIn, Handle),
    Done,
}

/// A [`RequestBody`] over the connection's [`BodyIn`].
pub struct IncomingBody {
    state: State,
    limit: u64,
    timeout: Duration,
}

impl std::fmt::Debug for IncomingBody {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IncomingBody")
            .field("limit", &self.limit)
            .finish_non_exhaustive()
    }
}

impl IncomingBody {
    /// Must be called on a runtime thread (it captures the runtime handle).
    /// `limit` is LimitRequestBody (0: unlimited).
    pub fn new(body: BodyIn, limit: u64, timeout: Duration) -> IncomingBody {
        IncomingBody {
            state: State::Idle(body, Handle::current()),
            limit,
            timeout,
        }
    }
}

impl IncomingBody {
    /// The body of a request for this process's Python (`embedded`: see
    /// [`IncomingBody::for_embedded`]) or for a daemon process group (see
    /// [`IncomingBody::read_ahead`]).
    pub async fn prepare(
        body: BodyIn,
        content_length: Option<u64>,
        expects_continue: bool,
        limit: u64,
        timeout: Duration,
        embedded: bool,
    ) -> IncomingBody {
        if embedded {
            Self::for_embedded(body, content_length, expects_continue, limit, timeout).await
        } else {
            Self::read_ahead(body, content_length, expects_continue, limit, timeout).await
        }
    }

    /// The body for a request with `content_length` bytes: read now when it
    /// is small and the client is not waiting for `100 Continue`, else left
    /// to be pumped when the application reads.
    async fn read_ahead(
        mut body: BodyIn,
        content_length: Option<u64>,
        expects_continue: bool,
        limit: u64,
        timeout: Duration,
    ) -> IncomingBody {
        let small = content_length.is_some_and(|n| n > 0 && n <= READ_AHEAD_MAX);
        if !small || expects_continue {
            return IncomingBody::new(body, limit, timeout);
        }
        let mut frames = VecDeque::new();
        let ended = loop {
            let deadline = body.wait_deadline(timeout);
            match tokio::time::timeout_at(deadline, body.data()).await {
                Err(_) => {
                    body.timed_out(deadline);
                    break Some(BodyError::Timeout);
                }
                Ok(None) => break None,
                Ok(Some(Err(e))) => break Some(BodyError::Io(e.to_string())),
                Ok(Some(Ok(data))) => {
                    if !data.is_empty() {
                        frames.push_back(data);
                    }
                }
            }
        };
        IncomingBody {
            state: State::Buffered(frames, ended),
            limit,
            timeout,
        }
    }
}

impl IncomingBody {
    /// The body for a request run by this process's Python threads.  A
    /// `Content-Length` body (without `Expect: 100-continue`) is read by
    /// the Python thread straight from the socket into the `bytes` object
    /// `wsgi.input.read()` returns: the kernel's copy is the only one.
    /// Before the request is queued, the runtime waits (without reading)
    /// until the body, or its first [`ARRIVED_ENOUGH`] bytes, has arrived,
    /// so that a Python thread is not held by a slow client's first bytes
    /// and mostly finds the body there.
    async fn for_embedded(
        body: BodyIn,
        content_length: Option<u64>,
        expects_continue: bool,
        limit: u64,
        timeout: Duration,
    ) -> IncomingBody {
        match content_length {
            Some(n) if n > 0 && !expects_continue => {
                body.wait_arrived(n.min(ARRIVED_ENOUGH)).await;
                IncomingBody {
                    state: State::Direct(body, Handle::current()),
                    limit,
                    timeout,
                }
            }
            _ => IncomingBody::new(body, limit, timeout),
        }
    }
}

impl IncomingBody {
    /// The body as a daemon process gets it: nothing, whole (read ahead:
    /// it goes with the request head in one write), or frames pumped from
    /// the connection as they arrive.
    pub fn into_daemon_body(self) -> wsgid_daemon::client::Body {
        use wsgid_daemon::client::Body;
        match self.state {
            State::Done => Body::Empty,
            State::Idle(body, _) | State::Direct(body, _) if body.is_end() => Body::Empty,
            State::Idle(body, handle) | State::Direct(body, handle) => {
                let (tx, rx) = mpsc::channel(QUEUE);
                handle.spawn(pump(body, tx, self.limit, self.timeout));
                Body::Stream(rx)
            }
            State::Buffered(frames, None) if frames.is_empty() => Body::Empty,
            State::Buffered(frames, ended) => Body::Buffered(frames.into(), ended),
            State::Pumping(rx) => Body::Stream(rx),
        }
    }
}

async fn pump(
    mut body: BodyIn,
    tx: mpsc::Sender<Result<Bytes, BodyError>>,
    limit: u64,
    timeout: Duration,
) {
    let mut total: u64 = 0;
    loop {
        let deadline = body.wait_deadline(timeout);
        let data = match tokio::time::timeout_at(deadline, body.data()).await {
            Err(_) => {
                body.timed_out(deadline);
                let _ = tx.send(Err(BodyError::Timeout)).await;
                return;
            }
            Ok(None) => return,
            Ok(Some(Err(e))) => {
                let _ = tx.send(Err(BodyError::Io(e.to_string()))).await;
                return;
            }
            Ok(Some(Ok(data))) => data,
        };
        total = total.saturating_add(data.len() as u64);
        if limit != 0 && total > limit {
            let _ = tx.send(Err(BodyError::TooLarge)).await;
            return;
        }
        if tx.send(Ok(data)).await.is_err() {
            return; // the application stopped reading
        }
    }
}

impl RequestBody for IncomingBody {
    fn direct_rest(&self) -> Option<u64> {
        match &self.state {
            State::Direct(body, _) => Some(body.rest()),
            _ => None,
        }
    }

    fn try_read_into(&mut self, dst: &mut Filling<'_>) -> Result<Option<usize>, BodyError> {
        let State::Direct(body, _) = &mut self.state else {
            return Ok(Some(0));
        };
        match body.try_read_into(&mut BodyDst::Bytes(dst)) {
            Ok(Direct::Data(n)) => Ok(Some(n)),
            Ok(Direct::End) => Ok(Some(0)),
            Ok(Direct::WouldBlock) => Ok(None),
            Err(e) => {
                self.state = State::Done;
                Err(body_error(&e))
            }
        }
    }

    fn wait_readable(&mut self) -> Result<(), BodyError> {
        let waited = match &self.state {
            State::Direct(body, _) => body.wait_readable(),
            _ => return Ok(()),
        };
        waited.map_err(|e| {
            self.state = State::Done;
            body_error(&e)
        })
    }

    fn ready_chunk(&mut self) -> Option<Result<Option<Bytes>, BodyError>> {
        match &mut self.state {
            State::Done => Some(Ok(None)),
            State::Direct(body, _) => {
                let size = body.rest().min(DIRECT_CHUNK) as usize;
                if size == 0 {
                    self.state = State::Done;
                    return Some(Ok(None));
                }
                let mut chunk = vec![0u8; size];
                match body.try_read_into(&mut BodyDst::Slice(&mut chunk)) {
                    Ok(Direct::Data(n)) => {
                        chunk.truncate(n);
                        Some(Ok(Some(Bytes::from(chunk))))
                    }
                    Ok(Direct::End) => {
                        self.state = State::Done;
                        Some(Ok(None))
                    }
                    Ok(Direct::WouldBlock) => None,
                    Err(e) => {
                        self.state = State::Done;
                        Some(Err(body_error(&e)))
                    }
                }
            }
            State::Buffered(..) => Some(self.next_chunk()),
            State::Pumping(rx) => match rx.try_recv() {
                Ok(Ok(chunk)) => Some(Ok(Some(chunk))),
                Ok(Err(e)) => {
                    self.state = State::Done;
                    Some(Err(e))
                }
                Err(mpsc::error::TryRecvError::Empty) => None,
                Err(mpsc::error::TryRecvError::Disconnected) => {
                    self.state = State::Done;
                    Some(Ok(None))
                }
            },
            State::Idle(..) => None,
        }
    }

    fn next_chunk(&mut self) -> Result<Option<Bytes>, BodyError> {
        if matches!(self.state, State::Direct(..)) {
            loop {
                match self.ready_chunk() {
                    Some(res) => return res,
                    None => self.wait_readable()?,
                }
            }
        }
        loop {
            match std::mem::replace(&mut self.state, State::Done) {
                State::Done => return Ok(None),
                State::Idle(body, handle) => {
                    let (tx, rx) = mpsc::channel(QUEUE);
                    handle.spawn(pump(body, tx, self.limit, self.timeout));
                    self.state = State::Pumping(rx);
                }
                State::Buffered(mut frames, ended) => {
                    return match frames.pop_front() {
                        Some(chunk) => {
                            self.state = State::Buffered(frames, ended);
                            Ok(Some(chunk))
                        }
                        None => ended.map_or(Ok(None), Err),
                    };
                }
                // Handled above.
                direct @ State::Direct(..) => {
                    self.state = direct;
                    return self.next_chunk();
                }
                State::Pumping(mut rx) => {
                    return match rx.blocking_recv() {
                        None => Ok(None),
                        Some(Ok(chunk)) => {
                            self.state = State::Pumping(rx);
                            Ok(Some(chunk))
                        }
                        Some(Err(e)) => Err(e),
                    };
                }
            }
        }
    }
}
