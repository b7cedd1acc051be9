//! One request on a daemon connection: the checks made before running it
//! (`queue-timeout`, `startup-timeout`, the `Process` reload mechanism),
//! the request body read from `B` frames while the application runs, and
//! the response events written back as frames.

use std::io::IoSlice;
use std::mem::MaybeUninit;
use std::net::SocketAddr;
use std::os::fd::{AsFd, BorrowedFd};
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant, SystemTime};

use bytes::{Bytes, BytesMut};
use rustix::net::{SendAncillaryBuffer, SendAncillaryMessage, SendFlags};
use tokio::io::{AsyncRead, AsyncWriteExt, Interest};
use tokio::net::UnixStream;
use tokio::net::unix::WriteHalf;
use tokio::sync::mpsc;
use wsgid_log::{ErrorLog, Level, Peer};
use wsgid_python::{BodyError, ReloadMechanism, RequestBody, ResponseEvent, WsgiRequest};

use super::{Ctx, Options, State};
use crate::protocol::{self, FrameReader, RequestHead};

/// Response events buffered between a Python thread and the socket writer.
const EVENT_QUEUE: usize = 8;
/// Request body frames buffered ahead of `wsgi.input`.
const BODY_QUEUE: usize = 4;
/// Writes are gathered up to this size before a `write`.
const WRITE_BATCH: usize = 256 * 1024;
/// After the response, how long the rest of a request body (which the
/// application did not read) may take to arrive before the connection is
/// given up rather than kept.
const BODY_REST_WAIT: Duration = Duration::from_secs(5);

/// Run one request whose head was read; true when the connection is clean
/// for the next one (a complete response was written and the whole body,
/// through its `E` frame, was read).
pub(super) async fn exchange<R>(
    ctx: &Ctx,
    rd: &mut FrameReader<R>,
    wr: &mut WriteHalf<'_>,
    head: RequestHead,
    out: &mut BytesMut,
) -> bool
where
    R: AsyncRead + Unpin,
{
    let (opts, state, log) = (&ctx.opts, &*ctx.state, &ctx.log);
    out.clear();
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
        // The body may still be on its way: the connection is not kept.
        protocol::put_frame(out, protocol::FAILED, &504u16.to_le_bytes());
        let _ = wr.write_all(out).await;
        return false;
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
        protocol::put_frame(out, protocol::REJECTED, &[protocol::REJECTED_RESTARTING]);
        let _ = wr.write_all(out).await;
        return false;
    }
    // A request without a body sent its end-of-body frame with the head.
    let no_body = matches!(rd.buffered_kind(), Some(protocol::BODY_END));
    if no_body {
        let _ = rd.buffered();
    }
    let (btx, brx) = mpsc::channel(BODY_QUEUE);
    let (etx, mut erx) = wsgid_python::event_channel(EVENT_QUEUE);
    let error_log = ctx
        .logs
        .get(head.host as usize)
        .or(ctx.logs.first())
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
    if ctx.python.submit(req).is_err() {
        protocol::put_frame(out, protocol::FAILED, &503u16.to_le_bytes());
        let _ = wr.write_all(out).await;
        return false;
    }
    // The body is read while the response is written (the application
    // may answer before reading all of it).
    let reader = read_body(rd, (!no_body).then_some(btx));
    tokio::pin!(reader);
    let mut body_done = no_body.then_some(true);
    let mut sent_head = false;
    let mut finished = false;
    let mut clean = false;
    while !finished {
        let first = tokio::select! {
            biased;
            ev = erx.recv() => ev,
            done = &mut reader, if body_done.is_none() => {
                body_done = Some(done);
                continue;
            }
        };
        let Some(first) = first else { break };
        let mut next = Some(first);
        // Gather what is already queued into one write.
        while let Some(ev) = next.take() {
            match ev {
                ResponseEvent::Complete(h, body) => {
                    protocol::encode_complete(out, &h, &body);
                    sent_head = true;
                    application_loaded(state, opts, log);
                    finished = true;
                    clean = true;
                }
                ResponseEvent::Head(h) => {
                    protocol::encode_head(out, &h);
                    sent_head = true;
                    application_loaded(state, opts, log);
                }
                ResponseEvent::Chunk(b) => {
                    for piece in b.chunks(protocol::MAX_CHUNK) {
                        protocol::put_frame(out, protocol::DATA, piece);
                    }
                }
                ResponseEvent::File { file, offset, len } => {
                    // The open file goes to the front end, which sends it
                    // itself (`sendfile`): no copy through this socket.
                    protocol::encode_file(out, offset, len);
                    if send_with_fd(wr, out, file.as_fd()).await.is_err() {
                        return false;
                    }
                    out.clear();
                }
                ResponseEvent::End => {
                    protocol::put_frame(out, protocol::END, b"");
                    finished = true;
                    clean = true;
                }
                ResponseEvent::Abort => {
                    protocol::put_frame(out, protocol::ABORT, b"");
                    finished = true;
                }
                ResponseEvent::Failed(status) => {
                    protocol::put_frame(out, protocol::FAILED, &status.to_le_bytes());
                    finished = true;
                }
            }
            if !finished && out.len() < WRITE_BATCH {
                next = erx.try_recv();
            }
        }
        if wr.write_all(out).await.is_err() {
            return false;
        }
        out.clear();
    }
    if !finished {
        // The Python side went away without a final event.
        if sent_head {
            protocol::put_frame(out, protocol::ABORT, b"");
        } else {
            protocol::put_frame(out, protocol::FAILED, &500u16.to_le_bytes());
        }
        let _ = wr.write_all(out).await;
        return false;
    }
    if !clean {
        return false;
    }
    match body_done {
        Some(done) => done,
        // The rest of a body the application did not read: the front end
        // either sends it through `E` (then the connection is kept) or,
        // having stopped sending it, closes the connection.
        None => tokio::time::timeout(BODY_REST_WAIT, reader)
            .await
            .unwrap_or(false),
    }
}

