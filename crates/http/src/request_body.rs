//! `wsgi.input`'s source: the connection's request body ([`BodyIn`])
//! delivered to a Python thread.
//!
//! The body is not touched until the application first reads it, so that
//! `Expect: 100-continue` gets its `100 Continue` only then (sent when the
//! body is first read), as with mod_wsgi.  At the first read a
//! task on the runtime pumps frames into a small bounded channel; the
//! Python thread blocks on that channel with the GIL released (the caller's
//! job).  The pump enforces `LimitRequestBody` for bodies without a
//! Content-Length (chunked) and `Timeout` between frames.
//!
//! Exception: a small body with a Content-Length and no `Expect:
//! 100-continue` is read on the runtime before the request is queued for
//! Python ([`IncomingBody::read_ahead`]).  Handing each frame of a 64 KiB
//! POST to a Python thread separately costs a thread wake-up per frame;
//! read ahead, the application finds the whole body ready.  Read errors are
//! kept and reported at the same point of the stream as they would be.

use std::collections::VecDeque;
use std::time::Duration;

use bytes::Bytes;
use tokio::runtime::Handle;
use tokio::sync::mpsc;
use wsgid_python::{BodyError, RequestBody};

use crate::conn::BodyIn;

/// Frames buffered between the pump and the reader.
const QUEUE: usize = 4;

/// Bodies of at most this many bytes (by Content-Length) are read ahead.
pub const READ_AHEAD_MAX: u64 = 256 * 1024;

enum State {
    /// Not read yet: the body and the runtime to pump it on.
    Idle(BodyIn, Handle),
    Pumping(mpsc::Receiver<Result<Bytes, BodyError>>),
    /// Read ahead: the frames, then how the body ended (None: complete).
    Buffered(VecDeque<Bytes>, Option<BodyError>),
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
    /// The body for a request with `content_length` bytes: read now when it
    /// is small and the client is not waiting for `100 Continue`, else left
    /// to be pumped when the application reads.
    pub async fn read_ahead(
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
            match tokio::time::timeout(timeout, body.data()).await {
                Err(_) => break Some(BodyError::Timeout),
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
    /// The body as a daemon process gets it: nothing, whole (read ahead:
    /// it goes with the request head in one write), or frames pumped from
    /// the connection as they arrive.
    pub fn into_daemon_body(self) -> wsgid_daemon::client::Body {
        use wsgid_daemon::client::Body;
        match self.state {
            State::Done => Body::Empty,
            State::Idle(body, _) if body.is_end() => Body::Empty,
            State::Idle(body, handle) => {
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
        let data = match tokio::time::timeout(timeout, body.data()).await {
            Err(_) => {
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
    fn ready_chunk(&mut self) -> Option<Result<Option<Bytes>, BodyError>> {
        match &mut self.state {
            State::Done => Some(Ok(None)),
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
