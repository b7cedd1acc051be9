//! The request threads' shared wait: one epoll set over the group's
//! listening socket and the idle kept connections.  Of the free request
//! threads, one (the leader) waits in it, the others (followers) wait
//! for its turn; the readiness of a socket wakes the leader, which hands
//! the turn on and owns that socket (every source is armed
//! `EPOLLONESHOT`) until it parks the connection again: leader/followers.
//!
//! Why: with a separate I/O thread, each request went from it to a Python
//! thread and its response back, and the request body came through a
//! channel chunk by chunk.  Here the thread that runs a request reads it
//! and writes its response, and a large body chunk is read straight into
//! the buffer `wsgi.input` hands out.  It keeps mod_wsgi's balancing:
//! only a free thread takes a new connection, so a busy process leaves
//! new connections in the group's socket for another process of the
//! group.  (Measured on one core, `wrk -c50` hello through two daemon
//! processes of 8 threads: thread switches per request 0.79 with the I/O
//! thread, 1.96 with every free thread waiting in epoll — each woken by a
//! request of its own — and 0.6 with the leader alone waiting; CPU per
//! request within noise of the I/O-thread design, `bench/paired_ab.py`.)
//!
//! A thread that comes back for work first takes what is ready without
//! waiting (`epoll_wait` with a zero timeout, beside the leader's wait),
//! and joins the followers only when nothing is: under load a thread goes
//! from one request to the next without handing the turn on.  (Same
//! measure: thread switches per request 1.5 -> 0.77, futex calls 2.6 ->
//! 0.57, CPU per request 23.5 -> 22.8 µs.)
//!
//! Before it sleeps, such a thread yields the CPU once and looks again.
//! Why: on a busy CPU, the wake-up of a request thread by the front end's
//! write preempts the front end (the woken thread has slept, so the
//! scheduler favours it), so the front end was interrupted after each
//! request it forwarded, the thread ran that one request and slept
//! again, and the two processes took turns per request.  Yielding lets
//! the interrupted front end go on queuing the requests it has read, and
//! the thread then serves them one after the other.  Measured on one core
//! (`wrk -c50` hello through two daemon processes of 8 threads, two
//! front-end processes): context switches per request 0.76 -> 0.18, CPU
//! per request 0.91x (`bench/paired_ab.py`, 8 pairs), p99 unchanged; POST
//! 64 KiB, environ and the 10 ms sleeping app within noise; on both cores
//! shared with `wrk -t2`, hello 56k -> 73k req/s and environ 37k -> 44k.
//! With nothing else runnable on the CPU the yield returns at once.
//!
//! Idle connections live in `parked`, by token; whoever removes one from
//! there owns it (a request thread woken for it, or the serving loop that
//! closes them all when the process drains, or sends back a request that
//! waited too long for a thread).

use std::collections::HashMap;
use std::io;
use std::os::fd::OwnedFd;
use std::os::unix::net::UnixListener;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use rustix::event::epoll::{self, EventData, EventFlags};
use rustix::event::{EventfdFlags, PollFd, PollFlags, Timespec};

use super::conn::Conn;
use super::state::State;

const LISTENER: u64 = 0;
const WAKE: u64 = 1;
const FIRST_CONN: u64 = 2;
const ZERO: Timespec = Timespec {
    tv_sec: 0,
    tv_nsec: 0,
};

/// What woke a waiting thread.
pub(super) enum Wake {
    /// A connection with something to read: the thread owns it now.
    Conn(Conn),
    /// A new connection to accept.
    Listener,
    /// Nothing came within the wait.
    Timeout,
    /// The process is stopping.
    Stop,
}

