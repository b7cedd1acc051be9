//! `PythonHost`: the Python runtime thread and the pool of request threads.
//!
//! A dedicated runtime thread initialises CPython (so it is Python's main
//! thread), then waits, and finalises CPython at shutdown.  `cfg.threads`
//! request threads each attach to Python once, keeping one thread state for
//! their whole life (so `threading.local` data survives between requests and
//! no thread state is created per request), and wait for work on a
//! crossbeam channel with the GIL released.
//!
//! Lifecycle: `start` → `submit`* → `shutdown` (also run on drop): the queue
//! is closed, queued and running requests finish, the request threads exit,
//! then the runtime thread runs `Py_FinalizeEx` (atexit callbacks).

use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError, RwLock, mpsc};
use std::thread::{self, JoinHandle};

use crossbeam_channel::{Receiver, RecvTimeoutError, Sender};
use pyo3::prelude::*;
use wsgid_log::{ErrorLog, Level, Peer};

use crate::ffi::ThreadSwitch;
use crate::groups::{self, Group, Groups};
use crate::handler::Worker;
use crate::log_stream::MODULE;
use crate::runtime;
use crate::{AuthCall, PythonConfig, PythonError, WsgiRequest};

/// One unit of work for a request thread.
pub(crate) enum Job {
    Wsgi(WsgiRequest),
    Auth(AuthCall),
    TakeOver(ThreadTask),
}

/// Work that takes a request thread over until it returns: a daemon
/// process's request threads wait for requests on their connections and
/// write the responses themselves, rather than being handed each request
/// by another thread (two thread switches fewer per request).
pub type ThreadTask = Arc<dyn Fn(&mut RequestThread<'_>) + Send + Sync>;

/// A request thread lent to a [`ThreadTask`].  It is attached to Python:
/// the GIL is held, except inside [`RequestThread::detached`].
pub struct RequestThread<'a> {
    py: Python<'a>,
    worker: &'a mut Worker,
    log: &'a ErrorLog,
}

impl RequestThread<'_> {
    /// Serve `req` here; every outcome is reported through `req.events`.
    pub fn run(&mut self, req: WsgiRequest) {
        let served =
            std::panic::catch_unwind(AssertUnwindSafe(|| self.worker.handle(self.py, req)));
        if served.is_err() {
            self.log.log(
                MODULE,
                Level::Crit,
                Peer::None,
                "wsgid: panic while serving a Python request",
            );
        }
    }

    /// Run `f` with the GIL released (waiting, blocking I/O).
    pub fn detached<T: Send, F: Send + FnOnce() -> T>(&self, f: F) -> T {
        self.py.detach(f)
    }

    /// Nothing to do for a while: let go of an interpreter that was
    /// replaced (the `Interpreter` reload mechanism).
    pub fn idle(&mut self) {
        self.worker.idle(self.py);
    }
}

/// How often an idle request thread checks whether the interpreter it is
/// parked in was replaced (the `Interpreter` reload mechanism).
const IDLE_CHECK: std::time::Duration = std::time::Duration::from_secs(1);

/// CPython can be initialised once per process.
static STARTED: AtomicBool = AtomicBool::new(false);

/// The runtime thread's stop channel (carrying the groups to destroy before
/// finalising) and its handle.
type RuntimeThread = (mpsc::Sender<Vec<Group>>, JoinHandle<()>);

/// The embedded Python: a runtime thread plus request threads.
pub struct PythonHost {
    /// `None` once shutdown began.
    queue: RwLock<Option<Sender<Job>>>,
    workers: Mutex<Vec<JoinHandle<()>>>,
    /// Every application group's interpreter.
    groups: Arc<Groups>,
    /// Tells the runtime thread to finalise (handing it the groups to
    /// destroy first); and its handle.
    runtime: Mutex<Option<RuntimeThread>>,
    /// The GIL heartbeat thread ([`PythonHost::gil_heartbeat`]) and its
    /// stop flag.
    heartbeat: Mutex<Option<(Arc<AtomicBool>, JoinHandle<()>)>>,
    log: ErrorLog,
}

impl std::fmt::Debug for PythonHost {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PythonHost")
            .field("queued", &self.queued())
            .finish_non_exhaustive()
    }
}

impl PythonHost {
    /// Initialise CPython in this process (never before fork), start
    /// `cfg.threads` request threads.  Errors are also logged to `log`.
    pub fn start(cfg: PythonConfig, log: ErrorLog) -> Result<PythonHost, PythonError> {
        let result = Self::start_inner(&cfg, &log);
        if let Err(e) = &result {
            let pid = std::process::id();
            log.log(
                MODULE,
                Level::Crit,
                Peer::None,
                &format!("mod_wsgi (pid={pid}): {e}"),
            );
        }
        result
    }

