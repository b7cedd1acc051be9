//! `stat` results of script files, kept between requests and dropped as
//! soon as the kernel reports a change (inotify).
//!
//! Every request to a `WSGIScriptAlias` file target needs the script's
//! metadata (the directory walk, the reload check).  On this kind of VM one
//! `stat` of a five-component path costs about 3 µs, a tenth of a whole
//! hello-world request.  The cache answers from memory instead, and stays
//! exact: on each lookup it first drains the inotify queue (one
//! non-blocking `read`, ~0.4 µs), and the kernel queues an event
//! synchronously inside the system call that changes a watched inode
//! (write, utimes, chmod, rename, unlink…).  So a change that completed
//! before the request was read is always seen, as with a fresh `stat`.
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
use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock, PoisonError};

use nix::errno::Errno;
use nix::sys::inotify::{AddWatchFlags, InitFlags, Inotify, WatchDescriptor};

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

pub struct MetaCache {
    inotify: Inotify,
    entries: HashMap<PathBuf, Metadata>,
    /// Watch descriptors by the path they were added for.
    by_path: HashMap<PathBuf, WatchDescriptor>,
    watched: HashMap<WatchDescriptor, Watched>,
}

impl MetaCache {
    /// None when inotify is unavailable (every lookup is then a `stat`).
    pub fn new() -> Option<Self> {
        let inotify = Inotify::init(InitFlags::IN_NONBLOCK | InitFlags::IN_CLOEXEC).ok()?;
        Some(MetaCache {
            inotify,
            entries: HashMap::new(),
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

    /// Read every queued event; forget everything if one of them matters.
    fn drain(&mut self) {
        loop {
            match self.inotify.read_events() {
                Ok(events) => {
                    if events.iter().any(|e| self.matters(e)) {
                        self.forget();
                    }
                }
                Err(Errno::EINTR) => {}
                // EAGAIN: nothing queued.  Anything else: the fd is
                // unusable, so nothing can be trusted from now on.
                Err(Errno::EAGAIN) => return,
                Err(_) => {
                    self.forget();
                    return;
                }
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
        let wd = self.inotify.add_watch(path, mask).ok()?;
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
