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
            header_line_max: 32765,
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
        Outgoing::new(&head, Body::Empty)
    }

    #[tokio::test]
    async fn a_head_that_could_not_be_written_was_not_delivered() {
        let (mut front, daemon) = UnixStream::pair().expect("pair");
        socket2::SockRef::from(&daemon)
            .shutdown(std::net::Shutdown::Read)
            .expect("shutdown");
        let (tx, _rx) = wsgid_python::event_channel(4);
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
        let (tx, mut rx) = wsgid_python::event_channel(4);
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
            let head = wsgid_python::ResponseHead::new(200, "OK");
            let mut out = BytesMut::new();
            protocol::encode_complete(&mut out, &head, b"hi");
            daemon.write_all(&out).await.expect("write");
            daemon
        });
        let (tx, mut rx) = wsgid_python::event_channel(4);
        let outcome = exchange(&mut front, &mut outgoing(), &target(), &tx, &rlog()).await;
        assert!(matches!(outcome, Outcome::Done { keep: true }));
        assert!(matches!(rx.recv().await, Some(ResponseEvent::Complete(..))));
        drop(answer.await.expect("task"));
    }

    /// The daemon's view of a body: the frames it read up to `E`/`X`.
    async fn body_frames(daemon: &mut UnixStream) -> Vec<(u8, Bytes)> {
        let mut rd = protocol::FrameReader::new(daemon);
        assert_eq!(
            rd.next().await.expect("io").expect("frame").0,
            protocol::REQUEST
        );
        let mut frames = Vec::new();
        loop {
            let (kind, payload) = rd.next().await.expect("io").expect("frame");
            frames.push((kind, payload));
            if kind != protocol::BODY {
                return frames;
            }
        }
    }

    #[tokio::test]
    async fn queued_chunks_go_out_in_one_frame_and_are_kept_for_replay() {
        let (mut front, mut daemon) = UnixStream::pair().expect("pair");
        let (btx, brx) = mpsc::channel(4);
        for c in ["ab", "cd", "ef"] {
            btx.send(Ok(Bytes::from_static(c.as_bytes())))
                .await
                .expect("queue");
        }
        drop(btx);
        let head = protocol::test_head([("PATH_INFO", "/")].into_iter().collect());
        let mut out = Outgoing::new(&head, Body::Stream(brx));
        let progress = Progress::default();
        let reader = tokio::spawn(async move { body_frames(&mut daemon).await });
        let (_rd, mut wr) = front.split();
        assert!(send(&mut wr, &mut out, &progress).await);
        assert!(progress.complete.load(Ordering::Relaxed));
        let frames = reader.await.expect("task");
        let got: Vec<(u8, &[u8])> = frames.iter().map(|(k, p)| (*k, &p[..])).collect();
        assert_eq!(
            got,
            [(protocol::BODY, &b"abcdef"[..]), (protocol::BODY_END, b"")]
        );
        // One header, the three chunks and the end, ready to be sent again.
        assert_eq!(out.replay.len(), 5);
        assert_eq!(out.ended, Some(true));
    }

    /// Chunks share frames up to `MAX_CHUNK` bytes; a larger chunk is cut.
    #[test]
    fn frames_hold_at_most_max_chunk_and_carry_every_byte_in_order() {
        let max = protocol::MAX_CHUNK;
        let chunks: Vec<Bytes> = [max - 1, 2, 2 * max + 3, 0, 5]
            .iter()
            .enumerate()
            .map(|(i, &n)| Bytes::from(vec![i as u8; n]))
            .collect();
        let mut frames = Vec::new();
        push_chunks(&mut BytesMut::new(), &chunks, &mut frames);
        // Walk the frames: a 5-byte header, then pieces adding up to it.
        let (mut sizes, mut data) = (Vec::new(), Vec::new());
        let mut i = 0;
        while i < frames.len() {
            let h = &frames[i];
            assert_eq!((h.len(), h[0]), (5, protocol::BODY));
            let len = u32::from_le_bytes([h[1], h[2], h[3], h[4]]) as usize;
            let mut got = 0;
            i += 1;
            while got < len {
                got += frames[i].len();
                data.extend_from_slice(&frames[i]);
                i += 1;
            }
            assert_eq!(got, len);
            sizes.push(len);
        }
        assert_eq!(sizes, [max - 1, 2, max, max, 3 + 5]);
        let sent: Vec<u8> = chunks.iter().flat_map(|c| c.iter().copied()).collect();
        assert!(data == sent, "the bytes differ");
    }

    #[tokio::test]
    async fn chunks_arriving_one_by_one_and_an_error_end_the_body() {
        let (mut front, mut daemon) = UnixStream::pair().expect("pair");
        let (btx, brx) = mpsc::channel(4);
        let head = protocol::test_head([("PATH_INFO", "/")].into_iter().collect());
        let mut out = Outgoing::new(&head, Body::Stream(brx));
        let progress = Progress::default();
        let feeder = tokio::spawn(async move {
            for c in ["one", "two"] {
                btx.send(Ok(Bytes::from_static(c.as_bytes())))
                    .await
                    .expect("queue");
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            btx.send(Err(BodyError::Timeout)).await.expect("queue");
        });
        let reader = tokio::spawn(async move { body_frames(&mut daemon).await });
        let (_rd, mut wr) = front.split();
        assert!(send(&mut wr, &mut out, &progress).await);
        // An error frame is sent, but the body is not complete.
        assert!(!progress.complete.load(Ordering::Relaxed));
        feeder.await.expect("feeder");
        let frames = reader.await.expect("task");
        let kinds: Vec<u8> = frames.iter().map(|f| f.0).collect();
        assert_eq!(kinds[..2], [protocol::BODY, protocol::BODY]);
        assert_eq!(&frames[1].1[..], b"two");
        assert_eq!(kinds.len(), 3);
        assert_ne!(kinds[2], protocol::BODY_END);
        assert_eq!(out.ended, Some(false));
    }

    #[tokio::test]
    async fn a_read_ahead_body_goes_with_the_head_and_again_after_a_rejection() {
        let head = protocol::test_head([("PATH_INFO", "/")].into_iter().collect());
        let chunks = vec![
            Bytes::from_static(b"head-"),
            Bytes::from_static(b"and-body"),
        ];
        let mut out = Outgoing::new(&head, Body::Buffered(chunks, None));
        for _attempt in 0..2 {
            let (mut front, mut daemon) = UnixStream::pair().expect("pair");
            let progress = Progress::default();
            let (_rd, mut wr) = front.split();
            assert!(send(&mut wr, &mut out, &progress).await);
            assert!(progress.head_sent.load(Ordering::Relaxed));
            assert!(progress.complete.load(Ordering::Relaxed));
            drop(front);
            let frames = body_frames(&mut daemon).await;
            let got: Vec<(u8, &[u8])> = frames.iter().map(|(k, p)| (*k, &p[..])).collect();
            assert_eq!(
                got,
                [
                    (protocol::BODY, &b"head-and-body"[..]),
                    (protocol::BODY_END, b"")
                ]
            );
        }
        assert!(!out.overflowed);
    }
}
