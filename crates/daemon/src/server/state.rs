//! What a daemon process's connections share: the requests in flight (for
//! `request-timeout`, `inactivity-timeout` and draining), the request
//! count (`maximum-requests`), the open connections and the draining
//! flag.

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant, SystemTime};

use tokio::sync::Notify;

pub(super) struct State {
    /// Scripts seen, by application group then path, with the modification
    /// time the front end reported for them.
    pub loaded: Mutex<HashMap<String, HashMap<String, SystemTime>>>,
    /// A request found its script changed under the `Process` reload
    /// mechanism: the process must restart.
    pub restart: Notify,
    /// `startup-timeout`: when it expires (set by the first request), and
    /// whether the application has loaded (a response head was produced).
    pub startup_deadline: Mutex<Option<Instant>>,
    pub started_ok: AtomicBool,
    /// Requests taken (an `R` frame read and accepted), by id: `None`
    /// while waiting for a request thread, then when it got one.
    active: Mutex<HashMap<u64, Option<Instant>>>,
    last_activity: Mutex<Instant>,
    /// Signalled when the last request in flight ends, or a connection
    /// closes.
    pub idle: Notify,
    next: AtomicU64,
    /// Requests taken so far, and `maximum-requests` (0: none).
    taken: AtomicU32,
    maximum: u32,
    /// The request that reached `maximum-requests` was taken.
    pub maximum_reached: Notify,
    /// Open connections to front ends.
    connections: AtomicUsize,
    /// Set once the process stops taking requests.
    draining: AtomicBool,
    /// Whether requests note when they got a thread (`request-timeout`)
    /// and when they ended (`inactivity-timeout`): see `State::timing`.
    run_times: bool,
    activity: bool,
}

impl State {
    pub fn new(maximum: u32) -> State {
        State {
            loaded: Mutex::new(HashMap::new()),
            restart: Notify::new(),
            startup_deadline: Mutex::new(None),
            started_ok: AtomicBool::new(false),
            active: Mutex::new(HashMap::new()),
            last_activity: Mutex::new(Instant::now()),
            idle: Notify::new(),
            next: AtomicU64::new(0),
            taken: AtomicU32::new(0),
            maximum,
            maximum_reached: Notify::new(),
            connections: AtomicUsize::new(0),
            draining: AtomicBool::new(false),
            run_times: true,
            activity: true,
        }
    }

    /// Keep only the clocks something checks: requests' run times for
    /// `request-timeout`, the last activity for `inactivity-timeout`.
    /// Without those options each request read the clock twice (and took
    /// the requests' lock once more) for nothing.
    pub fn timing(mut self, run_times: bool, activity: bool) -> State {
        self.run_times = run_times;
        self.activity = activity;
        self
    }

    /// Take a request (its `R` frame was read): `None` when the process
    /// is draining or already took `maximum-requests` requests (the
    /// request is then not started: the front end resends it).
    pub fn take(&self) -> Option<u64> {
        if self.is_draining() {
            return None;
        }
        let taken = self
            .taken
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (self.maximum == 0 || n < self.maximum).then(|| n.saturating_add(1))
            })
            .ok()?;
        let id = self.next.fetch_add(1, Ordering::Relaxed);
        if let Ok(mut a) = self.active.lock() {
            a.insert(id, None);
        }
        if self.maximum != 0 && taken + 1 == self.maximum {
            self.maximum_reached.notify_one();
        }
        Some(id)
    }

    /// The request got a thread: its `request-timeout` clock starts.
    pub fn started(&self, id: u64) {
        if !self.run_times {
            return;
        }
        if let Ok(mut a) = self.active.lock()
            && let Some(t) = a.get_mut(&id)
        {
            *t = Some(Instant::now());
        }
    }

    /// A request is done; `activity`: it counts for `inactivity-timeout`.
    pub fn end(&self, id: u64, activity: bool) {
        if let Ok(mut a) = self.active.lock() {
            a.remove(&id);
            if a.is_empty() {
                self.idle.notify_waiters();
            }
        }
        if activity
            && self.activity
            && let Ok(mut t) = self.last_activity.lock()
        {
            *t = Instant::now();
        }
    }

    /// Requests taken and not finished (waiting for a thread or running).
    pub fn active(&self) -> usize {
        self.active.lock().map_or(0, |a| a.len())
    }

    /// How long the oldest running request has been running.
    pub fn oldest(&self) -> Option<Duration> {
        self.active
            .lock()
            .ok()
            .and_then(|a| a.values().flatten().min().map(Instant::elapsed))
    }

    pub fn idle_for(&self) -> Duration {
        self.last_activity
            .lock()
            .map_or(Duration::ZERO, |t| t.elapsed())
    }

    pub fn connection_opened(&self) {
        self.connections.fetch_add(1, Ordering::AcqRel);
    }

    pub fn connection_closed(&self) {
        self.connections.fetch_sub(1, Ordering::AcqRel);
        self.idle.notify_waiters();
    }

    pub fn connections(&self) -> usize {
        self.connections.load(Ordering::Acquire)
    }

    /// Stop taking requests.
    pub fn drain(&self) {
        self.draining.store(true, Ordering::Release);
    }

    pub fn is_draining(&self) -> bool {
        self.draining.load(Ordering::Acquire)
    }
}
