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
use wsgid_python::{BodyError, EventSender, ResponseEvent};

use super::frames::Frames;
use super::{Body, RequestLog, Target};
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
    /// None: the request has no body (`empty`).
    body: Option<mpsc::Receiver<Result<Bytes, BodyError>>>,
    /// The body frames sent so far (`B`, then `E` or `X`).
    replay: Vec<Bytes>,
    replay_bytes: usize,
    /// The body outgrew `REPLAY_MAX`: it cannot be sent again.
    pub overflowed: bool,
    /// `Some(true)`: `E` is in `replay`; `Some(false)`: `X` is.
    ended: Option<bool>,
}

impl Outgoing {
    pub fn new(head: &RequestHead, body: Body) -> Outgoing {
        let mut first = BytesMut::new();
        head.encode(&mut first);
        let head_len = first.len();
        let mut out = Outgoing {
            first: Bytes::new(),
            head_len,
            empty: matches!(body, Body::Empty),
            body: None,
            replay: Vec::new(),
            replay_bytes: 0,
            overflowed: false,
            ended: None,
        };
        match body {
            Body::Empty => protocol::put_frame(&mut first, protocol::BODY_END, b""),
            Body::Stream(rx) => out.body = Some(rx),
            Body::Buffered(chunks, error) => {
                // Kept whole whatever its size (it is in memory already):
                // sent after the head, and again after a `J`.
                let mut buf = BytesMut::new();
                push_chunks(&mut buf, &chunks, &mut out.replay);
                push_end(&mut buf, error.as_ref(), &mut out.replay);
                out.replay_bytes = out.replay.iter().map(Bytes::len).sum();
                out.ended = Some(error.is_none());
            }
        }
        out.first = first.freeze();
        out
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
    events: &EventSender,
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
                Ok(h) if fits(&h, target.header_line_max) => ResponseEvent::Complete(h, payload),
                _ => truncated(),
            },
            protocol::HEAD => match protocol::decode_head(&mut payload) {
                Ok(h) if fits(&h, target.header_line_max) => ResponseEvent::Head(h),
                _ => truncated(),
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

/// Whether every line of `head` as mod_wsgi's daemon sends it (`Status:
/// NNN reason`, then `Name: value`) is at most `max` bytes long: longer
/// ones do not fit Apache's header buffer (`header-buffer-size`).
fn fits(head: &wsgid_python::ResponseHead, max: usize) -> bool {
    "Status: 200 ".len() + head.reason().len() <= max
        && head
            .headers()
            .all(|(name, value)| name.len() + 2 + value.len() <= max)
}

/// `bufs` with vectored writes until all are out; `written` counts the
/// bytes the kernel took, also when a later write fails.
async fn write_all_vectored(
    wr: &mut WriteHalf<'_>,
    bufs: &mut [std::io::IoSlice<'_>],
    written: &mut usize,
) -> std::io::Result<()> {
    let mut bufs = bufs;
    while !bufs.is_empty() {
        match wr.write_vectored(bufs).await? {
            0 => return Err(std::io::ErrorKind::WriteZero.into()),
            n => {
                *written += n;
                std::io::IoSlice::advance_slices(&mut bufs, n);
            }
        }
    }
    Ok(())
}

/// `chunks` as `B` frames of at most `MAX_CHUNK` bytes: a header from
/// `buf`, then the chunks' bytes themselves, without copying them.  Chunks
/// in a row share a frame: the daemon then takes one header and makes one
/// `recv` into the application's `bytes` object per frame, not per chunk
/// (a read-ahead body is the head buffer's tail plus the rest: two chunks,
/// which as two frames cost the daemon two more `recv`s per request).
fn push_chunks(buf: &mut BytesMut, chunks: &[Bytes], frames: &mut Vec<Bytes>) {
    let pieces = chunks.iter().flat_map(|chunk| {
        (0..chunk.len())
            .step_by(protocol::MAX_CHUNK)
            .map(move |at| chunk.slice(at..chunk.len().min(at + protocol::MAX_CHUNK)))
    });
    let mut frame: Vec<Bytes> = Vec::new();
    let mut len = 0;
    let mut flush = |frame: &mut Vec<Bytes>, len: &mut usize| {
        protocol::put_header(buf, protocol::BODY, *len);
        frames.push(buf.split().freeze());
        frames.append(frame);
        *len = 0;
    };
    for piece in pieces {
        if len + piece.len() > protocol::MAX_CHUNK {
            flush(&mut frame, &mut len);
        }
        len += piece.len();
        frame.push(piece);
    }
    if !frame.is_empty() {
        flush(&mut frame, &mut len);
    }
}

/// The body's last frame: `E`, or `X` with the read error.
fn push_end(buf: &mut BytesMut, error: Option<&BodyError>, frames: &mut Vec<Bytes>) {
    match error {
        None => protocol::put_frame(buf, protocol::BODY_END, b""),
        Some(e) => protocol::encode_body_error(buf, e),
    }
    frames.push(buf.split().freeze());
}

/// Body items taken from the channel for one write: the chunks already
/// queued go out together (a read-ahead body is all queued at once), each
/// as a `B` frame header and the chunk itself, without copying the chunks.
const BATCH_MAX: usize = 16;

/// Write the head frame then the body (the frames kept from an earlier
/// attempt first); false when a write failed.
async fn send(wr: &mut WriteHalf<'_>, out: &mut Outgoing, progress: &Progress) -> bool {
    // What is at hand goes in one vectored write: the head (with `E` when
    // there is no body), then the body frames read ahead or kept from an
    // earlier attempt.
    {
        let mut slices: Vec<std::io::IoSlice<'_>> = std::iter::once(&out.first)
            .chain(out.replay.iter())
            .map(|b| std::io::IoSlice::new(b))
            .collect();
        let mut written = 0;
        let ok = write_all_vectored(wr, &mut slices, &mut written)
            .await
            .is_ok();
        if written >= out.head_len {
            progress.head_sent.store(true, Ordering::Relaxed);
        }
        if !ok {
            return false;
        }
    }
    if out.empty {
        progress.complete.store(true, Ordering::Relaxed);
        return true;
    }
    if let Some(complete) = out.ended {
        progress.complete.store(complete, Ordering::Relaxed);
        return true;
    }
    let mut buf = BytesMut::new();
    let mut frames: Vec<Bytes> = Vec::new();
    let mut chunks: Vec<Bytes> = Vec::new();
    loop {
        // Wait for one item, then take what else is already there.  (The
        // receiver stays in `out` across the await: this future may be
        // dropped, and a resend goes on from where it stopped.)
        let Some(body) = out.body.as_mut() else {
            return false;
        };
        let mut item = body.recv().await;
        let mut ended = None;
        let mut error = None;
        for taken in 0.. {
            match item {
                Some(Ok(chunk)) => chunks.push(chunk),
                Some(Err(e)) => {
                    error = Some(e);
                    ended = Some(false);
                    break;
                }
                None => {
                    ended = Some(true);
                    break;
                }
            }
            if taken + 1 == BATCH_MAX {
                break;
            }
            item = match body.try_recv() {
                Ok(next) => Some(next),
                Err(mpsc::error::TryRecvError::Empty) => break,
                Err(mpsc::error::TryRecvError::Disconnected) => None,
            };
        }
        push_chunks(&mut buf, &chunks, &mut frames);
        chunks.clear();
        if ended.is_some() {
            push_end(&mut buf, error.as_ref(), &mut frames);
        }
        // Kept before they are written: a failed write may still be
        // followed by `J`.
        for f in &frames {
            out.keep(f.clone());
        }
        out.ended = ended;
        let mut bufs: Vec<std::io::IoSlice<'_>> =
            frames.iter().map(|f| std::io::IoSlice::new(f)).collect();
        let ok = write_all_vectored(wr, &mut bufs, &mut 0).await.is_ok();
        drop(bufs);
        frames.clear();
        match ended {
            None if ok => {}
            None => return false,
            Some(complete) => {
                progress.complete.store(ok && complete, Ordering::Relaxed);
                return ok;
            }
        }
    }
}

#[cfg(test)]
#[path = "relay_tests.rs"]
mod tests;
