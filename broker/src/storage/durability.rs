//! What a log's durability looks like from outside: the synced offset and
//! generation waiters watch ([`Durability`]), what a sync round covered, the
//! broker-wide counters, and the state a log shares with its sync task.
//!
//! A leaf beside `log` and `sync` so that both can use it without depending
//! on each other's internals.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use tokio::sync::{watch, Notify};

/// What waiters see of a log's durability.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Durability {
    /// Every offset below this is on stable storage.
    pub synced: u64,
    /// Truncation generation the offset belongs to (see [`AppendInfo::sync_gen`](super::AppendInfo)).
    pub gen: u64,
    /// Why syncing stopped, after an fsync failed.
    pub failed: Option<Arc<str>>,
}

/// What one sync round covered.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SyncRound {
    /// Whether an fdatasync ran (false: nothing new to sync).
    pub fsynced: bool,
    /// Records newly counted as synced.
    pub records: u64,
    /// Batch bytes appended since the previous round.
    pub bytes: u64,
}

/// Broker-wide totals over every log's sync rounds (the `/metrics` counters).
#[derive(Debug, Default)]
pub struct SyncStats {
    fsyncs: AtomicU64,
    records: AtomicU64,
    bytes: AtomicU64,
}

impl SyncStats {
    /// Adds one round.
    pub fn record(&self, round: &SyncRound) {
        if round.fsynced {
            self.fsyncs.fetch_add(1, Ordering::Relaxed);
            self.records.fetch_add(round.records, Ordering::Relaxed);
            self.bytes.fetch_add(round.bytes, Ordering::Relaxed);
        }
    }

    /// (fsyncs, records covered, bytes covered) so far.
    pub fn totals(&self) -> (u64, u64, u64) {
        (
            self.fsyncs.load(Ordering::Relaxed),
            self.records.load(Ordering::Relaxed),
            self.bytes.load(Ordering::Relaxed),
        )
    }
}

/// How an acks=1 wait for the local fsync ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SyncWait {
    Synced,
    /// The log was truncated (or reset) since the append: the offset may hold
    /// another record now.
    Truncated,
    Failed(Arc<str>),
}

/// The sync state a log shares with its sync task and waiters.
pub(crate) struct SyncShared {
    pub(super) tx: watch::Sender<Durability>,
    pub(super) wanted: Arc<Notify>,
    pub(super) fsyncs: AtomicU64,
    #[cfg(any(test, feature = "fault-injection"))]
    pub(crate) gate: super::sync_gate::SyncGate,
}

impl SyncShared {
    pub(crate) fn new(synced: u64) -> Self {
        SyncShared {
            tx: watch::channel(Durability {
                synced,
                gen: 0,
                failed: None,
            })
            .0,
            wanted: Arc::new(Notify::new()),
            fsyncs: AtomicU64::new(0),
            #[cfg(any(test, feature = "fault-injection"))]
            gate: super::sync_gate::SyncGate::default(),
        }
    }

    /// Mirrors the log state's synced offset and generation to waiters;
    /// called with the state lock held, so publications follow its order.
    pub(crate) fn publish(&self, synced: u64, gen: u64) {
        self.tx.send_if_modified(|d| {
            let changed = d.synced != synced || d.gen != gen;
            d.synced = synced;
            d.gen = gen;
            changed
        });
    }
}
