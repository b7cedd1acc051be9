//! One exchange on one connection: the request's frames out (head, body
//! as the client sends it), the response frames in, turned into
//! [`ResponseEvent`]s; and what the front end may do next with the
//! connection and the request (see [`Outcome`]).

use std::sync::atomic::{AtomicBool, Ordering};

use bytes::{Bytes, BytesMut};
use tokio::io::AsyncWriteExt;
use tokio::net::UnixStream;
use tokio::net::unix::WriteHalf;
use tokio::sync::mpsc;
use wsgid_python::{BodyError, ResponseEvent};

use super::frames::Frames;
use super::{RequestLog, Target};
use crate::protocol::{self, RequestHead};

/// A request body sent so far is kept, up to this size, to be sent again
/// if the daemon answers `J` (not started); past it, such a request gets
/// a 503.
const REPLAY_MAX: usize = 1 << 20;

/// A request being sent to the daemon group, possibly more than once.
pub(super) struct Outgoing {
    /// The `R` frame, followed by the `E` frame when there is no body.
    first: Bytes,
    /// The length of the `R` frame in `first`.
    head_len: usize,
    empty: bool,
    body: mpsc::Receiver<Result<Bytes, BodyError>>,
    /// The body frames sent so far (`B`, then `E` or `X`).
    replay: Vec<Bytes>,
    replay_bytes: usize,
    /// The body outgrew `REPLAY_MAX`: it cannot be sent again.
    pub overflowed: bool,
    /// `Some(true)`: `E` is in `replay`; `Some(false)`: `X` is.
    ended: Option<bool>,
}

impl Outgoing {
    pub fn new(
        head: &RequestHead,
        body: Option<mpsc::Receiver<Result<Bytes, BodyError>>>,
    ) -> Outgoing {
        let mut first = BytesMut::new();
        head.encode(&mut first);
        let head_len = first.len();
        let empty = body.is_none();
        if empty {
            protocol::put_frame(&mut first, protocol::BODY_END, b"");
        }
        Outgoing {
            first: first.freeze(),
            head_len,
            empty,
            body: body.unwrap_or_else(|| mpsc::channel(1).1),
            replay: Vec::new(),
            replay_bytes: 0,
            overflowed: false,
            ended: None,
        }
    }

    fn keep(&mut self, frame: Bytes) {
        if self.overflowed {
            return;
        }
        self.replay_bytes += frame.len();
        if self.replay_bytes > REPLAY_MAX {
            self.overflowed = true;
            self.replay = Vec::new();
        } else {
            self.replay.push(frame);
        }
    }
}

/// How far the request got out (written by the sending half of the
/// exchange, read by the receiving half, in one task).
#[derive(Default)]
struct Progress {
    /// Every byte of the `R` frame was accepted by the kernel.
    head_sent: AtomicBool,
    /// The body was sent through `E`.
    complete: AtomicBool,
}

/// What came of an exchange.
pub(super) enum Outcome {
    /// The request was answered (or its failure was); `keep`: the
    /// connection is clean for another request.
    Done { keep: bool },
    /// Writing the `R` frame failed before all of it was accepted: the
    /// daemon never had the whole head, so it started nothing.
    NotDelivered,
    /// `J`: the daemon did not start the request; `restarting`: because
    /// the process is restarting (else: the connection was closing, or
    /// the process busy).
    Rejected { restarting: bool },
}

