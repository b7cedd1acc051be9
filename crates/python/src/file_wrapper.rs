//! `wsgi.file_wrapper` (`mod_wsgi.FileWrapper`) and its fast path.
//!
//! The wrapper iterates `filelike.read(blksize)` and forwards `close()` to
//! the file-like object, as mod_wsgi's `Stream_Type` (wsgi_stream.c).  When
//! an application returns one around a regular file and has not written any
//! body yet, the response is sent as `ResponseEvent::File` (a duplicated
//! descriptor, streamed natively by the front end) instead of iterating in
//! Python, as `Adapter_process_file_wrapper` hands the file to Apache.
//!
//! `FileWrapper` is a `#[pyclass]` (process-wide type object; see
//! `adapter.rs`).

use pyo3::exceptions::{PyKeyError, PyTypeError};
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyInt};

use crate::ResponseEvent;
use crate::adapter::Adapter;
use crate::ffi;
use crate::response::Finish;

/// mod_wsgi's default block size (`HUGE_STRING_LEN`).
const DEFAULT_BLKSIZE: i64 = 8192;

/// `wsgi.file_wrapper(filelike, blksize=8192)`.
#[pyclass(module = "mod_wsgi", name = "FileWrapper", subclass)]
pub(crate) struct FileWrapper {
    filelike: Option<Py<PyAny>>,
    blksize: i64,
}

#[pymethods]
impl FileWrapper {
    #[new]
    #[pyo3(signature = (filelike, blksize = DEFAULT_BLKSIZE))]
    fn new(filelike: Py<PyAny>, blksize: i64) -> FileWrapper {
        FileWrapper {
            filelike: Some(filelike),
            blksize,
        }
    }

    #[getter]
    fn filelike(&self, py: Python<'_>) -> Py<PyAny> {
        self.filelike
            .as_ref()
            .map_or_else(|| py.None(), |f| f.clone_ref(py))
    }

    #[getter]
    fn blksize(&self) -> i64 {
        self.blksize
    }

    fn __iter__(slf: PyRef<'_, Self>) -> PyRef<'_, Self> {
        slf
    }

    fn __next__<'py>(slf: &Bound<'py, Self>) -> PyResult<Option<Bound<'py, PyAny>>> {
        // Through getattr, so that subclasses can override the attributes.
        let filelike = slf
            .getattr("filelike")
            .map_err(|_| PyKeyError::new_err("file wrapper no filelike attribute"))?;
        let read = filelike
            .getattr("read")
            .map_err(|_| PyKeyError::new_err("file like object has no read() method"))?;
        let blksize = slf
            .getattr("blksize")
            .map_err(|_| PyKeyError::new_err("file wrapper has no blksize attribute"))?;
        if !blksize.is_instance_of::<PyInt>() {
            return Err(PyKeyError::new_err(
                "file wrapper blksize attribute not integer",
            ));
        }
        let data = read.call1((blksize,))?;
        match data.cast::<PyBytes>() {
            Ok(b) if b.as_bytes().is_empty() => Ok(None),
            Ok(_) => Ok(Some(data)),
            Err(_) => Err(PyTypeError::new_err(
                "file like object yielded non string type",
            )),
        }
    }

    /// Close the file-like object (its errors are ignored, as in mod_wsgi).
    fn close(&mut self, py: Python<'_>) {
        if let Some(filelike) = self.filelike.take()
            && let Ok(Some(close)) = filelike.bind(py).getattr_opt("close")
        {
            let _ = close.call0();
        }
    }
}

/// Where the file-like object's data starts: its descriptor (duplicated) and
/// Python-level position.  `None` when it is not a regular file.
struct RegularFile {
    file: std::fs::File,
    size: u64,
    offset: u64,
}

fn regular_file(filelike: &Bound<'_, PyAny>) -> Option<RegularFile> {
    // PyObject_AsFileDescriptor: an int, or the result of fileno().
    let fd_obj = if filelike.is_instance_of::<PyInt>() {
        filelike.clone()
    } else {
        filelike.call_method0("fileno").ok()?
    };
    let fd: i32 = fd_obj.extract().ok()?;
    let file = ffi::dup_fd(fd).ok()?;
    let meta = file.metadata().ok()?;
    if !meta.is_file() {
        return None;
    }
    // The Python object's own idea of the position (it may buffer).
    let offset: i64 = filelike.call_method0("tell").ok()?.extract().ok()?;
    let offset = u64::try_from(offset).ok()?;
    Some(RegularFile {
        file,
        size: meta.len(),
        offset,
    })
}

/// Send `result` natively if it is a file wrapper around a regular file and
/// nothing was written yet.  `Ok(None)`: iterate it as usual.
pub(crate) fn try_send_native(
    py: Python<'_>,
    result: &Bound<'_, PyAny>,
    adapter: &Bound<'_, Adapter>,
) -> PyResult<Option<Finish>> {
    if !result.is_instance_of::<FileWrapper>() || adapter.try_borrow()?.output_length() != 0 {
        return Ok(None);
    }
    // Python-level calls (fileno, tell) happen before the adapter is borrowed.
    let Ok(filelike) = result.getattr("filelike") else {
        return Ok(None);
    };
    let Some(RegularFile { file, size, offset }) = regular_file(&filelike) else {
        return Ok(None);
    };
    let mut adapter = adapter.try_borrow_mut()?;
    // Errors here (no start_response, bad Content-Length) are the
    // application's and end the request.
    let Some(mut head) = adapter.take_head()? else {
        return Ok(None);
    };
    let available = size.saturating_sub(offset);
    let len = match adapter.content_length() {
        Some(cl) => cl,
        None => {
            head.push("Content-Length", &available.to_string());
            available
        }
    };
    adapter.add_output(available, len);
    if len == 0 {
        return Ok(Some(Finish::Complete(head, bytes::Bytes::new())));
    }
    if !adapter.send(py, ResponseEvent::Head(head))
        || !adapter.send(
            py,
            ResponseEvent::File {
                file,
                offset,
                len: Some(len),
            },
        )
    {
        return Ok(Some(Finish::ClientGone));
    }
    Ok(Some(Finish::End))
}
