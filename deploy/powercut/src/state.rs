//! The file system's state as a pure model with no I/O: every inode keeps a
//! *current* and a *durable* version, and [`FsState::cut`] throws the
//! current versions away.
//!
//! What is durable follows POSIX's minimum, stricter than ext4 in practice:
//! - a file's contents and length become durable on `fsync`/`fdatasync` of
//!   that file, and only then;
//! - a directory's entries (creations, renames, unlinks, mkdirs) become
//!   durable on `fsync` of that directory, and only then. A rename across two
//!   directories is durable in each directory separately.
//!
//! An inode reachable from no durable entry is dropped by a cut, so a file
//! created and written but never linked durably vanishes whole.

use std::collections::{BTreeMap, HashMap};
use std::ffi::{OsStr, OsString};

/// Inode number of the root directory (FUSE's fixed root).
pub const ROOT: u64 = 1;

/// Why an operation failed, as the errno the kernel gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FsError {
    NotFound,
    Exists,
    NotDir,
    IsDir,
    NotEmpty,
    /// The power is off: nothing reads or writes until [`FsState::power_on`].
    PoweredOff,
}

impl FsError {
    /// The errno for this error.
    pub fn errno(self) -> i32 {
        match self {
            FsError::NotFound => libc::ENOENT,
            FsError::Exists => libc::EEXIST,
            FsError::NotDir => libc::ENOTDIR,
            FsError::IsDir => libc::EISDIR,
            FsError::NotEmpty => libc::ENOTEMPTY,
            FsError::PoweredOff => libc::EIO,
        }
    }
}

/// What an inode is, with both versions of its contents.
#[derive(Debug, Clone)]
pub enum Content {
    File(FileData),
    Dir {
        current: BTreeMap<OsString, u64>,
        durable: BTreeMap<OsString, u64>,
    },
}

/// A file's two versions. `dirty_from` is the lowest offset changed since
/// the last sync, so an fsync copies only the changed tail (appends stay
/// cheap on large files).
#[derive(Debug, Clone, Default)]
pub struct FileData {
    pub current: Vec<u8>,
    pub durable: Vec<u8>,
    dirty_from: Option<usize>,
}

impl FileData {
    fn touch(&mut self, from: usize) {
        self.dirty_from = Some(self.dirty_from.map_or(from, |d| d.min(from)));
    }

    fn sync(&mut self) {
        if let Some(from) = self.dirty_from.take() {
            let keep = from.min(self.durable.len()).min(self.current.len());
            self.durable.truncate(keep);
            self.durable.extend_from_slice(&self.current[keep..]);
        }
    }

    /// Falls back to the durable version; the bytes thrown away.
    fn revert(&mut self) -> u64 {
        let Some(from) = self.dirty_from.take() else {
            return 0;
        };
        let lost = self
            .current
            .len()
            .saturating_sub(from.min(self.durable.len()));
        self.current.clone_from(&self.durable);
        lost as u64
    }
}

/// One inode.
#[derive(Debug, Clone)]
pub struct Inode {
    pub content: Content,
    pub mode: u32,
}

impl Inode {
    /// Whether this is a directory.
    pub fn is_dir(&self) -> bool {
        matches!(self.content, Content::Dir { .. })
    }

    /// The current length (bytes for a file, entries for a directory).
    pub fn size(&self) -> u64 {
        match &self.content {
            Content::File(f) => f.current.len() as u64,
            Content::Dir { current, .. } => current.len() as u64,
        }
    }
}

/// Counters of what happened since the mount, for test output.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stats {
    pub writes: u64,
    pub fsyncs: u64,
    pub dir_fsyncs: u64,
    pub cuts: u64,
    /// Bytes of file contents thrown away by cuts.
    pub bytes_lost: u64,
}

/// The whole file system.
#[derive(Debug)]
pub struct FsState {
    inodes: HashMap<u64, Inode>,
    next_ino: u64,
    powered: bool,
    stats: Stats,
}

type Res<T> = Result<T, FsError>;

impl Default for FsState {
    fn default() -> Self {
        Self::new()
    }
}