    fn start_inner(cfg: &PythonConfig, log: &ErrorLog) -> Result<PythonHost, PythonError> {
        if STARTED.swap(true, Ordering::SeqCst) {
            return Err(PythonError::AlreadyStarted);
        }
        crate::ffi::one_malloc_arena();
        let (ready_tx, ready_rx) = mpsc::channel::<Result<Arc<Groups>, PythonError>>();
        let (stop_tx, stop_rx) = mpsc::channel::<Vec<Group>>();
        let (rt_cfg, rt_log) = (cfg.clone(), log.clone());
        let runtime = thread::Builder::new()
            .name("wsgid-python".into())
            .spawn(move || match runtime::bring_up(&rt_cfg, &rt_log) {
                Err(e) => {
                    let _ = ready_tx.send(Err(e));
                }
                Ok((main, interp)) => {
                    let main_group = Arc::new(Group::main(interp, rt_cfg.threads));
                    let groups = Arc::new(Groups::new(main_group, rt_cfg.clone(), rt_log.clone()));
                    // Import scripts run here, on Python's main thread,
                    // before any request thread exists.
                    let mut switch = Python::attach(|py| {
                        let mut switch = ThreadSwitch::new(py);
                        if let Some(switch) = &mut switch {
                            groups.import_scripts(py, switch, &rt_cfg.import_scripts);
                        }
                        switch
                    });
                    let _ = ready_tx.send(Ok(Arc::clone(&groups)));
                    // Until shutdown (a send, or the host being dropped).
                    let to_destroy = stop_rx.recv().unwrap_or_default();
                    if rt_cfg.keep_interpreter {
                        // WSGIDestroyInterpreter Off: mod_wsgi skips all
                        // interpreter destruction; the process just exits.
                        std::mem::forget((to_destroy, groups, switch, main));
                        return;
                    }
                    // Sub-interpreters end before the main one, as in
                    // mod_wsgi's child clean-up.
                    Python::attach(|py| {
                        if switch.is_none() {
                            switch = ThreadSwitch::new(py);
                        }
                        if let Some(switch) = &mut switch {
                            for g in to_destroy {
                                groups::destroy(py, switch, g, &rt_log);
                            }
                        }
                        drop(groups);
                    });
                    runtime::finalize(main, &rt_log);
                }
            })
            .map_err(PythonError::Thread)?;
        let groups = match ready_rx.recv() {
            Ok(Ok(groups)) => groups,
            Ok(Err(e)) => {
                let _ = runtime.join();
                return Err(e);
            }
            Err(_) => {
                let _ = runtime.join();
                return Err(PythonError::RuntimeThreadLost);
            }
        };

        let host = PythonHost {
            queue: RwLock::new(None),
            workers: Mutex::new(Vec::new()),
            groups: Arc::clone(&groups),
            runtime: Mutex::new(Some((stop_tx, runtime))),
            heartbeat: Mutex::new(None),
            log: log.clone(),
        };
        let (tx, rx) = crossbeam_channel::unbounded();
        let mut workers = Vec::new();
        for index in 0..cfg.threads.max(1) {
            let (rx, groups, log) = (rx.clone(), Arc::clone(&groups), log.clone());
            let spawned = thread::Builder::new()
                .name(format!("wsgid-py-{index}"))
                .spawn(move || request_thread(&rx, groups, index, &log));
            match spawned {
                Ok(handle) => workers.push(handle),
                Err(e) => {
                    drop(tx);
                    *host.workers.lock().unwrap_or_else(PoisonError::into_inner) = workers;
                    host.shutdown();
                    return Err(PythonError::Thread(e));
                }
            }
        }
        *host.workers.lock().unwrap_or_else(PoisonError::into_inner) = workers;
        *host.queue.write().unwrap_or_else(PoisonError::into_inner) = Some(tx);
        Ok(host)
    }

    /// Queue a request; never blocks.  Gives the request back when the
    /// host is shutting down.
    pub fn submit(&self, req: WsgiRequest) -> Result<(), Box<WsgiRequest>> {
        match self.send(Job::Wsgi(req)).map_err(|job| *job) {
            Ok(()) => Ok(()),
            Err(Job::Wsgi(req)) => Err(Box::new(req)),
            Err(_) => unreachable!("the job given back is the one sent"),
        }
    }

    /// Queue an access or authentication script call (same queue and
    /// threads as requests); never blocks.  Gives the call back when the
    /// host is shutting down.
    pub fn submit_auth(&self, call: AuthCall) -> Result<(), Box<AuthCall>> {
        match self.send(Job::Auth(call)).map_err(|job| *job) {
            Ok(()) => Ok(()),
            Err(Job::Auth(call)) => Err(Box::new(call)),
            Err(_) => unreachable!("the job given back is the one sent"),
        }
    }

    fn send(&self, job: Job) -> Result<(), Box<Job>> {
        let queue = self.queue.read().unwrap_or_else(PoisonError::into_inner);
        match &*queue {
            Some(tx) => tx.send(job).map_err(|e| Box::new(e.into_inner())),
            None => Err(Box::new(job)),
        }
    }

