//! Unit tests of one exchange: what reaches the daemon (frames, the
//! resend after `J`) and what the front end makes of its answers.

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