impl FsState {
    /// An empty file system with a durable root directory, powered on.
    pub fn new() -> Self {
        let root = Inode {
            content: Content::Dir {
                current: BTreeMap::new(),
                durable: BTreeMap::new(),
            },
            mode: 0o755,
        };
        FsState {
            inodes: HashMap::from([(ROOT, root)]),
            next_ino: ROOT + 1,
            powered: true,
            stats: Stats::default(),
        }
    }

    /// Counters since the mount.
    pub fn stats(&self) -> Stats {
        self.stats
    }

    /// Whether the power is on.
    pub fn powered(&self) -> bool {
        self.powered
    }

    fn on(&self) -> Res<()> {
        if self.powered {
            Ok(())
        } else {
            Err(FsError::PoweredOff)
        }
    }

    /// The inode `ino`.
    pub fn get(&self, ino: u64) -> Res<&Inode> {
        self.on()?;
        self.inodes.get(&ino).ok_or(FsError::NotFound)
    }

    fn get_mut(&mut self, ino: u64) -> Res<&mut Inode> {
        self.on()?;
        self.inodes.get_mut(&ino).ok_or(FsError::NotFound)
    }

    fn entries(&self, dir: u64) -> Res<&BTreeMap<OsString, u64>> {
        match &self.get(dir)?.content {
            Content::Dir { current, .. } => Ok(current),
            Content::File(_) => Err(FsError::NotDir),
        }
    }

    fn entries_mut(&mut self, dir: u64) -> Res<&mut BTreeMap<OsString, u64>> {
        match &mut self.get_mut(dir)?.content {
            Content::Dir { current, .. } => Ok(current),
            Content::File(_) => Err(FsError::NotDir),
        }
    }

    /// The inode named `name` in directory `dir`.
    pub fn lookup(&self, dir: u64, name: &OsStr) -> Res<u64> {
        self.entries(dir)?
            .get(name)
            .copied()
            .ok_or(FsError::NotFound)
    }

    /// The current entries of directory `dir`, in name order.
    pub fn list(&self, dir: u64) -> Res<Vec<(OsString, u64, bool)>> {
        let entries = self.entries(dir)?;
        Ok(entries
            .iter()
            .map(|(n, &i)| (n.clone(), i, self.inodes.get(&i).is_some_and(Inode::is_dir)))
            .collect())
    }

    /// Creates `name` in `dir`: an empty file, or a directory when `dir_kind`.
    pub fn create(&mut self, dir: u64, name: &OsStr, mode: u32, dir_kind: bool) -> Res<u64> {
        if self.entries(dir)?.contains_key(name) {
            return Err(FsError::Exists);
        }
        let ino = self.next_ino;
        self.next_ino += 1;
        let content = if dir_kind {
            Content::Dir {
                current: BTreeMap::new(),
                durable: BTreeMap::new(),
            }
        } else {
            Content::File(FileData::default())
        };
        self.inodes.insert(ino, Inode { content, mode });
        self.entries_mut(dir)?.insert(name.to_owned(), ino);
        Ok(ino)
    }

    fn file_mut(&mut self, ino: u64) -> Res<&mut FileData> {
        match &mut self.get_mut(ino)?.content {
            Content::File(f) => Ok(f),
            Content::Dir { .. } => Err(FsError::IsDir),
        }
    }

    /// Up to `len` bytes of file `ino` from `offset`.
    pub fn read(&self, ino: u64, offset: u64, len: usize) -> Res<&[u8]> {
        match &self.get(ino)?.content {
            Content::File(FileData { current, .. }) => {
                let start = (offset as usize).min(current.len());
                let end = start.saturating_add(len).min(current.len());
                Ok(&current[start..end])
            }
            Content::Dir { .. } => Err(FsError::IsDir),
        }
    }

    /// Writes `data` at `offset` of file `ino`, zero-filling any gap.
    pub fn write(&mut self, ino: u64, offset: u64, data: &[u8]) -> Res<()> {
        let file = self.file_mut(ino)?;
        let start = offset as usize;
        let end = start + data.len();
        file.touch(start.min(file.current.len()));
        if file.current.len() < end {
            file.current.resize(end, 0);
        }
        file.current[start..end].copy_from_slice(data);
        self.stats.writes += 1;
        Ok(())
    }