/// Send `out` on `stream` and relay the answer to `events`.
pub(super) async fn exchange(
    stream: &mut UnixStream,
    out: &mut Outgoing,
    target: &Target,
    events: &mpsc::Sender<ResponseEvent>,
    rlog: &RequestLog,
) -> Outcome {
    let (rd, mut wr) = stream.split();
    let sock: &UnixStream = rd.as_ref();
    let progress = Progress::default();
    // The body goes out while the response comes in: a daemon may answer
    // before reading all of it.
    let send = send(&mut wr, out, &progress);
    tokio::pin!(send);
    let mut sending = true;
    let mut rd = Frames::default();
    let not_delivered =
        |p: &Progress| (!p.head_sent.load(Ordering::Relaxed)).then_some(Outcome::NotDelivered);
    let first = loop {
        tokio::select! {
            biased;
            ok = &mut send, if sending => {
                sending = false;
                if !ok && let Some(o) = not_delivered(&progress) {
                    return o;
                }
            }
            f = tokio::time::timeout(target.socket_timeout, rd.next(sock)) => break f,
        }
    };
    let truncated = || {
        rlog.error(&format!(
            "Truncated or oversized response headers received from daemon process '{}': {}",
            target.name, rlog.filename
        ));
        ResponseEvent::Failed(500)
    };
    let event = match first {
        Err(_) => {
            rlog.error(&format!(
                "Timeout when reading response headers from daemon process '{}': {}",
                target.name, rlog.filename
            ));
            ResponseEvent::Failed(504)
        }
        Ok(Err(_) | Ok(None)) => match not_delivered(&progress) {
            Some(o) => return o,
            // The daemon had the whole request: it may have started it.
            None => truncated(),
        },
        Ok(Ok(Some((kind, mut payload)))) => match kind {
            protocol::REJECTED => {
                return Outcome::Rejected {
                    restarting: matches!(
                        payload.first(),
                        None | Some(&protocol::REJECTED_RESTARTING)
                    ),
                };
            }
            protocol::COMPLETE => match protocol::decode_head(&mut payload) {
                Ok(h) => ResponseEvent::Complete(h, payload),
                Err(_) => truncated(),
            },
            protocol::HEAD => match protocol::decode_head(&mut payload) {
                Ok(h) => ResponseEvent::Head(h),
                Err(_) => truncated(),
            },
            protocol::FAILED => {
                let status = match payload.get(..2) {
                    Some(b) => u16::from_le_bytes([b[0], b[1]]),
                    None => 500,
                };
                ResponseEvent::Failed(status)
            }
            _ => truncated(),
        },
    };
    let mut clean = matches!(event, ResponseEvent::Complete(..));
    let streaming = matches!(event, ResponseEvent::Head(_));
    if events.send(event).await.is_err() {
        return Outcome::Done { keep: false };
    }
    if streaming {
        loop {
            let next = tokio::select! {
                biased;
                _ = &mut send, if sending => {
                    sending = false;
                    continue;
                }
                f = tokio::time::timeout(target.socket_timeout, rd.next(sock)) => f,
            };
            let event = match next {
                Ok(Ok(Some((protocol::DATA, payload)))) if !payload.is_empty() => {
                    ResponseEvent::Chunk(payload)
                }
                Ok(Ok(Some((protocol::DATA, _)))) => continue,
                Ok(Ok(Some((protocol::END, _)))) => ResponseEvent::End,
                // A file the daemon opened, to send as it is.
                Ok(Ok(Some((protocol::FILE, payload)))) => {
                    match (protocol::decode_file(payload), rd.fds.pop_front()) {
                        (Ok((offset, len)), Some(fd)) => ResponseEvent::File {
                            file: std::fs::File::from(fd),
                            offset,
                            len,
                        },
                        _ => ResponseEvent::Abort,
                    }
                }
                _ => ResponseEvent::Abort,
            };
            let end = matches!(event, ResponseEvent::End);
            let last = end || matches!(event, ResponseEvent::Abort);
            if events.send(event).await.is_err() {
                return Outcome::Done { keep: false };
            }
            if last {
                clean = end;
                break;
            }
        }
    }
    // Kept only after a complete response to a completely sent request,
    // with nothing else arriving.
    let keep = clean
        && progress.complete.load(Ordering::Relaxed)
        && rd.pending() == 0
        && rd.fds.is_empty();
    Outcome::Done { keep }
}

/// `a` then `b` with vectored writes until both are out.
async fn write_all_vectored(wr: &mut WriteHalf<'_>, a: &[u8], b: &[u8]) -> std::io::Result<()> {
    let mut bufs = [std::io::IoSlice::new(a), std::io::IoSlice::new(b)];
    let mut bufs = &mut bufs[..];
    while !bufs.is_empty() {
        match wr.write_vectored(bufs).await? {
            0 => return Err(std::io::ErrorKind::WriteZero.into()),
            n => std::io::IoSlice::advance_slices(&mut bufs, n),
        }
    }
    Ok(())
}

