//! One request on a daemon connection, run by the request thread that
//! read it: the checks made before running it (`queue-timeout`,
//! `startup-timeout`, the `Process` reload mechanism), the request body
//! read from `B` frames as `wsgi.input` asks for it, and the response
//! events written back as frames by the same thread.
//!
//! While the application runs, its `wsgi.input` ([`SocketBody`]) and its
//! response sender ([`FrameSink`]) share the connection through one
//! [`Exchange`]; afterwards the request thread takes the connection back
//! (an application that kept `write` past the request finds it closed).

use std::os::fd::AsFd;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant, SystemTime};

use bytes::{Bytes, BytesMut};
use wsgid_log::{ErrorLog, Level, Peer};
use wsgid_python::{
    BodyError, EventSender, EventSink, Filling, ReloadMechanism, RequestBody, ResponseEvent,
    TrySendError, WsgiRequest,
};

use super::conn::{BodyRead, Conn, Next};
use super::output::Output;
use super::{Ctx, Options, State};
use crate::protocol::{self, RequestHead};

/// After the response, how long the rest of a request body (which the
/// application did not read) may take to arrive before the connection is
/// given up rather than kept.
const BODY_REST_WAIT: Duration = Duration::from_secs(5);

/// Where the request body stands.
#[derive(Clone, Copy, PartialEq, Eq)]
enum BodyState {
    Reading,
    /// Read through its `E` frame.
    Done,
    /// Failed (an `X` frame, or the connection broke).
    Failed,
}

/// The connection while its request runs.
struct Live {
    conn: Conn,
    /// Frames encoded and not yet written.
    out: Output,
    body: BodyState,
    sent_head: bool,
    /// The final event was encoded; `clean`: it completed the response.
    finished: bool,
    clean: bool,
    /// A write failed: the front end is gone.
    broken: bool,
}

/// What the request's `wsgi.input` and response sender share.
pub(super) struct Exchange {
    live: Mutex<Option<Live>>,
    ctx: Arc<Ctx>,
}

/// A request ready to run, and what the request thread needs afterwards.
pub(super) struct Prepared {
    pub request: WsgiRequest,
    pub exchange: Arc<Exchange>,
    pub id: u64,
    pub activity: bool,
}

/// Take the request whose head was read (`head`) on `conn`: the checks
/// that may refuse it (`None`: it was answered — `J` or `F` — and the
/// connection closed), then the request for the Python host.
pub(super) fn prepare(ctx: &Arc<Ctx>, conn: Conn, head: RequestHead<'static>) -> Option<Prepared> {
    let (opts, state, log) = (&ctx.opts, &*ctx.state, &ctx.log);
    if state.is_draining() {
        conn.reject(protocol::REJECTED_CLOSING);
        return None;
    }
    let Some(id) = state.take() else {
        // Draining, or past `maximum-requests`: not started.
        conn.reject(protocol::REJECTED_CLOSING);
        return None;
    };
    state.started(id);
    let activity = !head.ignore_activity;
    let refuse = |frame: (u8, &[u8])| {
        let mut out = BytesMut::with_capacity(8);
        protocol::put_frame(&mut out, frame.0, frame.1);
        let _ = conn.write_all(&out);
        state.end(id, activity);
    };
    if !opts.queue_timeout.is_zero()
        && SystemTime::now()
            .duration_since(head.queued_at)
            .is_ok_and(|d| d > opts.queue_timeout)
    {
        log.log(
            "wsgi",
            Level::Error,
            Peer::None,
            &format!(
                "mod_wsgi (pid={}): Queue timeout expired for WSGI daemon process '{}'.",
                std::process::id(),
                opts.name
            ),
        );
        // The body may still be on its way: the connection is not kept.
        refuse((protocol::FAILED, &504u16.to_le_bytes()));
        return None;
    }
    if !opts.startup_timeout.is_zero()
        && !state.started_ok.load(Ordering::Relaxed)
        && let Ok(mut deadline) = state.startup_deadline.lock()
        && deadline.is_none()
    {
        *deadline = Some(Instant::now() + opts.startup_timeout);
        log.log(
            "wsgi",
            Level::Info,
            Peer::None,
            &format!(
                "mod_wsgi (pid={}): Application startup timer triggered '{}'.",
                std::process::id(),
                opts.name
            ),
        );
    }
    if script_changed(state, &head) {
        state.restart.notify_one();
        refuse((protocol::REJECTED, &[protocol::REJECTED_RESTARTING]));
        return None;
    }
    let error_log = ctx
        .logs
        .get(head.host as usize)
        .or(ctx.logs.first())
        .cloned()
        .unwrap_or_else(|| log.clone());
    let rest = known_length(&head.environ);
    let exchange = Arc::new(Exchange {
        live: Mutex::new(Some(Live {
            conn,
            out: Output::default(),
            body: BodyState::Reading,
            sent_head: false,
            finished: false,
            clean: false,
            broken: false,
        })),
        ctx: Arc::clone(ctx),
    });
    let request = WsgiRequest {
        script: head.script.into_owned().into(),
        callable: head.callable.into_owned(),
        application_group: head.application_group.into_owned(),
        script_reloading: head.script_reloading,
        reload: head.reload,
        script_mtime: head.script_mtime,
        environ: head.environ,
        url_scheme: if head.https { "https" } else { "http" },
        body: Box::new(SocketBody {
            exchange: Arc::clone(&exchange),
            rest,
        }),
        client: head.client,
        error_log,
        events: EventSender::sink(Arc::clone(&exchange) as Arc<dyn EventSink>),
    };
    Some(Prepared {
        request,
        exchange,
        id,
        activity,
    })
}

