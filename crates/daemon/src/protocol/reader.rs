//! Reading frames from an async stream (the daemon side's tests and the
//! front end's plain reads; the front end's response reader with
//! descriptor passing is `client::frames`).

use bytes::{Bytes, BytesMut};
use tokio::io::{AsyncRead, AsyncReadExt};

use super::MAX_FRAME;

/// Room a frame read leaves for the small frames that follow a frame.
const FOLLOWING_FRAMES: usize = 4096;

/// Reads frames from a stream with one growing buffer: a small frame
/// costs one `read`, payloads are handed out without copying, and nothing
/// is zero-filled.
#[derive(Debug)]
pub struct FrameReader<R> {
    inner: R,
    buf: BytesMut,
}

impl<R: AsyncRead + Unpin> FrameReader<R> {
    pub fn new(inner: R) -> FrameReader<R> {
        FrameReader {
            inner,
            buf: BytesMut::new(),
        }
    }

    /// The next frame if it is already wholly buffered (no read).
    pub fn buffered(&mut self) -> Option<(u8, Bytes)> {
        if self.buf.len() < 5 {
            return None;
        }
        let len = u32::from_le_bytes([self.buf[1], self.buf[2], self.buf[3], self.buf[4]]) as usize;
        if self.buf.len() < 5 + len {
            return None;
        }
        let mut frame = self.buf.split_to(5 + len);
        let kind = frame[0];
        Some((kind, frame.split_off(5).freeze()))
    }

    /// The kind of the next frame if it is already wholly buffered.
    pub fn buffered_kind(&self) -> Option<u8> {
        if self.buf.len() < 5 {
            return None;
        }
        let len = u32::from_le_bytes([self.buf[1], self.buf[2], self.buf[3], self.buf[4]]) as usize;
        (self.buf.len() >= 5 + len).then(|| self.buf[0])
    }

    /// Bytes read but not yet handed out as frames.
    pub fn pending(&self) -> usize {
        self.buf.len()
    }

    /// Let go of a buffer that grew past `max` bytes of capacity, keeping
    /// whatever it holds.
    pub fn shrink(&mut self, max: usize) {
        if self.buf.capacity() > max {
            let mut small = BytesMut::with_capacity(self.buf.len().max(16 * 1024));
            small.extend_from_slice(&self.buf);
            self.buf = small;
        }
    }

    /// The underlying stream.
    pub fn get_ref(&self) -> &R {
        &self.inner
    }

    /// The next frame: `Ok(None)` on a clean EOF between frames.
    pub async fn next(&mut self) -> std::io::Result<Option<(u8, Bytes)>> {
        loop {
            if self.buf.len() >= 5 {
                let len = u32::from_le_bytes([self.buf[1], self.buf[2], self.buf[3], self.buf[4]])
                    as usize;
                if len > MAX_FRAME {
                    return Err(std::io::Error::new(
                        std::io::ErrorKind::InvalidData,
                        "frame too large",
                    ));
                }
                if self.buf.len() >= 5 + len {
                    let mut frame = self.buf.split_to(5 + len);
                    let kind = frame[0];
                    let payload = frame.split_off(5).freeze();
                    return Ok(Some((kind, payload)));
                }
                // Room for the frame's rest and what usually follows it
                // (the end-of-body frame after the last `B`), so that one
                // read takes both and comes short: tokio then knows the
                // socket is drained and waits for epoll, instead of a
                // `recv` that fails with EAGAIN.
                self.buf
                    .reserve(5 + len - self.buf.len() + FOLLOWING_FRAMES);
            } else if self.buf.capacity() - self.buf.len() < 4096 {
                self.buf.reserve(16 * 1024);
            }
            if self.inner.read_buf(&mut self.buf).await? == 0 {
                return if self.buf.is_empty() {
                    Ok(None)
                } else {
                    Err(std::io::ErrorKind::UnexpectedEof.into())
                };
            }
        }
    }
}

/// Read one frame: `Ok(None)` on a clean EOF before its first byte.
pub async fn read_frame<R: AsyncRead + Unpin>(r: &mut R) -> std::io::Result<Option<(u8, Bytes)>> {
    let mut hdr = [0u8; 5];
    let mut got = 0;
    while got < hdr.len() {
        let n = r.read(&mut hdr[got..]).await?;
        if n == 0 {
            if got == 0 {
                return Ok(None);
            }
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        got += n;
    }
    let len = u32::from_le_bytes([hdr[1], hdr[2], hdr[3], hdr[4]]) as usize;
    if len > MAX_FRAME {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            "frame too large",
        ));
    }
    let mut payload = BytesMut::zeroed(len);
    r.read_exact(&mut payload).await?;
    Ok(Some((hdr[0], payload.freeze())))
}
