//! [`PartitionLog`]: the segmented log of one partition replica.
//!
//! Concurrency model: every mutation (append, roll, retention, truncation,
//! deletion) holds `writer`, so there is only ever one mutator. The state lock
//! is taken for writing only briefly, to publish a change that was already
//! written to disk; readers take it for reading just long enough to clone a
//! file handle and find a byte range. Because every writer of `state` holds
//! `writer`, a mutator may keep a read guard across file IO without blocking
//! anyone: readers share the lock and no other writer can be queued.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard};

use tracing::debug;

use super::batch::{
    decode_batch, encode_batch, parse_header, BatchHeader, BatchMeta, RecordIn, TimestampType,
};
use super::durability::SyncShared;
use super::files::{sync_dir, write_atomic, CHECKPOINT_FILE};
use super::handles::HandleCache;
use super::segment::Segment;
use super::{io_err, LogError};

/// Per-log settings; may be changed at runtime with [`PartitionLog::set_config`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LogConfig {
    /// Roll when the active segment would exceed this size. Also the largest
    /// accepted batch; capped at `u32::MAX` because index positions are u32.
    pub segment_bytes: u64,
    /// Roll when the active segment's first batch is older than this (checked
    /// on append). Age counts from the `now_ms` of the segment's first append,
    /// or, for a segment found on open, from its first batch's max timestamp,
    /// so producer clocks far in the past cannot force a roll on every append.
    pub segment_ms: u64,
    /// Delete whole segments whose max timestamp is older than this; -1 = unlimited.
    pub retention_ms: i64,
    /// Delete oldest whole segments while the log is larger than this; -1 = unlimited.
    pub retention_bytes: i64,
    /// Add a sparse index entry at least every this many bytes.
    pub index_interval_bytes: u32,
    /// Kafka's page-cache behaviour (Redpanda's `write.caching`): appended
    /// records count at once and nothing is fsynced on the append path.
    /// Off (the default), records count only once the sync task fsynced them
    /// (see `sync`).
    pub write_caching: bool,
}

impl Default for LogConfig {
    fn default() -> Self {
        const WEEK_MS: u64 = 7 * 24 * 60 * 60 * 1000;
        LogConfig {
            segment_bytes: 1 << 30,
            segment_ms: WEEK_MS,
            retention_ms: WEEK_MS as i64,
            retention_bytes: -1,
            index_interval_bytes: 4096,
            write_caching: false,
        }
    }
}

impl LogConfig {
    /// Effective segment size limit, which is also the batch size limit.
    pub(crate) fn max_segment_bytes(&self) -> u64 {
        self.segment_bytes.min(u64::from(u32::MAX))
    }
}

/// Where an appended batch landed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AppendInfo {
    /// Offset of the first record.
    pub base_offset: u64,
    /// Offset of the last record.
    pub last_offset: u64,
    /// The stamped time for `LogAppendTime` batches, else -1.
    pub log_append_time: i64,
    /// Encoded size of the batch.
    pub batch_bytes: usize,
    /// Truncation generation the batch was written in: an acks=1 wait
    /// for its fsync ends if a truncation comes first.
    pub sync_gen: u64,
}

/// Mutable state shared by readers and the single writer.
pub(crate) struct State {
    pub(crate) segments: BTreeMap<u64, Segment>,
    pub(crate) log_start: u64,
    pub(crate) log_end: u64,
    pub(crate) epochs: Vec<(u32, u64)>,
    pub(crate) deleted: bool,
    /// Every offset below this is on stable storage (fdatasync returned).
    pub(crate) synced: u64,
    /// Bumped by truncation and reset, so a sync that started before one
    /// does not publish an offset the cut made meaningless.
    pub(crate) sync_gen: u64,
}

impl State {
    pub(crate) fn check_live(&self) -> Result<(), LogError> {
        if self.deleted {
            return Err(LogError::Deleted);
        }
        Ok(())
    }

    pub(crate) fn active(&self) -> Result<&Segment, LogError> {
        self.check_live()?;
        // A live log always has a segment; treat a missing one like deletion.
        self.segments.values().next_back().ok_or(LogError::Deleted)
    }

    fn active_mut(&mut self) -> Result<&mut Segment, LogError> {
        self.check_live()?;
        self.segments
            .values_mut()
            .next_back()
            .ok_or(LogError::Deleted)
    }
}

/// The on-disk log of one partition replica. All methods take `&self`; share it
/// as `Arc<PartitionLog>`.
pub struct PartitionLog {
    pub(crate) dir: PathBuf,
    pub(crate) config: RwLock<LogConfig>,
    pub(crate) writer: Mutex<()>,
    pub(crate) state: RwLock<State>,
    /// Group commit: what the sync task reads and writes (see `sync`).
    pub(crate) sync: SyncShared,
    /// Batch bytes appended since the last sync took its count (metrics).
    pub(crate) unsynced_bytes: AtomicU64,
    /// Where this log's segment files get their descriptors.
    pub(crate) cache: Arc<HandleCache>,
    /// The producer-state snapshot open found: (offset, payload), taken once.
    pub(crate) loaded_snapshot: Mutex<Option<(u64, Vec<u8>)>>,
    /// Set by a roll, cleared by [`PartitionLog::take_rolled`].
    pub(crate) rolled: AtomicBool,
    /// Bytes of `.log` files open read (headers or whole batches).
    pub(crate) open_scanned: u64,
}