/// Write the head frame then the body (the frames kept from an earlier
/// attempt first); false when a write failed.
async fn send(wr: &mut WriteHalf<'_>, out: &mut Outgoing, progress: &Progress) -> bool {
    let mut n = 0;
    while n < out.first.len() {
        match wr.write(&out.first[n..]).await {
            Ok(0) | Err(_) => return false,
            Ok(k) => n += k,
        }
        if n >= out.head_len {
            progress.head_sent.store(true, Ordering::Relaxed);
        }
    }
    if out.empty {
        progress.complete.store(true, Ordering::Relaxed);
        return true;
    }
    for frame in &out.replay {
        if wr.write_all(frame).await.is_err() {
            return false;
        }
    }
    if let Some(complete) = out.ended {
        progress.complete.store(complete, Ordering::Relaxed);
        return true;
    }
    let mut buf = BytesMut::new();
    loop {
        match out.body.recv().await {
            Some(Ok(chunk)) => {
                let mut at = 0;
                while at < chunk.len() {
                    let piece = chunk.slice(at..chunk.len().min(at + protocol::MAX_CHUNK));
                    at += piece.len();
                    protocol::put_header(&mut buf, protocol::BODY, piece.len());
                    let header = buf.split().freeze();
                    // Kept before they are written: a failed write may
                    // still be followed by `J`.
                    out.keep(header.clone());
                    out.keep(piece.clone());
                    // Header and piece in one system call, without copying
                    // the piece behind the header.
                    if write_all_vectored(wr, &header, &piece).await.is_err() {
                        return false;
                    }
                }
            }
            Some(Err(e)) => {
                protocol::encode_body_error(&mut buf, &e);
                let frame = buf.split().freeze();
                out.keep(frame.clone());
                out.ended = Some(false);
                return wr.write_all(&frame).await.is_ok();
            }
            None => {
                protocol::put_frame(&mut buf, protocol::BODY_END, b"");
                let frame = buf.split().freeze();
                out.keep(frame.clone());
                out.ended = Some(true);
                let ok = wr.write_all(&frame).await.is_ok();
                progress.complete.store(ok, Ordering::Relaxed);
                return ok;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::time::Duration;

    use super::*;
    use crate::client::Pool;

    fn target() -> Target {
        Target {
            name: "g".into(),
            socket: "/nonexistent".into(),
            connect_timeout: Duration::from_secs(1),
            socket_timeout: Duration::from_secs(5),
            send_buffer_size: 0,
            receive_buffer_size: 0,
            pool: Arc::new(Pool::new(1)),
        }
    }

    fn rlog() -> RequestLog {
        RequestLog {
            log: wsgid_log::ErrorLog::stderr(wsgid_log::Level::Emerg),
            peer: None,
            filename: "/app.wsgi".into(),
        }
    }

    fn outgoing() -> Outgoing {
        let head = protocol::test_head([("PATH_INFO", "/")].into_iter().collect());
        Outgoing::new(&head, None)
    }

    #[tokio::test]
    async fn a_head_that_could_not_be_written_was_not_delivered() {
        let (mut front, daemon) = UnixStream::pair().expect("pair");
        socket2::SockRef::from(&daemon)
            .shutdown(std::net::Shutdown::Read)
            .expect("shutdown");
        let (tx, _rx) = mpsc::channel(4);
        let outcome = exchange(&mut front, &mut outgoing(), &target(), &tx, &rlog()).await;
        assert!(matches!(outcome, Outcome::NotDelivered));
    }

    #[tokio::test]
    async fn eof_after_the_whole_head_may_have_started_it() {
        let (mut front, daemon) = UnixStream::pair().expect("pair");
        let reader = tokio::spawn(async move {
            let mut rd = protocol::FrameReader::new(daemon);
            let first = rd.next().await.expect("io").expect("frame").0;
            drop(rd);
            first
        });
        let (tx, mut rx) = mpsc::channel(4);
        let outcome = exchange(&mut front, &mut outgoing(), &target(), &tx, &rlog()).await;
        assert_eq!(reader.await.expect("task"), protocol::REQUEST);
        assert!(matches!(outcome, Outcome::Done { keep: false }));
        assert!(matches!(rx.recv().await, Some(ResponseEvent::Failed(500))));
    }

    #[tokio::test]
    async fn a_complete_answer_keeps_the_connection() {
        let (mut front, mut daemon) = UnixStream::pair().expect("pair");
        let answer = tokio::spawn(async move {
            let mut rd = protocol::FrameReader::new(&mut daemon);
            assert_eq!(
                rd.next().await.expect("io").expect("frame").0,
                protocol::REQUEST
            );
            assert_eq!(
                rd.next().await.expect("io").expect("frame").0,
                protocol::BODY_END
            );
            let head = wsgid_python::ResponseHead {
                status: 200,
                reason: "OK".into(),
                headers: Vec::new(),
            };
            let mut out = BytesMut::new();
            protocol::encode_complete(&mut out, &head, b"hi");
            daemon.write_all(&out).await.expect("write");
            daemon
        });
        let (tx, mut rx) = mpsc::channel(4);
        let outcome = exchange(&mut front, &mut outgoing(), &target(), &tx, &rlog()).await;
        assert!(matches!(outcome, Outcome::Done { keep: true }));
        assert!(matches!(rx.recv().await, Some(ResponseEvent::Complete(..))));
        drop(answer.await.expect("task"));
    }
}
