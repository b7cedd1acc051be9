//! The response body type handed to the connection writer: one enum for every way wsgid
//! produces a body.
//!
//! * [`ResponseBody::full`]: one `Bytes` (an exact list/tuple WSGI result,
//!   error pages).  This is the hot path and costs one `Option::take`.
//! * [`ResponseBody::file`] and [`ResponseBody::parts`]: static files,
//!   single or multipart byte ranges.  Files are read in 256 KiB blocks with
//!   `pread` on tokio's blocking pool, never on the runtime threads and never
//!   whole; the next block is read while the current one is written.
//! * [`ResponseBody::from_events`]: a streamed WSGI response.  The Python
//!   side sends `Chunk`s, `File`s (`wsgi.file_wrapper` on a real file,
//!   streamed natively as above), then `End`.  `Abort`, or the channel
//!   closing without `End`, makes the body fail, so the writer closes the
//!   connection without finishing the response: that is how a truncated
//!   response is signalled to the client, as Apache does.

use std::collections::VecDeque;
use std::fs::File;
use std::future::Future;
use std::os::unix::fs::FileExt;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};

use bytes::Bytes;
use http_body::{Frame, SizeHint};
use tokio::task::JoinHandle;
use wsgid_python::{EventReceiver, ResponseEvent};

/// Block size for file reads (measured best on the reference VM).
pub(crate) const FILE_BLOCK: u64 = 256 * 1024;