/// Who waits in `epoll_wait`: one thread at a time, the leader; the
/// other free threads (followers) wait for their turn.  Why: every thread
/// waiting in `epoll_wait` is woken by a request of its own, one thread
/// switch per request; a single waiter that comes back to find requests
/// already queued takes them without sleeping (measured on one core:
/// 1.96 switches per request with every free thread waiting in epoll,
/// 0.6 with one).
///
/// A follower is woken to lead only when no thread is on its way to look
/// for work itself (`seeking`: between the start of `Poller::wait` and
/// taking the turn or finding work): that thread takes the turn, or, when
/// it leaves with work and the turn is free, wakes a follower then.  Why:
/// on a busy CPU the thread that just finished a request usually came
/// back before the follower woken for it had run, took the turn, and the
/// follower woke only to find it taken and sleep again (a POST 64 KiB
/// under `wrk -c50` on one core: 0.18 such wake-ups per request; CPU per
/// request 0.964x without them, `bench/paired_ab.py`, 8 pairs; hello and
/// the 10 ms sleeping app unchanged).
struct Leader {
    taken: bool,
    /// Followers waiting on the condition variable.
    following: usize,
    /// Threads in `Poller::wait` that have not yet taken the turn, found
    /// work or started following.
    seeking: usize,
}

impl Leader {
    /// Whether the free turn must be handed to a follower: one waits and
    /// no seeking thread will take the turn (or hand it on) anyway.
    fn must_wake_follower(&self) -> bool {
        !self.taken && self.following > 0 && self.seeking == 0
    }
}

/// The leader's turn; handing it on wakes one follower when one waits
/// and no other thread is coming for it.
struct Lead<'a>(&'a Poller);

impl Drop for Lead<'_> {
    fn drop(&mut self) {
        let mut leader = self.0.leader();
        leader.taken = false;
        if leader.must_wake_follower() {
            self.0.followers.notify_one();
        }
    }
}

struct Parked {
    conns: HashMap<u64, Conn>,
    next: u64,
    /// No more parking, no more accepting.
    draining: bool,
}

pub(super) struct Poller {
    epoll: OwnedFd,
    /// An eventfd, never read: once written, it wakes every waiter.
    wake: OwnedFd,
    listener: UnixListener,
    parked: Mutex<Parked>,
    stop: AtomicBool,
    leader: Mutex<Leader>,
    /// Signalled when the leader steps down and a follower waits.
    followers: Condvar,
    state: Arc<State>,
    send_buffer_size: u32,
    receive_buffer_size: u32,
}

impl Poller {
    /// `listener` must be non-blocking.
    pub fn new(
        listener: UnixListener,
        state: Arc<State>,
        send_buffer_size: u32,
        receive_buffer_size: u32,
    ) -> io::Result<Poller> {
        let epoll = epoll::create(epoll::CreateFlags::CLOEXEC)?;
        let wake = rustix::event::eventfd(0, EventfdFlags::CLOEXEC | EventfdFlags::NONBLOCK)?;
        epoll::add(
            &epoll,
            &listener,
            EventData::new_u64(LISTENER),
            EventFlags::IN | EventFlags::ONESHOT,
        )?;
        epoll::add(&epoll, &wake, EventData::new_u64(WAKE), EventFlags::IN)?;
        Ok(Poller {
            epoll,
            wake,
            listener,
            parked: Mutex::new(Parked {
                conns: HashMap::new(),
                next: FIRST_CONN,
                draining: false,
            }),
            stop: AtomicBool::new(false),
            leader: Mutex::new(Leader {
                taken: false,
                following: 0,
                seeking: 0,
            }),
            followers: Condvar::new(),
            state,
            send_buffer_size,
            receive_buffer_size,
        })
    }

    fn parked(&self) -> MutexGuard<'_, Parked> {
        // Each update under the lock is complete in itself.
        self.parked.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Wait (up to `timeout`) for something to do: what is ready now, or
    /// else the leader's turn and what comes.
    pub fn wait(&self, timeout: Duration) -> Wake {
        // Set when the thread first has to wait: under load it finds work
        // at once, and the clock read was one of a request's handful.
        let mut deadline = None;
        let epoll_timeout = Timespec::try_from(timeout).unwrap_or(Timespec {
            tv_sec: 1,
            tv_nsec: 0,
        });
        loop {
            if self.stop.load(Ordering::Acquire) {
                return Wake::Stop;
            }
            let mut events = [epoll::Event {
                flags: EventFlags::empty(),
                data: EventData::new_u64(0),
            }];
            self.leader().seeking += 1;
            let got = match self.ready_now(&mut events) {
                Ok(1) => {
                    self.found_work();
                    Ok(1)
                }
                _ => match self.lead(*deadline.get_or_insert_with(|| Instant::now() + timeout)) {
                    Some(_leader) => epoll::wait(&self.epoll, &mut events, Some(&epoll_timeout)),
                    None => Ok(0),
                },
            };
            let token = match got {
                Ok(0) | Err(rustix::io::Errno::INTR) => return Wake::Timeout,
                Ok(_) => events[0].data.u64(),
                // The epoll descriptor itself failing is not recoverable
                // by waiting again at once.
                Err(_) => {
                    std::thread::sleep(Duration::from_millis(50));
                    return Wake::Timeout;
                }
            };
            match token {
                WAKE => return Wake::Stop,
                LISTENER => return Wake::Listener,
                token => {
                    if let Some(mut conn) = self.parked().conns.remove(&token) {
                        conn.waiting_since = None;
                        return Wake::Conn(conn);
                    }
                    // Taken by the serving loop meanwhile.
                }
            }
        }
    }

