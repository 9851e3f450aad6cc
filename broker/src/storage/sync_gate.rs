//! Failpoints for the sync task (tests and feature `fault-injection` only):
//! hold every sync round before it takes the log end, and make the next
//! fsync fail, so tests can show what waits on an fsync without timing.

use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Condvar, Mutex, PoisonError};

use super::{LogError, PartitionLog};

/// The gate one log's sync rounds pass.
#[derive(Default)]
pub(crate) struct SyncGate {
    held: Mutex<bool>,
    released: Condvar,
    /// Rounds blocked at the gate right now.
    blocked: AtomicUsize,
    fail_next: AtomicBool,
}

impl SyncGate {
    /// Blocks while the gate is held.
    pub(crate) fn pass(&self) {
        let mut held = self.held.lock().unwrap_or_else(PoisonError::into_inner);
        if *held {
            self.blocked.fetch_add(1, Ordering::SeqCst);
            while *held {
                held = self
                    .released
                    .wait(held)
                    .unwrap_or_else(PoisonError::into_inner);
            }
            self.blocked.fetch_sub(1, Ordering::SeqCst);
        }
    }

    /// The injected error for the fsync of `path`, once armed.
    pub(crate) fn injected_failure(&self, path: &Path) -> Option<LogError> {
        self.fail_next
            .swap(false, Ordering::SeqCst)
            .then(|| LogError::Io {
                op: format!("fsync {}", path.display()),
                source: std::io::Error::other("injected fsync failure"),
            })
    }

    fn set(&self, held: bool) {
        *self.held.lock().unwrap_or_else(PoisonError::into_inner) = held;
        self.released.notify_all();
    }
}

/// Holds a log's sync rounds until dropped.
pub struct SyncHold<'a> {
    gate: &'a SyncGate,
}

impl Drop for SyncHold<'_> {
    fn drop(&mut self) {
        self.gate.set(false);
    }
}

impl PartitionLog {
    /// Holds every sync round of this log at its start until the guard drops.
    pub fn hold_syncs(&self) -> SyncHold<'_> {
        self.sync.gate.set(true);
        SyncHold {
            gate: &self.sync.gate,
        }
    }

    /// Sync rounds blocked by [`PartitionLog::hold_syncs`] right now.
    pub fn syncs_blocked(&self) -> usize {
        self.sync.gate.blocked.load(Ordering::SeqCst)
    }

    /// Makes the next fsync of a sync round fail with an I/O error.
    pub fn fail_next_sync(&self) {
        self.sync.gate.fail_next.store(true, Ordering::SeqCst);
    }
}
