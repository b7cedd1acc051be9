//! The front end's kept connections to one daemon process group, its
//! turns for requests to the group, and making new connections.

use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use tokio::net::UnixStream;
use tokio::sync::{Semaphore, SemaphorePermit};

use super::{RequestLog, Target};

/// Idle connections to a daemon group, most recently used last.  Taking
/// the most recently returned one sends the next request to a process
/// that just finished one.  As many are kept as this worker has had
/// requests to the group in flight at once (a connection is made only when
/// no idle one is left, so they follow the load), at most `2 × threads`.
///
/// Turns.  Of this worker's requests to the group, at most as many as the
/// group has request threads (all processes together) are in flight at
/// once, or up to twice that while requests are quick (see `served`); the
/// others wait for a turn here, first come first served (tokio's semaphore
/// is fair).  Why a limit: a request sent on a kept connection to a
/// process whose threads are all busy waits there only briefly, then is
/// sent back (`J`, busy) to go through the group's socket.  With no limit
/// every request of an overloaded group was sent at once, most of them
/// waited out that delay, were sent back, queued again behind newer ones,
/// and some went round many times (wrk -c100 on 2 x 8 threads of 10 ms
/// requests: p99 460 ms against 74 ms for Apache, whose requests queue in
/// the daemon socket's backlog in order).  Waiting here keeps the order,
/// and what reaches the daemons is about what their threads can take, so
/// a request rarely waits in a daemon process long enough to be sent back.
///
/// Why more while requests are quick: then a request waits in a daemon
/// process for a thread only for a moment, and one sent at once is taken
/// by the next thread that finishes, without coming back to the front end
/// for its turn when a response leaves.  Measured on one core (two
/// front-end workers, 2 x 8 threads, `wrk -c50` hello, plain build,
/// `bench/paired_ab.py` 12 pairs): twice the threads in flight, CPU per
/// request 0.933, requests/s 1.071; but with 30 ms requests and
/// `wrk -c100`, p99 243 ms → 667 ms (requests sent back) — hence only
/// while the wait they would have there is short.  As built (the same
/// measure against the fixed limit): hello 0.899 and 1.109, 30 ms requests
/// p99 242 → 215 ms.
#[derive(Debug)]
pub struct Pool {
    idle: Mutex<Vec<Kept>>,
    /// Turns not taken: those granted (see `Pace`) less those in flight.
    turns: Semaphore,
    in_flight: AtomicUsize,
    peak: AtomicUsize,
    /// The group's request threads, all processes together.
    threads: usize,
    pace: Mutex<Pace>,
}

/// How long requests have been in flight lately, and the turns granted.
#[derive(Debug)]
struct Pace {
    /// Moving average (each new request weighs 1/8), in nanoseconds; 0:
    /// none finished yet.
    mean_ns: u64,
    /// Turns in all: `threads` and up to as many again.
    granted: usize,
}

/// The longest a request should expect to wait in a daemon process for a
/// thread (a process sends back one that waited 50 ms): the turns beyond
/// the group's threads are those it can serve, at its recent pace, within
/// this time.
const QUEUE_BUDGET_NS: u64 = 2_000_000;

/// A connection to the group, with the number of requests it carried.
#[derive(Debug)]
pub struct Kept {
    pub stream: UnixStream,
    uses: u32,
}

impl Kept {
    pub fn new(stream: UnixStream) -> Kept {
        Kept { stream, uses: 0 }
    }
}

/// A connection is retired after this many requests: the group's
/// processes accept new connections only while they have a thread free,
/// so connections made again now and then follow where the capacity is
/// (a process that was slow to start, or is busier, gets fewer).
const MAX_USES: u32 = 1000;

/// A request's turn: it is in flight to the group while this lives.
#[derive(Debug)]
pub struct InFlight<'a> {
    _turn: SemaphorePermit<'a>,
    in_flight: &'a AtomicUsize,
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.in_flight.fetch_sub(1, Ordering::Relaxed);
    }
}

impl Pool {
    /// At least one turn; `threads`: the group's threads times its
    /// processes.
    pub fn new(threads: usize) -> Pool {
        let threads = threads.max(1);
        Pool {
            idle: Mutex::new(Vec::new()),
            turns: Semaphore::new(threads),
            in_flight: AtomicUsize::new(0),
            peak: AtomicUsize::new(0),
            threads,
            pace: Mutex::new(Pace {
                mean_ns: 0,
                granted: threads,
            }),
        }
    }

