//! The response body type handed to hyper: one enum for every way wsgid
//! produces a body.
//!
//! * [`ResponseBody::full`]: one `Bytes` (an exact list/tuple WSGI result,
//!   error pages).  This is the hot path and costs one `Option::take`.
//! * [`ResponseBody::file`] and [`ResponseBody::parts`]: static files,
//!   single or multipart byte ranges.  Files are read in 256 KiB blocks with
//!   `pread` on tokio's blocking pool, never on the runtime threads and never
//!   whole; the next block is read while hyper writes the current one.
//! * [`ResponseBody::from_events`]: a streamed WSGI response.  The Python
//!   side sends `Chunk`s, `File`s (`wsgi.file_wrapper` on a real file,
//!   streamed natively as above), then `End`.  `Abort`, or the channel
//!   closing without `End`, makes the body fail, so hyper closes the
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
use tokio::sync::mpsc::Receiver;
use tokio::task::JoinHandle;
use wsgid_python::ResponseEvent;

/// Block size for file reads (measured best on the reference VM).
const FILE_BLOCK: u64 = 256 * 1024;

/// Why a response body could not be completed.  hyper closes the
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
        rx: Receiver<ResponseEvent>,
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
    pub fn from_events(rx: Receiver<ResponseEvent>) -> ResponseBody {
        ResponseBody {
            kind: Kind::Events {
                rx,
                current: None,
                done: false,
            },
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
        let this = self.get_mut();
        match &mut this.kind {
            Kind::Full(data) => Poll::Ready(data.take().map(|b| Ok(Frame::data(b)))),
            Kind::Parts {
                current,
                rest,
                remaining,
            } => {
                let res = ready!(poll_parts(cx, current, rest));
                if let Some(Ok(b)) = &res {
                    *remaining = remaining.saturating_sub(b.len() as u64);
                }
                Poll::Ready(res.map(|r| r.map(Frame::data)))
            }
            Kind::Events { rx, current, done } => {
                let res = ready!(poll_events(cx, rx, current, done));
                if res.as_ref().is_none_or(|r| r.is_err()) {
                    *done = true;
                }
                Poll::Ready(res.map(|r| r.map(Frame::data)))
            }
        }
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
) -> Poll<Option<Result<Bytes, BodyError>>> {
    loop {
        if let Some(reader) = current {
            match ready!(reader.poll_block(cx)) {
                Some(res) => return Poll::Ready(Some(res)),
                None => *current = None,
            }
        }
        match rest.pop_front() {
            None => return Poll::Ready(None),
            Some(Part::Bytes(b)) if b.is_empty() => {}
            Some(Part::Bytes(b)) => return Poll::Ready(Some(Ok(b))),
            Some(Part::File { file, offset, len }) => {
                *current = Some(FileReader::new(file, offset, Some(len)));
            }
        }
    }
}

fn poll_events(
    cx: &mut Context<'_>,
    rx: &mut Receiver<ResponseEvent>,
    current: &mut Option<FileReader>,
    done: &mut bool,
) -> Poll<Option<Result<Bytes, BodyError>>> {
    if *done {
        return Poll::Ready(None);
    }
    loop {
        if let Some(reader) = current {
            match ready!(reader.poll_block(cx)) {
                Some(res) => return Poll::Ready(Some(res)),
                None => *current = None,
            }
        }
        let event = match ready!(rx.poll_recv(cx)) {
            Some(event) => event,
            None => return Poll::Ready(Some(Err(BodyError::Incomplete))),
        };
        match event {
            ResponseEvent::Chunk(b) if b.is_empty() => {}
            ResponseEvent::Chunk(b) => return Poll::Ready(Some(Ok(b))),
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
        let handle = tokio::task::spawn_blocking(move || read_block(&file, offset, want));
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
fn read_block(file: &File, offset: u64, want: u64) -> std::io::Result<Bytes> {
    let want = usize::try_from(want).unwrap_or(usize::MAX);
    let mut buf = vec![0u8; want];
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