impl Exchange {
    fn lock(&self) -> MutexGuard<'_, Option<Live>> {
        // Every update under the lock leaves `Live` consistent (a panic
        // mid-way at worst loses the connection, which is then closed).
        self.live.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// After the application returned: complete what it left unfinished,
    /// write what is pending, read the rest of the body.  The connection
    /// when it is clean for the next request.
    pub fn finish(&self) -> Option<Conn> {
        let mut live = self.lock().take()?;
        if !live.finished && !live.broken {
            // The Python side returned without a final event.
            let last = if live.sent_head {
                ResponseEvent::Abort
            } else {
                ResponseEvent::Failed(500)
            };
            live.encode(&last, &self.ctx);
            let _ = live.out.flush(&live.conn);
            return None;
        }
        if live.broken || live.out.flush(&live.conn).is_err() || !live.clean {
            return None;
        }
        match live.body {
            BodyState::Done => Some(live.conn),
            BodyState::Failed => None,
            // The rest of a body the application did not read: the front
            // end either sends it through `E` (then the connection is
            // kept) or, having stopped sending it, closes the connection.
            BodyState::Reading => {
                let deadline = Instant::now() + BODY_REST_WAIT;
                loop {
                    match live.conn.next_frame(Some(deadline)) {
                        Ok(Some((protocol::BODY, _))) => {}
                        Ok(Some((protocol::BODY_END, _))) => return Some(live.conn),
                        _ => return None,
                    }
                }
            }
        }
    }
}

impl Live {
    /// Encode `event` (not a file) into `out`, noting what it means for
    /// the exchange.
    fn encode(&mut self, event: &ResponseEvent, ctx: &Ctx) {
        match event {
            ResponseEvent::Complete(h, body) => {
                protocol::encode_complete_head(self.out.buf(), h, body.len());
                self.out.payload(body.clone());
                self.sent_head = true;
                application_loaded(&ctx.state, &ctx.opts, &ctx.log);
                (self.finished, self.clean) = (true, true);
            }
            ResponseEvent::Head(h) => {
                protocol::encode_head(self.out.buf(), h);
                self.sent_head = true;
                application_loaded(&ctx.state, &ctx.opts, &ctx.log);
            }
            ResponseEvent::Chunk(b) => {
                let mut at = 0;
                while at < b.len() {
                    let piece = b.slice(at..(at + protocol::MAX_CHUNK).min(b.len()));
                    at += piece.len();
                    protocol::put_header(self.out.buf(), protocol::DATA, piece.len());
                    self.out.payload(piece);
                }
            }
            ResponseEvent::End => {
                protocol::put_frame(self.out.buf(), protocol::END, b"");
                (self.finished, self.clean) = (true, true);
            }
            ResponseEvent::Abort => {
                protocol::put_frame(self.out.buf(), protocol::ABORT, b"");
                self.finished = true;
            }
            ResponseEvent::Failed(status) => {
                protocol::put_frame(self.out.buf(), protocol::FAILED, &status.to_le_bytes());
                self.finished = true;
            }
            ResponseEvent::File { .. } => {}
        }
    }
}

