//! openraft's `RaftLogStorage` adapter: the Raft log, vote and commit index in sled.
//!
//! Appends and votes are made durable ([`DurableDb::sync`]) before openraft is
//! told they are done: `LogFlushed` fires only after `fdatasync`.

// openraft's trait fixes the (large) error type; boxing it here would only add a conversion.
#![allow(clippy::result_large_err)]

use super::types::{NodeId, TypeConfig};
use crate::storage::durable::DurableDb;
use crate::storage::StorageError;
use openraft::storage::{LogFlushed, RaftLogStorage};
use openraft::{
    Entry, LogId, LogState, RaftLogReader, StorageError as RaftStorageError, StorageIOError, Vote,
};
use std::fmt::Debug;
use std::ops::{Bound, RangeBounds};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

type Result<T> = std::result::Result<T, RaftStorageError<NodeId>>;

const VOTE: &[u8] = b"vote";
const COMMITTED: &[u8] = b"committed";
const LAST_PURGED: &[u8] = b"last_purged";

/// sled-backed Raft log; cheap to clone (readers share the trees).
#[derive(Clone)]
pub struct SledLogStore {
    durable: DurableDb,
    log: sled::Tree,
    meta: sled::Tree,
    /// Latest known commit index, for `/v1/cluster` and `/metrics`.
    committed: Arc<AtomicU64>,
}

impl SledLogStore {
    pub fn open(durable: DurableDb) -> std::result::Result<Self, StorageError> {
        let log = durable
            .db
            .open_tree("raft_log")
            .map_err(StorageError::sled("open raft_log"))?;
        let meta = durable
            .db
            .open_tree("raft_meta")
            .map_err(StorageError::sled("open raft_meta"))?;
        let store = SledLogStore {
            durable,
            log,
            meta,
            committed: Arc::new(AtomicU64::new(0)),
        };
        let committed: Option<Option<LogId<NodeId>>> =
            store
                .get_meta(COMMITTED)
                .map_err(|e| StorageError::Corrupt {
                    what: "committed",
                    detail: e.to_string(),
                })?;
        store.committed.store(
            committed.flatten().map_or(0, |l| l.index),
            Ordering::Relaxed,
        );
        Ok(store)
    }

    /// A shared handle on the commit index.
    pub fn committed_index(&self) -> Arc<AtomicU64> {
        self.committed.clone()
    }

    fn get_meta<T: serde::de::DeserializeOwned>(
        &self,
        key: &[u8],
    ) -> std::result::Result<Option<T>, StorageIOError<NodeId>> {
        let Some(v) = self.meta.get(key).map_err(|e| StorageIOError::read(&e))? else {
            return Ok(None);
        };
        serde_json::from_slice(&v)
            .map(Some)
            .map_err(|e| StorageIOError::read(&e))
    }

    fn put_meta<T: serde::Serialize>(
        &self,
        key: &[u8],
        value: &T,
    ) -> std::result::Result<(), StorageIOError<NodeId>> {
        let v = serde_json::to_vec(value).map_err(|e| StorageIOError::write(&e))?;
        self.meta
            .insert(key, v)
            .map_err(|e| StorageIOError::write(&e))?;
        Ok(())
    }

    async fn sync(&self) -> std::result::Result<(), StorageIOError<NodeId>> {
        self.durable
            .sync_async()
            .await
            .map_err(|e| StorageIOError::write(&e))
    }

    fn last_entry_id(&self) -> std::result::Result<Option<LogId<NodeId>>, StorageIOError<NodeId>> {
        match self.log.last().map_err(|e| StorageIOError::read_logs(&e))? {
            None => Ok(None),
            Some((_, v)) => {
                let e: Entry<TypeConfig> =
                    serde_json::from_slice(&v).map_err(|e| StorageIOError::read_logs(&e))?;
                Ok(Some(e.log_id))
            }
        }
    }
}

fn key(index: u64) -> [u8; 8] {
    index.to_be_bytes()
}