    /// Sets the length of file `ino` (truncate or zero-extend).
    pub fn set_len(&mut self, ino: u64, len: u64) -> Res<()> {
        let file = self.file_mut(ino)?;
        file.touch((len as usize).min(file.current.len()));
        file.current.resize(len as usize, 0);
        Ok(())
    }

    /// Sets the permission bits of `ino`.
    pub fn set_mode(&mut self, ino: u64, mode: u32) -> Res<()> {
        self.get_mut(ino)?.mode = mode & 0o7777;
        Ok(())
    }

    /// `fsync` of file or directory `ino`: its current version becomes durable.
    pub fn sync(&mut self, ino: u64) -> Res<()> {
        match &mut self.get_mut(ino)?.content {
            Content::File(f) => {
                f.sync();
                self.stats.fsyncs += 1;
            }
            Content::Dir { current, durable } => {
                durable.clone_from(current);
                self.stats.dir_fsyncs += 1;
            }
        }
        Ok(())
    }

    /// Removes the entry `name` from `dir`; `dir_kind` says whether it must be
    /// an (empty) directory (rmdir) or must not be one (unlink).
    /// Returns the inode that lost its name.
    pub fn remove(&mut self, dir: u64, name: &OsStr, dir_kind: bool) -> Res<u64> {
        let ino = self.lookup(dir, name)?;
        let target = self.get(ino)?;
        match (dir_kind, &target.content) {
            (true, Content::File(_)) => return Err(FsError::NotDir),
            (false, Content::Dir { .. }) => return Err(FsError::IsDir),
            (true, Content::Dir { current, .. }) if !current.is_empty() => {
                return Err(FsError::NotEmpty)
            }
            _ => {}
        }
        self.entries_mut(dir)?.remove(name);
        Ok(ino)
    }

    /// Renames `dir/name` to `new_dir/new_name`, replacing a file there;
    /// returns the replaced inode.
    pub fn rename(
        &mut self,
        dir: u64,
        name: &OsStr,
        new_dir: u64,
        new_name: &OsStr,
    ) -> Res<Option<u64>> {
        let ino = self.lookup(dir, name)?;
        let replaced = self.lookup(new_dir, new_name).ok();
        if let Some(old) = replaced {
            if old == ino {
                return Ok(None);
            }
            match &self.get(old)?.content {
                Content::Dir { current, .. } if !current.is_empty() => {
                    return Err(FsError::NotEmpty)
                }
                Content::Dir { .. } if !self.get(ino)?.is_dir() => return Err(FsError::IsDir),
                Content::File(_) if self.get(ino)?.is_dir() => return Err(FsError::NotDir),
                _ => {}
            }
        }
        self.entries(new_dir)?;
        self.entries_mut(dir)?.remove(name);
        self.entries_mut(new_dir)?.insert(new_name.to_owned(), ino);
        Ok(replaced)
    }

    /// Power cut: every inode falls back to its durable version, inodes no
    /// durable entry reaches are dropped, and everything fails with
    /// [`FsError::PoweredOff`] until [`power_on`](Self::power_on).
    pub fn cut(&mut self) {
        self.powered = false;
        self.stats.cuts += 1;
        for inode in self.inodes.values_mut() {
            match &mut inode.content {
                Content::File(f) => self.stats.bytes_lost += f.revert(),
                Content::Dir { current, durable } => current.clone_from(durable),
            }
        }
        self.collect_unreachable();
    }

    /// Power back on after a cut.
    pub fn power_on(&mut self) {
        self.powered = true;
    }

    /// Drops every inode that no current entry reaches from the root.
    fn collect_unreachable(&mut self) {
        let mut seen = std::collections::HashSet::from([ROOT]);
        let mut stack = vec![ROOT];
        while let Some(ino) = stack.pop() {
            if let Some(Inode {
                content: Content::Dir { current, .. },
                ..
            }) = self.inodes.get(&ino)
            {
                for &child in current.values() {
                    if seen.insert(child) {
                        stack.push(child);
                    }
                }
            }
        }
        self.inodes.retain(|ino, _| seen.contains(ino));
    }

