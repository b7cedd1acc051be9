//! The front end's side: take a kept connection to a daemon group (or
//! connect to the group's socket), send the request head and stream the
//! body, turn the answer back into [`ResponseEvent`]s, keep the connection
//! when the exchange ended cleanly (`pool`, `relay`), with mod_wsgi's
//! failure answers and log lines:
//!
//! * cannot connect within `connect-timeout` → 503, "Unable to connect to
//!   WSGI daemon process ..." (as `wsgi_connect_daemon`);
//! * no complete response head (the daemon died, or closed) → 500,
//!   "Truncated or oversized response headers received from daemon
//!   process '...'";
//! * no head within `socket-timeout` → 504, "Timeout when reading
//!   response headers from daemon process '...'";
//! * the daemon dies after the head → the client connection is aborted.

mod frames;
mod pool;
mod relay;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use tokio::sync::mpsc;
use wsgid_log::{ErrorLog, Level, Peer};
use wsgid_python::{BodyError, EventSender, ResponseEvent};

pub use pool::Pool;
use relay::{Outcome, Outgoing};

use crate::protocol::RequestHead;

/// Where and how to reach one daemon process group.
#[derive(Debug, Clone)]
pub struct Target {
    /// The process group's name (for log lines).
    pub name: String,
    pub socket: PathBuf,
    pub connect_timeout: Duration,
    /// How long to wait for the response head and between body frames.
    pub socket_timeout: Duration,
    /// The longest response header line (`Name: value`) taken from the
    /// daemon: `header-buffer-size` (default 32768) less 3, as mod_wsgi's
    /// line reader leaves room for the line end and its NUL.
    pub header_line_max: usize,
    /// `send-buffer-size` / `receive-buffer-size` (0: system default).
    pub send_buffer_size: u32,
    pub receive_buffer_size: u32,
    /// This worker's idle connections to the group.
    pub pool: Arc<Pool>,
}

/// For log lines about one request.
#[derive(Debug, Clone)]
pub struct RequestLog {
    pub log: ErrorLog,
    pub peer: Option<SocketAddr>,
    /// `r->filename` (the script).
    pub filename: String,
}

impl RequestLog {
    fn error(&self, message: &str) {
        let peer = self.peer.map_or(Peer::None, Peer::Client);
        self.log.log("wsgi", Level::Error, peer, message);
    }
    fn info(&self, message: &str) {
        let peer = self.peer.map_or(Peer::None, Peer::Client);
        self.log.log("wsgi", Level::Info, peer, message);
    }
}

/// A request's body as the front end has it.
#[derive(Debug)]
pub enum Body {
    /// No body: the end-of-body frame goes with the head.
    Empty,
    /// Read ahead, whole (and how it ended: `Some` for a read error): it
    /// goes with the head, in one write.
    Buffered(Vec<Bytes>, Option<BodyError>),
    /// Arriving from the client.
    Stream(mpsc::Receiver<Result<Bytes, BodyError>>),
}

/// How often a request rejected by a daemon process (`J`) is sent again
/// (mod_wsgi's maximum of restart connects).
const MAX_RESTART_CONNECTS: u32 = 20;

/// Send one request to the daemon group and its response to `events`.
///
/// A kept connection is used when there is one (checked open first), else
/// a new one is made.  The request is sent again only when the daemon
/// provably did not start it (see `protocol`): its head could not be
/// wholly written (once, on a new connection), or the daemon answered `J`
/// (on a new connection, with the body sent so far).  Never otherwise: a
/// request must not run twice.
///
/// The head is encoded here, before the returned future first runs, so
/// that it can borrow from the request.
pub fn forward(
    target: Arc<Target>,
    head: &RequestHead<'_>,
    body: Body,
    events: EventSender,
    rlog: RequestLog,
) -> impl Future<Output = ()> + Send + 'static {
    let out = Outgoing::new(head, body);
    exchange_until_done(target, out, events, rlog)
}

async fn exchange_until_done(
    target: Arc<Target>,
    mut out: Outgoing,
    events: EventSender,
    rlog: RequestLog,
) {
    // Its turn first (see `Pool`): waiting for it counts towards
    // `socket-timeout`, as waiting in the daemon socket's backlog does in
    // mod_wsgi.
    let Some(_in_flight) = target.pool.begin(target.socket_timeout).await else {
        rlog.error(&format!(
            "Timeout when reading response headers from daemon process '{}': {}",
            target.name, rlog.filename
        ));
        let _ = events.send(ResponseEvent::Failed(504)).await;
        return;
    };
    let started = Instant::now();
    let mut rejected = 0;
    let mut resent = false;
    let mut fresh = false;
    loop {
        let kept = if fresh { None } else { target.pool.take() };
        let pooled = kept.is_some();
        let mut conn = match kept {
            Some(c) => c,
            None => match pool::connect(&target, &rlog).await {
                Ok(s) => pool::Kept::new(s),
                Err(status) => {
                    let _ = events.send(ResponseEvent::Failed(status)).await;
                    return;
                }
            },
        };
        match relay::exchange(&mut conn.stream, &mut out, &target, &events, &rlog).await {
            Outcome::Done { keep } => {
                target.pool.served(started.elapsed());
                if keep {
                    target.pool.put(conn);
                }
                return;
            }
            // A kept connection closed at the other end since its last
            // request: not checked when taken (see `Pool::take`), so this
            // is not the request's one resend.
            Outcome::NotDelivered if pooled => fresh = true,
            Outcome::NotDelivered if !resent => {
                resent = true;
                fresh = true;
            }
            Outcome::NotDelivered => {
                rlog.error(&format!(
                    "mod_wsgi (pid={}): Unable to send request details to WSGI daemon process '{}' on '{}'.",
                    std::process::id(),
                    target.name,
                    target.socket.display()
                ));
                let _ = events.send(ResponseEvent::Failed(503)).await;
                return;
            }
            Outcome::Rejected { .. } if out.overflowed => {
                rlog.error(&format!(
                    "mod_wsgi (pid={}): Request rejected by WSGI daemon process '{}' cannot be sent again: its body was already sent.",
                    std::process::id(),
                    target.name
                ));
                let _ = events.send(ResponseEvent::Failed(503)).await;
                return;
            }
            Outcome::Rejected { restarting } if rejected < MAX_RESTART_CONNECTS => {
                rejected += 1;
                fresh = true;
                if restarting {
                    rlog.info(&format!(
                        "mod_wsgi (pid={}): Connect after WSGI daemon process restart, attempt #{rejected}.",
                        std::process::id()
                    ));
                    tokio::time::sleep(Duration::from_millis(20)).await;
                } else {
                    // Busy or closing: give the group a moment (a process
                    // that is starting, a thread finishing) before the next
                    // try, growing to 50 ms; the tries span most of a
                    // second rather than a few milliseconds (which a loaded
                    // machine could exhaust while a recycled process starts).
                    let pause = 5 * u64::from(rejected.min(10));
                    tokio::time::sleep(Duration::from_millis(pause)).await;
                }
            }
            Outcome::Rejected { .. } => {
                rlog.error(&format!(
                    "mod_wsgi (pid={}): Maximum number of WSGI daemon process restart connects reached '{MAX_RESTART_CONNECTS}'.",
                    std::process::id()
                ));
                let _ = events.send(ResponseEvent::Failed(503)).await;
                return;
            }
        }
    }
}
