//! The daemon process's side: accept connections on the group's socket
//! (`connection`: requests one after another on each, `exchange`: one
//! request as a [`wsgid_python::WsgiRequest`] for this process's Python
//! host, its response events written back as frames); and the process's
//! life-cycle timers (`maximum-requests`, `inactivity-timeout`,
//! `request-timeout`, `restart-interval`, `queue-timeout`), with
//! mod_wsgi's log lines.
//!
//! Request threads and load balancing.  A request runs only with one of
//! the `threads` permits.  A new connection is accepted only while a
//! thread is free (it is reserved for the connection's first request), so
//! a busy process leaves new connections in the group's socket for
//! another process of the group, as mod_wsgi's daemon threads each accept
//! when idle; the accept loop gives its reserved thread back as soon as a
//! request on a kept connection has to wait for one.

mod connection;
mod exchange;
mod state;

use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::net::{UnixListener, UnixStream};
use tokio::sync::OwnedSemaphorePermit;
use wsgid_log::{ErrorLog, Level, Peer};
use wsgid_python::PythonHost;

use state::State;

/// How long a process that abandons its requests (`request-timeout`,
/// `deadlock-timeout`) gives its idle connections to close.
const ABANDON_CLOSE_WAIT: Duration = Duration::from_millis(200);

/// The group's settings that the serving loop acts on.
#[derive(Debug, Clone)]
pub struct Options {
    pub name: String,
    /// Request threads: at most this many requests run at a time; a new
    /// connection is accepted only while one is free (the rest wait in the
    /// group's socket, where another process of the group may take them,
    /// as mod_wsgi's daemon threads each accept one connection).
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

/// What every connection of the process needs.
struct Ctx {
    python: Arc<PythonHost>,
    logs: Arc<Vec<ErrorLog>>,
    log: ErrorLog,
    opts: Options,
    state: Arc<State>,
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
    let state = Arc::new(State::new(opts.threads, opts.maximum_requests));
    let ctx = Arc::new(Ctx {
        python: Arc::clone(&python),
        logs,
        log: log.clone(),
        opts: opts.clone(),
        state: Arc::clone(&state),
    });
    let started = Instant::now();
    let pid = std::process::id();
    let info = |msg: String| log.log("wsgi", Level::Info, Peer::None, &msg);
    let heartbeat =
        (!opts.deadlock_timeout.is_zero()).then(|| python.gil_heartbeat(Duration::from_secs(1)));
    let mut tick = tokio::time::interval(Duration::from_millis(250));
    tokio::pin!(stop);
    let reason = loop {
        tokio::select! {
            biased;
            () = &mut stop => break Stopped::Signal,
            () = state.restart.notified() => {
                info(format!("mod_wsgi (pid={pid}): Shutdown requested '{}'.", opts.name));
                break Stopped::Recycle;
            }
            () = state.maximum_reached.notified() => {
                info(format!(
                    "mod_wsgi (pid={pid}): Maximum requests reached, triggering immediate shutdown '{}'.",
                    opts.name
                ));
                break Stopped::Recycle;
            }
            _ = tick.tick() => {
                let startup_expired = !state.started_ok.load(std::sync::atomic::Ordering::Relaxed)
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
                    break Stopped::RequestTimeout;
                }
                if !opts.request_timeout.is_zero()
                    && state.oldest().is_some_and(|d| d >= opts.request_timeout)
                {
                    info(format!(
                        "mod_wsgi (pid={pid}): Daemon process request time limit exceeded, stopping process '{}'.",
                        opts.name
                    ));
                    break Stopped::RequestTimeout;
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
            (thread, accepted) = accept(&listener, &state) => {
                let Ok(stream) = accepted else {
                    drop(thread);
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
                tokio::spawn(connection::connection(Arc::clone(&ctx), stream, thread));
            }
        }
    };
    // Stop accepting (queued connections stay in the shared socket for the
    // group's other or next process) and close idle connections; let
    // in-flight requests finish.
    drop(listener);
    state.drain();
    if reason == Stopped::RequestTimeout {
        // Requests are stuck in Python and are abandoned; idle connections
        // still close cleanly (a request queued in one is answered `J`).
        let deadline = tokio::time::Instant::now() + ABANDON_CLOSE_WAIT;
        while state.connections() > state.active() {
            let changed = state.idle.notified();
            if state.connections() <= state.active()
                || tokio::time::timeout_at(deadline, changed).await.is_err()
            {
                break;
            }
        }
        return reason;
    }
    let grace = match reason {
        Stopped::Recycle => opts.graceful_timeout,
        _ => opts.shutdown_timeout,
    };
    let deadline = tokio::time::Instant::now() + grace;
    while state.active() > 0 || state.connections() > 0 {
        let changed = state.idle.notified();
        if state.active() == 0 && state.connections() == 0 {
            break;
        }
        if tokio::time::timeout_at(deadline, changed).await.is_err() {
            if state.active() > 0 {
                info(format!(
                    "mod_wsgi (pid={pid}): Aborting process '{}'.",
                    opts.name
                ));
            }
            break;
        }
    }
    reason
}

/// The next connection, with the request thread reserved for it (`None`
/// only if the semaphore was closed).  The thread is held while waiting,
/// and given back when a request on a kept connection needs one and no
/// connection is waiting.
async fn accept(
    listener: &UnixListener,
    state: &State,
) -> (Option<OwnedSemaphorePermit>, std::io::Result<UnixStream>) {
    loop {
        let thread = state.free_thread().await;
        // A connection already waiting is taken first: it got the thread
        // in its turn (the semaphore is fair), and giving the thread back
        // whenever kept connections are busy would leave new connections
        // waiting as long as the process is saturated.
        tokio::select! {
            biased;
            accepted = listener.accept() => return (thread, accepted.map(|(s, _)| s)),
            () = state.contention.notified() => drop(thread),
        }
    }
}
