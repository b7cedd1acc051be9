//! The response events of one request, from the thread that runs the
//! application to the connection task that writes the response.
//!
//! Most responses are a single event (`Complete` or `Failed`): a
//! `tokio::sync::oneshot` carries it, one small allocation.  A streamed
//! response opens a bounded `tokio::sync::mpsc` channel with its first event,
//! which carries the channel's receiver along.  (A per-request mpsc channel
//! cost about 1.2 µs per request in the front end: its first block has room
//! for 32 events, 2.8 KiB, allocated and freed for every request.)
//!
//! The sender is shared by the request and its `start_response`/`write`
//! adapter (an application may keep `write` past the call), hence the
//! mutex; it is only held to pick the way an event travels, never while
//! waiting for room.
//!
//! A daemon process's request thread writes its response to the front end
//! itself: its sender is an [`EventSink`], which delivers each event where
//! it goes on the thread that runs the application (no task to wake).

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll, ready};

use tokio::sync::{mpsc, oneshot};

pub use tokio::sync::mpsc::error::TrySendError;

use crate::ResponseEvent;

/// A response's first event, and the rest of the stream when there is more.
struct First {
    event: ResponseEvent,
    rest: Option<mpsc::Receiver<ResponseEvent>>,
}

enum State {
    /// Nothing sent yet.
    Fresh(oneshot::Sender<First>),
    /// A streamed response: later events go here.
    Streaming(mpsc::Sender<ResponseEvent>),
    /// The receiver is gone, or the only event went.
    Closed,
}

/// Where a response's events go when the thread that produces them also
/// delivers them (see [`EventSender::sink`]).
pub trait EventSink: Send + Sync {
    /// Deliver without waiting (the GIL is held): `Full` gives the event
    /// back when delivering it would wait, `Closed` when the response can
    /// take no more.
    fn try_deliver(&self, event: ResponseEvent) -> Result<(), TrySendError<ResponseEvent>>;

    /// Deliver, waiting as long as it takes (called with the GIL
    /// released).  Gives the event back when the response can take no
    /// more.
    fn deliver(&self, event: ResponseEvent) -> Result<(), ResponseEvent>;

    /// Whether output that `try_deliver` took is still waiting for room
    /// (then [`EventSink::flush`] is called with the GIL released, so
    /// that it does not wait for the application's next event).
    fn unflushed(&self) -> bool {
        false
    }

    /// Write what is waiting, as long as it takes; false when the
    /// response can take no more.
    fn flush(&self) -> bool {
        true
    }
}

/// The sending half; clones send into the same response.
#[derive(Clone)]
pub struct EventSender {
    way: Way,
}

#[derive(Clone)]
enum Way {
    /// To a receiver (an async task), in a oneshot-first channel.
    Channel {
        state: Arc<Mutex<State>>,
        /// Room of the stream, for a streamed response.
        capacity: usize,
    },
    /// Delivered by the sending thread itself.
    Sink(Arc<dyn EventSink>),
}

/// The receiving half, held by the front end.
pub struct EventReceiver {
    first: Option<oneshot::Receiver<First>>,
    rest: Option<mpsc::Receiver<ResponseEvent>>,
}

/// A new response path; a streamed response holds up to `capacity` events
/// not yet received.
pub fn channel(capacity: usize) -> (EventSender, EventReceiver) {
    let (tx, rx) = oneshot::channel();
    let sender = EventSender {
        way: Way::Channel {
            state: Arc::new(Mutex::new(State::Fresh(tx))),
            capacity: capacity.max(1),
        },
    };
    let receiver = EventReceiver {
        first: Some(rx),
        rest: None,
    };
    (sender, receiver)
}

impl EventSender {
    /// A sender whose events `sink` delivers on the sending thread.
    pub fn sink(sink: Arc<dyn EventSink>) -> EventSender {
        EventSender {
            way: Way::Sink(sink),
        }
    }

