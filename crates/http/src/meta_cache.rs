//! `stat` results of script files, kept between requests and dropped as
//! soon as the kernel reports a change (inotify).
//!
//! Every request to a `WSGIScriptAlias` file target needs the script's
//! metadata (the directory walk, the reload check).  On this kind of VM one
//! `stat` of a five-component path costs about 3 µs, a tenth of a whole
//! hello-world request.  The cache answers from memory instead, and stays
//! exact: the kernel queues an inotify event synchronously inside the
//! system call that changes a watched inode (write, utimes, chmod, rename,
//! unlink…), and a lookup reads that queue first whenever it may hold
//! something.  So a change that completed before the request was sent is
//! seen, as with a fresh `stat`.
//!
//! "May hold something" costs no system call inside the server: the
//! inotify fd is registered with the tokio reactor, and a lookup reads the
//! queue only when the reactor has marked it readable.  That is enough for
//! exactness because a request's bytes reach the connection task through
//! an `epoll_wait` made after they arrived (tokio clears a socket's
//! readiness after a short read, so the next read waits for the reactor);
//! epoll's ready list is in arrival order, so that call or an earlier one
//! also reported the inotify fd, and the reactor marks readiness before it
//! wakes any task.  The one exception is a read that filled the whole
//! buffer (over 16 KiB of pipelined requests): the next read then goes
//! straight to the socket, and a request sent after a change made in the
//! middle of that pipeline may see the old metadata once.  Outside a tokio
//! runtime (or after it stopped) every lookup reads the queue: one
//! non-blocking `read`, which was 5% of a hello-world request's CPU here
//! (`bench/paired_ab.py`, 16 pairs, median 0.946).
//!
//! What is watched, for a cached `/a/b/app.wsgi`: the file's inode itself
//! (writes through any hard link or bind mount), and each directory of its
//! path (`/`, `/a`, `/a/b`) for the one child name the path goes through
//! (rename, delete, create, permission change).  Any such event drops the
//! whole cache, which is rebuilt by the next lookups: changes are rare and
//! correctness is simpler than precision.  Not seen: a mount on top of a
//! directory of the path.  Paths that go through a symbolic link or `..`
//! are not cached (the link's target path would need watching too), nor
//! are failures; without inotify (no fd, watch limit reached) every lookup
//! is a plain `stat`.
//!
//! Hand-written because no maintained crate offers a synchronous,
//! change-validated stat cache; the inotify calls are `nix`'s.

use std::collections::{HashMap, HashSet};
use std::ffi::OsString;
use std::fs::Metadata;
use std::io;
use std::os::fd::{AsFd, AsRawFd, RawFd};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock, PoisonError};
use std::task::{Context, Poll, Waker};

use nix::errno::Errno;
use nix::sys::inotify::{AddWatchFlags, InitFlags, Inotify, WatchDescriptor};
use tokio::io::unix::AsyncFd;

/// Cached files; more distinct script paths than this are simply stat'ed.
const MAX_ENTRIES: usize = 512;
/// Watches held (directories of the paths plus the files).
const MAX_WATCHES: usize = 2048;

/// The metadata of `path` (following symbolic links, as `std::fs::metadata`),
/// from the cache when nothing changed since it was taken.
pub fn metadata(path: &Path) -> io::Result<Metadata> {
    static CACHE: OnceLock<Mutex<Option<MetaCache>>> = OnceLock::new();
    let cache = CACHE.get_or_init(|| Mutex::new(MetaCache::new()));
    let mut guard = cache.lock().unwrap_or_else(PoisonError::into_inner);
    match guard.as_mut() {
        Some(c) => c.metadata(path),
        None => std::fs::metadata(path),
    }
}

/// What a watch descriptor stands for.
#[derive(Default)]
struct Watched {
    /// Child names whose events matter (for a directory of a cached path).
    names: HashSet<OsString>,
    /// The watch is on a cached file itself: any event matters.
    file: bool,
}