impl std::fmt::Debug for PartitionLog {
    // Summarized: the segment map holds whole in-memory indexes.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let st = self.read_state();
        f.debug_struct("PartitionLog")
            .field("dir", &self.dir)
            .field("log_start", &st.log_start)
            .field("log_end", &st.log_end)
            .field("segments", &st.segments.len())
            .finish_non_exhaustive()
    }
}

impl PartitionLog {
    /// Replaces the configuration; takes effect on the next operation.
    pub fn set_config(&self, config: LogConfig) {
        *self.config.write().unwrap_or_else(PoisonError::into_inner) = config;
    }

    pub(crate) fn config(&self) -> LogConfig {
        *self.config.read().unwrap_or_else(PoisonError::into_inner)
    }

    pub(crate) fn lock_writer(&self) -> MutexGuard<'_, ()> {
        self.writer.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub(crate) fn read_state(&self) -> RwLockReadGuard<'_, State> {
        self.state.read().unwrap_or_else(PoisonError::into_inner)
    }

    pub(crate) fn write_state(&self) -> RwLockWriteGuard<'_, State> {
        self.state.write().unwrap_or_else(PoisonError::into_inner)
    }

    /// Appends `records` as ONE batch at the log end offset and returns its
    /// offsets. `now_ms` stamps `LogAppendTime` batches and drives time-based
    /// rolling. Refuses an empty record list with `InvalidBatch`, and a batch
    /// larger than the effective segment size with `MessageTooLarge`.
    pub fn append(
        &self,
        records: &[RecordIn],
        meta: BatchMeta,
        now_ms: i64,
    ) -> Result<AppendInfo, LogError> {
        let cfg = self.config();
        let _writer = self.lock_writer();
        self.check_sync_failed()?;
        let base = {
            let st = self.read_state();
            st.check_live()?;
            st.log_end
        };
        let (bytes, header) = encode_batch(base, records, &meta, now_ms, cfg.max_segment_bytes())?;
        self.append_encoded(&bytes, &header, &cfg, Some(now_ms))?;
        self.want_sync(&cfg);
        let sync_gen = self.read_state().sync_gen;
        Ok(AppendInfo {
            base_offset: header.base_offset,
            last_offset: header.last_offset(),
            log_append_time: match meta.timestamp_type {
                TimestampType::LogAppendTime => now_ms,
                TimestampType::CreateTime => -1,
            },
            batch_bytes: bytes.len(),
            sync_gen,
        })
    }

    /// Appends already-encoded batches (as returned by `read_batches`) verbatim,
    /// for follower replication, and returns the new log end offset. Every
    /// batch is fully validated (CRC, structure, base offset == log end) before
    /// any is written, so a bad body appends nothing.
    pub fn append_raw(&self, batches: &[u8]) -> Result<u64, LogError> {
        let cfg = self.config();
        let _writer = self.lock_writer();
        self.check_sync_failed()?;
        let mut next = {
            let st = self.read_state();
            st.check_live()?;
            st.log_end
        };
        let mut parsed = Vec::new();
        let mut pos = 0usize;
        while pos < batches.len() {
            let rest = &batches[pos..];
            let location = || format!("append_raw input byte {pos}");
            let (_, total) = parse_header(rest).map_err(|m| m.at(location()))?;
            let Some(raw) = rest.get(..total) else {
                return Err(LogError::Corrupt {
                    location: location(),
                    reason: "truncated batch".to_owned(),
                });
            };
            let (header, _) = decode_batch(raw).map_err(|m| m.at(location()))?;
            if header.base_offset != next {
                return Err(LogError::UnexpectedBaseOffset {
                    expected: next,
                    actual: header.base_offset,
                });
            }
            if total as u64 > cfg.max_segment_bytes() {
                return Err(LogError::MessageTooLarge {
                    size: total as u64,
                    max: cfg.max_segment_bytes(),
                });
            }
            next = header.next_offset();
            parsed.push((raw, header));
            pos += total;
        }
        for (raw, header) in &parsed {
            self.append_encoded(raw, header, &cfg, None)?;
        }
        if !parsed.is_empty() {
            self.want_sync(&cfg);
        }
        Ok(next)
    }

    /// Writes one encoded batch at the log end, rolling first if needed.
    /// Caller holds `writer`.
    fn append_encoded(
        &self,
        bytes: &[u8],
        h: &BatchHeader,
        cfg: &LogConfig,
        now: Option<i64>,
    ) -> Result<(), LogError> {
        let roll = {
            let st = self.read_state();
            should_roll(st.active()?, h, bytes.len(), cfg, now)
        };
        if roll {
            self.roll(h.base_offset)?;
        }
        let plan = {
            let st = self.read_state();
            let active = st.active()?;
            let plan = active.plan_append(h, bytes.len(), cfg.index_interval_bytes, now);
            active.files.write(&plan, bytes)?;
            plan
        };
        self.unsynced_bytes
            .fetch_add(bytes.len() as u64, Ordering::Relaxed);
        let mut st = self.write_state();
        st.active_mut()?.commit_append(&plan);
        st.log_end = h.next_offset();
        observe_epoch(&mut st.epochs, h.leader_epoch, h.base_offset);
        Ok(())
    }

    /// Closes the active segment and starts a new one at `base`. Caller holds `writer`.
    fn roll(&self, base: u64) -> Result<(), LogError> {
        let closing = {
            let st = self.read_state();
            let active = st.active()?;
            let closing = active.closing_time_entry();
            // Durable before the next segment exists: recovery only scans the last one.
            active.close_files(closing)?;
            closing
        };
        let seg = Segment::create(&self.dir, base, &self.cache)?;
        sync_dir(&self.dir)?;
        let mut st = self.write_state();
        st.active_mut()?.commit_close(closing);
        st.segments.insert(base, seg);
        self.rolled.store(true, Ordering::Release);
        debug!(dir = %self.dir.display(), base, "rolled new segment");
        Ok(())
    }

    /// First offset still stored.
    pub fn log_start_offset(&self) -> u64 {
        self.read_state().log_start
    }

    /// Next offset to be assigned.
    pub fn log_end_offset(&self) -> u64 {
        self.read_state().log_end
    }

    /// Total size of all segments' `.log` files.
    pub fn size_bytes(&self) -> u64 {
        self.read_state().segments.values().map(|s| s.size).sum()
    }

    /// Number of segments, including the active one.
    pub fn segment_count(&self) -> usize {
        self.read_state().segments.len()
    }

    /// `(leader epoch, start offset)` of every epoch change in the log, oldest
    /// first; the last entry holds the epoch of the last batch. Rebuilt from
    /// batch headers on open, maintained on append, trimmed by truncation and
    /// retention.
    pub fn epoch_starts(&self) -> Vec<(u32, u64)> {
        self.read_state().epochs.clone()
    }

    /// Deletes the log directory with all its files (topic deletion). Every
    /// later call that needs the log fails with [`LogError::Deleted`].
    pub fn delete(&self) -> Result<(), LogError> {
        let _writer = self.lock_writer();
        {
            let mut st = self.write_state();
            st.deleted = true;
            st.segments.clear();
            st.epochs.clear();
        }
        // Lets the sync task see the deletion and stop.
        self.sync_signal().notify_one();
        match std::fs::remove_dir_all(&self.dir) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                Err(io_err("remove directory", &self.dir)(e))
            }
            _ => Ok(()),
        }
    }

    /// Persists `offset` as the log start offset.
    pub(crate) fn write_checkpoint(&self, offset: u64) -> Result<(), LogError> {
        write_atomic(
            &self.dir.join(CHECKPOINT_FILE),
            format!("{offset}\n").as_bytes(),
        )?;
        sync_dir(&self.dir)
    }
}