/// Why a response body could not be completed.  The writer closes the
/// connection when a body yields this error.
#[derive(Debug, thiserror::Error)]
pub enum BodyError {
    /// The application failed after the head was sent (already logged).
    #[error("response aborted by the application")]
    Aborted,
    /// The response channel closed without an end-of-body event.
    #[error("response stream ended without completing the body")]
    Incomplete,
    /// An event that has no meaning after the head arrived.
    #[error("unexpected response event after the head: {0}")]
    Protocol(&'static str),
    /// Reading a file failed.
    #[error("reading the response file failed: {0}")]
    Io(#[from] std::io::Error),
    /// A file shrank while it was being sent.
    #[error("response file ended {missing} bytes early")]
    FileTruncated {
        /// How many promised bytes were missing.
        missing: u64,
    },
    /// The blocking read task was cancelled or panicked.
    #[error("file read task failed: {0}")]
    Task(#[from] tokio::task::JoinError),
}

/// A range of an open file that the connection writer sends itself with
/// `sendfile(2)` (`EnableSendfile On`), instead of reading it in blocks.
#[derive(Debug)]
pub struct FileRange {
    pub file: Arc<File>,
    pub offset: u64,
    /// `None`: to the end of the file.  With a length, a file that holds
    /// fewer bytes fails the body (the length was promised).
    pub len: Option<u64>,
}

/// What a body yields to the connection writer.
#[derive(Debug)]
pub enum Chunk {
    Data(Bytes),
    File(FileRange),
}

impl Chunk {
    /// As an `http_body` frame: only data can be one (file ranges are
    /// asked for with `direct` only by the connection writer).
    pub fn into_frame(self) -> Result<Frame<Bytes>, BodyError> {
        match self {
            Chunk::Data(b) => Ok(Frame::data(b)),
            Chunk::File(_) => Err(BodyError::Protocol("file range")),
        }
    }
}

/// One piece of a multi-part body: bytes in memory or a file range.
#[derive(Debug)]
pub enum Part {
    /// Bytes sent as they are.
    Bytes(Bytes),
    /// `len` bytes of `file` from `offset`.
    File {
        /// The open file (shared by the parts of one multipart answer).
        file: Arc<File>,
        /// Where to start reading.
        offset: u64,
        /// How many bytes to send.
        len: u64,
    },
}

impl Part {
    fn len(&self) -> u64 {
        match self {
            Part::Bytes(b) => b.len() as u64,
            Part::File { len, .. } => *len,
        }
    }
}

/// The body of every response wsgid sends.
#[derive(Debug)]
pub struct ResponseBody {
    kind: Kind,
}

#[derive(Debug)]
enum Kind {
    /// One buffer (`None` once sent, or from the start for an empty body).
    Full(Option<Bytes>),
    /// A file being read, then more parts.
    Parts {
        current: Option<FileReader>,
        rest: VecDeque<Part>,
        remaining: u64,
    },
    /// A streamed WSGI response.
    Events {
        rx: EventReceiver,
        current: Option<FileReader>,
        done: bool,
    },
}

impl ResponseBody {
    /// No body at all.
    pub fn empty() -> ResponseBody {
        ResponseBody {
            kind: Kind::Full(None),
        }
    }

    /// A body held in memory.
    pub fn full(bytes: Bytes) -> ResponseBody {
        let data = if bytes.is_empty() { None } else { Some(bytes) };
        ResponseBody {
            kind: Kind::Full(data),
        }
    }

    /// `len` bytes of `file` starting at `offset`; a file that turns out
    /// shorter makes the body fail (the length was promised).
    pub fn file(file: File, offset: u64, len: u64) -> ResponseBody {
        ResponseBody::parts(vec![Part::File {
            file: Arc::new(file),
            offset,
            len,
        }])
    }

    /// A sequence of memory and file parts (multipart byte ranges).
    pub fn parts(parts: Vec<Part>) -> ResponseBody {
        let remaining = parts.iter().map(Part::len).sum();
        ResponseBody {
            kind: Kind::Parts {
                current: None,
                rest: parts.into(),
                remaining,
            },
        }
    }

    /// The body events of a streamed WSGI response, after its head.
    pub fn from_events(rx: EventReceiver) -> ResponseBody {
        ResponseBody {
            kind: Kind::Events {
                rx,
                current: None,
                done: false,
            },
        }
    }
}

impl ResponseBody {
    /// The next piece; with `direct`, file ranges are handed over as
    /// [`Chunk::File`] for the writer to `sendfile`, else read in blocks.
    pub fn poll_chunk(
        &mut self,
        cx: &mut Context<'_>,
        direct: bool,
    ) -> Poll<Option<Result<Chunk, BodyError>>> {
        match &mut self.kind {
            Kind::Full(data) => Poll::Ready(data.take().map(|b| Ok(Chunk::Data(b)))),
            Kind::Parts {
                current,
                rest,
                remaining,
            } => {
                let res = ready!(poll_parts(cx, current, rest, direct));
                let n = match &res {
                    Some(Ok(Chunk::Data(b))) => b.len() as u64,
                    Some(Ok(Chunk::File(f))) => f.len.unwrap_or(0),
                    _ => 0,
                };
                *remaining = remaining.saturating_sub(n);
                Poll::Ready(res)
            }
            Kind::Events { rx, current, done } => {
                let res = ready!(poll_events(cx, rx, current, done, direct));
                if res.as_ref().is_none_or(|r| r.is_err()) {
                    *done = true;
                }
                Poll::Ready(res)
            }
        }
    }
}

impl http_body::Body for ResponseBody {
    type Data = Bytes;
    type Error = BodyError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BodyError>>> {
        let res = ready!(self.get_mut().poll_chunk(cx, false));
        Poll::Ready(res.map(|r| r.and_then(Chunk::into_frame)))
    }

    fn is_end_stream(&self) -> bool {
        match &self.kind {
            Kind::Full(data) => data.is_none(),
            Kind::Parts { remaining, .. } => *remaining == 0,
            Kind::Events { done, .. } => *done,
        }
    }

    fn size_hint(&self) -> SizeHint {
        match &self.kind {
            Kind::Full(data) => SizeHint::with_exact(data.as_ref().map_or(0, |b| b.len() as u64)),
            Kind::Parts { remaining, .. } => SizeHint::with_exact(*remaining),
            Kind::Events { .. } => SizeHint::default(),
        }
    }
}

fn poll_parts(
    cx: &mut Context<'_>,
    current: &mut Option<FileReader>,
    rest: &mut VecDeque<Part>,
    direct: bool,
) -> Poll<Option<Result<Chunk, BodyError>>> {
    loop {
        if let Some(reader) = current {
            match ready!(reader.poll_block(cx)) {
                Some(res) => return Poll::Ready(Some(res.map(Chunk::Data))),
                None => *current = None,
            }
        }
        match rest.pop_front() {
            None => return Poll::Ready(None),
            Some(Part::Bytes(b)) if b.is_empty() => {}
            Some(Part::Bytes(b)) => return Poll::Ready(Some(Ok(Chunk::Data(b)))),
            Some(Part::File { len: 0, .. }) => {}
            Some(Part::File { file, offset, len }) if direct => {
                let len = Some(len);
                return Poll::Ready(Some(Ok(Chunk::File(FileRange { file, offset, len }))));
            }
            Some(Part::File { file, offset, len }) => {
                *current = Some(FileReader::new(file, offset, Some(len)));
            }
        }
    }
}

fn poll_events(
    cx: &mut Context<'_>,
    rx: &mut EventReceiver,
    current: &mut Option<FileReader>,
    done: &mut bool,
    direct: bool,
) -> Poll<Option<Result<Chunk, BodyError>>> {
    if *done {
        return Poll::Ready(None);
    }
    loop {
        if let Some(reader) = current {
            match ready!(reader.poll_block(cx)) {
                Some(res) => return Poll::Ready(Some(res.map(Chunk::Data))),
                None => *current = None,
            }
        }
        let event = match ready!(rx.poll_recv(cx)) {
            Some(event) => event,
            None => return Poll::Ready(Some(Err(BodyError::Incomplete))),
        };
        match event {
            ResponseEvent::Chunk(b) if b.is_empty() => {}
            ResponseEvent::Chunk(b) => return Poll::Ready(Some(Ok(Chunk::Data(b)))),
            ResponseEvent::File { file, offset, len } if direct => {
                let file = Arc::new(file);
                return Poll::Ready(Some(Ok(Chunk::File(FileRange { file, offset, len }))));
            }
            ResponseEvent::File { file, offset, len } => {
                *current = Some(FileReader::new(Arc::new(file), offset, len));
            }
            ResponseEvent::End => return Poll::Ready(None),
            ResponseEvent::Abort => return Poll::Ready(Some(Err(BodyError::Aborted))),
            ResponseEvent::Head(_) => return Poll::Ready(Some(Err(BodyError::Protocol("Head")))),
            ResponseEvent::Complete(..) => {
                return Poll::Ready(Some(Err(BodyError::Protocol("Complete"))));
            }
            ResponseEvent::Failed(_) => {
                return Poll::Ready(Some(Err(BodyError::Protocol("Failed"))));
            }
        }
    }
}

/// Streams one range of a file: `pread` of up to [`FILE_BLOCK`] bytes on
/// the blocking pool, one block read ahead.
#[derive(Debug)]
struct FileReader {
    file: Arc<File>,
    /// Offset of the next block to request.
    next_offset: u64,
    /// Bytes not yet requested; `None`: up to end of file.
    unrequested: Option<u64>,
    /// The read in flight and how many bytes it asked for.
    pending: Option<(JoinHandle<std::io::Result<Bytes>>, u64)>,
    /// Set once a read came back short (end of file reached).
    eof: bool,
}

impl FileReader {
    fn new(file: Arc<File>, offset: u64, len: Option<u64>) -> FileReader {
        FileReader {
            file,
            next_offset: offset,
            unrequested: len,
            pending: None,
            eof: false,
        }
    }

    /// Start reading the next block unless everything was requested.
    fn start_read(&mut self) {
        let want = match self.unrequested {
            Some(0) => return,
            Some(n) => n.min(FILE_BLOCK),
            None if self.eof => return,
            None => FILE_BLOCK,
        };
        let file = Arc::clone(&self.file);
        let offset = self.next_offset;
        self.next_offset += want;
        if let Some(n) = &mut self.unrequested {
            *n -= want;
        }
        let to_eof = self.unrequested.is_none();
        // The buffer is allocated here, on the connection's thread, and
        // comes back filled: memory allocated on a blocking-pool thread and
        // freed on the runtime thread piles up in the allocator's per-thread
        // heaps (seen as gigabytes of RSS with 50 concurrent downloads).
        let buf = Vec::with_capacity(usize::try_from(want).unwrap_or(0));
        let handle =
            tokio::task::spawn_blocking(move || read_block(&file, offset, want, to_eof, buf));
        self.pending = Some((handle, want));
    }

    /// The next block, `None` at the end of the range.
    fn poll_block(&mut self, cx: &mut Context<'_>) -> Poll<Option<Result<Bytes, BodyError>>> {
        if self.pending.is_none() {
            self.start_read();
        }
        let Some((handle, requested)) = &mut self.pending else {
            return Poll::Ready(None);
        };
        let requested = *requested;
        let joined = ready!(Pin::new(handle).poll(cx));
        self.pending = None;
        let block = match joined {
            Ok(Ok(block)) => block,
            Ok(Err(e)) => return Poll::Ready(Some(Err(BodyError::Io(e)))),
            Err(e) => return Poll::Ready(Some(Err(BodyError::Task(e)))),
        };
        if (block.len() as u64) < requested {
            // Short read: end of file.
            if let Some(unrequested) = self.unrequested {
                let missing = unrequested + requested - block.len() as u64;
                return Poll::Ready(Some(Err(BodyError::FileTruncated { missing })));
            }
            self.eof = true;
        } else {
            self.start_read();
        }
        if block.is_empty() {
            Poll::Ready(None)
        } else {
            Poll::Ready(Some(Ok(block)))
        }
    }
}

/// Read up to `want` bytes at `offset`, stopping early only at end of file.
/// With `to_eof` the buffer is sized to what the file still holds, so a
/// small `wsgi.file_wrapper` file does not cost a whole block.
pub(crate) fn read_block(
    file: &File,
    offset: u64,
    want: u64,
    to_eof: bool,
    mut buf: Vec<u8>,
) -> std::io::Result<Bytes> {
    let want = if to_eof {
        want.min(file.metadata()?.len().saturating_sub(offset))
    } else {
        want
    };
    let want = usize::try_from(want).unwrap_or(usize::MAX);
    buf.resize(want, 0);
    let mut filled = 0;
    while filled < want {
        match file.read_at(&mut buf[filled..], offset + filled as u64) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    buf.truncate(filled);
    Ok(Bytes::from(buf))
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body::Body as _;
    use http_body_util::BodyExt;
    use std::io::Write;
    use tokio::sync::mpsc;

    /// A temp file holding `len` bytes of a repeating pattern.
    fn temp_file(len: usize) -> (File, Vec<u8>) {
        let data: Vec<u8> = (0..len).map(|i| (i % 251) as u8).collect();
        let mut f = tempfile::tempfile().expect("temp file");
        f.write_all(&data).expect("write");
        (f, data)
    }

    /// Every data frame until the end or the first error.
    async fn drain(mut body: ResponseBody) -> (Vec<u8>, Option<BodyError>) {
        let mut out = Vec::new();
        while let Some(frame) = body.frame().await {
            match frame {
                Ok(f) => out.extend_from_slice(f.data_ref().expect("data frame")),
                Err(e) => return (out, Some(e)),
            }
        }
        (out, None)
    }

    #[tokio::test]
    async fn full_and_empty() {
        let body = ResponseBody::full(Bytes::from_static(b"hello"));
        assert_eq!(body.size_hint().exact(), Some(5));
        assert!(!body.is_end_stream());
        let mut body = body;
        let frame = body.frame().await.expect("one frame").expect("ok");
        assert_eq!(frame.data_ref().map(|b| &b[..]), Some(&b"hello"[..]));
        assert!(body.is_end_stream());
        assert!(body.frame().await.is_none());

        for body in [ResponseBody::empty(), ResponseBody::full(Bytes::new())] {
            assert!(body.is_end_stream());
            assert_eq!(body.size_hint().exact(), Some(0));
            assert_eq!(drain(body).await.0, b"");
        }
    }

    #[tokio::test]
    async fn file_range_in_blocks() {
        let (file, data) = temp_file(700 * 1024);
        let body = ResponseBody::file(file, 100, 600_000);
        assert_eq!(body.size_hint().exact(), Some(600_000));
        let mut body = body;
        let mut got = Vec::new();
        let mut frames = 0;
        while let Some(frame) = body.frame().await {
            let frame = frame.expect("no error");
            let chunk = frame.data_ref().expect("data");
            assert!(chunk.len() as u64 <= FILE_BLOCK);
            got.extend_from_slice(chunk);
            frames += 1;
        }
        assert_eq!(frames, 3);
        assert_eq!(got, &data[100..600_100]);
        assert!(body.is_end_stream());
    }

    #[tokio::test]
    async fn file_shorter_than_promised_fails() {
        let (file, data) = temp_file(10);
        let (got, err) = drain(ResponseBody::file(file, 4, 20)).await;
        assert!(got.is_empty() || got == data[4..]);
        assert!(matches!(
            err,
            Some(BodyError::FileTruncated { missing: 14 })
        ));
    }

    #[tokio::test]
    async fn parts_mix_memory_and_file() {
        let (file, data) = temp_file(50);
        let file = Arc::new(file);
        let body = ResponseBody::parts(vec![
            Part::Bytes(Bytes::from_static(b"<")),
            Part::File {
                file: Arc::clone(&file),
                offset: 10,
                len: 5,
            },
            Part::Bytes(Bytes::new()),
            Part::File {
                file,
                offset: 0,
                len: 0,
            },
            Part::Bytes(Bytes::from_static(b">")),
        ]);
        assert_eq!(body.size_hint().exact(), Some(7));
        let (got, err) = drain(body).await;
        assert!(err.is_none());
        let mut want = b"<".to_vec();
        want.extend_from_slice(&data[10..15]);
        want.push(b'>');
        assert_eq!(got, want);
    }

    #[tokio::test]
    async fn events_chunks_files_and_end() {
        let (file, data) = temp_file(300 * 1024);
        let (tx, rx) = mpsc::channel(8);
        let body = ResponseBody::from_events(EventReceiver::from_stream(rx));
        assert_eq!(body.size_hint().exact(), None);
        let send = async move {
            for ev in [
                ResponseEvent::Chunk(Bytes::from_static(b"head;")),
                ResponseEvent::Chunk(Bytes::new()),
                ResponseEvent::File {
                    file,
                    offset: 1000,
                    len: None,
                },
                ResponseEvent::Chunk(Bytes::from_static(b";tail")),
                ResponseEvent::End,
            ] {
                tx.send(ev).await.expect("receiver alive");
            }
        };
        let ((got, err), ()) = tokio::join!(drain(body), send);
        assert!(err.is_none());
        let mut want = b"head;".to_vec();
        want.extend_from_slice(&data[1000..]);
        want.extend_from_slice(b";tail");
        assert_eq!(got, want);
    }

    #[tokio::test]
    async fn events_file_with_length() {
        let (file, data) = temp_file(100);
        let (tx, rx) = mpsc::channel(4);
        tx.send(ResponseEvent::File {
            file,
            offset: 90,
            len: Some(8),
        })
        .await
        .expect("send");
        tx.send(ResponseEvent::End).await.expect("send");
        let (got, err) = drain(ResponseBody::from_events(EventReceiver::from_stream(rx))).await;
        assert!(err.is_none());
        assert_eq!(got, &data[90..98]);
    }

    #[tokio::test]
    async fn abort_and_closed_channel_fail_the_body() {
        let (tx, rx) = mpsc::channel(4);
        tx.send(ResponseEvent::Chunk(Bytes::from_static(b"partial;")))
            .await
            .expect("send");
        tx.send(ResponseEvent::Abort).await.expect("send");
        let mut body = ResponseBody::from_events(EventReceiver::from_stream(rx));
        let (got, err) = {
            let mut out = Vec::new();
            let mut err = None;
            while let Some(frame) = body.frame().await {
                match frame {
                    Ok(f) => out.extend_from_slice(f.data_ref().expect("data")),
                    Err(e) => {
                        err = Some(e);
                        break;
                    }
                }
            }
            (out, err)
        };
        assert_eq!(got, b"partial;");
        assert!(matches!(err, Some(BodyError::Aborted)));
        assert!(body.is_end_stream());
        assert!(body.frame().await.is_none());

        let (tx, rx) = mpsc::channel(4);
        tx.send(ResponseEvent::Chunk(Bytes::from_static(b"x")))
            .await
            .expect("send");
        drop(tx);
        let (got, err) = drain(ResponseBody::from_events(EventReceiver::from_stream(rx))).await;
        assert_eq!(got, b"x");
        assert!(matches!(err, Some(BodyError::Incomplete)));

        let (tx, rx) = mpsc::channel(4);
        tx.send(ResponseEvent::Failed(500)).await.expect("send");
        let (_, err) = drain(ResponseBody::from_events(EventReceiver::from_stream(rx))).await;
        assert!(matches!(err, Some(BodyError::Protocol("Failed"))));
    }
}