impl EventSink for Exchange {
    fn try_deliver(&self, event: ResponseEvent) -> Result<(), TrySendError<ResponseEvent>> {
        let mut guard = self.lock();
        let Some(live) = guard.as_mut().filter(|l| !l.finished && !l.broken) else {
            return Err(TrySendError::Closed(event));
        };
        // Earlier output still waiting for room, or a file (sent with its
        // descriptor, which waits): this one has to wait too.
        if !live.out.is_empty() || matches!(event, ResponseEvent::File { .. }) {
            return Err(TrySendError::Full(event));
        }
        live.encode(&event, &self.ctx);
        if live.out.try_flush(&live.conn).is_err() {
            live.broken = true;
            return Err(TrySendError::Closed(event));
        }
        Ok(())
    }

    fn deliver(&self, event: ResponseEvent) -> Result<(), ResponseEvent> {
        let mut guard = self.lock();
        let Some(live) = guard.as_mut().filter(|l| !l.finished && !l.broken) else {
            return Err(event);
        };
        if let ResponseEvent::File { file, offset, len } = &event {
            // The open file goes to the front end, which sends it itself
            // (`sendfile`): no copy through this socket.
            let written = live.out.flush(&live.conn).and_then(|()| {
                let mut frame = BytesMut::with_capacity(21);
                protocol::encode_file(&mut frame, *offset, *len);
                live.conn.write_with_fd(&frame, file.as_fd())
            });
            if written.is_err() {
                live.broken = true;
                return Err(event);
            }
            return Ok(());
        }
        live.encode(&event, &self.ctx);
        if live.out.flush(&live.conn).is_err() {
            live.broken = true;
            return Err(event);
        }
        Ok(())
    }

    fn unflushed(&self) -> bool {
        self.lock().as_ref().is_some_and(|l| !l.out.is_empty())
    }

    fn flush(&self) -> bool {
        let mut guard = self.lock();
        let Some(live) = guard.as_mut().filter(|l| !l.broken) else {
            return false;
        };
        if live.out.flush(&live.conn).is_err() {
            live.broken = true;
            return false;
        }
        true
    }
}

/// `wsgi.input` of a daemon request: `B` frames read from the connection
/// as the application asks for them, as chunks or, for a body of known
/// length, straight into the `bytes` object `read` returns
/// ([`RequestBody::try_read_into`]).
struct SocketBody {
    exchange: Arc<Exchange>,
    /// Body bytes not handed out yet, when `CONTENT_LENGTH` gives the
    /// length (None: chunked, or unknown; chunks only).
    rest: Option<u64>,
}

/// `wsgi.input`'s error when the connection to the front end broke.
fn lost() -> BodyError {
    BodyError::Io("connection to the front end lost".into())
}

/// The body length a direct read may size its `bytes` object by.
fn known_length(environ: &wsgid_python::CgiEnv) -> Option<u64> {
    if environ.get("HTTP_TRANSFER_ENCODING").is_some() {
        return None;
    }
    environ.get("CONTENT_LENGTH")?.parse().ok()
}

impl SocketBody {
    fn took(&mut self, n: usize) {
        if let Some(rest) = &mut self.rest {
            *rest = rest.saturating_sub(n as u64);
        }
    }

    /// The next chunk; `wait`: whether to wait for it (else `None` when
    /// it is not at hand).
    fn chunk(&mut self, wait: bool) -> Option<Result<Option<Bytes>, BodyError>> {
        let got = self.chunk_from_conn(wait);
        if let Some(Ok(Some(b))) = &got {
            self.took(b.len());
        }
        got
    }

