//! The kernel side: [`fuser::Filesystem`] calls mapped onto [`FsState`].
//!
//! Nothing is cached in the kernel: every file is opened with
//! `FOPEN_DIRECT_IO` (no page cache, so every write reaches this daemon and
//! no stale page survives a cut), entries and attributes have a zero TTL,
//! and fuser does not ask for `FUSE_WRITEBACK_CACHE`.

use crate::state::{FsError, FsState, Inode};
use fuser::{
    Errno, FileAttr, FileHandle, FileType, Filesystem, FopenFlags, Generation, INodeNo, LockOwner,
    OpenFlags, ReplyAttr, ReplyCreate, ReplyData, ReplyDirectory, ReplyEmpty, ReplyEntry,
    ReplyOpen, ReplyStatfs, ReplyWrite, Request, TimeOrNow, WriteFlags,
};
use std::collections::HashMap;
use std::ffi::OsStr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime};

const TTL: Duration = Duration::ZERO;

/// The state plus how many handles hold each inode open (an unlinked file
/// lives until its last close).
#[derive(Debug, Default)]
pub struct Shared {
    pub fs: FsState,
    open: HashMap<u64, u32>,
}

impl Shared {
    fn opened(&mut self, ino: u64) {
        *self.open.entry(ino).or_default() += 1;
    }

    fn closed(&mut self, ino: u64) {
        if let Some(n) = self.open.get_mut(&ino) {
            *n -= 1;
            if *n == 0 {
                self.open.remove(&ino);
                self.orphaned(ino);
            }
        }
    }

    fn orphaned(&mut self, ino: u64) {
        if !self.open.contains_key(&ino) {
            self.fs.forget_if_unlinked(ino);
        }
    }

    /// Power cut: open handles die with the processes that held them.
    pub fn cut(&mut self) {
        self.fs.cut();
        self.open.clear();
    }
}

/// The daemon handed to fuser.
pub struct PowerFs {
    shared: Arc<Mutex<Shared>>,
}

impl PowerFs {
    pub fn new(shared: Arc<Mutex<Shared>>) -> Self {
        PowerFs { shared }
    }

    fn lock(&self) -> MutexGuard<'_, Shared> {
        // A panic in one request must not take the whole file system down.
        self.shared.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// mknod / mkdir: a new file or directory named `name` in `parent`.
    fn make(&self, parent: INodeNo, name: &OsStr, mode: u32, dir: bool, reply: ReplyEntry) {
        let mut s = self.lock();
        let r = s.fs.create(parent.0, name, mode & 0o7777, dir);
        match r.and_then(|i| attr_of(&s, i)) {
            Ok(a) => reply.entry(&TTL, &a, Generation(0)),
            Err(e) => reply.error(errno(e)),
        }
    }

    /// fsync / fsyncdir: the inode's current version becomes durable.
    fn sync(&self, ino: INodeNo, reply: ReplyEmpty) {
        match self.lock().fs.sync(ino.0) {
            Ok(()) => reply.ok(),
            Err(e) => reply.error(errno(e)),
        }
    }

    /// unlink / rmdir; the inode lives on while open.
    fn remove(&self, parent: INodeNo, name: &OsStr, dir: bool, reply: ReplyEmpty) {
        let mut s = self.lock();
        match s.fs.remove(parent.0, name, dir) {
            Ok(ino) => {
                s.orphaned(ino);
                reply.ok()
            }
            Err(e) => reply.error(errno(e)),
        }
    }
}

fn errno(e: FsError) -> Errno {
    Errno::from_i32(e.errno())
}

fn attr(ino: u64, inode: &Inode) -> FileAttr {
    let now = SystemTime::now();
    let size = inode.size();
    FileAttr {
        ino: INodeNo(ino),
        size,
        blocks: size.div_ceil(512),
        atime: now,
        mtime: now,
        ctime: now,
        crtime: now,
        kind: if inode.is_dir() {
            FileType::Directory
        } else {
            FileType::RegularFile
        },
        perm: inode.mode as u16,
        nlink: 1,
        uid: 0,
        gid: 0,
        rdev: 0,
        blksize: 4096,
        flags: 0,
    }
}

