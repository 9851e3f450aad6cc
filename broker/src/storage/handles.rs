//! A bounded, broker-wide cache of open segment files, so the descriptors a
//! broker holds do not grow with its partition or segment count.
//!
//! Segments name their files by path; every read, write or fsync takes the
//! handle from here, opening the file on a miss and closing the least
//! recently used one beyond the capacity. Handles are `Arc<File>`: an evicted
//! handle stays open until the read or fsync holding it finishes, so eviction
//! never fails an operation in flight; at most `capacity` plus the handles in
//! use are open at once.
//!
//! Closing a file never loses data: the page cache belongs to the inode, not
//! the descriptor, and `fdatasync` through a later descriptor flushes what an
//! earlier one wrote (Linux also reports an unseen writeback error to a
//! descriptor opened after it). Removing or recreating a file goes through
//! [`HandleCache::forget`] so no handle of an unlinked inode is served.

use std::collections::{BTreeMap, HashMap};
use std::fs::{File, OpenOptions};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock, PoisonError};

use super::{io_err, LogError};

/// Default capacity: leaves most of a 20,000-descriptor limit to sockets.
pub const DEFAULT_OPEN_SEGMENT_HANDLES: usize = 4096;

struct Slot {
    file: Arc<File>,
    tick: u64,
}

#[derive(Default)]
struct Inner {
    slots: HashMap<PathBuf, Slot>,
    /// tick -> path, oldest first.
    order: BTreeMap<u64, PathBuf>,
    next_tick: u64,
}

/// Open, hit and eviction counts of a [`HandleCache`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct HandleStats {
    /// Handles currently cached (each one descriptor).
    pub cached: usize,
    /// Files opened on a miss.
    pub opens: u64,
    pub hits: u64,
    pub evictions: u64,
}

/// A bounded LRU of read/write file handles, keyed by path.
pub struct HandleCache {
    capacity: AtomicU64,
    inner: Mutex<Inner>,
    opens: AtomicU64,
    hits: AtomicU64,
    evictions: AtomicU64,
}

impl std::fmt::Debug for HandleCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HandleCache")
            .field("capacity", &self.capacity())
            .field("stats", &self.stats())
            .finish()
    }
}

impl HandleCache {
    /// A cache holding at most `capacity` (at least 1) open files.
    pub fn new(capacity: usize) -> Self {
        HandleCache {
            capacity: AtomicU64::new(capacity.max(1) as u64),
            inner: Mutex::new(Inner::default()),
            opens: AtomicU64::new(0),
            hits: AtomicU64::new(0),
            evictions: AtomicU64::new(0),
        }
    }

    /// The process-wide cache every [`PartitionLog::open`](super::PartitionLog::open) uses.
    pub fn shared() -> Arc<HandleCache> {
        static SHARED: OnceLock<Arc<HandleCache>> = OnceLock::new();
        SHARED
            .get_or_init(|| Arc::new(HandleCache::new(DEFAULT_OPEN_SEGMENT_HANDLES)))
            .clone()
    }

    /// Changes the capacity (broker start-up, from config and the fd limit).
    pub fn set_capacity(&self, capacity: usize) {
        self.capacity
            .store(capacity.max(1) as u64, Ordering::Relaxed);
        let mut inner = self.lock();
        self.evict_over(&mut inner, 0);
    }

    pub fn capacity(&self) -> usize {
        self.capacity.load(Ordering::Relaxed) as usize
    }