    /// What is ready now, without waiting; when nothing is, after giving
    /// the CPU once to whatever else is runnable on it (see the module
    /// comment: on a busy CPU that is usually the front end that this
    /// thread's wake-up interrupted, and it queues its other requests
    /// meanwhile).  On a CPU with nothing else to run, `sched_yield`
    /// returns at once.
    fn ready_now(&self, events: &mut [epoll::Event; 1]) -> rustix::io::Result<usize> {
        self.ready_now_after(events, std::thread::yield_now)
    }

    /// `ready_now` with `pause` in place of the yield.
    fn ready_now_after(
        &self,
        events: &mut [epoll::Event; 1],
        pause: impl FnOnce(),
    ) -> rustix::io::Result<usize> {
        match epoll::wait(&self.epoll, &mut *events, Some(&ZERO)) {
            Ok(0) => {
                pause();
                epoll::wait(&self.epoll, &mut *events, Some(&ZERO))
            }
            got => got,
        }
    }

    fn leader(&self) -> MutexGuard<'_, Leader> {
        // Each update under the lock is complete in itself.
        self.leader.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// A seeking thread leaves `wait` with work: if the turn is free and
    /// it was the last one coming for it, a follower takes it.
    fn found_work(&self) {
        let mut leader = self.leader();
        leader.seeking -= 1;
        if leader.must_wake_follower() {
            self.followers.notify_one();
        }
    }