/// Forward `B` frames to `wsgi.input` until `E` (true) or a failure
/// (false).  `body` None: the request has no body.  Once the application
/// no longer reads (the request is over), the rest is read and dropped.
async fn read_body<R: AsyncRead + Unpin>(
    rd: &mut FrameReader<R>,
    body: Option<mpsc::Sender<Result<Bytes, BodyError>>>,
) -> bool {
    let Some(tx) = body else { return true };
    let mut tx = Some(tx);
    loop {
        let (item, last) = match rd.next().await {
            Ok(Some((protocol::BODY, b))) => (Ok(b), None),
            Ok(Some((protocol::BODY_END, _))) => return true,
            Ok(Some((protocol::BODY_ERROR, b))) => {
                (Err(protocol::decode_body_error(b)), Some(false))
            }
            _ => (
                Err(BodyError::Io("connection to the front end lost".into())),
                Some(false),
            ),
        };
        if let Some(t) = &tx
            && t.send(item).await.is_err()
        {
            tx = None;
        }
        if let Some(result) = last {
            return result;
        }
    }
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
/// connection's reader.
struct ChannelBody(mpsc::Receiver<Result<Bytes, BodyError>>);

impl RequestBody for ChannelBody {
    fn ready_chunk(&mut self) -> Option<Result<Option<Bytes>, BodyError>> {
        match self.0.try_recv() {
            Ok(item) => Some(item.map(Some)),
            Err(mpsc::error::TryRecvError::Empty) => None,
            Err(mpsc::error::TryRecvError::Disconnected) => Some(Ok(None)),
        }
    }

    fn next_chunk(&mut self) -> Result<Option<Bytes>, BodyError> {
        match self.0.blocking_recv() {
            None => Ok(None),
            Some(Ok(b)) => Ok(Some(b)),
            Some(Err(e)) => Err(e),
        }
    }
}

/// Write `frame` with `fd` attached to its first byte (`SCM_RIGHTS`).
async fn send_with_fd(
    wr: &mut WriteHalf<'_>,
    frame: &[u8],
    fd: BorrowedFd<'_>,
) -> std::io::Result<()> {
    let sent = {
        let stream: &UnixStream = wr.as_ref();
        loop {
            stream.writable().await?;
            let attempt = stream.try_io(Interest::WRITABLE, || {
                let mut space = [MaybeUninit::<u8>::uninit(); rustix::cmsg_space!(ScmRights(1))];
                let mut control = SendAncillaryBuffer::new(&mut space);
                let fds = [fd];
                control.push(SendAncillaryMessage::ScmRights(&fds));
                Ok(rustix::net::sendmsg(
                    stream,
                    &[IoSlice::new(frame)],
                    &mut control,
                    SendFlags::NOSIGNAL,
                )?)
            });
            match attempt {
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
                other => break other?,
            }
        }
    };
    // The descriptor went with the first byte; the rest is plain data.
    wr.write_all(&frame[sent..]).await
}
