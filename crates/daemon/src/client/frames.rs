//! The front end's reader of response frames: like
//! [`crate::protocol::FrameReader`], but with `recvmsg`, so that the
//! descriptors of `G` frames (`SCM_RIGHTS`) are received with the bytes
//! they travel with.

use std::collections::VecDeque;
use std::io::IoSliceMut;
use std::mem::MaybeUninit;
use std::os::fd::OwnedFd;

use bytes::{Bytes, BytesMut};
use rustix::net::{RecvAncillaryBuffer, RecvAncillaryMessage, RecvFlags};
use tokio::io::Interest;
use tokio::net::UnixStream;

use crate::protocol;

/// Bytes asked for by one `recvmsg` when no frame size is known yet, and
/// at most.
const READ_MIN: usize = 4096;
const READ_MAX: usize = 256 * 1024;

thread_local! {
    /// Where `recvmsg` writes, then copied into the frame buffer: it needs
    /// initialised memory, and zero-filling the buffer's spare room before
    /// each call cost a 4 KiB memset for a 100-byte answer; this one is
    /// zeroed once per thread (by the allocator, page by page as used).
    static LANDING: std::cell::RefCell<Vec<u8>> = std::cell::RefCell::new(vec![0; READ_MAX]);
}

#[derive(Debug, Default)]
pub(super) struct Frames {
    buf: BytesMut,
    /// Descriptors received, in order: one per `G` frame.
    pub fds: VecDeque<OwnedFd>,
}

impl Frames {
    /// Bytes received but not yet handed out as frames.
    pub fn pending(&self) -> usize {
        self.buf.len()
    }

    /// The next frame: `Ok(None)` on a clean EOF between frames.
    pub async fn next(&mut self, stream: &UnixStream) -> std::io::Result<Option<(u8, Bytes)>> {
        loop {
            if let Some(frame) = protocol::split_frame(&mut self.buf)? {
                return Ok(Some(frame));
            }
            let want = if self.buf.len() >= 5 {
                let len = u32::from_le_bytes([self.buf[1], self.buf[2], self.buf[3], self.buf[4]])
                    as usize;
                (5 + len - self.buf.len()).clamp(READ_MIN, READ_MAX)
            } else {
                READ_MIN
            };
            // Cancel-safe: `buf` grows only by what one `recvmsg` got,
            // within one poll, never across an await.
            let n = loop {
                stream.readable().await?;
                let (buf, fds) = (&mut self.buf, &mut self.fds);
                let mut received = None;
                let got = stream.try_io(Interest::READABLE, || {
                    LANDING.with_borrow_mut(|landing| {
                        let fds_before = fds.len();
                        let n = receive(stream, &mut landing[..want], fds)?;
                        buf.extend_from_slice(&landing[..n]);
                        received = Some(n);
                        // A short read without descriptors drained the
                        // socket (the kernel ends a read early only after
                        // a message that carried descriptors): say
                        // `WouldBlock` so that tokio forgets the readiness,
                        // and the next frame waits for epoll instead of a
                        // `recvmsg` that fails with EAGAIN (one per
                        // request, as `TcpStream::poll_read` does for TCP).
                        if n > 0 && n < want && fds.len() == fds_before {
                            Err(std::io::ErrorKind::WouldBlock.into())
                        } else {
                            Ok(n)
                        }
                    })
                });
                match (got, received) {
                    (Ok(n), _) => break n,
                    (Err(e), Some(n)) if e.kind() == std::io::ErrorKind::WouldBlock => break n,
                    (Err(e), _) if e.kind() == std::io::ErrorKind::WouldBlock => {}
                    (Err(e), _) => return Err(e),
                }
            };
            if n == 0 {
                return if self.buf.is_empty() {
                    Ok(None)
                } else {
                    Err(std::io::ErrorKind::UnexpectedEof.into())
                };
            }
        }
    }
}

/// One `recvmsg` into `buf`; descriptors go to `fds` (close-on-exec).
fn receive(
    stream: &UnixStream,
    buf: &mut [u8],
    fds: &mut VecDeque<OwnedFd>,
) -> std::io::Result<usize> {
    let mut space = [MaybeUninit::<u8>::uninit(); rustix::cmsg_space!(ScmRights(4))];
    let mut control = RecvAncillaryBuffer::new(&mut space);
    let msg = rustix::net::recvmsg(
        stream,
        &mut [IoSliceMut::new(buf)],
        &mut control,
        RecvFlags::CMSG_CLOEXEC,
    )?;
    for m in control.drain() {
        if let RecvAncillaryMessage::ScmRights(received) = m {
            fds.extend(received);
        }
    }
    Ok(msg.bytes)
}