    /// Frees `ino` when no current entry names it any more and nobody holds
    /// it open, unless a durable entry still does (a cut brings it back).
    pub fn forget_if_unlinked(&mut self, ino: u64) {
        let named = self.inodes.values().any(|i| match &i.content {
            Content::Dir { current, durable } => {
                current.values().chain(durable.values()).any(|&c| c == ino)
            }
            Content::File(_) => false,
        });
        if !named && ino != ROOT {
            self.inodes.remove(&ino);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn n(s: &str) -> &OsStr {
        OsStr::new(s)
    }

    #[test]
    fn unsynced_write_is_lost_and_synced_write_is_kept() {
        let mut fs = FsState::new();
        let f = fs.create(ROOT, n("a"), 0o644, false).unwrap();
        fs.sync(ROOT).unwrap();
        fs.write(f, 0, b"kept").unwrap();
        fs.sync(f).unwrap();
        fs.write(f, 4, b"lost").unwrap();
        fs.cut();
        assert_eq!(fs.get(f).unwrap_err(), FsError::PoweredOff);
        fs.power_on();
        assert_eq!(fs.read(f, 0, 100).unwrap(), b"kept");
        assert_eq!(fs.stats().bytes_lost, 4);
    }

    #[test]
    fn rename_without_dir_fsync_is_undone() {
        let mut fs = FsState::new();
        let old = fs.create(ROOT, n("f"), 0o644, false).unwrap();
        fs.write(old, 0, b"old").unwrap();
        fs.sync(old).unwrap();
        fs.sync(ROOT).unwrap();
        let tmp = fs.create(ROOT, n("f.tmp"), 0o644, false).unwrap();
        fs.write(tmp, 0, b"new").unwrap();
        fs.sync(tmp).unwrap();
        fs.rename(ROOT, n("f.tmp"), ROOT, n("f")).unwrap();
        fs.cut();
        fs.power_on();
        let f = fs.lookup(ROOT, n("f")).unwrap();
        assert_eq!(fs.read(f, 0, 10).unwrap(), b"old");
        assert_eq!(fs.lookup(ROOT, n("f.tmp")), Err(FsError::NotFound));
        assert!(fs.get(tmp).is_err(), "the unlinked temp inode is dropped");
    }

    #[test]
    fn new_dir_without_parent_fsync_vanishes_with_its_files() {
        let mut fs = FsState::new();
        let d = fs.create(ROOT, n("d"), 0o755, true).unwrap();
        let f = fs.create(d, n("x"), 0o644, false).unwrap();
        fs.write(f, 0, b"x").unwrap();
        fs.sync(f).unwrap();
        fs.sync(d).unwrap();
        fs.cut();
        fs.power_on();
        assert_eq!(fs.lookup(ROOT, n("d")), Err(FsError::NotFound));
        assert!(fs.get(f).is_err());
    }

    #[test]
    fn unlink_without_dir_fsync_comes_back_and_truncate_is_undone() {
        let mut fs = FsState::new();
        let f = fs.create(ROOT, n("seg"), 0o644, false).unwrap();
        fs.write(f, 0, b"records").unwrap();
        fs.sync(f).unwrap();
        fs.sync(ROOT).unwrap();
        fs.set_len(f, 2).unwrap();
        let gone = fs.remove(ROOT, n("seg"), false).unwrap();
        fs.forget_if_unlinked(gone);
        fs.cut();
        fs.power_on();
        let f = fs.lookup(ROOT, n("seg")).unwrap();
        assert_eq!(fs.read(f, 0, 100).unwrap(), b"records");
    }

    #[test]
    fn rmdir_refuses_a_non_empty_dir() {
        let mut fs = FsState::new();
        let d = fs.create(ROOT, n("d"), 0o755, true).unwrap();
        fs.create(d, n("x"), 0o644, false).unwrap();
        assert_eq!(fs.remove(ROOT, n("d"), true), Err(FsError::NotEmpty));
        assert_eq!(fs.remove(ROOT, n("d"), false), Err(FsError::IsDir));
    }
}
