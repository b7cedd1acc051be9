//! One client connection: HTTP/1.1 (and 1.0, and 0.9 simple requests)
//! served by our own loop.
//!
//! Why not hyper's server connection: hyper answers a malformed or
//! oversized head itself, with an empty 400/431 instead of Apache's page;
//! it has a single head timer, where Apache bounds the wait for a later
//! request with KeepAliveTimeout and a head in progress (and the first
//! request) with Timeout; it refuses HTTP/0.9, which Apache serves; and
//! every head would be parsed twice, once by Apache's rules
//! (`head_scan.rs`) and again by hyper.  Here each head is scanned once,
//! the request parts are sliced out of the scanned bytes, and the response
//! head and a small body leave in one write.
//!
//! * `io.rs`: the socket shared by the connection task and the body reader.
//! * `buffers.rs`: read buffers (a small one per connection, pooled body
//!   buffers).
//! * `read_head.rs`: waiting for and parsing a head.
//! * `body_in.rs`: request bodies (Content-Length, chunked), draining.
//! * `write.rs`: response framing and writing.
//! * `refuse.rs`: Apache's answers to refused heads.

mod body_in;
mod buffers;
mod direct;
mod io;
mod read_head;
mod refuse;
mod reqtimeout;
mod write;

use std::sync::Arc;

use http::Method;
use tokio::net::TcpStream;
use tokio::sync::watch;
use tokio::time::Instant;

pub use body_in::BodyIn;
use body_in::Framing;
pub use direct::{BodyDst, Direct};
use io::Shared;
pub(crate) use read_head::stopped;
use read_head::{HeadRead, Waits};
use reqtimeout::BodyClock;
use write::ReqFacts;

use crate::frontend::FrontEnd;
use crate::request::ConnInfo;

/// Serve requests on `stream` until either side ends the connection or
/// shutdown is asked for (an idle connection closes at once; a request in
/// progress is answered first).
pub(crate) async fn serve(
    fe: Arc<FrontEnd>,
    stream: TcpStream,
    conn: Arc<ConnInfo>,
    stop: watch::Receiver<bool>,
) {
    let accepted = Instant::now();
    let mut waits = Waits::new(stop.clone(), accepted + fe.cfg.timeout);
    let shared = Arc::new(Shared::new(stream, fe.cfg.timeout));
    // The response head buffer, reused for every request.
    let mut out = Vec::with_capacity(1024);
    let mut nth: u32 = 0;
    loop {
        // `%I`: what this request takes from the connection.
        let consumed_before = shared.state().consumed;
        let head = match fe
            .read_head(&shared, &conn, nth == 0, accepted, &mut waits)
            .await
        {
            HeadRead::Head(head) => head,
            HeadRead::Close => break,
            HeadRead::Refuse(rej) => {
                fe.refuse_raw(&shared, &conn, rej).await;
                return;
            }
            HeadRead::LineTimedOut => {
                fe.log_line_timeout(&conn);
                break;
            }
        };
        nth += 1;
        let seq = {
            let mut st = shared.state();
            st.seq += 1;
            st.framing = head.framing;
            st.body_clock_expired = false;
            st.body_clock = match &fe.cfg.request_read_timeout {
                Some(rt) if head.framing != Framing::Done => BodyClock::Armed(rt.body),
                _ => BodyClock::Off,
            };
            st.seq
        };
        shared.expect_continue(head.expect_continue);
        let mut facts = ReqFacts {
            head: head.parts.method == Method::HEAD,
            version: head.parts.version,
            keep_alive: head.keep_alive && fe.cfg.keep_alive,
        };
        let body = if head.framing == Framing::Done {
            BodyIn::empty()
        } else {
            BodyIn::new(shared.clone(), seq)
        };
        let resp = fe.handle(&conn, head.parts, body, head.refused, nth).await;
        // Once the response starts, `100 Continue` can no longer be sent;
        // a client still waiting for it may never send the body, so the
        // connection ends after this response (and says so).
        let waiting = shared.cancel_continue().await;
        if *stop.borrow() || waiting && shared.state().framing != Framing::Done {
            facts.keep_alive = false;
        }
        // mod_reqtimeout: a body that came too slowly ends the connection.
        if std::mem::take(&mut shared.state().body_clock_expired) {
            fe.log_read_timeout(&conn, "body");
            facts.keep_alive = false;
        }
        let (kept, pending) =
            write::write_response(&shared, &mut out, resp, facts, consumed_before).await;
        let log = |pending: Option<write::Pending>| {
            if let Some(pending) = pending {
                pending.write(shared.state().consumed - consumed_before);
            }
        };
        if !kept {
            log(pending);
            break;
        }
        // The handler is done with the body: its reader (a pump task may
        // outlive the response) must stop before the rest is drained here.
        let seq = {
            let mut st = shared.state();
            st.seq += 1;
            st.seq
        };
        // The access-log line comes after the drain, as Apache writes it
        // after discarding the body (`%I` includes what was drained).
        let drained = body_in::drain(&shared, seq).await;
        if !drained && std::mem::take(&mut shared.state().body_clock_expired) {
            fe.log_read_timeout(&conn, "body");
        }
        log(pending);
        if !drained || *stop.borrow() {
            break;
        }
    }
    // Unread request bytes would make the close a reset, which can destroy
    // the response before the client read it: linger as Apache does.
    let unread = {
        let st = shared.state();
        !st.buf.is_empty() || st.framing != Framing::Done
    };
    if unread {
        refuse::linger(&shared).await;
    } else {
        shared.shutdown_write();
    }
}
