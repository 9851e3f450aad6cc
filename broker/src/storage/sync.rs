//! Group commit: the synced offset of a [`PartitionLog`] and the blocking
//! round its sync task runs.
//!
//! Appends only write to the page cache and signal that a sync is wanted
//! (unless the log is in `write_caching` mode). One round of the sync task
//! takes the log end and the active segment's file under the state lock,
//! runs one fdatasync without any lock, then publishes that end as the synced
//! offset: every append since the previous round shares that one fsync.
//! Earlier segments need none: a roll syncs the segment it closes before the
//! next one exists. A truncation or reset bumps `sync_gen`, so a round that
//! began before it publishes nothing.
//!
//! A failed fsync is sticky (the page cache may have dropped the dirty pages,
//! so retrying could "succeed" without the data): the log refuses appends and
//! waiters see the failure; the replica manager takes the replica offline.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use tokio::sync::{watch, Notify};

use super::durability::{Durability, SyncRound, SyncWait};
use super::log::{LogConfig, PartitionLog};
use super::LogError;

impl PartitionLog {
    /// Signals the sync task that appends await an fsync.
    pub(crate) fn want_sync(&self, cfg: &LogConfig) {
        if !cfg.write_caching {
            self.sync.wanted.notify_one();
        }
    }

    /// Woken (one stored permit) whenever an append wants a sync, and when
    /// the log is deleted: what the sync task waits on.
    pub fn sync_signal(&self) -> Arc<Notify> {
        self.sync.wanted.clone()
    }

    /// Every offset below this is on stable storage.
    pub fn synced_offset(&self) -> u64 {
        self.read_state().synced
    }

    /// Whether appends count from the page cache (`write.caching`).
    pub fn write_caching(&self) -> bool {
        self.config().write_caching
    }

    /// Where this replica's log counts to for the HW and the fetch offset it
    /// reports: the synced offset, or the log end with `write_caching`.
    pub fn counted_end(&self) -> u64 {
        let caching = self.write_caching();
        let st = self.read_state();
        if caching {
            st.log_end
        } else {
            st.synced
        }
    }

    /// Watches the synced offset and sync failures.
    pub fn subscribe_durability(&self) -> watch::Receiver<Durability> {
        self.sync.tx.subscribe()
    }

    /// Why syncing stopped, if an fsync failed.
    pub fn sync_error(&self) -> Option<Arc<str>> {
        self.sync.tx.borrow().failed.clone()
    }

    /// fdatasync calls made by sync rounds and `flush` (the group-commit seam).
    pub fn fsync_count(&self) -> u64 {
        self.sync.fsyncs.load(Ordering::Relaxed)
    }

    /// Waits until everything below `offset` is synced in truncation
    /// generation `gen` (the append's), or the outcome is known otherwise.
    /// With `write_caching` the record counts at once.
    pub async fn wait_synced(&self, offset: u64, gen: u64) -> SyncWait {
        let mut rx = self.subscribe_durability();
        let caching = self.write_caching();
        let done =
            |d: &Durability| d.failed.is_some() || d.gen != gen || caching || d.synced >= offset;
        let d = match rx.wait_for(done).await {
            Ok(d) => d.clone(),
            // The sender lives in the log, which the caller holds.
            Err(_) => return SyncWait::Failed("the log was closed".into()),
        };
        match d.failed {
            Some(e) => SyncWait::Failed(e),
            None if d.gen != gen => SyncWait::Truncated,
            None => SyncWait::Synced,
        }
    }

    /// One group-commit round (blocking): fdatasync of the active segment if
    /// anything was appended since the last round, then publish the new
    /// synced offset. Never holds the writer lock, so appends go on during
    /// the fsync. After a failure every later round fails too.
    pub fn sync_pending(&self) -> Result<SyncRound, LogError> {
        #[cfg(any(test, feature = "fault-injection"))]
        self.sync.gate.pass();
        self.check_sync_failed()?;
        // The handle is taken under the state lock: a truncation that
        // removes this segment meanwhile cannot make the fsync fail.
        let (files, log, end, gen, prev) = {
            let st = self.read_state();
            st.check_live()?;
            if st.synced >= st.log_end {
                return Ok(SyncRound::default());
            }
            let active = st.active()?;
            (
                active.files.clone(),
                active.files.log(),
                st.log_end,
                st.sync_gen,
                st.synced,
            )
        };
        let bytes = self.unsynced_bytes.swap(0, Ordering::Relaxed);
        #[cfg(any(test, feature = "fault-injection"))]
        let injected = self.sync.gate.injected_failure(&files.log_path);
        #[cfg(not(any(test, feature = "fault-injection")))]
        let injected: Option<LogError> = None;
        let res = match (injected, log) {
            (Some(e), _) | (None, Err(e)) => Err(e),
            (None, Ok(log)) => log
                .sync_data()
                .map_err(super::io_err("fsync", &files.log_path)),
        };
        if let Err(e) = res {
            self.fail_sync(&e);
            return Err(e);
        }
        self.publish_synced(end, gen);
        Ok(SyncRound {
            fsynced: true,
            records: end.saturating_sub(prev),
            bytes,
        })
    }

    /// fdatasync of the active segment and its index files (shutdown).
    /// Inactive segments were synced when they were rolled. Everything
    /// appended so far then counts as synced.
    pub fn flush(&self) -> Result<(), LogError> {
        let _writer = self.lock_writer();
        let (files, end, gen) = {
            let st = self.read_state();
            (st.active()?.files.clone(), st.log_end, st.sync_gen)
        };
        if let Err(e) = files.sync() {
            self.fail_sync(&e);
            return Err(e);
        }
        self.publish_synced(end, gen);
        Ok(())
    }

    /// Counts one fsync and publishes `end` as synced unless a truncation
    /// (a newer `sync_gen`) came in between.
    pub(crate) fn publish_synced(&self, end: u64, gen: u64) {
        self.sync.fsyncs.fetch_add(1, Ordering::Relaxed);
        let mut st = self.write_state();
        if st.sync_gen == gen && end > st.synced {
            st.synced = end;
            self.sync.publish(st.synced, st.sync_gen);
        }
    }

    /// Makes a failed fsync sticky and tells every waiter.
    pub(crate) fn fail_sync(&self, e: &LogError) {
        tracing::error!(dir = %self.dir.display(), error = %e, "fsync failed; the replica stops accepting writes");
        let msg: Arc<str> = e.to_string().into();
        self.sync.tx.send_modify(|d| {
            d.failed.get_or_insert(msg);
        });
    }

    /// Refuses a write after a failed fsync.
    pub(crate) fn check_sync_failed(&self) -> Result<(), LogError> {
        match self.sync_error() {
            None => Ok(()),
            Some(e) => Err(LogError::Io {
                op: format!("write to {} after a failed fsync ({e})", self.dir.display()),
                source: std::io::Error::other("earlier fsync failed"),
            }),
        }
    }
}