/// The inotify fd, as tokio's `AsyncFd` wants it (nix's `Inotify` has
/// `AsFd` only).
struct Queue(Inotify);

impl AsRawFd for Queue {
    fn as_raw_fd(&self) -> RawFd {
        self.0.as_fd().as_raw_fd()
    }
}

/// Where the lookups learn that events are queued.
enum Events {
    /// Registered with the tokio reactor of the runtime that made the
    /// cache: read only when the reactor saw the fd become readable.
    Reactor(AsyncFd<Queue>),
    /// No runtime: read on every lookup.
    EveryLookup(Inotify),
}

impl Events {
    fn inotify(&self) -> &Inotify {
        match self {
            Events::Reactor(fd) => &fd.get_ref().0,
            Events::EveryLookup(inotify) => inotify,
        }
    }
}

pub struct MetaCache {
    events: Events,
    entries: HashMap<PathBuf, Metadata, foldhash::fast::RandomState>,
    /// Watch descriptors by the path they were added for.
    by_path: HashMap<PathBuf, WatchDescriptor>,
    watched: HashMap<WatchDescriptor, Watched>,
}

impl MetaCache {
    /// None when inotify is unavailable (every lookup is then a `stat`).
    pub fn new() -> Option<Self> {
        let inotify = Inotify::init(InitFlags::IN_NONBLOCK | InitFlags::IN_CLOEXEC).ok()?;
        let events = match tokio::runtime::Handle::try_current() {
            // `AsyncFd::new` is deprecated because a caller could hand it
            // a value whose fd closes or changes while registered (tokio
            // #8587); its `unsafe` successor states that contract.  `Queue`
            // owns its fd, which stays open and the same for the `AsyncFd`'s
            // whole life, so the contract holds without an `unsafe` block
            // in this crate.
            #[allow(deprecated)]
            Ok(_) => match AsyncFd::new(Queue(inotify)) {
                Ok(fd) => Events::Reactor(fd),
                // The reactor refused the fd (epoll's limits): no cache,
                // every lookup a plain `stat`.
                Err(_) => return None,
            },
            Err(_) => Events::EveryLookup(inotify),
        };
        Some(MetaCache {
            events,
            entries: HashMap::default(),
            by_path: HashMap::new(),
            watched: HashMap::new(),
        })
    }

    pub fn metadata(&mut self, path: &Path) -> io::Result<Metadata> {
        self.drain();
        if let Some(meta) = self.entries.get(path) {
            return Ok(meta.clone());
        }
        // Watch first, then stat: a change between the two is an event
        // that the next lookup sees.
        let cacheable = self.entries.len() < MAX_ENTRIES && self.watch(path);
        let meta = std::fs::metadata(path)?;
        if cacheable {
            self.entries.insert(path.to_path_buf(), meta.clone());
        }
        Ok(meta)
    }

    /// Read the queued events when there may be some; forget everything if
    /// one of them matters.
    fn drain(&mut self) {
        let stale = match &self.events {
            Events::EveryLookup(inotify) => self.read_queue(inotify).1,
            Events::Reactor(fd) => {
                // A no-op waker: nothing waits for the fd, the readiness
                // flag set by the reactor is all a lookup needs.
                let mut cx = Context::from_waker(Waker::noop());
                match fd.poll_read_ready(&mut cx) {
                    Poll::Pending => false,
                    Poll::Ready(Ok(mut ready)) => {
                        let (emptied, stale) = self.read_queue(&fd.get_ref().0);
                        if emptied {
                            ready.clear_ready();
                        }
                        stale
                    }
                    // The runtime is gone (a test that outlived it):
                    // read on every lookup, as without one.
                    Poll::Ready(Err(_)) => self.read_queue(&fd.get_ref().0).1,
                }
            }
        };
        if stale {
            self.forget();
        }
    }

