//! The daemon process's side.  Its Python request threads serve the
//! group's socket themselves (`poller`: the wait they share over the
//! listening socket and the idle kept connections; `thread`: one
//! thread's loop; `conn`: a connection's frames; `exchange`: one request,
//! its body read and its response written by the thread that runs it).
//! This module's async loop keeps the process's life-cycle timers
//! (`maximum-requests`, `inactivity-timeout`, `request-timeout`,
//! `restart-interval`, `startup-timeout`, `deadlock-timeout`), with
//! mod_wsgi's log lines, sends back requests that wait too long for a
//! thread, and drains the process when it stops.
//!
//! Load balancing.  Only a free request thread accepts a new connection,
//! so a busy process leaves new connections in the group's socket for
//! another process of the group, as mod_wsgi's daemon threads each accept
//! when idle.  A request on a kept connection that finds every thread
//! busy for `THREAD_WAIT` is sent back (`J`, busy) to go through the
//! group's socket to whichever process has a thread free first.

mod conn;
mod exchange;
mod output;
mod poller;
mod state;
mod thread;

use std::sync::Arc;
use std::time::{Duration, Instant};

use wsgid_log::{ErrorLog, Level, Peer};
use wsgid_python::{PythonHost, ThreadTask};

use crate::protocol;
use poller::Poller;
use state::State;

/// How long a request on a kept connection waits for one of this
/// process's threads before it is sent back (`J`, busy).
const THREAD_WAIT: Duration = Duration::from_millis(50);
/// How often requests waiting for a thread are looked for while requests
/// run, and while none does (then no thread can be busy; the slower
/// check only spares an idle process the wake-ups).
const BUSY_CHECK: Duration = Duration::from_millis(20);
const IDLE_BUSY_CHECK: Duration = Duration::from_millis(250);

/// How long a process that abandons its requests (`request-timeout`,
/// `deadlock-timeout`) gives its idle connections to close.
const ABANDON_CLOSE_WAIT: Duration = Duration::from_millis(200);

/// The group's settings that the serving loop acts on.
#[derive(Debug, Clone)]
pub struct Options {
    pub name: String,
    pub maximum_requests: u32,
    pub inactivity_timeout: Duration,
    pub request_timeout: Duration,
    pub queue_timeout: Duration,
    pub restart_interval: Duration,
    /// How long in-flight requests get when the process is asked to stop.
    pub shutdown_timeout: Duration,
    /// How long they get when the process recycles itself.
    pub graceful_timeout: Duration,
    /// How long they get after the graceful restart signal (`SIGUSR1`,
    /// mod_wsgi's "process eviction"); zero: `graceful_timeout`.
    pub eviction_timeout: Duration,
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
    /// The graceful restart signal: in-flight requests get
    /// `eviction-timeout` (else `graceful-timeout`).
    Evicted,
}

/// What the process was asked to do from outside (see [`serve`]'s `stop`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StopRequest {
    /// Stop (TERM/INT from the master, or the CPU time limit).
    Stop,
    /// The graceful restart signal (mod_wsgi's `SIGUSR1`).
    Evict,
}

/// What every request thread of the process needs.
struct Ctx {
    logs: Arc<Vec<ErrorLog>>,
    log: ErrorLog,
    opts: Options,
    state: Arc<State>,
    poller: Poller,
}

/// Serve until `stop` resolves or a life-cycle timer ends the process.
/// `listener` (non-blocking) is the group's socket; `logs[i]` is host
/// `i`'s error log (0: the main server); `log` is the group's own.
pub async fn serve(
    listener: std::os::unix::net::UnixListener,
    python: Arc<PythonHost>,
    logs: Arc<Vec<ErrorLog>>,
    log: ErrorLog,
    opts: Options,
    stop: impl std::future::Future<Output = StopRequest>,
) -> std::io::Result<Stopped> {
    let state = Arc::new(State::new(opts.maximum_requests).timing(
        !opts.request_timeout.is_zero(),
        !opts.inactivity_timeout.is_zero(),
    ));
    let poller = Poller::new(
        listener,
        Arc::clone(&state),
        opts.send_buffer_size,
        opts.receive_buffer_size,
    )?;
    let ctx = Arc::new(Ctx {
        logs,
        log: log.clone(),
        opts: opts.clone(),
        state: Arc::clone(&state),
        poller,
    });
    let task: ThreadTask = {
        let ctx = Arc::clone(&ctx);
        Arc::new(move |t| thread::run(&ctx, t))
    };
    python
        .take_over_threads(&task)
        .map_err(std::io::Error::other)?;
    let started = Instant::now();
    let pid = std::process::id();
    let info = |msg: String| log.log("wsgi", Level::Info, Peer::None, &msg);
    let heartbeat =
        (!opts.deadlock_timeout.is_zero()).then(|| python.gil_heartbeat(Duration::from_secs(1)));
    let mut tick = tokio::time::interval(Duration::from_millis(250));
    let busy_check = tokio::time::sleep(BUSY_CHECK);
    tokio::pin!(busy_check);
    tokio::pin!(stop);
    let reason = loop {
        tokio::select! {
            biased;
            request = &mut stop => match request {
                StopRequest::Stop => break Stopped::Signal,
                StopRequest::Evict => {
                    let what = if state.active() > 0 {
                        "waiting for requests to complete"
                    } else {
                        "triggering immediate shutdown"
                    };
                    info(format!(
                        "mod_wsgi (pid={pid}): Process eviction requested, {what} '{}'.",
                        opts.name
                    ));
                    break Stopped::Evicted;
                }
            },
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
            () = &mut busy_check => {
                // Requests on kept connections that waited too long for a
                // thread go back, to the group's first free thread.
                let waited = ctx.poller.take_waiting(THREAD_WAIT);
                for conn in waited {
                    conn.reject(protocol::REJECTED_BUSY);
                }
                let next = if state.active() > 0 { BUSY_CHECK } else { IDLE_BUSY_CHECK };
                busy_check.as_mut().reset(tokio::time::Instant::now() + next);
            }
        }
    };
    // Stop accepting (queued connections stay in the shared socket for the
    // group's other or next process) and close idle connections; let
    // in-flight requests finish (their threads close their connections
    // afterwards); free threads leave.
    state.drain();
    let idle = ctx.poller.drain();
    ctx.poller.stop();
    let _ = tokio::task::spawn_blocking(move || idle.into_iter().for_each(conn::Conn::close_idle))
        .await;
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
        return Ok(reason);
    }
    let grace = match reason {
        Stopped::Recycle => opts.graceful_timeout,
        Stopped::Evicted if !opts.eviction_timeout.is_zero() => opts.eviction_timeout,
        Stopped::Evicted => opts.graceful_timeout,
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
    Ok(reason)
}
