//! The daemon process's side: accept connections on the group's socket,
//! turn each into a [`WsgiRequest`] for this process's Python host, write
//! the response events back as frames; and the process's life-cycle
//! timers (`maximum-requests`, `inactivity-timeout`, `request-timeout`,
//! `restart-interval`, `queue-timeout`), with mod_wsgi's log lines.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::os::unix::fs::FileExt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use bytes::{Bytes, BytesMut};
use tokio::io::AsyncWriteExt;
use tokio::net::{UnixListener, UnixStream};
use tokio::sync::{Notify, mpsc};
use wsgid_log::{ErrorLog, Level, Peer};
use wsgid_python::{
    BodyError, PythonHost, ReloadMechanism, RequestBody, ResponseEvent, WsgiRequest,
};

use crate::protocol::{self, RequestHead};

/// Response events buffered between a Python thread and the socket writer.
const EVENT_QUEUE: usize = 8;
/// Request body frames buffered ahead of `wsgi.input`.
const BODY_QUEUE: usize = 4;
/// Writes are gathered up to this size before a `write`.
const WRITE_BATCH: usize = 256 * 1024;
/// `wsgi.file_wrapper` files are sent in pieces of this size (in flight
/// per request: a few pieces, whatever the file's size).
const FILE_PIECE: usize = 64 * 1024;

/// The group's settings that the serving loop acts on.
#[derive(Debug, Clone)]
pub struct Options {
    pub name: String,
    /// Request threads: at most this many connections are accepted at a
    /// time (the rest wait in the group's socket, where another process
    /// of the group may take them, as mod_wsgi's daemon threads each
    /// accept one connection).
    pub threads: usize,
    pub maximum_requests: u32,
    pub inactivity_timeout: Duration,
    pub request_timeout: Duration,
    pub queue_timeout: Duration,
    pub restart_interval: Duration,
    /// How long in-flight requests get when the process is asked to stop.
    pub shutdown_timeout: Duration,
    /// How long they get when the process recycles itself.
    pub graceful_timeout: Duration,
    /// `startup-timeout` (zero: off): from the first request, how long the
    /// application gets to load successfully before the process restarts.
    pub startup_timeout: Duration,
    /// `deadlock-timeout` (zero: off): the process restarts when Python's
    /// GIL could not be taken for this long.
    pub deadlock_timeout: Duration,
    pub send_buffer_size: u32,
    pub receive_buffer_size: u32,
}

/// Why [`serve`] returned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stopped {
    /// Asked to stop (TERM from the master).
    Signal,
    /// A planned recycle: `maximum-requests`, `inactivity-timeout`,
    /// `restart-interval`.
    Recycle,
    /// `request-timeout` or `deadlock-timeout` expired: in-flight requests
    /// are abandoned.
    RequestTimeout,
}

struct State {
    /// Scripts seen, by (application group, path), with the modification
    /// time the front end reported for them.
    loaded: Mutex<HashMap<(String, String), SystemTime>>,
    /// A request found its script changed under the `Process` reload
    /// mechanism: the process must restart.
    restart: Notify,
    /// `startup-timeout`: when it expires (set by the first request), and
    /// whether the application has loaded (a response head was produced).
    startup_deadline: Mutex<Option<Instant>>,
    started_ok: std::sync::atomic::AtomicBool,
    active: Mutex<HashMap<u64, Instant>>,
    last_activity: Mutex<Instant>,
    idle: Notify,
    next: AtomicU64,
}

impl State {
    fn begin(&self) -> u64 {
        let id = self.next.fetch_add(1, Ordering::Relaxed);
        if let Ok(mut a) = self.active.lock() {
            a.insert(id, Instant::now());
        }
        id
    }
    /// A connection is done; `activity`: it counts for `inactivity-timeout`.
    fn end(&self, id: u64, activity: bool) {
        if let Ok(mut a) = self.active.lock() {
            a.remove(&id);
            if a.is_empty() {
                self.idle.notify_waiters();
            }
        }
        if activity && let Ok(mut t) = self.last_activity.lock() {
            *t = Instant::now();
        }
    }
    fn active(&self) -> usize {
        self.active.lock().map_or(0, |a| a.len())
    }
    fn oldest(&self) -> Option<Duration> {
        self.active
            .lock()
            .ok()
            .and_then(|a| a.values().min().map(Instant::elapsed))
    }
    fn idle_for(&self) -> Duration {
        self.last_activity
            .lock()
            .map_or(Duration::ZERO, |t| t.elapsed())
    }
}