    /// Send without waiting: `Full` when a streamed response has no room,
    /// `Closed` when the receiver is gone.
    pub fn try_send(&self, event: ResponseEvent) -> Result<(), TrySendError<ResponseEvent>> {
        let (state, capacity) = match &self.way {
            Way::Channel { state, capacity } => (state, *capacity),
            Way::Sink(sink) => return sink.try_deliver(event),
        };
        // Every update of the state is a single assignment: a panic while
        // the lock is held cannot leave it half-done.
        let mut state = state.lock().unwrap_or_else(PoisonError::into_inner);
        match std::mem::replace(&mut *state, State::Closed) {
            State::Fresh(tx) => {
                let rest = if event.is_final() {
                    None
                } else {
                    let (stream_tx, stream_rx) = mpsc::channel(capacity);
                    *state = State::Streaming(stream_tx);
                    Some(stream_rx)
                };
                tx.send(First { event, rest }).map_err(|first| {
                    *state = State::Closed;
                    TrySendError::Closed(first.event)
                })
            }
            State::Streaming(tx) => {
                let sent = tx.try_send(event);
                *state = State::Streaming(tx);
                sent
            }
            State::Closed => Err(TrySendError::Closed(event)),
        }
    }

    /// Whether a sink holds output that [`EventSender::flush`] must write
    /// (with the GIL released).
    pub fn unflushed(&self) -> bool {
        matches!(&self.way, Way::Sink(sink) if sink.unflushed())
    }

    /// Write a sink's waiting output (this blocks the thread: call it
    /// with the GIL released); false when the response can take no more.
    pub fn flush(&self) -> bool {
        match &self.way {
            Way::Sink(sink) => sink.flush(),
            Way::Channel { .. } => true,
        }
    }

    /// Send, waiting for room (this blocks the thread: call it with the GIL
    /// released).  Gives the event back when the receiver is gone.
    pub fn blocking_send(&self, event: ResponseEvent) -> Result<(), ResponseEvent> {
        if let Way::Sink(sink) = &self.way {
            return sink.deliver(event);
        }
        match self.stream() {
            Some(tx) => tx.blocking_send(event).map_err(|e| e.0),
            None => self.try_send(event).map_err(TrySendError::into_inner),
        }
    }

    /// Send from async code, waiting for room in a streamed response.
    /// Gives the event back when the receiver is gone.  (Not for a sink,
    /// whose delivery blocks the thread: that is `blocking_send`.)
    pub async fn send(&self, event: ResponseEvent) -> Result<(), ResponseEvent> {
        match self.stream() {
            Some(tx) => tx.send(event).await.map_err(|e| e.0),
            None => self.try_send(event).map_err(TrySendError::into_inner),
        }
    }

    /// The stream of a streamed response, the only way that can be full
    /// (anything else goes, or fails, at once); cloned so that no lock is
    /// held while waiting for room.
    fn stream(&self) -> Option<mpsc::Sender<ResponseEvent>> {
        let Way::Channel { state, .. } = &self.way else {
            return None;
        };
        match &*state.lock().unwrap_or_else(PoisonError::into_inner) {
            State::Streaming(tx) => Some(tx.clone()),
            _ => None,
        }
    }
}

impl std::fmt::Debug for EventReceiver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EventReceiver")
            .field("first_pending", &self.first.is_some())
            .field("streaming", &self.rest.is_some())
            .finish()
    }
}

impl EventReceiver {
    /// A receiver over a stream of events made elsewhere (the daemon
    /// client's relay).
    pub fn from_stream(rx: mpsc::Receiver<ResponseEvent>) -> EventReceiver {
        EventReceiver {
            first: None,
            rest: Some(rx),
        }
    }

    /// The next event; `None` once the sender is gone without sending more.
    pub fn poll_recv(&mut self, cx: &mut Context<'_>) -> Poll<Option<ResponseEvent>> {
        if let Some(first) = &mut self.first {
            let got = ready!(Pin::new(first).poll(cx));
            self.first = None;
            return Poll::Ready(got.ok().map(|First { event, rest }| {
                self.rest = rest;
                event
            }));
        }
        match &mut self.rest {
            Some(rx) => rx.poll_recv(cx),
            None => Poll::Ready(None),
        }
    }

