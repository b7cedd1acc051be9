//! `wsgi.input`'s source: hyper's request body delivered to a Python
//! thread.
//!
//! The body is not touched until the application first reads it, so that
//! `Expect: 100-continue` gets its `100 Continue` only then (hyper sends it
//! when the body is first polled), as with mod_wsgi.  At the first read a
//! task on the runtime pumps frames into a small bounded channel; the
//! Python thread blocks on that channel with the GIL released (the caller's
//! job).  The pump enforces `LimitRequestBody` for bodies without a
//! Content-Length (chunked) and `Timeout` between frames.

use std::time::Duration;

use bytes::Bytes;
use http_body_util::BodyExt;
use hyper::body::Incoming;
use tokio::runtime::Handle;
use tokio::sync::mpsc;
use wsgid_python::{BodyError, RequestBody};

/// Frames buffered between the pump and the reader.
const QUEUE: usize = 4;

enum State {
    /// Not read yet: the body and the runtime to pump it on.
    Idle(Incoming, Handle),
    Pumping(mpsc::Receiver<Result<Bytes, BodyError>>),
    Done,
}

/// A [`RequestBody`] over hyper's `Incoming`.
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
    pub fn new(body: Incoming, limit: u64, timeout: Duration) -> IncomingBody {
        IncomingBody {
            state: State::Idle(body, Handle::current()),
            limit,
            timeout,
        }
    }
}

async fn pump(
    mut body: Incoming,
    tx: mpsc::Sender<Result<Bytes, BodyError>>,
    limit: u64,
    timeout: Duration,
) {
    let mut total: u64 = 0;
    loop {
        let frame = match tokio::time::timeout(timeout, body.frame()).await {
            Err(_) => {
                let _ = tx.send(Err(BodyError::Timeout)).await;
                return;
            }
            Ok(None) => return,
            Ok(Some(Err(e))) => {
                let _ = tx.send(Err(BodyError::Io(e.to_string()))).await;
                return;
            }
            Ok(Some(Ok(frame))) => frame,
        };
        let Ok(data) = frame.into_data() else {
            continue;
        }; // trailers
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
    fn next_chunk(&mut self) -> Result<Option<Bytes>, BodyError> {
        loop {
            match std::mem::replace(&mut self.state, State::Done) {
                State::Done => return Ok(None),
                State::Idle(body, handle) => {
                    let (tx, rx) = mpsc::channel(QUEUE);
                    handle.spawn(pump(body, tx, self.limit, self.timeout));
                    self.state = State::Pumping(rx);
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