fn should_roll(
    active: &Segment,
    h: &BatchHeader,
    len: usize,
    cfg: &LogConfig,
    now: Option<i64>,
) -> bool {
    if active.size == 0 {
        return false;
    }
    let segment_ms = i64::try_from(cfg.segment_ms).unwrap_or(i64::MAX);
    active.size + len as u64 > cfg.max_segment_bytes()
        // Relative offsets in the indexes are u32.
        || h.last_offset() - active.base_offset > u64::from(u32::MAX)
        || now
            .zip(active.roll_base)
            .is_some_and(|(now, since)| now.saturating_sub(since) > segment_ms)
}

/// Records an epoch change at `offset`.
pub(crate) fn observe_epoch(epochs: &mut Vec<(u32, u64)>, epoch: u32, offset: u64) {
    if epochs.last().map(|&(e, _)| e) != Some(epoch) {
        epochs.push((epoch, offset));
    }
}

/// Drops epochs that ended before `log_start`; the one spanning it starts there.
pub(crate) fn trim_epochs_front(epochs: &mut Vec<(u32, u64)>, log_start: u64) {
    let spanning = epochs
        .partition_point(|&(_, start)| start <= log_start)
        .saturating_sub(1);
    epochs.drain(..spanning);
    if let Some(first) = epochs.first_mut() {
        first.1 = first.1.max(log_start);
    }
}

/// Drops epochs starting at or after the new `log_end`.
pub(crate) fn trim_epochs_back(epochs: &mut Vec<(u32, u64)>, log_end: u64) {
    epochs.retain(|&(_, start)| start < log_end);
}
