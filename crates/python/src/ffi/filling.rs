//! A `bytes` object filled in place: `wsgi.input.read(n)` creates the
//! object uninitialised and lets the request body write into it (the
//! kernel's `recv` straight into it, for a body read from the socket), so
//! the body is not copied once more out of a read buffer.
//!
//! Soundness rests on [`Filling`] alone: it counts the bytes written to
//! the start of the object, and its fields are private, so only its
//! writers can advance the count: `put` (a copy), `recv` (rustix reports
//! how many bytes the kernel initialised) and `recv_spilling` (`readv`).  [`bytes_filled`] trusts that
//! count and nothing the caller says.

use std::mem::MaybeUninit;
use std::os::fd::AsFd;

use pyo3::prelude::*;
use pyo3::types::PyBytes;
use pyo3_ffi as sys;

/// The unwritten rest of a new `bytes` object, written front to back.
pub struct Filling<'a> {
    buf: &'a mut [MaybeUninit<u8>],
    filled: usize,
}

impl Filling<'_> {
    /// Bytes that can still be written.
    pub fn room(&self) -> usize {
        self.buf.len() - self.filled
    }

    /// Copy as much of `src` as there is room for; returns how much.
    pub fn put(&mut self, src: &[u8]) -> usize {
        let n = src.len().min(self.room());
        for (d, b) in self.buf[self.filled..self.filled + n].iter_mut().zip(src) {
            d.write(*b);
        }
        self.filled += n;
        n
    }

    /// One `recv(2)` of at most `max` bytes into the room (0: end of
    /// stream, or no room).
    pub fn recv<Fd: AsFd>(
        &mut self,
        fd: Fd,
        max: usize,
        flags: rustix::net::RecvFlags,
    ) -> rustix::io::Result<usize> {
        let end = self.filled + max.min(self.room());
        let ((init, _), _) = rustix::net::recv(fd, &mut self.buf[self.filled..end], flags)?;
        let n = init.len();
        self.filled += n;
        Ok(n)
    }
}

impl Filling<'_> {
    /// One `readv(2)` from a non-blocking socket: at most `max` bytes into
    /// the room, and what else is there, up to `spill.len()` bytes, into
    /// `spill`.  Returns the total read; the bytes past `max` are at the
    /// start of `spill`.  A total short of `max + spill.len()` tells the
    /// caller the socket is drained, which a read of exactly `max` cannot.
    pub fn recv_spilling<Fd: AsFd>(
        &mut self,
        fd: Fd,
        max: usize,
        spill: &mut [u8],
    ) -> std::io::Result<usize> {
        use std::os::fd::AsRawFd;
        let max = max.min(self.room());
        let tail = &mut self.buf[self.filled..self.filled + max];
        let iov = [
            libc::iovec {
                iov_base: tail.as_mut_ptr().cast(),
                iov_len: tail.len(),
            },
            libc::iovec {
                iov_base: spill.as_mut_ptr().cast(),
                iov_len: spill.len(),
            },
        ];
        // SAFETY: the two iovecs describe `tail` and `spill`, memory this
        // function holds exclusive borrows of, with their exact lengths;
        // readv writes at most that much, front to back, and returns the
        // number of bytes written (or -1 with errno set).
        let n = unsafe { libc::readv(fd.as_fd().as_raw_fd(), iov.as_ptr(), 2) };
        let n = usize::try_from(n).map_err(|_| std::io::Error::last_os_error())?;
        // The kernel wrote the first `min(n, max)` bytes of `tail`.
        self.filled += n.min(max);
        Ok(n)
    }
}

/// A new `bytes` object of at most `len` bytes, written by `fill`.  If
/// `fill` writes less, the result is a copy of what it wrote (a read cut
/// short by the end of the body); if it fails, the object is dropped.
pub(crate) fn bytes_filled<'py>(
    py: Python<'py>,
    len: usize,
    fill: impl FnOnce(&mut Filling<'_>) -> PyResult<()>,
) -> PyResult<Bound<'py, PyBytes>> {
    let size = sys::Py_ssize_t::try_from(len)
        .map_err(|_| pyo3::exceptions::PyOverflowError::new_err("request data too large"))?;
    // SAFETY: the GIL is held (`py`).  With a NULL source,
    // PyBytes_FromStringAndSize returns a new, uninitialised bytes object of
    // `size` bytes (or NULL with an exception set, turned into a PyErr).
    let obj = unsafe {
        Bound::from_owned_ptr_or_err(py, sys::PyBytes_FromStringAndSize(std::ptr::null(), size))?
    };
    // SAFETY: `obj` is the bytes object just created, so PyBytes_AsString
    // returns its buffer of `len` (+1 NUL) writable bytes.  Nobody else
    // holds a reference, and `obj` outlives the slice (both live in this
    // function; the slice is not returned), so the slice is the only access
    // to that memory while it exists, even if `fill` releases the GIL.
    let buf = unsafe {
        let start = sys::PyBytes_AsString(obj.as_ptr()).cast::<MaybeUninit<u8>>();
        std::slice::from_raw_parts_mut(start, len)
    };
    let mut filling = Filling { buf, filled: 0 };
    fill(&mut filling)?;
    let Filling { buf, filled } = filling;
    if filled == len {
        // Every byte was written (see the module comment).
        return Ok(obj.cast_into::<PyBytes>()?);
    }
    // SAFETY: `Filling` counts exactly the bytes written to the start of
    // `buf` (its only writers are `put` and `recv`), so the first `filled`
    // are initialised.
    let written = unsafe { std::slice::from_raw_parts(buf.as_ptr().cast::<u8>(), filled) };
    Ok(PyBytes::new(py, written))
}
