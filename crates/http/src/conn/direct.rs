//! Direct body reads: a Python thread reads the current request's
//! `Content-Length` body from the socket itself, straight into the memory
//! the application gets (`request_body.rs` says when), while the
//! connection task waits for the response.  The read-state lock serialises
//! these reads with the connection task's.

use std::io;

use bytes::Buf;
use tokio::net::TcpStream;
use tokio::time::Instant;

use super::body_in::Framing;
use super::io::{ReadState, Shared};

/// How a direct body read ([`Shared::try_read_body`]) went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direct {
    /// This many bytes were written to the start of the destination.
    Data(usize),
    /// The body is over.
    End,
    /// Nothing to read yet: wait for the socket.
    WouldBlock,
}

/// Where a direct body read lands: a Python `bytes` object being filled
/// in place, or a plain slice.
pub enum BodyDst<'a, 'b> {
    Bytes(&'a mut wsgid_python::Filling<'b>),
    Slice(&'a mut [u8]),
}

impl BodyDst<'_, '_> {
    fn len(&self) -> usize {
        match self {
            BodyDst::Bytes(f) => f.room(),
            BodyDst::Slice(s) => s.len(),
        }
    }

    /// Copy `src` (no longer than `len()`) to the start.
    fn put(&mut self, src: &[u8]) {
        match self {
            BodyDst::Bytes(f) => {
                f.put(src);
            }
            BodyDst::Slice(s) => s[..src.len()].copy_from_slice(src),
        }
    }

    /// One non-blocking `recv` of at most `want` bytes to the start.
    fn recv(&mut self, stream: &TcpStream, want: usize) -> rustix::io::Result<usize> {
        let flags = rustix::net::RecvFlags::DONTWAIT;
        match self {
            BodyDst::Bytes(f) => f.recv(stream, want, flags),
            BodyDst::Slice(s) => Ok(rustix::net::recv(stream, &mut s[..want], flags)?.1),
        }
    }
}

impl Shared {
    /// Bytes of the current request's `Content-Length` body not read yet
    /// (0 when `seq` is over or the body is not framed by length).
    pub(super) fn body_rest(&self, seq: u64) -> u64 {
        let st = self.state();
        match st.framing {
            Framing::Length(rest) if st.seq == seq => rest,
            _ => 0,
        }
    }