fn attr_of(s: &Shared, ino: u64) -> Result<FileAttr, FsError> {
    s.fs.get(ino).map(|i| attr(ino, i))
}

impl Filesystem for PowerFs {
    fn lookup(&self, _req: &Request, parent: INodeNo, name: &OsStr, reply: ReplyEntry) {
        let s = self.lock();
        match s.fs.lookup(parent.0, name).and_then(|i| attr_of(&s, i)) {
            Ok(a) => reply.entry(&TTL, &a, Generation(0)),
            Err(e) => reply.error(errno(e)),
        }
    }

    fn getattr(&self, _req: &Request, ino: INodeNo, _fh: Option<FileHandle>, reply: ReplyAttr) {
        match attr_of(&self.lock(), ino.0) {
            Ok(a) => reply.attr(&TTL, &a),
            Err(e) => reply.error(errno(e)),
        }
    }

    fn setattr(
        &self,
        _req: &Request,
        ino: INodeNo,
        mode: Option<u32>,
        _uid: Option<u32>,
        _gid: Option<u32>,
        size: Option<u64>,
        _atime: Option<TimeOrNow>,
        _mtime: Option<TimeOrNow>,
        _ctime: Option<SystemTime>,
        _fh: Option<FileHandle>,
        _crtime: Option<SystemTime>,
        _chgtime: Option<SystemTime>,
        _bkuptime: Option<SystemTime>,
        _flags: Option<fuser::BsdFileFlags>,
        reply: ReplyAttr,
    ) {
        let mut s = self.lock();
        let r = (|| {
            if let Some(len) = size {
                s.fs.set_len(ino.0, len)?;
            }
            if let Some(m) = mode {
                s.fs.set_mode(ino.0, m)?;
            }
            attr_of(&s, ino.0)
        })();
        match r {
            Ok(a) => reply.attr(&TTL, &a),
            Err(e) => reply.error(errno(e)),
        }
    }

    fn mknod(
        &self,
        _req: &Request,
        parent: INodeNo,
        name: &OsStr,
        mode: u32,
        umask: u32,
        _rdev: u32,
        reply: ReplyEntry,
    ) {
        if mode & libc::S_IFMT != libc::S_IFREG {
            return reply.error(Errno::EPERM);
        }
        self.make(parent, name, mode & !umask, false, reply)
    }

    fn mkdir(
        &self,
        _req: &Request,
        parent: INodeNo,
        name: &OsStr,
        mode: u32,
        umask: u32,
        reply: ReplyEntry,
    ) {
        self.make(parent, name, mode & !umask, true, reply)
    }

    fn unlink(&self, _req: &Request, parent: INodeNo, name: &OsStr, reply: ReplyEmpty) {
        self.remove(parent, name, false, reply)
    }

    fn rmdir(&self, _req: &Request, parent: INodeNo, name: &OsStr, reply: ReplyEmpty) {
        self.remove(parent, name, true, reply)
    }

    fn rename(
        &self,
        _req: &Request,
        parent: INodeNo,
        name: &OsStr,
        newparent: INodeNo,
        newname: &OsStr,
        flags: fuser::RenameFlags,
        reply: ReplyEmpty,
    ) {
        if !flags.is_empty() {
            // RENAME_NOREPLACE / EXCHANGE: nobody in Ferry asks for them.
            return reply.error(Errno::EINVAL);
        }
        let mut s = self.lock();
        match s.fs.rename(parent.0, name, newparent.0, newname) {
            Ok(replaced) => {
                if let Some(ino) = replaced {
                    s.orphaned(ino);
                }
                reply.ok()
            }
            Err(e) => reply.error(errno(e)),
        }
    }

    fn open(&self, _req: &Request, ino: INodeNo, _flags: OpenFlags, reply: ReplyOpen) {
        let mut s = self.lock();
        match s.fs.get(ino.0) {
            Ok(_) => {
                s.opened(ino.0);
                reply.opened(FileHandle(ino.0), FopenFlags::FOPEN_DIRECT_IO)
            }
            Err(e) => reply.error(errno(e)),
        }
    }