    pub fn stats(&self) -> HandleStats {
        HandleStats {
            cached: self.lock().slots.len(),
            opens: self.opens.load(Ordering::Relaxed),
            hits: self.hits.load(Ordering::Relaxed),
            evictions: self.evictions.load(Ordering::Relaxed),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The open handle of `path` (read + write), opening it on a miss. On
    /// EMFILE/ENFILE the cache gives back half its handles and tries once more.
    pub fn get(&self, path: &Path) -> Result<Arc<File>, LogError> {
        {
            let mut inner = self.lock();
            let tick = inner.next_tick;
            if let Some(slot) = inner.slots.get_mut(path) {
                let old = std::mem::replace(&mut slot.tick, tick);
                let file = slot.file.clone();
                inner.order.remove(&old);
                inner.order.insert(tick, path.to_path_buf());
                inner.next_tick += 1;
                self.hits.fetch_add(1, Ordering::Relaxed);
                return Ok(file);
            }
        }
        // Opened without the lock: other partitions' lookups go on meanwhile.
        let file = match open_rw(path) {
            Err(e) if is_fd_exhaustion(&e) => {
                let mut inner = self.lock();
                let keep = inner.slots.len() / 2;
                self.evict_to(&mut inner, keep);
                drop(inner);
                open_rw(path)
            }
            r => r,
        }
        .map_err(io_err("open", path))?;
        self.opens.fetch_add(1, Ordering::Relaxed);
        Ok(self.insert(path, Arc::new(file)))
    }

    /// Caches a freshly created file, replacing any handle of an older inode.
    pub(crate) fn insert(&self, path: &Path, file: Arc<File>) -> Arc<File> {
        let mut inner = self.lock();
        let tick = inner.next_tick;
        inner.next_tick += 1;
        if let Some(old) = inner.slots.insert(
            path.to_path_buf(),
            Slot {
                file: file.clone(),
                tick,
            },
        ) {
            inner.order.remove(&old.tick);
        }
        inner.order.insert(tick, path.to_path_buf());
        self.evict_over(&mut inner, 0);
        file
    }

    /// Drops the handle of `path` (the file is being removed or replaced).
    pub(crate) fn forget(&self, path: &Path) {
        let mut inner = self.lock();
        if let Some(old) = inner.slots.remove(path) {
            inner.order.remove(&old.tick);
        }
    }

    fn evict_over(&self, inner: &mut Inner, extra: usize) {
        let cap = self.capacity();
        self.evict_to(inner, cap.saturating_sub(extra));
    }

    fn evict_to(&self, inner: &mut Inner, keep: usize) {
        while inner.slots.len() > keep {
            let Some((_, path)) = inner.order.pop_first() else {
                break;
            };
            inner.slots.remove(&path);
            self.evictions.fetch_add(1, Ordering::Relaxed);
        }
    }
}

fn open_rw(path: &Path) -> std::io::Result<File> {
    OpenOptions::new().read(true).write(true).open(path)
}

fn is_fd_exhaustion(e: &std::io::Error) -> bool {
    matches!(e.raw_os_error(), Some(libc::EMFILE) | Some(libc::ENFILE))
}

/// Raises the soft `RLIMIT_NOFILE` to the hard limit; answers (soft before,
/// soft now, hard).
pub fn raise_fd_limit() -> std::io::Result<(u64, u64, u64)> {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit/setrlimit only read and write the struct passed.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    let before = lim.rlim_cur;
    if lim.rlim_cur < lim.rlim_max {
        let raised = libc::rlimit {
            rlim_cur: lim.rlim_max,
            rlim_max: lim.rlim_max,
        };
        // SAFETY: as above.
        if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &raised) } != 0 {
            return Err(std::io::Error::last_os_error());
        }
        lim = raised;
    }
    Ok((before, lim.rlim_cur, lim.rlim_max))
}

/// Descriptors this process has open now (`/proc/self/fd`), if readable.
pub fn open_fd_count() -> Option<usize> {
    std::fs::read_dir("/proc/self/fd").ok().map(|d| d.count())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn files(dir: &Path, n: usize) -> Vec<PathBuf> {
        (0..n)
            .map(|i| {
                let p = dir.join(format!("f{i}"));
                std::fs::write(&p, format!("file {i}")).unwrap();
                p
            })
            .collect()
    }

    #[test]
    fn evicts_least_recently_used_and_reopens_on_demand() {
        let dir = tempfile::tempdir().unwrap();
        let paths = files(dir.path(), 4);
        let cache = HandleCache::new(2);
        cache.get(&paths[0]).unwrap();
        cache.get(&paths[1]).unwrap();
        cache.get(&paths[0]).unwrap(); // 1 is now the oldest
        cache.get(&paths[2]).unwrap();
        let s = cache.stats();
        assert_eq!((s.cached, s.opens, s.hits, s.evictions), (2, 3, 1, 1));
        // 1 was evicted: reopened; 0 is still cached.
        let f = cache.get(&paths[1]).unwrap();
        let mut buf = [0u8; 6];
        std::os::unix::fs::FileExt::read_exact_at(&*f, &mut buf, 0).unwrap();
        assert_eq!(&buf, b"file 1");
        assert_eq!(cache.stats().opens, 4);
        cache.get(&paths[1]).unwrap();
        assert_eq!(cache.stats().opens, 4, "a hit does not reopen");
    }

    #[test]
    fn a_handle_in_use_survives_eviction_and_forget_drops_stale_inodes() {
        let dir = tempfile::tempdir().unwrap();
        let paths = files(dir.path(), 3);
        let cache = HandleCache::new(1);
        let held = cache.get(&paths[0]).unwrap();
        cache.get(&paths[1]).unwrap();
        let mut buf = [0u8; 6];
        std::os::unix::fs::FileExt::read_exact_at(&*held, &mut buf, 0).unwrap();
        assert_eq!(&buf, b"file 0", "an evicted handle still reads");
        // Replace the file behind path 1: after forget, the new inode is served.
        cache.forget(&paths[1]);
        std::fs::remove_file(&paths[1]).unwrap();
        std::fs::write(&paths[1], "fresh!").unwrap();
        let f = cache.get(&paths[1]).unwrap();
        std::os::unix::fs::FileExt::read_exact_at(&*f, &mut buf, 0).unwrap();
        assert_eq!(&buf, b"fresh!");
    }

    #[test]
    fn concurrent_readers_share_a_small_cache() {
        let dir = tempfile::tempdir().unwrap();
        let paths = files(dir.path(), 16);
        let cache = HandleCache::new(3);
        std::thread::scope(|s| {
            for t in 0..4 {
                let (cache, paths) = (&cache, &paths);
                s.spawn(move || {
                    for round in 0..200 {
                        let i = (round * 7 + t) % paths.len();
                        let f = cache.get(&paths[i]).unwrap();
                        let want = format!("file {i}");
                        let mut buf = vec![0u8; want.len()];
                        std::os::unix::fs::FileExt::read_exact_at(&*f, &mut buf, 0).unwrap();
                        assert_eq!(buf, want.as_bytes());
                    }
                });
            }
        });
        assert!(cache.stats().cached <= 3);
    }
}
