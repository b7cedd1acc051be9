//! A kept connection from a front-end worker: requests one after another
//! until the front end closes it, an exchange ends uncleanly, or the
//! process stops taking requests (then it is closed as `protocol`
//! describes: receiving side shut down first, a request that was already
//! queued is answered `J` — not started, send it again).

use std::sync::Arc;
use std::time::Duration;

use bytes::BytesMut;
use tokio::io::{AsyncRead, AsyncWriteExt};
use tokio::net::UnixStream;
use tokio::sync::OwnedSemaphorePermit;

use super::Ctx;
use super::exchange::exchange;
use crate::protocol::{self, FrameReader, RequestHead};

/// How long a closing connection waits for what was queued in it (it is
/// all there already: the receiving side is shut down).
const CLOSE_READ_WAIT: Duration = Duration::from_secs(1);
/// How long a request on a kept connection waits for one of this
/// process's threads before it is sent back (`J`, busy).
const THREAD_WAIT: Duration = Duration::from_millis(50);
/// Buffer capacity an idle kept connection may hold on to.
const IDLE_BUFFER_MAX: usize = 64 * 1024;

/// Serve `stream`; `thread` is the request thread reserved for its first
/// request when it was accepted.
pub(super) async fn connection(
    ctx: Arc<Ctx>,
    mut stream: UnixStream,
    thread: Option<OwnedSemaphorePermit>,
) {
    ctx.state.connection_opened();
    serve(&ctx, &mut stream, thread).await;
    drop(stream);
    ctx.state.connection_closed();
}

async fn serve(ctx: &Ctx, stream: &mut UnixStream, mut thread: Option<OwnedSemaphorePermit>) {
    let state = &*ctx.state;
    let (rd, mut wr) = stream.split();
    let mut rd = FrameReader::new(rd);
    let mut draining = state.draining();
    let mut out = BytesMut::with_capacity(16 * 1024);
    loop {
        // Idle between requests: not activity, and closed at once when
        // the process stops taking requests.
        let frame = tokio::select! {
            biased;
            () = async { let _ = draining.wait_for(|d| *d).await; } => {
                drop(thread);
                return close(&mut rd, &mut wr).await;
            }
            f = rd.next() => f,
        };
        let head = match frame {
            Ok(Some((protocol::REQUEST, payload))) => match RequestHead::decode(payload) {
                Ok(h) => h,
                Err(_) => return,
            },
            // EOF: the front end let the connection go.
            _ => return,
        };
        if state.is_draining() {
            reject(&mut wr, &mut out, protocol::REJECTED_CLOSING).await;
            return;
        }
        // A thread: reserved when the connection was accepted, else one
        // that frees up soon; a process whose threads all stay busy sends
        // the request back, to go through the group's socket to whichever
        // process of the group has a thread free first.
        let permit = match thread.take() {
            Some(p) => Some(p),
            None => match state.thread(THREAD_WAIT).await {
                Some(p) => Some(p),
                None => {
                    reject(&mut wr, &mut out, protocol::REJECTED_BUSY).await;
                    return;
                }
            },
        };
        let Some(id) = state.take() else {
            // Draining, or past `maximum-requests`: not started.
            reject(&mut wr, &mut out, protocol::REJECTED_CLOSING).await;
            return;
        };
        state.started(id);
        let activity = !head.ignore_activity;
        let keep = exchange(ctx, &mut rd, &mut wr, head, &mut out).await;
        drop(permit);
        state.end(id, activity);
        if !keep {
            return;
        }
        // A kept connection waits with small buffers: one large response
        // or body must not pin its size on every idle connection (seen as
        // 100+ MiB after a run of 1 MiB responses).
        if out.capacity() > IDLE_BUFFER_MAX {
            out = BytesMut::with_capacity(16 * 1024);
        }
        rd.shrink(IDLE_BUFFER_MAX);
    }
}

/// `J`: the request just read was not started.
async fn reject<W: tokio::io::AsyncWrite + Unpin>(wr: &mut W, out: &mut BytesMut, reason: u8) {
    out.clear();
    protocol::put_frame(out, protocol::REJECTED, &[reason]);
    let _ = wr.write_all(out).await;
}

/// Close an idle connection without losing a request the front end may
/// be sending on it right now (see `protocol`): shut the receiving side
/// down — later writes by the front end fail and deliver nothing — then
/// answer `J` to a request queued before that.
async fn close<R>(rd: &mut FrameReader<R>, wr: &mut tokio::net::unix::WriteHalf<'_>)
where
    R: AsyncRead + Unpin + AsRef<UnixStream>,
{
    let sock = socket2::SockRef::from(rd.get_ref().as_ref());
    if sock.shutdown(std::net::Shutdown::Read).is_err() {
        return;
    }
    loop {
        match tokio::time::timeout(CLOSE_READ_WAIT, rd.next()).await {
            Ok(Ok(Some((protocol::REQUEST, _)))) => {
                let mut out = BytesMut::new();
                reject(wr, &mut out, protocol::REJECTED_CLOSING).await;
                return;
            }
            Ok(Ok(Some(_))) => {}
            _ => return,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::read_frame;

    fn request_frame() -> BytesMut {
        let head = protocol::test_head(Default::default());
        let mut out = BytesMut::new();
        head.encode(&mut out);
        protocol::put_frame(&mut out, protocol::BODY_END, b"");
        out
    }

    #[tokio::test]
    async fn closing_answers_j_to_a_request_queued_before_it() {
        let (mut front, mut daemon) = UnixStream::pair().expect("pair");
        front.write_all(&request_frame()).await.expect("write");
        let (rd, mut wr) = daemon.split();
        let mut rd = FrameReader::new(rd);
        close(&mut rd, &mut wr).await;
        let (kind, payload) = read_frame(&mut front).await.expect("io").expect("frame");
        assert_eq!(kind, protocol::REJECTED);
        assert_eq!(&payload[..], &[protocol::REJECTED_CLOSING]);
    }

    #[tokio::test]
    async fn after_closing_a_write_delivers_nothing() {
        let (mut front, mut daemon) = UnixStream::pair().expect("pair");
        let (rd, mut wr) = daemon.split();
        let mut rd = FrameReader::new(rd);
        close(&mut rd, &mut wr).await;
        // The daemon's end is still open, but its receiving side is shut.
        let err = front.write_all(&request_frame()).await.expect_err("EPIPE");
        assert_eq!(err.kind(), std::io::ErrorKind::BrokenPipe);
        drop(daemon);
        assert!(read_frame(&mut front).await.expect("io").is_none());
    }
}