    /// Read every queued event: (the queue was emptied, an event matters
    /// or the fd failed).
    fn read_queue(&self, inotify: &Inotify) -> (bool, bool) {
        let mut stale = false;
        loop {
            match inotify.read_events() {
                Ok(events) => stale |= events.iter().any(|e| self.matters(e)),
                Err(Errno::EINTR) => {}
                // EAGAIN: nothing queued.  Anything else: the fd is
                // unusable, so nothing can be trusted from now on.
                Err(Errno::EAGAIN) => return (true, stale),
                Err(_) => return (false, true),
            }
        }
    }

    fn matters(&self, e: &nix::sys::inotify::InotifyEvent) -> bool {
        if e.mask.contains(AddWatchFlags::IN_Q_OVERFLOW) {
            return true;
        }
        let Some(w) = self.watched.get(&e.wd) else {
            // A watch forgotten earlier (its inode was replaced).
            return false;
        };
        w.file
            || match &e.name {
                Some(name) => w.names.contains(name),
                // The directory itself: deleted, moved, permissions.
                None => true,
            }
    }

    fn forget(&mut self) {
        self.entries.clear();
        self.by_path.clear();
        self.watched.clear();
    }

    /// Watch `path` and every directory above it; false when the path is
    /// not cacheable (a link or `..` in it, watch failed or limit reached).
    fn watch(&mut self, path: &Path) -> bool {
        match std::fs::canonicalize(path) {
            Ok(real) if real == path => {}
            _ => return false,
        }
        let dir_events = AddWatchFlags::IN_ATTRIB
            | AddWatchFlags::IN_CREATE
            | AddWatchFlags::IN_DELETE
            | AddWatchFlags::IN_DELETE_SELF
            | AddWatchFlags::IN_MOVE_SELF
            | AddWatchFlags::IN_MOVED_FROM
            | AddWatchFlags::IN_MOVED_TO
            | AddWatchFlags::IN_ONLYDIR;
        let file_events = AddWatchFlags::IN_ATTRIB
            | AddWatchFlags::IN_MODIFY
            | AddWatchFlags::IN_DELETE_SELF
            | AddWatchFlags::IN_MOVE_SELF;
        let mut child = path;
        while let (Some(dir), Some(name)) = (child.parent(), child.file_name()) {
            let Some(wd) = self.add(dir, dir_events) else {
                return false;
            };
            self.watched
                .entry(wd)
                .or_default()
                .names
                .insert(name.to_os_string());
            child = dir;
        }
        let Some(wd) = self.add(path, file_events) else {
            return false;
        };
        self.watched.entry(wd).or_default().file = true;
        true
    }

    fn add(&mut self, path: &Path, mask: AddWatchFlags) -> Option<WatchDescriptor> {
        if let Some(wd) = self.by_path.get(path) {
            return Some(*wd);
        }
        if self.by_path.len() >= MAX_WATCHES {
            return None;
        }
        let wd = self.events.inotify().add_watch(path, mask).ok()?;
        self.by_path.insert(path.to_path_buf(), wd);
        Some(wd)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, SystemTime};

    fn setup() -> (tempfile::TempDir, PathBuf, MetaCache) {
        let dir = tempfile::tempdir().expect("tempdir");
        let real = std::fs::canonicalize(dir.path()).expect("canonical");
        let file = real.join("sub").join("app.wsgi");
        std::fs::create_dir(real.join("sub")).expect("mkdir");
        std::fs::write(&file, "one").expect("write");
        (dir, file, MetaCache::new().expect("inotify"))
    }

    #[test]
    fn a_second_lookup_comes_from_the_cache() {
        let (_d, file, mut c) = setup();
        let first = c.metadata(&file).expect("stat");
        assert!(c.entries.contains_key(&file));
        let again = c.metadata(&file).expect("cached");
        assert_eq!(first.modified().ok(), again.modified().ok());
    }