/// Serve until `stop` resolves or a life-cycle timer ends the process.
/// `logs[i]` is host `i`'s error log (0: the main server); `log` is the
/// group's own.
pub async fn serve(
    listener: UnixListener,
    python: Arc<PythonHost>,
    logs: Arc<Vec<ErrorLog>>,
    log: ErrorLog,
    opts: Options,
    stop: impl std::future::Future<Output = ()>,
) -> Stopped {
    let state = Arc::new(State {
        loaded: Mutex::new(HashMap::new()),
        restart: Notify::new(),
        startup_deadline: Mutex::new(None),
        started_ok: std::sync::atomic::AtomicBool::new(false),
        active: Mutex::new(HashMap::new()),
        last_activity: Mutex::new(Instant::now()),
        idle: Notify::new(),
        next: AtomicU64::new(0),
    });
    let started = Instant::now();
    let pid = std::process::id();
    let info = |msg: String| log.log("wsgi", Level::Info, Peer::None, &msg);
    let heartbeat =
        (!opts.deadlock_timeout.is_zero()).then(|| python.gil_heartbeat(Duration::from_secs(1)));
    let mut served: u32 = 0;
    let slots = Arc::new(tokio::sync::Semaphore::new(opts.threads.max(1)));
    let mut tick = tokio::time::interval(Duration::from_millis(250));
    tokio::pin!(stop);
    let reason = loop {
        tokio::select! {
            () = &mut stop => break Stopped::Signal,
            () = state.restart.notified() => {
                info(format!("mod_wsgi (pid={pid}): Shutdown requested '{}'.", opts.name));
                break Stopped::Recycle;
            }
            _ = tick.tick() => {
                let startup_expired = !state.started_ok.load(Ordering::Relaxed)
                    && state
                        .startup_deadline
                        .lock()
                        .ok()
                        .and_then(|d| *d)
                        .is_some_and(|d| Instant::now() >= d);
                if startup_expired {
                    info(format!(
                        "mod_wsgi (pid={pid}): Application startup timer expired, stopping process '{}'.",
                        opts.name
                    ));
                    break Stopped::Recycle;
                }
                if let Some(beat) = &heartbeat
                    && beat.lock().map_or(Duration::ZERO, |t| t.elapsed()) >= opts.deadlock_timeout
                {
                    info(format!(
                        "mod_wsgi (pid={pid}): Daemon process deadlock timer expired, stopping process '{}'.",
                        opts.name
                    ));
                    return Stopped::RequestTimeout;
                }
                if !opts.request_timeout.is_zero()
                    && state.oldest().is_some_and(|d| d >= opts.request_timeout)
                {
                    info(format!(
                        "mod_wsgi (pid={pid}): Daemon process request time limit exceeded, stopping process '{}'.",
                        opts.name
                    ));
                    return Stopped::RequestTimeout;
                }
                if !opts.inactivity_timeout.is_zero()
                    && state.active() == 0
                    && state.idle_for() >= opts.inactivity_timeout
                {
                    info(format!(
                        "mod_wsgi (pid={pid}): Daemon process idle inactivity timer expired, stopping process '{}'.",
                        opts.name
                    ));
                    break Stopped::Recycle;
                }
                if !opts.restart_interval.is_zero() && started.elapsed() >= opts.restart_interval {
                    info(format!(
                        "mod_wsgi (pid={pid}): Application restart timer expired, waiting for requests to complete '{}'.",
                        opts.name
                    ));
                    break Stopped::Recycle;
                }
            }
            (permit, accepted) = async {
                let permit = Arc::clone(&slots).acquire_owned().await;
                (permit, listener.accept().await)
            } => {
                let Ok((stream, _)) = accepted else {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                };
                let sock = socket2::SockRef::from(&stream);
                if opts.send_buffer_size != 0 {
                    let _ = sock.set_send_buffer_size(opts.send_buffer_size as usize);
                }
                if opts.receive_buffer_size != 0 {
                    let _ = sock.set_recv_buffer_size(opts.receive_buffer_size as usize);
                }
                let id = state.begin();
                let (st, py, lg, main, o) = (Arc::clone(&state), Arc::clone(&python), Arc::clone(&logs), log.clone(), opts.clone());
                tokio::spawn(async move {
                    let activity = connection(stream, &py, &lg, &main, &o, &st).await;
                    st.end(id, activity);
                    drop(permit);
                });
                served = served.saturating_add(1);
                if opts.maximum_requests != 0 && served >= opts.maximum_requests {
                    info(format!(
                        "mod_wsgi (pid={pid}): Maximum requests reached, triggering immediate shutdown '{}'.",
                        opts.name
                    ));
                    break Stopped::Recycle;
                }
            }
        }
    };
    // Stop accepting (queued connections stay in the shared socket for the
    // group's other or next process), let in-flight requests finish.
    drop(listener);
    let grace = match reason {
        Stopped::Recycle => opts.graceful_timeout,
        _ => opts.shutdown_timeout,
    };
    let deadline = tokio::time::Instant::now() + grace;
    while state.active() > 0 {
        let idle = state.idle.notified();
        if state.active() == 0 {
            break;
        }
        if tokio::time::timeout_at(deadline, idle).await.is_err() {
            info(format!(
                "mod_wsgi (pid={pid}): Aborting process '{}'.",
                opts.name
            ));
            break;
        }
    }
    reason
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
fn script_changed(state: &State, head: &RequestHead) -> bool {
    if head.reload != ReloadMechanism::Process || !head.script_reloading {
        return false;
    }
    let (Some(mtime), Ok(mut loaded)) = (head.script_mtime, state.loaded.lock()) else {
        return false;
    };
    let key = (head.application_group.clone(), head.script.clone());
    match loaded.get(&key) {
        Some(seen) => *seen != mtime,
        None => {
            loaded.insert(key, mtime);
            false
        }
    }
}

/// `wsgi.input` of a daemon request: body frames forwarded by the
/// connection's reader task.
struct ChannelBody(mpsc::Receiver<Result<Bytes, BodyError>>);

impl RequestBody for ChannelBody {
    fn next_chunk(&mut self) -> Result<Option<Bytes>, BodyError> {
        match self.0.blocking_recv() {
            None => Ok(None),
            Some(Ok(b)) => Ok(Some(b)),
            Some(Err(e)) => Err(e),
        }
    }
}

async fn connection(
    stream: UnixStream,
    python: &PythonHost,
    logs: &[ErrorLog],
    log: &ErrorLog,
    opts: &Options,
    state: &State,
) -> bool {
    let (rd, mut wr) = stream.into_split();
    let mut rd = protocol::FrameReader::new(rd);
    let head = match rd.next().await {
        Ok(Some((protocol::REQUEST, payload))) => match RequestHead::decode(payload) {
            Ok(h) => h,
            Err(_) => return true,
        },
        _ => return true,
    };
    let activity = !head.ignore_activity;
    let mut out = BytesMut::with_capacity(16 * 1024);
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
        protocol::put_frame(&mut out, protocol::FAILED, &504u16.to_le_bytes());
        let _ = wr.write_all(&out).await;
        return activity;
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
        protocol::put_frame(&mut out, protocol::REJECTED, b"");
        let _ = wr.write_all(&out).await;
        return activity;
    }
    let (btx, brx) = mpsc::channel(BODY_QUEUE);
    // A request without a body sent its end-of-body frame with the head:
    // no reader task then.
    let reader = match rd.buffered() {
        Some((protocol::BODY_END, _)) => {
            drop(btx);
            None
        }
        pre => Some(tokio::spawn(async move {
            let mut pre = pre;
            loop {
                let frame = match pre.take() {
                    Some(f) => Ok(Some(f)),
                    None => rd.next().await,
                };
                let item = match frame {
                    Ok(Some((protocol::BODY, b))) => Ok(b),
                    Ok(Some((protocol::BODY_END, _))) => return,
                    Ok(Some((protocol::BODY_ERROR, b))) => Err(protocol::decode_body_error(b)),
                    _ => Err(BodyError::Io("connection to the front end lost".into())),
                };
                let last = item.is_err();
                if btx.send(item).await.is_err() || last {
                    return;
                }
            }
        })),
    };
    let abort_reader = || {
        if let Some(r) = &reader {
            r.abort();
        }
    };
    let (etx, mut erx) = mpsc::channel(EVENT_QUEUE);
    let error_log = logs
        .get(head.host as usize)
        .or(logs.first())
        .cloned()
        .unwrap_or_else(|| log.clone());
    let req = WsgiRequest {
        script: head.script.into(),
        callable: head.callable,
        application_group: head.application_group,
        script_reloading: head.script_reloading,
        reload: head.reload,
        script_mtime: head.script_mtime,
        environ: head.environ,
        url_scheme: if head.url_scheme == "https" {
            "https"
        } else {
            "http"
        },
        body: Box::new(ChannelBody(brx)),
        client: head.client.parse::<SocketAddr>().ok(),
        error_log,
        events: etx,
    };
    if python.submit(req).is_err() {
        protocol::put_frame(&mut out, protocol::FAILED, &503u16.to_le_bytes());
        let _ = wr.write_all(&out).await;
        abort_reader();
        return activity;
    }
    let mut sent_head = false;
    let mut finished = false;
    while !finished {
        let Some(first) = erx.recv().await else { break };
        let mut next = Some(first);
        // Gather what is already queued into one write.
        while let Some(ev) = next.take() {
            match ev {
                ResponseEvent::Complete(h, body) => {
                    protocol::encode_complete(&mut out, &h, &body);
                    sent_head = true;
                    application_loaded(state, opts, log);
                    finished = true;
                }
                ResponseEvent::Head(h) => {
                    protocol::encode_head(&mut out, &h);
                    sent_head = true;
                    application_loaded(state, opts, log);
                }
                ResponseEvent::Chunk(b) => {
                    for piece in b.chunks(protocol::MAX_CHUNK) {
                        protocol::put_frame(&mut out, protocol::DATA, piece);
                    }
                }
                ResponseEvent::File { file, offset, len } => {
                    if wr.write_all(&out).await.is_err() {
                        abort_reader();
                        return activity;
                    }
                    out.clear();
                    if !send_file(&mut wr, file, offset, len).await {
                        protocol::put_frame(&mut out, protocol::ABORT, b"");
                        finished = true;
                    }
                }
                ResponseEvent::End => {
                    protocol::put_frame(&mut out, protocol::END, b"");
                    finished = true;
                }
                ResponseEvent::Abort => {
                    protocol::put_frame(&mut out, protocol::ABORT, b"");
                    finished = true;
                }
                ResponseEvent::Failed(status) => {
                    protocol::put_frame(&mut out, protocol::FAILED, &status.to_le_bytes());
                    finished = true;
                }
            }
            if !finished && out.len() < WRITE_BATCH {
                next = erx.try_recv().ok();
            }
        }
        if wr.write_all(&out).await.is_err() {
            break;
        }
        out.clear();
    }
    if !finished {
        // The Python side went away without a final event.
        out.clear();
        if sent_head {
            protocol::put_frame(&mut out, protocol::ABORT, b"");
        } else {
            protocol::put_frame(&mut out, protocol::FAILED, &500u16.to_le_bytes());
        }
        let _ = wr.write_all(&out).await;
    }
    let _ = wr.shutdown().await;
    abort_reader();
    activity
}