impl RaftLogReader<TypeConfig> for SledLogStore {
    async fn try_get_log_entries<RB: RangeBounds<u64> + Clone + Debug + Send>(
        &mut self,
        range: RB,
    ) -> Result<Vec<Entry<TypeConfig>>> {
        let start = match range.start_bound() {
            Bound::Included(i) => *i,
            Bound::Excluded(i) => i.saturating_add(1),
            Bound::Unbounded => 0,
        };
        let iter = match range.end_bound() {
            Bound::Included(i) => self.log.range(key(start)..=key(*i)),
            Bound::Excluded(i) => self.log.range(key(start)..key(*i)),
            Bound::Unbounded => self.log.range(key(start)..),
        };
        let mut out = Vec::new();
        for kv in iter {
            let (_, v) = kv.map_err(|e| StorageIOError::read_logs(&e))?;
            out.push(serde_json::from_slice(&v).map_err(|e| StorageIOError::read_logs(&e))?);
        }
        Ok(out)
    }
}

impl RaftLogStorage<TypeConfig> for SledLogStore {
    type LogReader = SledLogStore;

    async fn get_log_state(&mut self) -> Result<LogState<TypeConfig>> {
        let last_purged: Option<LogId<NodeId>> = self.get_meta(LAST_PURGED)?;
        let last = self.last_entry_id()?.or(last_purged);
        Ok(LogState {
            last_purged_log_id: last_purged,
            last_log_id: last,
        })
    }

    async fn get_log_reader(&mut self) -> Self::LogReader {
        self.clone()
    }

    async fn save_vote(&mut self, vote: &Vote<NodeId>) -> Result<()> {
        // A vote must be on disk before it is answered.
        self.put_meta(VOTE, vote)
            .map_err(|e| StorageIOError::write_vote(&e))?;
        self.sync()
            .await
            .map_err(|e| StorageIOError::write_vote(&e))?;
        Ok(())
    }

    async fn read_vote(&mut self) -> Result<Option<Vote<NodeId>>> {
        Ok(self
            .get_meta(VOTE)
            .map_err(|e| StorageIOError::read_vote(&e))?)
    }

    async fn save_committed(&mut self, committed: Option<LogId<NodeId>>) -> Result<()> {
        // Not synced: losing it only means re-applying committed entries on restart.
        self.committed
            .store(committed.map_or(0, |l| l.index), Ordering::Relaxed);
        Ok(self.put_meta(COMMITTED, &committed)?)
    }

    async fn read_committed(&mut self) -> Result<Option<LogId<NodeId>>> {
        Ok(self.get_meta::<Option<LogId<NodeId>>>(COMMITTED)?.flatten())
    }

    async fn append<I>(&mut self, entries: I, callback: LogFlushed<TypeConfig>) -> Result<()>
    where
        I: IntoIterator<Item = Entry<TypeConfig>> + Send,
        I::IntoIter: Send,
    {
        let mut batch = sled::Batch::default();
        for entry in entries {
            let v = serde_json::to_vec(&entry).map_err(|e| StorageIOError::write_logs(&e))?;
            batch.insert(&key(entry.log_id.index), v);
        }
        self.log
            .apply_batch(batch)
            .map_err(|e| StorageIOError::write_logs(&e))?;
        let synced = self
            .durable
            .sync_async()
            .await
            .map_err(std::io::Error::from);
        let failed = synced.as_ref().err().map(StorageIOError::write_logs);
        callback.log_io_completed(synced);
        match failed {
            Some(e) => Err(e.into()),
            None => Ok(()),
        }
    }

    async fn truncate(&mut self, log_id: LogId<NodeId>) -> Result<()> {
        // Removes log_id.index and everything after it (a conflicting suffix).
        let mut batch = sled::Batch::default();
        for kv in self.log.range(key(log_id.index)..) {
            let (k, _) = kv.map_err(|e| StorageIOError::write_logs(&e))?;
            batch.remove(k);
        }
        self.log
            .apply_batch(batch)
            .map_err(|e| StorageIOError::write_logs(&e))?;
        self.sync().await?;
        Ok(())
    }

    async fn purge(&mut self, log_id: LogId<NodeId>) -> Result<()> {
        // Record the purge point first: a crash in between leaves extra entries, never a hole.
        self.put_meta(LAST_PURGED, &log_id)?;
        self.sync().await?;
        let mut batch = sled::Batch::default();
        for kv in self.log.range(..=key(log_id.index)) {
            let (k, _) = kv.map_err(|e| StorageIOError::write_logs(&e))?;
            batch.remove(k);
        }
        self.log
            .apply_batch(batch)
            .map_err(|e| StorageIOError::write_logs(&e))?;
        Ok(())
    }
}