    /// The next event if one is there now.
    pub fn try_recv(&mut self) -> Option<ResponseEvent> {
        if let Some(first) = &mut self.first {
            let First { event, rest } = first.try_recv().ok()?;
            self.first = None;
            self.rest = rest;
            return Some(event);
        }
        self.rest.as_mut()?.try_recv().ok()
    }

    /// The next event, blocking this thread (outside an async runtime).
    pub fn blocking_recv(&mut self) -> Option<ResponseEvent> {
        if let Some(first) = self.first.take() {
            let First { event, rest } = first.blocking_recv().ok()?;
            self.rest = rest;
            return Some(event);
        }
        self.rest.as_mut()?.blocking_recv()
    }

    /// [`EventReceiver::poll_recv`] as a future.
    pub async fn recv(&mut self) -> Option<ResponseEvent> {
        std::future::poll_fn(|cx| self.poll_recv(cx)).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ResponseHead;
    use bytes::Bytes;

    fn head() -> ResponseHead {
        ResponseHead::new(200, "OK")
    }

    #[test]
    fn a_single_event_comes_alone() {
        let (tx, mut rx) = channel(4);
        tx.try_send(ResponseEvent::Complete(head(), Bytes::from_static(b"hi")))
            .expect("sent");
        assert!(matches!(
            rx.blocking_recv(),
            Some(ResponseEvent::Complete(..))
        ));
        // Nothing can follow a final first event.
        assert!(matches!(
            tx.try_send(ResponseEvent::End),
            Err(TrySendError::Closed(_))
        ));
        assert!(rx.blocking_recv().is_none());
    }

    #[test]
    fn a_stream_keeps_its_order_and_its_bound() {
        let (tx, mut rx) = channel(1);
        tx.try_send(ResponseEvent::Head(head())).expect("head");
        tx.try_send(ResponseEvent::Chunk(Bytes::from_static(b"a")))
            .expect("room for one");
        assert!(matches!(
            tx.try_send(ResponseEvent::Chunk(Bytes::from_static(b"b"))),
            Err(TrySendError::Full(_))
        ));
        let writer = {
            let tx = tx.clone();
            std::thread::spawn(move || {
                tx.blocking_send(ResponseEvent::Chunk(Bytes::from_static(b"b")))
                    .is_ok()
                    && tx.blocking_send(ResponseEvent::End).is_ok()
            })
        };
        let mut got = Vec::new();
        while let Some(ev) = rx.blocking_recv() {
            match ev {
                ResponseEvent::Head(_) => got.push("head".to_owned()),
                ResponseEvent::Chunk(b) => got.push(String::from_utf8_lossy(&b).into_owned()),
                ResponseEvent::End => {
                    got.push("end".to_owned());
                    break;
                }
                other => panic!("unexpected {other:?}"),
            }
        }
        assert!(writer.join().expect("writer"));
        assert_eq!(got, ["head", "a", "b", "end"]);
    }

    #[test]
    fn a_gone_side_is_seen_by_the_other() {
        let (tx, mut rx) = channel(4);
        drop(tx);
        assert!(rx.blocking_recv().is_none());

        let (tx, rx) = channel(4);
        drop(rx);
        assert!(matches!(
            tx.try_send(ResponseEvent::Head(head())),
            Err(TrySendError::Closed(_))
        ));
        assert!(tx.blocking_send(ResponseEvent::End).is_err());

        // A stream whose receiver went away refuses more events.
        let (tx, mut rx) = channel(4);
        tx.try_send(ResponseEvent::Head(head())).expect("head");
        assert!(matches!(rx.try_recv(), Some(ResponseEvent::Head(_))));
        drop(rx);
        assert!(tx.blocking_send(ResponseEvent::End).is_err());
    }
}
