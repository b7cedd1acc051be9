//! A response's frames waiting to be written: small frames (headers, short
//! payloads) coalesced in one buffer, large payloads kept by reference and
//! written with the frames around them in one `sendmsg` — a 1 MiB body is
//! not copied into a frame buffer first.

use std::collections::VecDeque;
use std::io::{self, IoSlice};
use std::os::fd::AsFd;

use bytes::{Buf, Bytes, BytesMut};
use rustix::event::PollFlags;

use super::conn::{Conn, wait_for};

/// Payloads at least this large go by reference.
const BY_REFERENCE: usize = 16 * 1024;
/// Pieces gathered into one write, at most.
const MAX_SLICES: usize = 64;

#[derive(Default)]
pub(super) struct Output {
    /// Written first, in order.
    queued: VecDeque<Bytes>,
    /// Then this, where small frames are encoded.
    tail: BytesMut,
}

impl Output {
    /// Where to encode the next small frame (or a payload's frame header).
    pub fn buf(&mut self) -> &mut BytesMut {
        &mut self.tail
    }

    /// A payload, after its frame header.
    pub fn payload(&mut self, payload: Bytes) {
        if payload.len() < BY_REFERENCE {
            self.tail.extend_from_slice(&payload);
            return;
        }
        if !self.tail.is_empty() {
            self.queued.push_back(self.tail.split().freeze());
        }
        self.queued.push_back(payload);
    }

    pub fn is_empty(&self) -> bool {
        self.queued.is_empty() && self.tail.is_empty()
    }

    /// Write what goes without waiting (what does not stays queued).
    pub fn try_flush(&mut self, conn: &Conn) -> io::Result<()> {
        while !self.is_empty() {
            let n = {
                let mut slices = [IoSlice::new(&[]); MAX_SLICES];
                let mut used = 0;
                for b in self.queued.iter().take(MAX_SLICES - 1) {
                    slices[used] = IoSlice::new(b);
                    used += 1;
                }
                // The tail goes last, once everything queued before it is in.
                if self.queued.len() < MAX_SLICES {
                    slices[used] = IoSlice::new(&self.tail);
                    used += 1;
                }
                conn.try_write_vectored(&slices[..used])?
            };
            if n == 0 {
                return Ok(());
            }
            self.consume(n);
        }
        Ok(())
    }

    /// Write everything, waiting for room as needed.
    pub fn flush(&mut self, conn: &Conn) -> io::Result<()> {
        loop {
            self.try_flush(conn)?;
            if self.is_empty() {
                return Ok(());
            }
            wait_for(conn.stream().as_fd(), PollFlags::OUT, None)?;
        }
    }

    /// Drop the first `n` bytes, written.
    fn consume(&mut self, mut n: usize) {
        while n > 0 {
            match self.queued.front_mut() {
                Some(front) if front.len() <= n => {
                    n -= front.len();
                    self.queued.pop_front();
                }
                Some(front) => {
                    front.advance(n);
                    return;
                }
                None => {
                    self.tail.advance(n.min(self.tail.len()));
                    return;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn consuming_crosses_pieces_in_order() {
        let mut out = Output::default();
        out.buf().extend_from_slice(b"head");
        out.payload(Bytes::from(vec![1u8; BY_REFERENCE]));
        out.buf().extend_from_slice(b"tail");
        out.payload(Bytes::from_static(b"small"));
        assert_eq!(out.queued.len(), 2);
        out.consume(2);
        assert_eq!(&out.queued[0][..], b"ad");
        out.consume(2 + BY_REFERENCE + 1);
        assert!(out.queued.is_empty());
        assert_eq!(&out.tail[..], b"ailsmall");
        out.consume(8);
        assert!(out.is_empty());
    }
}
