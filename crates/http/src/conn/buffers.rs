//! Read buffers: how much memory a connection holds, and where request
//! bodies land.
//!
//! A connection keeps one small buffer (`READ_CHUNK`) for request heads,
//! whatever its requests carry, and a head read never asks for more, so
//! the body of a request that waits for a Python thread stays in the
//! kernel's socket buffer rather than in this process.  A `Content-Length`
//! body is read into a body buffer of its own, which the application's
//! chunks share.  Before, head reads grew (hyper's adaptive strategy) to
//! take head and body in one `recv`, and every connection kept its largest
//! buffer for good: 50 connections posting 64 KiB held ~190 KiB each
//! (peak PSS 34 MiB, against 29 with this scheme).
//!
//! Body buffers come from a small per-process stack and go back to it
//! when their connection has consumed them (at most 16 buffers of up to
//! 128 KiB stay there; larger ones, for large uploads, are freed).  Fresh allocations for each
//! body cost 7% more CPU per 64 KiB POST (profile: the kernel's copy and
//! the application's copy both went to cold memory, and mimalloc gets
//! blocks freed by Python threads back only later); the most recently
//! returned buffer is still in cache.  A buffer is reused only once the
//! application has dropped its chunks (`try_reclaim` succeeds only then).

use std::sync::{Mutex, PoisonError};

use bytes::BytesMut;

/// Bytes reserved in the read buffer before a read for a head, and the
/// least room a body read asks for.
pub(super) const READ_CHUNK: usize = 16 * 1024;
/// Most reserved for one read of a body: the rest of a 64 KiB upload is
/// then one `recv` and one chunk for the application, not four.
pub(super) const BODY_READ_MAX: usize = 256 * 1024;
/// Body buffers are allocated in multiples of this, so that one fits the
/// next body of about the same size.
const BODY_BUFFER_STEP: usize = 16 * 1024;
/// Body buffers kept for reuse by this process, at most, and the largest
/// kept: at most 2 MiB stay with a worker after a burst of uploads.
const POOL_MAX: usize = 16;
const POOLED_SIZE_MAX: usize = 128 * 1024;
/// Pooled buffers looked at (newest first) before allocating.
const POOL_SCAN: usize = 4;

/// Body buffers given back, newest last, with the size each was made with
/// (a shared `BytesMut` only knows the room left after its data).
pub(super) struct BodyPool(Mutex<Vec<(BytesMut, usize)>>);

/// This process's pool (each worker process serves its own connections).
pub(super) static BODY_POOL: BodyPool = BodyPool::new();

impl BodyPool {
    const fn new() -> BodyPool {
        BodyPool(Mutex::new(Vec::new()))
    }

    /// A body buffer with room for at least `want` bytes, and its size
    /// (to give back with it).
    pub(super) fn take(&self, want: usize) -> (BytesMut, usize) {
        {
            let mut pool = self.0.lock().unwrap_or_else(PoisonError::into_inner);
            let len = pool.len();
            for i in (len.saturating_sub(POOL_SCAN)..len).rev() {
                if pool[i].0.try_reclaim(want) {
                    return pool.swap_remove(i);
                }
            }
        }
        let size = want.next_multiple_of(BODY_BUFFER_STEP);
        (BytesMut::with_capacity(size), size)
    }

    /// A body buffer the connection is done with (the application may
    /// still hold chunks of it).
    pub(super) fn give_back(&self, buf: BytesMut, size: usize) {
        if size > POOLED_SIZE_MAX {
            return;
        }
        let mut pool = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        if pool.len() >= POOL_MAX {
            // The oldest goes: the newest are the ones in cache.
            pool.remove(0);
        }
        pool.push((buf, size));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_buffer_is_reused_only_once_its_chunks_are_dropped() {
        let pool = BodyPool::new();
        let (mut buf, size) = pool.take(40 * 1024);
        assert_eq!((buf.capacity(), size), (48 * 1024, 48 * 1024));
        buf.extend_from_slice(&[7u8; 40 * 1024]);
        let chunk = buf.split_to(40 * 1024).freeze();
        let home = chunk.as_ptr() as usize..chunk.as_ptr() as usize + 48 * 1024;
        pool.give_back(buf, size);
        // Still shared with `chunk`: not handed out again.
        let (other, _) = pool.take(40 * 1024);
        assert!(!home.contains(&(other.as_ptr() as usize)));
        drop(other);
        drop(chunk);
        let (again, size) = pool.take(40 * 1024);
        assert!(
            home.contains(&(again.as_ptr() as usize)),
            "the freed buffer"
        );
        assert!(again.capacity() >= 40 * 1024);
        assert_eq!(size, 48 * 1024);
    }

    #[test]
    fn large_buffers_are_not_kept() {
        let pool = BodyPool::new();
        let (buf, size) = pool.take(BODY_READ_MAX);
        assert!(size > POOLED_SIZE_MAX);
        pool.give_back(buf, size);
        let (small, size) = pool.take(READ_CHUNK);
        pool.give_back(small, size);
        let kept = pool.0.lock().expect("pool").len();
        assert_eq!(kept, 1);
    }
}
