//! The sync task of one replica: waits until appends want an fsync, runs one
//! group-commit round ([`PartitionLog::sync_pending`](crate::storage::PartitionLog::sync_pending))
//! on a blocking thread, then lets the replica count the newly synced
//! records (a leader's HW may move). Appends that arrive during a round
//! leave a permit, so the next round covers all of them with one fsync.
//!
//! It holds the replica only during a round, so dropping the replica ends
//! it; so do deletion of the log and a failed fsync (sticky: the replica
//! manager takes the replica offline).

use super::Partition;
use crate::storage::{LogError, SyncStats};
use std::sync::{Arc, Weak};

/// Starts the sync task of `part` on the current tokio runtime; none (with
/// a warning) outside one, where syncs then only happen through `flush`.
pub fn start(part: &Arc<Partition>, stats: Arc<SyncStats>) {
    let Ok(rt) = tokio::runtime::Handle::try_current() else {
        tracing::warn!(topic = %part.topic, partition = part.partition, "no runtime: sync task not started");
        return;
    };
    rt.spawn(run(Arc::downgrade(part), part.log.sync_signal(), stats));
}

async fn run(part: Weak<Partition>, signal: Arc<tokio::sync::Notify>, stats: Arc<SyncStats>) {
    loop {
        signal.notified().await;
        let Some(p) = part.upgrade() else { return };
        let log = p.log.clone();
        match tokio::task::spawn_blocking(move || log.sync_pending()).await {
            Ok(Ok(round)) => {
                stats.record(&round);
                if round.fsynced {
                    p.on_synced();
                }
            }
            Ok(Err(LogError::Deleted)) => return,
            Ok(Err(e)) => {
                // Already recorded as the log's sync failure; waiters have been told.
                tracing::error!(topic = %p.topic, partition = p.partition, error = %e, "sync task stopped");
                return;
            }
            Err(e) => {
                tracing::error!(topic = %p.topic, partition = p.partition, error = %e, "sync round panicked");
                p.log.fail_sync(&LogError::Io {
                    op: "sync round".into(),
                    source: std::io::Error::other(e.to_string()),
                });
                return;
            }
        }
    }
}
