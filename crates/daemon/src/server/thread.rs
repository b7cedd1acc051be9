//! What a daemon process's request thread does (see `poller`): wait for a
//! connection with a request (or a new connection), read the request,
//! run it, write the response, and park the connection for its next
//! request — all on this thread, with the GIL released except while the
//! application runs.

use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::time::{Duration, Instant};

use wsgid_log::{Level, Peer};

use wsgid_python::RequestThread;

use super::Ctx;
use super::conn::{Conn, Next};
use super::exchange::{self, Prepared};
use super::poller::Wake;
use super::state::State;
use crate::protocol::{self, RequestHead};

/// How long an idle thread waits before checking whether the interpreter
/// it is parked in was replaced (the `Interpreter` reload mechanism).
const IDLE_CHECK: Duration = Duration::from_secs(1);
/// How long the rest of a request head may take once its first bytes came.
const HEAD_WAIT: Duration = Duration::from_secs(5);

/// Serve requests on this thread until the process stops.  A panic (a
/// bug of ours: the application's own failures are answered inside
/// `RequestThread::run`) loses the connection it happened on, not the
/// thread.
pub(super) fn run(ctx: &Arc<Ctx>, thread: &mut RequestThread<'_>) {
    // A kept connection that already holds (part of) its next request.
    let mut carried: Option<Conn> = None;
    loop {
        let step = std::panic::catch_unwind(AssertUnwindSafe(|| {
            let from_carried = carried.is_some();
            let next = match carried.take() {
                Some(conn) => thread.detached(|| read_request(ctx, conn)).map(Ok),
                None => thread.detached(|| next_request(ctx)),
            };
            match next {
                Some(Ok(p)) => carried = serve(ctx, thread, p),
                Some(Err(())) => thread.idle(),
                // Nothing to run on the carried connection after all (it
                // was parked, answered or closed).
                None if from_carried => {}
                // The process is stopping.
                None => return false,
            }
            true
        }));
        match step {
            Ok(true) => {}
            Ok(false) => return,
            Err(_) => ctx.log.log(
                "wsgi",
                Level::Crit,
                Peer::None,
                "wsgid: panic in a daemon request thread; its connection was closed",
            ),
        }
    }
}

/// Wait for the next request this thread is to run (`Err`: nothing came
/// within `IDLE_CHECK`; `None`: the process is stopping).
fn next_request(ctx: &Arc<Ctx>) -> Option<Result<Prepared, ()>> {
    loop {
        let conn = match ctx.poller.wait(IDLE_CHECK) {
            Wake::Stop => return None,
            Wake::Timeout => return Some(Err(())),
            Wake::Listener => match ctx.poller.accept() {
                Some(conn) => conn,
                None => continue,
            },
            Wake::Conn(conn) => conn,
        };
        if let Some(prepared) = read_request(ctx, conn) {
            return Some(Ok(prepared));
        }
    }
}

/// Read the request waiting on `conn`; `None` when there is none to run
/// (the connection was parked again, answered or closed).
fn read_request(ctx: &Arc<Ctx>, mut conn: Conn) -> Option<Prepared> {
    let mut deadline = None;
    let head = loop {
        match conn.next(deadline.map(Some)) {
            Ok(Next::Frame(protocol::REQUEST, payload)) => match RequestHead::decode(payload) {
                Ok(h) => break h,
                Err(_) => return None,
            },
            // Spurious wake-up, or a new connection whose request is not
            // there yet.
            Ok(Next::WouldBlock) if conn.is_empty() => {
                park(ctx, conn);
                return None;
            }
            // Part of a head: the rest follows at once.
            Ok(Next::WouldBlock) => deadline = Some(Instant::now() + HEAD_WAIT),
            // EOF (the front end let the connection go), a broken or
            // out-of-turn frame: the connection ends.
            _ => return None,
        }
    };
    exchange::prepare(ctx, conn, head)
}

/// Run a request and put its connection back; the connection instead
/// when it already holds bytes of its next request.  Why: reading the
/// rest of a body after the response (`Exchange::finish`) may read past
/// its end into the next request, which the front end sends as soon as it
/// has the response; bytes in the frame buffer wake no `epoll_wait`, so
/// parked, that request would wait for ever.
fn serve(ctx: &Arc<Ctx>, thread: &mut RequestThread<'_>, p: Prepared) -> Option<Conn> {
    let Prepared {
        request,
        exchange,
        id,
        activity,
    } = p;
    // The request ends for the life-cycle timers even if what follows
    // panics.
    let taken = Taken {
        state: &ctx.state,
        id,
        activity,
    };
    thread.run(request);
    thread.detached(|| {
        let kept = exchange.finish();
        drop(taken);
        match kept {
            Some(conn) if !conn.is_empty() => Some(conn),
            Some(conn) => {
                park(ctx, conn);
                None
            }
            None => None,
        }
    })
}

/// A request taken (`State::take`) and not yet ended.
struct Taken<'a> {
    state: &'a State,
    id: u64,
    activity: bool,
}

impl Drop for Taken<'_> {
    fn drop(&mut self) {
        self.state.end(self.id, self.activity);
    }
}

/// Keep `conn` for its next request, or close it as `protocol` says if
/// the process is draining.
fn park(ctx: &Ctx, conn: Conn) {
    if let Err(conn) = ctx.poller.park(conn) {
        conn.close_idle();
    }
}