    fn create(
        &self,
        _req: &Request,
        parent: INodeNo,
        name: &OsStr,
        mode: u32,
        umask: u32,
        _flags: i32,
        reply: ReplyCreate,
    ) {
        let mut s = self.lock();
        let r = s.fs.create(parent.0, name, mode & !umask & 0o7777, false);
        match r.and_then(|i| attr_of(&s, i)) {
            Ok(a) => {
                s.opened(a.ino.0);
                reply.created(
                    &TTL,
                    &a,
                    Generation(0),
                    FileHandle(a.ino.0),
                    FopenFlags::FOPEN_DIRECT_IO,
                )
            }
            Err(e) => reply.error(errno(e)),
        }
    }

    fn read(
        &self,
        _req: &Request,
        ino: INodeNo,
        _fh: FileHandle,
        offset: u64,
        size: u32,
        _flags: OpenFlags,
        _lock_owner: Option<LockOwner>,
        reply: ReplyData,
    ) {
        match self.lock().fs.read(ino.0, offset, size as usize) {
            Ok(data) => reply.data(data),
            Err(e) => reply.error(errno(e)),
        }
    }

    fn write(
        &self,
        _req: &Request,
        ino: INodeNo,
        _fh: FileHandle,
        offset: u64,
        data: &[u8],
        _write_flags: WriteFlags,
        _flags: OpenFlags,
        _lock_owner: Option<LockOwner>,
        reply: ReplyWrite,
    ) {
        match self.lock().fs.write(ino.0, offset, data) {
            Ok(()) => reply.written(data.len() as u32),
            Err(e) => reply.error(errno(e)),
        }
    }

    fn flush(
        &self,
        _req: &Request,
        _ino: INodeNo,
        _fh: FileHandle,
        _lock_owner: LockOwner,
        reply: ReplyEmpty,
    ) {
        reply.ok()
    }

    fn release(
        &self,
        _req: &Request,
        ino: INodeNo,
        _fh: FileHandle,
        _flags: OpenFlags,
        _lock_owner: Option<LockOwner>,
        _flush: bool,
        reply: ReplyEmpty,
    ) {
        self.lock().closed(ino.0);
        reply.ok()
    }

    fn fsync(
        &self,
        _req: &Request,
        ino: INodeNo,
        _fh: FileHandle,
        _datasync: bool,
        reply: ReplyEmpty,
    ) {
        self.sync(ino, reply)
    }

    fn opendir(&self, _req: &Request, ino: INodeNo, _flags: OpenFlags, reply: ReplyOpen) {
        match self.lock().fs.get(ino.0) {
            Ok(i) if i.is_dir() => reply.opened(FileHandle(ino.0), FopenFlags::empty()),
            Ok(_) => reply.error(Errno::ENOTDIR),
            Err(e) => reply.error(errno(e)),
        }
    }

    fn readdir(
        &self,
        _req: &Request,
        ino: INodeNo,
        _fh: FileHandle,
        offset: u64,
        mut reply: ReplyDirectory,
    ) {
        let listed = self.lock().fs.list(ino.0);
        let entries = match listed {
            Ok(e) => e,
            Err(e) => return reply.error(errno(e)),
        };
        let dots = [(".".into(), ino.0, true), ("..".into(), ino.0, true)];
        let all = dots.into_iter().chain(entries);
        for (i, (name, child, is_dir)) in all.enumerate().skip(offset as usize) {
            let kind = if is_dir {
                FileType::Directory
            } else {
                FileType::RegularFile
            };
            if reply.add(INodeNo(child), i as u64 + 1, kind, name) {
                break;
            }
        }
        reply.ok()
    }

    fn fsyncdir(
        &self,
        _req: &Request,
        ino: INodeNo,
        _fh: FileHandle,
        _datasync: bool,
        reply: ReplyEmpty,
    ) {
        self.sync(ino, reply)
    }

    fn statfs(&self, _req: &Request, _ino: INodeNo, reply: ReplyStatfs) {
        // Room is only bounded by memory; report a roomy disk so nobody
        // refuses to write for lack of space.
        let blocks = 1 << 24;
        reply.statfs(blocks, blocks, blocks, 1 << 20, 1 << 20, 4096, 255, 4096)
    }
}