    /// A request to the group starts once it has its turn (in order of
    /// arrival), waiting at most `wait` for it (`None`: it did not come);
    /// it ends when the guard is dropped.
    pub async fn begin(&self, wait: Duration) -> Option<InFlight<'_>> {
        let turn = tokio::time::timeout(wait, self.turns.acquire())
            .await
            .ok()?
            .ok()?;
        let now = self.in_flight.fetch_add(1, Ordering::Relaxed) + 1;
        self.peak.fetch_max(now, Ordering::Relaxed);
        Some(InFlight {
            _turn: turn,
            in_flight: &self.in_flight,
        })
    }

    /// A request was answered after `took` in flight: the turns follow
    /// the pace.  Beyond the group's threads, as many turns as requests
    /// it finishes, at that pace, within `QUEUE_BUDGET_NS` (at most the
    /// threads again): with 16 threads, all 32 for requests of up to 1 ms,
    /// 3 more for 10 ms ones, none beyond 32 ms.  A turn taken back is one
    /// not in use (a request in flight keeps its own).
    pub fn served(&self, took: Duration) {
        let Ok(mut pace) = self.pace.lock() else {
            return;
        };
        let took = u64::try_from(took.as_nanos()).unwrap_or(u64::MAX).max(1);
        pace.mean_ns = match pace.mean_ns {
            0 => took,
            mean => mean - mean / 8 + took / 8,
        };
        let threads = self.threads as u64;
        let extra = (threads.saturating_mul(QUEUE_BUDGET_NS) / pace.mean_ns.max(1)).min(threads);
        let want = self.threads + extra as usize;
        if want > pace.granted {
            self.turns.add_permits(want - pace.granted);
            pace.granted = want;
        } else if want < pace.granted {
            pace.granted -= self.turns.forget_permits(pace.granted - want);
        }
    }

    /// The most recently kept idle connection.  It is not checked first:
    /// one closed at the other end (its daemon process stopped, recycled
    /// or died) fails the request's first write before the daemon can
    /// have had the request (the daemon shuts down its reading side
    /// before it closes, see the protocol), and the caller sends the
    /// request again on a new connection.  A check (a non-blocking peek)
    /// cost a system call on every request to find what that failed write
    /// finds once per closed connection.
    pub fn take(&self) -> Option<Kept> {
        self.idle.lock().ok()?.pop()
    }

    /// Keep a connection whose last exchange ended cleanly.
    pub fn put(&self, mut kept: Kept) {
        kept.uses += 1;
        if kept.uses >= MAX_USES {
            return;
        }
        let keep = self.peak.load(Ordering::Relaxed).clamp(1, 2 * self.threads);
        if let Ok(mut idle) = self.idle.lock()
            && idle.len() < keep
        {
            idle.push(kept);
        }
    }

    /// How many idle connections are kept.
    pub fn idle(&self) -> usize {
        self.idle.lock().map_or(0, |v| v.len())
    }
}