    /// Become the leader (the thread that waits in `epoll_wait`), waiting
    /// until `deadline` for the turn; called by a seeking thread.
    fn lead(&self, deadline: Instant) -> Option<Lead<'_>> {
        let mut leader = self.leader();
        leader.seeking -= 1;
        while leader.taken {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() || self.stop.load(Ordering::Acquire) {
                return None;
            }
            leader.following += 1;
            let (l, _) = self
                .followers
                .wait_timeout(leader, left)
                .unwrap_or_else(PoisonError::into_inner);
            leader = l;
            leader.following -= 1;
        }
        leader.taken = true;
        Some(Lead(self))
    }

    /// Accept one new connection (after a `Wake::Listener`), and arm the
    /// listener again for the next one.
    pub fn accept(&self) -> Option<Conn> {
        if self.parked().draining {
            return None;
        }
        let accepted = self.listener.accept();
        // Armed again whatever happened: another connection may be queued.
        let _ = epoll::modify(
            &self.epoll,
            &self.listener,
            EventData::new_u64(LISTENER),
            EventFlags::IN | EventFlags::ONESHOT,
        );
        let (stream, _) = accepted.ok()?;
        if stream.set_nonblocking(true).is_err() {
            return None;
        }
        let sock = socket2::SockRef::from(&stream);
        if self.send_buffer_size != 0 {
            let _ = sock.set_send_buffer_size(self.send_buffer_size as usize);
        }
        if self.receive_buffer_size != 0 {
            let _ = sock.set_recv_buffer_size(self.receive_buffer_size as usize);
        }
        Some(Conn::new(stream, Arc::clone(&self.state)))
    }

    /// Park an idle connection until its next request; given back when
    /// the process is draining (the caller closes it).
    pub fn park(&self, mut conn: Conn) -> Result<(), Conn> {
        let mut parked = self.parked();
        if parked.draining {
            return Err(conn);
        }
        conn.shrink();
        let token = parked.next;
        parked.next += 1;
        let flags = EventFlags::IN | EventFlags::ONESHOT;
        let armed = if conn.registered {
            epoll::modify(&self.epoll, conn.stream(), EventData::new_u64(token), flags)
        } else {
            epoll::add(&self.epoll, conn.stream(), EventData::new_u64(token), flags)
        };
        if armed.is_err() {
            return Err(conn);
        }
        conn.registered = true;
        // Under the lock: a thread woken for the token waits for it.
        parked.conns.insert(token, conn);
        Ok(())
    }

    /// Stop taking connections and parking them; the idle connections,
    /// for the caller to close.
    pub fn drain(&self) -> Vec<Conn> {
        let mut parked = self.parked();
        parked.draining = true;
        let _ = epoll::delete(&self.epoll, &self.listener);
        let conns: Vec<Conn> = parked.conns.drain().map(|(_, c)| c).collect();
        for c in &conns {
            let _ = epoll::delete(&self.epoll, c.stream());
        }
        conns
    }

    /// Wake every waiting thread for good: the process is stopping.
    pub fn stop(&self) {
        self.stop.store(true, Ordering::Release);
        let _ = rustix::io::write(&self.wake, &1u64.to_ne_bytes());
        let _leader = self.leader();
        self.followers.notify_all();
    }

    /// Idle connections whose request has waited `wait` or longer while
    /// every request thread was busy, taken out (the caller sends the
    /// request back: `J`, busy).  Cheap when a thread is free.
    pub fn take_waiting(&self, wait: Duration) -> Vec<Conn> {
        // A free thread is the leader or a follower.
        let free = {
            let leader = self.leader();
            leader.taken || leader.following > 0 || leader.seeking > 0
        };
        if free {
            return Vec::new();
        }
        let mut parked = self.parked();
        if parked.conns.is_empty() {
            return Vec::new();
        }
        let tokens: Vec<u64> = parked.conns.keys().copied().collect();
        let ready: Vec<bool> = {
            let mut fds: Vec<PollFd<'_>> = tokens
                .iter()
                .filter_map(|t| parked.conns.get(t))
                .map(|c| PollFd::new(c.stream(), PollFlags::IN))
                .collect();
            if rustix::event::poll(&mut fds, Some(&ZERO)).is_err() {
                return Vec::new();
            }
            fds.iter().map(|f| !f.revents().is_empty()).collect()
        };
        let now = Instant::now();
        let mut taken = Vec::new();
        for (token, ready) in tokens.into_iter().zip(ready) {
            let Some(conn) = parked.conns.get_mut(&token) else {
                continue;
            };
            if !ready {
                conn.waiting_since = None;
                continue;
            }
            let since = *conn.waiting_since.get_or_insert(now);
            if now.duration_since(since) >= wait
                && let Some(conn) = parked.conns.remove(&token)
            {
                let _ = epoll::delete(&self.epoll, conn.stream());
                taken.push(conn);
            }
        }
        taken
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write;
    use std::os::linux::net::SocketAddrExt;
    use std::os::unix::net::{SocketAddr, UnixListener, UnixStream};
    use std::sync::Arc;
    use std::time::{Duration, Instant};

    use super::{Poller, Wake};
    use crate::server::conn::Conn;
    use crate::server::state::State;

    fn poller(name: &str) -> Poller {
        let addr = SocketAddr::from_abstract_name(format!(
            "wsgid-poller-test-{name}-{}",
            std::process::id()
        ))
        .expect("abstract address");
        let listener = UnixListener::bind_addr(&addr).expect("bind");
        listener.set_nonblocking(true).expect("nonblocking");
        Poller::new(listener, Arc::new(State::new(0)), 0, 0).expect("poller")
    }

    /// A parked connection of `p`, and the front end's end of it.
    fn parked(p: &Poller) -> UnixStream {
        let (front, daemon) = UnixStream::pair().expect("pair");
        daemon.set_nonblocking(true).expect("nonblocking");
        assert!(p.park(Conn::new(daemon, Arc::clone(&p.state))).is_ok());
        front
    }

    /// The leader's turn, taken as a seeking thread takes it.
    fn take_turn(p: &Poller) -> super::Lead<'_> {
        p.leader().seeking += 1;
        p.lead(Instant::now() + Duration::from_secs(60))
            .expect("turn")
    }

    /// Wait until a thread follows (waits for the turn) in `p`.
    fn until_following(p: &Poller) {
        let started = Instant::now();
        while p.leader().following == 0 {
            assert!(started.elapsed() < Duration::from_secs(5), "no follower");
            std::thread::sleep(Duration::from_millis(1));
        }
    }

    /// A request sent on `front` wakes `follower` (which leads by then)
    /// within two seconds, well before its own five-second wait ends.
    fn assert_woken_by_a_request(
        front: &mut UnixStream,
        follower: std::thread::ScopedJoinHandle<'_, Wake>,
    ) {
        front.write_all(b"x").expect("write");
        let started = Instant::now();
        assert!(matches!(follower.join().expect("thread"), Wake::Conn(_)));
        assert!(started.elapsed() < Duration::from_secs(2));
    }

    #[test]
    fn a_freed_turn_goes_to_a_follower_when_no_thread_is_seeking() {
        let p = poller("handoff");
        let mut front = parked(&p);
        let lead = take_turn(&p);
        std::thread::scope(|s| {
            let follower = s.spawn(|| p.wait(Duration::from_secs(5)));
            until_following(&p);
            drop(lead);
            // The follower leads now: a request wakes it.
            assert_woken_by_a_request(&mut front, follower);
        });
    }

    #[test]
    fn a_seeking_thread_that_leaves_with_work_hands_the_free_turn_on() {
        let p = poller("seeker");
        let mut first = parked(&p);
        let mut second = parked(&p);
        let lead = take_turn(&p);
        std::thread::scope(|s| {
            let follower = s.spawn(|| p.wait(Duration::from_secs(5)));
            until_following(&p);
            // A thread is on its way to look for work: the leader leaves
            // the turn to it instead of waking the follower...
            p.leader().seeking += 1;
            drop(lead);
            // ... and it finds work, so it wakes the follower to lead.
            first.write_all(b"x").expect("write");
            let mut events = no_event();
            assert_eq!(p.ready_now_after(&mut events, || {}).expect("epoll"), 1);
            p.found_work();
            assert_woken_by_a_request(&mut second, follower);
        });
    }

    #[test]
    fn a_thread_back_for_work_takes_what_is_ready_without_the_leaders_turn() {
        let p = poller("ready");
        let mut front = parked(&p);
        // Another thread has the turn (it waits in epoll).
        let _leader = take_turn(&p);
        front.write_all(b"x").expect("write");
        let started = Instant::now();
        let woke = p.wait(Duration::from_secs(5));
        assert!(
            matches!(woke, Wake::Conn(_)),
            "the ready connection is taken"
        );
        assert!(
            started.elapsed() < Duration::from_secs(1),
            "without waiting for the turn"
        );
    }

    fn no_event() -> [rustix::event::epoll::Event; 1] {
        [rustix::event::epoll::Event {
            flags: rustix::event::epoll::EventFlags::empty(),
            data: rustix::event::epoll::EventData::new_u64(0),
        }]
    }

    #[test]
    fn a_request_queued_while_a_thread_yields_is_taken_before_it_sleeps() {
        let p = poller("yield");
        let mut front = parked(&p);
        let mut events = no_event();
        let mut paused = false;
        let got = p.ready_now_after(&mut events, || {
            paused = true;
            front.write_all(b"x").expect("write");
        });
        assert!(paused, "nothing was ready at first");
        assert_eq!(got.expect("epoll"), 1, "the request queued meanwhile");
        assert!(events[0].data.u64() >= super::FIRST_CONN);
    }

    #[test]
    fn a_thread_with_something_ready_does_not_yield() {
        let p = poller("noyield");
        let mut front = parked(&p);
        front.write_all(b"x").expect("write");
        let mut events = no_event();
        let got = p.ready_now_after(&mut events, || panic!("yielded"));
        assert_eq!(got.expect("epoll"), 1);
    }

    #[test]
    fn with_nothing_ready_a_thread_waits_for_the_leaders_turn() {
        let p = poller("idle");
        let _front = parked(&p);
        let _leader = take_turn(&p);
        let started = Instant::now();
        let woke = p.wait(Duration::from_millis(300));
        assert!(matches!(woke, Wake::Timeout));
        assert!(
            started.elapsed() >= Duration::from_millis(250),
            "it waited as a follower"
        );
    }
}