    /// Lend every request thread to `task` (see [`ThreadTask`]).  Fails
    /// when the host is shutting down.
    pub fn take_over_threads(&self, task: &ThreadTask) -> Result<(), PythonError> {
        let threads = self
            .workers
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .len();
        for _ in 0..threads {
            self.send(Job::TakeOver(Arc::clone(task)))
                .map_err(|_| PythonError::ShuttingDown)?;
        }
        Ok(())
    }

    /// Requests waiting for a free request thread.
    pub fn queued(&self) -> usize {
        self.queue
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .as_ref()
            .map_or(0, Sender::len)
    }

    /// Start a thread that takes the GIL every `interval` (on the main
    /// interpreter, holding it for no time) and records when it last
    /// could: daemon mode's `deadlock-timeout` watchdog reads the time and
    /// restarts the process when it gets too old (the GIL held by C code
    /// that never releases it).  Stopped by [`PythonHost::shutdown`].
    pub fn gil_heartbeat(&self, interval: std::time::Duration) -> Arc<Mutex<std::time::Instant>> {
        let beat = Arc::new(Mutex::new(std::time::Instant::now()));
        let stop = Arc::new(AtomicBool::new(false));
        let (b, st) = (Arc::clone(&beat), Arc::clone(&stop));
        let spawned = thread::Builder::new()
            .name("wsgid-py-heartbeat".into())
            .spawn(move || {
                while !st.load(Ordering::Acquire) {
                    Python::attach(|_py| {});
                    *b.lock().unwrap_or_else(PoisonError::into_inner) = std::time::Instant::now();
                    thread::sleep(interval);
                }
            });
        if let Ok(handle) = spawned {
            *self
                .heartbeat
                .lock()
                .unwrap_or_else(PoisonError::into_inner) = Some((stop, handle));
        }
        beat
    }

    /// Stop taking requests, let queued and running ones finish, run
    /// atexit, finalise.  Idempotent; blocks until done.  Must not be called
    /// from a request thread (it waits for them).
    pub fn shutdown(&self) {
        // Closing the queue lets the request threads drain it and exit.
        drop(
            self.queue
                .write()
                .unwrap_or_else(PoisonError::into_inner)
                .take(),
        );
        let heartbeat = self
            .heartbeat
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        if let Some((stop, handle)) = heartbeat {
            stop.store(true, Ordering::Release);
            let _ = handle.join();
        }
        let workers =
            std::mem::take(&mut *self.workers.lock().unwrap_or_else(PoisonError::into_inner));
        for worker in workers {
            if worker.join().is_err() {
                self.log.log(
                    MODULE,
                    Level::Crit,
                    Peer::None,
                    "wsgid: a Python request thread panicked",
                );
            }
        }
        let runtime = self
            .runtime
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        if let Some((stop, handle)) = runtime {
            let _ = stop.send(self.groups.drain());
            let _ = handle.join();
        }
    }

    /// `sys.version` and `sys.prefix` of the linked Python (for `wsgid -V`);
    /// before `start`, the loaded libpython's version and file instead
    /// (Python is not initialised just to answer).
    pub fn runtime_version() -> String {
        runtime::version()
    }
}

impl Drop for PythonHost {
    fn drop(&mut self) {
        self.shutdown();
    }
}

/// A request thread: attached to Python for life, idle with the GIL released.
fn request_thread(rx: &Receiver<Job>, groups: Arc<Groups>, index: usize, log: &ErrorLog) {
    Python::attach(|py| {
        let Some(mut worker) = Worker::new(py, groups, index) else {
            log.log(
                MODULE,
                Level::Crit,
                Peer::None,
                "wsgid: a Python request thread has no thread state",
            );
            return;
        };
        // Waiting releases the GIL from whichever interpreter the last
        // request ran in (the worker stays there between requests).
        loop {
            // A job already queued is taken without `recv_timeout`'s
            // clock read (under load, most of them).
            let job = match py.detach(|| match rx.try_recv() {
                Ok(job) => Ok(job),
                Err(_) => rx.recv_timeout(IDLE_CHECK),
            }) {
                Ok(job) => job,
                Err(RecvTimeoutError::Timeout) => {
                    // An idle thread must not keep a replaced interpreter
                    // alive.
                    worker.idle(py);
                    continue;
                }
                Err(RecvTimeoutError::Disconnected) => break,
            };
            let served = std::panic::catch_unwind(AssertUnwindSafe(|| match job {
                Job::Wsgi(req) => worker.handle(py, req),
                Job::Auth(call) => worker.auth(py, call),
                Job::TakeOver(task) => task(&mut RequestThread {
                    py,
                    worker: &mut worker,
                    log,
                }),
            }));
            if served.is_err() {
                // The request's sender was dropped with it: the front end sees
                // the response end without a final event.
                log.log(
                    MODULE,
                    Level::Crit,
                    Peer::None,
                    "wsgid: panic while serving a Python request",
                );
            }
        }
        worker.leave(py);
    });
}