    /// Copy body bytes into `dst` without waiting: first what the buffer
    /// holds, else one non-blocking `recv` from the socket straight into
    /// `dst`, asking for no more than the body's rest (the next request's
    /// bytes stay in the kernel).  Called from a Python thread while the
    /// connection task waits for the response; the read-state lock
    /// serialises it with the connection task's reads.
    pub(super) fn try_read_body(&self, seq: u64, dst: &mut BodyDst<'_, '_>) -> io::Result<Direct> {
        let mut st = self.state();
        if st.seq != seq {
            return Ok(Direct::End);
        }
        let rest = match st.framing {
            Framing::Length(rest) => rest,
            Framing::Done => return Ok(Direct::End),
            Framing::Broken | Framing::Chunked(_) => {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    "request body framing is not a Content-Length",
                ));
            }
        };
        let want = usize::try_from(rest).unwrap_or(usize::MAX).min(dst.len());
        if want == 0 {
            return Ok(Direct::Data(0));
        }
        let n = if st.buf.is_empty() {
            if st.eof {
                0
            } else {
                loop {
                    let read = match dst {
                        BodyDst::Bytes(f) if want as u64 == rest => {
                            self.recv_body_end(f, want, &mut st)
                        }
                        _ => dst.recv(self.stream(), want).map_err(io::Error::from),
                    };
                    match read {
                        Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                        Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                            return Ok(Direct::WouldBlock);
                        }
                        Err(e) => {
                            st.framing = Framing::Broken;
                            return Err(e);
                        }
                        Ok(n) => break n,
                    }
                }
            }
        } else {
            let n = want.min(st.buf.len());
            dst.put(&st.buf[..n]);
            st.buf.advance(n);
            n
        };
        if n == 0 {
            st.eof = true;
            st.framing = Framing::Broken;
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        st.body_received(n);
        let left = rest - n as u64;
        st.framing = if left == 0 {
            Framing::Done
        } else {
            Framing::Length(left)
        };
        Ok(Direct::Data(n))
    }

    /// The read that completes a body, into a `bytes` object: it also asks
    /// for up to `SPILL` bytes more (the next request's head, kept in the
    /// buffer), so that a short read shows the socket drained, and it runs
    /// inside `try_io`, which then clears tokio's readiness (only if no new
    /// event came since it looked).  Else tokio would still take the socket
    /// for readable and the next head read would be a `recv` failing with
    /// `EAGAIN`: one system call more per request.  Returns the body bytes
    /// read (at most `want`).
    fn recv_body_end(
        &self,
        f: &mut wsgid_python::Filling<'_>,
        want: usize,
        st: &mut ReadState,
    ) -> io::Result<usize> {
        const SPILL: usize = 1024;
        let mut spill = [0u8; SPILL];
        let mut read = None;
        let _ = self.stream().try_io(tokio::io::Interest::READABLE, || {
            let r = f.recv_spilling(self.stream(), want, &mut spill);
            let drained = match &r {
                Ok(n) => *n < want + SPILL,
                Err(e) => e.kind() == io::ErrorKind::WouldBlock,
            };
            read = Some(r);
            if drained {
                Err(io::ErrorKind::WouldBlock.into())
            } else {
                Ok(())
            }
        });
        // Not called when tokio holds the socket for not readable (an
        // event not handled yet): read anyway, readiness is clear already.
        let n = match read {
            Some(r) => r?,
            None => f.recv_spilling(self.stream(), want, &mut spill)?,
        };
        if n > want {
            st.buf.extend_from_slice(&spill[..n - want]);
        }
        Ok(n.min(want))
    }

    /// Wait (blocking the calling thread, which is not a runtime thread)
    /// until the socket is readable, at most `Timeout` in all (a signal
    /// that interrupts the wait does not start it again).
    pub(super) fn wait_readable_blocking(&self) -> io::Result<()> {
        // `Timeout`, or the end of `RequestReadTimeout`'s body stage.
        let end = self.body_wait_deadline();
        let deadline = end.into_std();
        loop {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            if left.is_zero() {
                self.body_wait_timed_out(end);
                return Err(io::ErrorKind::TimedOut.into());
            }
            let timeout = rustix::event::Timespec::try_from(left)
                .map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
            let mut fds = [rustix::event::PollFd::new(
                self.stream(),
                rustix::event::PollFlags::IN,
            )];
            match rustix::event::poll(&mut fds, Some(&timeout)) {
                Ok(0) => {
                    self.body_wait_timed_out(end);
                    return Err(io::ErrorKind::TimedOut.into());
                }
                Ok(_) => return Ok(()),
                Err(rustix::io::Errno::INTR) => continue,
                Err(e) => return Err(e.into()),
            }
        }
    }

    /// Wait until at least `enough` bytes of the current body are in the
    /// buffer or the socket's receive queue (`FIONREAD`), so that a Python
    /// thread given the request finds them without waiting.  Gives up
    /// (not an error: the reader then waits itself) at `deadline`, at the
    /// client's end of stream, or when the request is over.
    pub(super) async fn wait_body_bytes(&self, seq: u64, enough: u64, deadline: Instant) {
        loop {
            let need = {
                let st = self.state();
                if st.seq != seq || st.eof {
                    return;
                }
                enough.saturating_sub(st.buf.len() as u64)
            };
            if need == 0 {
                return;
            }
            // `try_io` clears tokio's readiness when the queue is short, so
            // the wait below lasts until more data arrives.
            let queued = self.stream().try_io(tokio::io::Interest::READABLE, || {
                let n = rustix::io::ioctl_fionread(self.stream())?;
                if n >= need {
                    Ok(())
                } else {
                    Err(io::ErrorKind::WouldBlock.into())
                }
            });
            match queued {
                Ok(()) => return,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                Err(_) => return,
            }
            match tokio::time::timeout_at(
                deadline,
                self.stream().ready(tokio::io::Interest::READABLE),
            )
            .await
            {
                Ok(Ok(ready)) if !ready.is_read_closed() => {}
                _ => return,
            }
        }
    }
}
