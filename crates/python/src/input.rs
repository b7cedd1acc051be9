//! `wsgi.input`: the request body as a Python file-like object.
//!
//! Reads pull chunks from the front end's [`RequestBody`] with the GIL
//! released, and keep at most the unread rest of one chunk buffered.
//! Semantics follow mod_wsgi's `Input_*` (mod_wsgi.c): `read(n)` blocks until
//! `n` bytes or the end, `readline`/`readlines`/iteration split on `\n`, and
//! a read error is an `IOError` ("Apache/mod_wsgi request data read error:
//! ...") after which every read fails.
//!
//! `Input` is a `#[pyclass]` (process-wide type object; see `adapter.rs`).

use std::sync::{Mutex, PoisonError};

use bytes::Bytes;
use pyo3::exceptions::{PyIOError, PyRuntimeError};
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyList};

use crate::ffi;
use crate::{BodyError, RequestBody};

/// Largest `read` answered by a `bytes` object made before the data is
/// there (see `read_direct`): a client's `Content-Length` alone must not
/// make the server allocate gigabytes.  Larger reads collect the chunks
/// as they arrive, then copy them.
const DIRECT_READ_MAX: usize = 4 << 20;

/// The `wsgi.input` object of one request.
#[pyclass(module = "mod_wsgi", name = "Input")]
pub(crate) struct Input {
    /// A `Mutex` only to make the type `Sync` for pyo3; every access goes
    /// through `&mut self` (`get_mut`, no locking).
    body: Mutex<Box<dyn RequestBody>>,
    /// The unread rest of the current chunk.
    buffer: Bytes,
    eof: bool,
    failed: bool,
    expired: bool,
}

/// The body of a finished request's kept `wsgi.input`: none.  (A
/// zero-sized type: boxing it allocates nothing.)
struct NoBody;

impl RequestBody for NoBody {
    fn next_chunk(&mut self) -> Result<Option<Bytes>, BodyError> {
        Ok(None)
    }
}

impl Input {
    pub(crate) fn new(body: Box<dyn RequestBody>) -> Input {
        Input {
            body: Mutex::new(body),
            buffer: Bytes::new(),
            eof: false,
            failed: false,
            expired: false,
        }
    }

    pub(crate) fn expire(&mut self) {
        self.expired = true;
    }

    /// The request is over and nothing else holds this object: let the
    /// body source go (it is the connection's), keep the object.
    pub(crate) fn release(&mut self) {
        self.expired = true;
        *self.body.get_mut().unwrap_or_else(PoisonError::into_inner) = Box::new(NoBody);
        self.buffer = Bytes::new();
    }

    /// The state of a new `wsgi.input`, for the next request.
    pub(crate) fn renew(&mut self, body: Box<dyn RequestBody>) {
        *self.body.get_mut().unwrap_or_else(PoisonError::into_inner) = body;
        self.buffer = Bytes::new();
        self.eof = false;
        self.failed = false;
        self.expired = false;
    }

    fn check_live(&self) -> PyResult<()> {
        if self.expired {
            return Err(PyRuntimeError::new_err("request object has expired"));
        }
        if self.failed {
            return Err(PyIOError::new_err(
                "Apache/mod_wsgi request data read error: Input is already in error state.",
            ));
        }
        Ok(())
    }

    /// Make `buffer` non-empty; false at the end of the body.
    fn fill(&mut self, py: Python<'_>) -> PyResult<bool> {
        while self.buffer.is_empty() {
            if self.eof {
                return Ok(false);
            }
            let body = match self.body.get_mut() {
                Ok(b) => b,
                Err(poisoned) => poisoned.into_inner(),
            };
            let next = match body.ready_chunk() {
                Some(ready) => ready,
                None => py.detach(|| body.next_chunk()),
            };
            match next {
                Ok(Some(chunk)) => self.buffer = chunk,
                Ok(None) => self.eof = true,
                Err(e) => {
                    self.failed = true;
                    return Err(PyIOError::new_err(format!(
                        "Apache/mod_wsgi request data read error: {}.",
                        describe(&e)
                    )));
                }
            }
        }
        Ok(true)
    }