/// Send `len` bytes (None: to EOF) of `file` from `offset` as `D` frames;
/// false when the file is shorter than promised or a write failed.
async fn send_file(
    wr: &mut tokio::net::unix::OwnedWriteHalf,
    file: std::fs::File,
    offset: u64,
    len: Option<u64>,
) -> bool {
    let file = Arc::new(file);
    let mut pos = offset;
    let mut left = len;
    loop {
        let want = left.map_or(FILE_PIECE, |l| {
            usize::try_from(l.min(FILE_PIECE as u64)).unwrap_or(FILE_PIECE)
        });
        if want == 0 {
            return true;
        }
        let f = Arc::clone(&file);
        // The frame header and the data in one buffer: one write.
        let read = tokio::task::spawn_blocking(move || {
            let mut frame = vec![0u8; 5 + want];
            let n = f.read_at(&mut frame[5..], pos)?;
            frame.truncate(5 + n);
            frame[0] = protocol::DATA;
            frame[1..5].copy_from_slice(&u32::try_from(n).unwrap_or(0).to_le_bytes());
            Ok::<_, std::io::Error>((frame, n))
        })
        .await;
        let Ok(Ok((frame, n))) = read else {
            return false;
        };
        if n == 0 {
            return left.is_none();
        }
        if wr.write_all(&frame).await.is_err() {
            return false;
        }
        pos += n as u64;
        left = left.map(|l| l - n as u64);
    }
}