    #[test]
    fn a_write_or_touch_is_seen_by_the_next_lookup() {
        let (_d, file, mut c) = setup();
        assert_eq!(c.metadata(&file).expect("stat").len(), 3);
        std::fs::write(&file, "longer").expect("write");
        assert_eq!(c.metadata(&file).expect("stat").len(), 6);
        let past = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000);
        std::fs::File::options()
            .write(true)
            .open(&file)
            .and_then(|f| f.set_modified(past))
            .expect("utimes");
        assert_eq!(c.metadata(&file).expect("stat").modified().ok(), Some(past));
    }

    #[test]
    fn replacing_deleting_or_moving_a_directory_is_seen() {
        let (d, file, mut c) = setup();
        c.metadata(&file).expect("stat");
        // Replaced by rename, as editors save.
        let tmp = file.with_file_name("new.tmp");
        std::fs::write(&tmp, "replaced!").expect("write");
        std::fs::rename(&tmp, &file).expect("rename");
        assert_eq!(c.metadata(&file).expect("stat").len(), 9);
        // The directory above moves away.
        let real = std::fs::canonicalize(d.path()).expect("canonical");
        std::fs::rename(real.join("sub"), real.join("moved")).expect("mv");
        assert!(c.metadata(&file).is_err());
        std::fs::rename(real.join("moved"), real.join("sub")).expect("mv back");
        assert_eq!(c.metadata(&file).expect("stat").len(), 9);
        std::fs::remove_file(&file).expect("rm");
        assert!(c.metadata(&file).is_err());
    }

    /// In a runtime, the queue is read only once the reactor saw it become
    /// readable; a change made before a request was sent must still be
    /// seen by the lookup made after reading that request.  As in a worker:
    /// the task runs on the runtime's one worker thread, and a read that
    /// does not fill its buffer (a lone request) leaves the socket's
    /// readiness cleared, so the next request is seen through `epoll_wait`
    /// (a read that fills the buffer keeps it: the README's exception).
    #[test]
    fn in_a_runtime_a_change_made_before_the_request_is_seen() {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .expect("runtime");
        let task = rt.spawn(async {
            let (_d, file, _) = setup();
            let mut c = MetaCache::new().expect("inotify");
            assert!(matches!(c.events, Events::Reactor(_)));
            let (mut client, mut server) = tokio::net::UnixStream::pair().expect("pair");
            let mut buf = [0u8; 16];
            for (round, body) in ["four", "longer", "xx"].into_iter().enumerate() {
                // A cached lookup with nothing queued stays cached.
                assert!(c.metadata(&file).is_ok());
                assert!(c.entries.contains_key(&file), "round {round}");
                // The change, then the "request", written by another thread
                // as a client would.
                let path = file.clone();
                let mut sender = client;
                client = std::thread::spawn(move || {
                    std::fs::write(&path, body).expect("write");
                    let rt = tokio::runtime::Builder::new_current_thread()
                        .enable_all()
                        .build()
                        .expect("client runtime");
                    rt.block_on(sender.write_all(b"GET")).expect("send");
                    sender
                })
                .join()
                .expect("client");
                let n = server.read(&mut buf).await.expect("read");
                assert_eq!(n, 3, "round {round}");
                let len = c.metadata(&file).expect("stat").len();
                assert_eq!(len, body.len() as u64, "round {round}");
            }
        });
        rt.block_on(task).expect("test task");
    }

    #[test]
    fn paths_through_a_symlink_are_not_cached() {
        let (d, file, mut c) = setup();
        let real = std::fs::canonicalize(d.path()).expect("canonical");
        std::os::unix::fs::symlink(real.join("sub"), real.join("link")).expect("ln");
        let via = real.join("link").join("app.wsgi");
        assert_eq!(c.metadata(&via).expect("stat").len(), 3);
        assert!(!c.entries.contains_key(&via));
        assert!(c.metadata(&file).is_ok());
    }
}
