//! Power-cut harness for Ferry's tests: a small FUSE file system, served
//! from the test process, whose unsynced writes vanish for every process at
//! once when the test cuts the power.
//!
//! A killed process is no power cut (its writes survive in the page cache),
//! so the nodes' data dirs go on a [`PowerCutMount`] instead: every write
//! reaches this daemon (no kernel caching), the daemon keeps a current and a
//! durable version of each file and directory, `fsync` makes one durable,
//! and [`PowerCutMount::cut`] throws every current version away and fails
//! every later operation with `EIO` until [`PowerCutMount::power_on`].
//!
//! - [`state`]: the file system as a pure model (durable vs current).
//! - [`fuse`]: the kernel requests mapped onto it.

pub mod fuse;
pub mod state;

pub use state::Stats;

use fuser::{BackgroundSession, Config, MountOption};
use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard};

/// Why the file system could not be mounted.
#[derive(Debug, thiserror::Error)]
pub enum PowerCutError {
    #[error(
        "FUSE is unavailable ({0}): the power-cut tests need /dev/fuse and root \
         (mount(2)); on a container run it with --device /dev/fuse --cap-add SYS_ADMIN"
    )]
    FuseUnavailable(String),
    #[error("mounting the power-cut file system on {path}: {source}")]
    Mount {
        path: String,
        source: std::io::Error,
    },
}

/// A mounted power-cut file system in a fresh temp dir; unmounted on drop.
pub struct PowerCutMount {
    shared: Arc<Mutex<fuse::Shared>>,
    session: Option<BackgroundSession>,
    dir: tempfile::TempDir,
}

impl PowerCutMount {
    /// Mounts an empty file system on a new temp dir.
    pub fn new() -> Result<Self, PowerCutError> {
        std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open("/dev/fuse")
            .map_err(|e| PowerCutError::FuseUnavailable(format!("opening /dev/fuse: {e}")))?;
        let dir = tempfile::Builder::new()
            .prefix("ferry-powercut-")
            .tempdir()
            .map_err(|e| PowerCutError::FuseUnavailable(format!("creating a mount point: {e}")))?;
        let shared = Arc::new(Mutex::new(fuse::Shared::default()));
        let mut config = Config::default();
        config.mount_options = vec![MountOption::FSName("ferry-powercut".into())];
        config.n_threads = Some(2);
        let session = fuser::spawn_mount(fuse::PowerFs::new(shared.clone()), dir.path(), &config)
            .map_err(|source| PowerCutError::Mount {
            path: dir.path().display().to_string(),
            source,
        })?;
        Ok(PowerCutMount {
            shared,
            session: Some(session),
            dir,
        })
    }

    /// Where the file system is mounted.
    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    fn lock(&self) -> MutexGuard<'_, fuse::Shared> {
        self.shared.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Cuts the power: in one step every file and directory falls back to
    /// what was last fsynced, and every operation fails with `EIO` from then
    /// on. Freeze the processes before and kill them after.
    pub fn cut(&self) {
        self.lock().cut();
    }

    /// Turns the power back on (the processes may start again).
    pub fn power_on(&self) {
        self.lock().fs.power_on();
    }

    /// Counters since the mount.
    pub fn stats(&self) -> Stats {
        self.lock().fs.stats()
    }
}

impl Drop for PowerCutMount {
    fn drop(&mut self) {
        let Some(session) = self.session.take() else {
            return;
        };
        if session.umount_and_join().is_err() {
            // Still busy (a process outlived its test): detach it so the
            // mount point does not linger in the mount table.
            if let Ok(c) = std::ffi::CString::new(self.dir.path().as_os_str().as_encoded_bytes()) {
                // SAFETY: `c` is a valid NUL-terminated path for the call.
                unsafe { libc::umount2(c.as_ptr(), libc::MNT_DETACH) };
            }
        }
    }
}