    fn chunk_from_conn(&self, wait: bool) -> Option<Result<Option<Bytes>, BodyError>> {
        let mut guard = self.exchange.lock();
        let Some(live) = guard.as_mut() else {
            return Some(Ok(None));
        };
        if live.body != BodyState::Reading {
            return Some(Ok(None));
        }
        let next = live.conn.next(wait.then_some(None));
        let (result, state) = match next {
            Ok(Next::WouldBlock) => return None,
            Ok(Next::Frame(protocol::BODY, b)) => return Some(Ok(Some(b))),
            Ok(Next::Frame(protocol::BODY_END, _)) => (Ok(None), BodyState::Done),
            Ok(Next::Frame(protocol::BODY_ERROR, b)) => {
                (Err(protocol::decode_body_error(b)), BodyState::Failed)
            }
            Ok(_) | Err(_) => (Err(lost()), BodyState::Failed),
        };
        live.body = state;
        Some(result)
    }
}

impl RequestBody for SocketBody {
    fn ready_chunk(&mut self) -> Option<Result<Option<Bytes>, BodyError>> {
        self.chunk(false)
    }

    fn next_chunk(&mut self) -> Result<Option<Bytes>, BodyError> {
        self.chunk(true).unwrap_or(Ok(None))
    }

    fn direct_rest(&self) -> Option<u64> {
        let rest = self.rest?;
        let guard = self.exchange.lock();
        let live = guard.as_ref()?;
        // A large payload begun as a chunk goes on as chunks.
        (live.body == BodyState::Reading && !live.conn.in_large_payload()).then_some(rest)
    }

    fn try_read_into(&mut self, dst: &mut Filling<'_>) -> Result<Option<usize>, BodyError> {
        let mut guard = self.exchange.lock();
        let Some(live) = guard.as_mut() else {
            return Ok(Some(0));
        };
        if live.body != BodyState::Reading {
            return Ok(Some(0));
        }
        let (result, state) = match live.conn.read_body_into(dst) {
            Ok(BodyRead::Data(n)) => {
                drop(guard);
                self.took(n);
                return Ok(Some(n));
            }
            Ok(BodyRead::WouldBlock) => return Ok(None),
            Ok(BodyRead::Frame(protocol::BODY_END, _)) => (Ok(Some(0)), BodyState::Done),
            Ok(BodyRead::Frame(protocol::BODY_ERROR, b)) => {
                (Err(protocol::decode_body_error(b)), BodyState::Failed)
            }
            Ok(BodyRead::Frame(..)) | Err(_) => (Err(lost()), BodyState::Failed),
        };
        live.body = state;
        result
    }

    fn wait_readable(&mut self) -> Result<(), BodyError> {
        let guard = self.exchange.lock();
        match guard.as_ref() {
            Some(live) => live.conn.wait_readable().map_err(|_| lost()),
            None => Ok(()),
        }
    }
}

/// A response head was produced: the application loaded; the
/// `startup-timeout` timer (if running) is cancelled.
fn application_loaded(state: &State, opts: &Options, log: &ErrorLog) {
    if opts.startup_timeout.is_zero() || state.started_ok.swap(true, Ordering::Relaxed) {
        return;
    }
    let was_running = state
        .startup_deadline
        .lock()
        .map(|mut d| d.take().is_some())
        .unwrap_or(false);
    if was_running {
        log.log(
            "wsgi",
            Level::Info,
            Peer::None,
            &format!(
                "mod_wsgi (pid={}): Application startup timer cancelled '{}'.",
                std::process::id(),
                opts.name
            ),
        );
    }
}

/// Under the `Process` reload mechanism: whether the request's script
/// changed since this process first ran it (the front end's `stat`).
fn script_changed(state: &State, head: &RequestHead<'_>) -> bool {
    if head.reload != ReloadMechanism::Process || !head.script_reloading {
        return false;
    }
    let (Some(mtime), Ok(mut loaded)) = (head.script_mtime, state.loaded.lock()) else {
        return false;
    };
    // By application group, then script: looked up with borrowed keys (no
    // copies of the two strings per request, as a pair key needed).
    if let Some(seen) = loaded
        .get(head.application_group.as_ref())
        .and_then(|scripts| scripts.get(head.script.as_ref()))
    {
        return *seen != mtime;
    }
    loaded
        .entry(head.application_group.to_string())
        .or_default()
        .insert(head.script.to_string(), mtime);
    false
}