/// Connect as `wsgi_connect_daemon` does: retry while the socket is
/// missing or its backlog full (125 ms apart, then 1 s after 2 s) until
/// `connect-timeout`; `Err(503)` once logged.
pub(super) async fn connect(target: &Target, rlog: &RequestLog) -> Result<UnixStream, u16> {
    let start = Instant::now();
    let mut waited = Duration::ZERO;
    loop {
        match UnixStream::connect(&target.socket).await {
            Ok(s) => {
                let sock = socket2::SockRef::from(&s);
                if target.send_buffer_size != 0 {
                    let _ = sock.set_send_buffer_size(target.send_buffer_size as usize);
                }
                if target.receive_buffer_size != 0 {
                    let _ = sock.set_recv_buffer_size(target.receive_buffer_size as usize);
                }
                return Ok(s);
            }
            Err(e) => {
                let retry = matches!(
                    e.kind(),
                    std::io::ErrorKind::ConnectionRefused
                        | std::io::ErrorKind::NotFound
                        | std::io::ErrorKind::WouldBlock
                );
                let pid = std::process::id();
                if !retry {
                    rlog.error(&format!(
                        "({}){e}: mod_wsgi (pid={pid}): Unable to connect to WSGI daemon process '{}' on '{}' as user with uid={}.",
                        e.raw_os_error().unwrap_or(0),
                        target.name,
                        target.socket.display(),
                        nix::unistd::geteuid().as_raw()
                    ));
                    return Err(503);
                }
                if start.elapsed() >= target.connect_timeout {
                    rlog.error(&format!(
                        "({}){e}: mod_wsgi (pid={pid}): Unable to connect to WSGI daemon process '{}' on '{}' after multiple attempts as listener backlog limit was exceeded or the socket does not exist.",
                        e.raw_os_error().unwrap_or(0),
                        target.name,
                        target.socket.display()
                    ));
                    return Err(503);
                }
                let step = if waited < Duration::from_secs(2) {
                    Duration::from_millis(125)
                } else {
                    Duration::from_secs(1)
                };
                tokio::time::sleep(step).await;
                waited += step;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_last_connection_kept_is_taken_first_even_if_closed() {
        let pool = Pool::new(4);
        drop((
            pool.begin(Duration::ZERO).await,
            pool.begin(Duration::ZERO).await,
        ));
        let (a, _b) = UnixStream::pair().expect("pair");
        let (c, d) = UnixStream::pair().expect("pair");
        pool.put(Kept::new(a));
        pool.put(Kept::new(c));
        assert_eq!(pool.idle(), 2);
        // Closed at the other end: taken all the same (the request's
        // first write finds it closed, see `take`).
        drop(d);
        let got = pool.take().expect("kept");
        assert_eq!(pool.idle(), 1);
        let mut byte = [0u8; 1];
        got.stream.readable().await.expect("readable");
        assert_eq!(
            got.stream.try_read(&mut byte).expect("EOF"),
            0,
            "c is the closed one"
        );
    }

    #[tokio::test]
    async fn the_pool_keeps_as_many_as_were_in_flight_at_most_cap() {
        let pool = Pool::new(8);
        let (a, b) = UnixStream::pair().expect("pair");
        // Nothing in flight yet: one is kept.
        pool.put(Kept::new(a));
        let (c, d) = UnixStream::pair().expect("pair");
        pool.put(Kept::new(c));
        assert_eq!(pool.idle(), 1);
        drop((b, d));
        let pool = Pool::new(3);
        let mut guards = Vec::new();
        for _ in 0..2 {
            guards.push(pool.begin(Duration::ZERO).await.expect("a turn"));
        }
        drop(guards);
        let mut peers = Vec::new();
        for _ in 0..3 {
            let (a, b) = UnixStream::pair().expect("pair");
            pool.put(Kept::new(a));
            peers.push(b);
        }
        assert_eq!(pool.idle(), 2);
    }

    #[tokio::test]
    async fn requests_beyond_cap_wait_for_their_turn_in_order() {
        let pool = std::sync::Arc::new(Pool::new(2));
        let a = pool.begin(Duration::ZERO).await.expect("a turn");
        let _b = pool.begin(Duration::ZERO).await.expect("a turn");
        // No turn left: one that will not wait gets none.
        assert!(pool.begin(Duration::ZERO).await.is_none());
        // Those that wait get turns in the order they asked.
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        let mut waiting = Vec::new();
        for i in 0..3 {
            let (pool, tx) = (std::sync::Arc::clone(&pool), tx.clone());
            waiting.push(tokio::spawn(async move {
                let turn = pool.begin(Duration::from_secs(60)).await;
                let _ = tx.send(i);
                // Hold it a while, so that the next one needs the turn
                // this one gives back.
                tokio::time::sleep(Duration::from_millis(1)).await;
                drop(turn);
            }));
            // Let it start waiting before the next one asks.
            tokio::task::yield_now().await;
        }
        drop(a);
        for w in waiting {
            w.await.expect("task");
        }
        drop(tx);
        let mut order = Vec::new();
        while let Some(i) = rx.recv().await {
            order.push(i);
        }
        assert_eq!(order, [0, 1, 2]);
    }

    #[tokio::test]
    async fn quick_requests_get_up_to_twice_the_turns_and_slow_ones_give_them_back() {
        let pool = Pool::new(4);
        // Nothing answered yet: as many turns as threads.
        let mut held = Vec::new();
        for _ in 0..4 {
            held.push(pool.begin(Duration::ZERO).await.expect("a turn"));
        }
        assert!(pool.begin(Duration::ZERO).await.is_none());
        // Requests of 0.5 ms: 4 threads serve 16 within the 2 ms budget,
        // but no more than the threads again are added.
        pool.served(Duration::from_micros(500));
        for _ in 0..4 {
            held.push(pool.begin(Duration::ZERO).await.expect("a quick turn"));
        }
        assert!(pool.begin(Duration::ZERO).await.is_none());
        // Now slow (100 ms): the extra turns go, but only those not in
        // use — all eight are, so none yet.
        for _ in 0..40 {
            pool.served(Duration::from_millis(100));
        }
        held.truncate(2);
        // The next answer takes back the four free extra turns; of the
        // four threads' turns two are in flight.
        pool.served(Duration::from_millis(100));
        for _ in 0..2 {
            held.push(pool.begin(Duration::ZERO).await.expect("a thread's turn"));
        }
        assert!(pool.begin(Duration::ZERO).await.is_none());
        // In between (10 ms): 4 x 2 / 10 = 0 extra; at 1 ms, 4 x 2 / 1
        // = 8, at most 4.
        for _ in 0..60 {
            pool.served(Duration::from_millis(1));
        }
        held.clear();
        for _ in 0..8 {
            held.push(pool.begin(Duration::ZERO).await.expect("quick again"));
        }
        assert!(pool.begin(Duration::ZERO).await.is_none());
    }

    #[tokio::test]
    async fn a_connection_is_retired_after_max_uses() {
        let pool = Pool::new(4);
        let (a, _b) = UnixStream::pair().expect("pair");
        let mut kept = Kept::new(a);
        kept.uses = MAX_USES - 1;
        pool.put(kept);
        assert_eq!(pool.idle(), 0);
    }
}