    /// Up to `limit` bytes (all with `None`), as `read`: the chunks are
    /// collected without copying and copied once, into the bytes object.
    fn read_bytes<'py>(
        &mut self,
        py: Python<'py>,
        limit: Option<usize>,
    ) -> PyResult<Bound<'py, PyBytes>> {
        if let Some(read) = self.read_direct(py, limit) {
            return read;
        }
        let mut parts: Vec<Bytes> = Vec::new();
        let mut total = 0;
        while limit.is_none_or(|l| total < l) {
            if !self.fill(py)? {
                break;
            }
            let want = limit.map_or(self.buffer.len(), |l| (l - total).min(self.buffer.len()));
            let part = self.buffer.split_to(want);
            total += part.len();
            parts.push(part);
        }
        ffi::bytes_from_parts(py, &parts)
    }

    /// `read` from a source that writes straight into the new `bytes`
    /// object (see [`RequestBody::direct_rest`]): its size is known before
    /// reading, so the object is made first and filled in place, with the
    /// GIL released only to wait for the client.  None: the source cannot,
    /// or the buffered rest of a chunk answers the read alone.
    fn read_direct<'py>(
        &mut self,
        py: Python<'py>,
        limit: Option<usize>,
    ) -> Option<PyResult<Bound<'py, PyBytes>>> {
        let body = match self.body.get_mut() {
            Ok(b) => b,
            Err(poisoned) => poisoned.into_inner(),
        };
        let rest = usize::try_from(body.direct_rest()?).ok()?;
        let total = self.buffer.len().checked_add(rest)?;
        let want = limit.map_or(total, |l| l.min(total));
        if self.eof || want <= self.buffer.len() || want > DIRECT_READ_MAX {
            return None;
        }
        let (buffer, eof, failed) = (&mut self.buffer, &mut self.eof, &mut self.failed);
        Some(ffi::bytes_filled(py, want, |dst| {
            dst.put(&buffer[..]);
            *buffer = Bytes::new();
            while dst.room() > 0 {
                let step = match body.try_read_into(dst) {
                    Ok(Some(0)) => {
                        *eof = true;
                        return Ok(());
                    }
                    Ok(Some(_)) => Ok(()),
                    Ok(None) => py.detach(|| body.wait_readable()),
                    Err(e) => Err(e),
                };
                if let Err(e) = step {
                    *failed = true;
                    return Err(PyIOError::new_err(format!(
                        "Apache/mod_wsgi request data read error: {}.",
                        describe(&e)
                    )));
                }
            }
            Ok(())
        }))
    }

    /// One line including its `\n`, at most `limit` bytes.
    fn read_line(&mut self, py: Python<'_>, limit: Option<usize>) -> PyResult<Vec<u8>> {
        let mut out = Vec::new();
        while limit.is_none_or(|l| out.len() < l) {
            if !self.fill(py)? {
                break;
            }
            let room = limit.map_or(self.buffer.len(), |l| {
                (l - out.len()).min(self.buffer.len())
            });
            let (take, done) = match self.buffer[..room].iter().position(|&b| b == b'\n') {
                Some(i) => (i + 1, true),
                None => (room, false),
            };
            out.extend_from_slice(&self.buffer.split_to(take));
            if done {
                break;
            }
        }
        Ok(out)
    }
}

/// The text after "request data read error: ", as Apache's would read.
fn describe(e: &BodyError) -> String {
    match e {
        BodyError::Io(msg) => msg.clone(),
        BodyError::TooLarge => "Request body is larger than the configured limit".into(),
        BodyError::Timeout => "The timeout specified has expired".into(),
    }
}

/// A negative or missing size means "no limit".
fn limit_of(size: Option<i64>) -> Option<usize> {
    size.and_then(|s| usize::try_from(s).ok())
}

#[pymethods]
impl Input {
    /// `read(size=-1)`.
    #[pyo3(signature = (size = None))]
    fn read<'py>(&mut self, py: Python<'py>, size: Option<i64>) -> PyResult<Bound<'py, PyBytes>> {
        self.check_live()?;
        if size == Some(0) {
            return Ok(PyBytes::new(py, b""));
        }
        self.read_bytes(py, limit_of(size))
    }

    /// `readline(size=-1)`.
    #[pyo3(signature = (size = None))]
    fn readline<'py>(
        &mut self,
        py: Python<'py>,
        size: Option<i64>,
    ) -> PyResult<Bound<'py, PyBytes>> {
        self.check_live()?;
        if size == Some(0) {
            return Ok(PyBytes::new(py, b""));
        }
        let line = self.read_line(py, limit_of(size))?;
        Ok(PyBytes::new(py, &line))
    }

    /// `readlines(hint=0)`: lines until the end, or until `hint` bytes.
    #[pyo3(signature = (hint = 0))]
    fn readlines<'py>(&mut self, py: Python<'py>, hint: i64) -> PyResult<Bound<'py, PyList>> {
        self.check_live()?;
        let lines = PyList::empty(py);
        let mut total: i64 = 0;
        loop {
            let line = self.read_line(py, None)?;
            if line.is_empty() {
                break;
            }
            total = total.saturating_add(i64::try_from(line.len()).unwrap_or(i64::MAX));
            lines.append(PyBytes::new(py, &line))?;
            if hint > 0 && total >= hint {
                break;
            }
        }
        Ok(lines)
    }

    fn __iter__(slf: PyRef<'_, Self>) -> PyResult<PyRef<'_, Self>> {
        if slf.expired {
            return Err(PyRuntimeError::new_err("request object has expired"));
        }
        Ok(slf)
    }

    fn __next__<'py>(&mut self, py: Python<'py>) -> PyResult<Option<Bound<'py, PyBytes>>> {
        self.check_live()?;
        let line = self.read_line(py, None)?;
        Ok((!line.is_empty()).then(|| PyBytes::new(py, &line)))
    }

    fn close(&self) {}
}
