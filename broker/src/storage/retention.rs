//! Removing data from a [`PartitionLog`]: retention, log start advancement and
//! truncation for replication divergence.
//!
//! Crash ordering: the state is published first (so no new reader starts on
//! doomed data; open readers keep their file handles), then files go in an
//! order that leaves a contiguous log at every step: from the front for
//! retention, from the back for truncation. The log start checkpoint is
//! written before segments below it are removed.

use tracing::info;

use super::files::sync_dir;
use super::log::{trim_epochs_back, trim_epochs_front, PartitionLog};
use super::segment::Segment;
use super::snapshot;
use super::LogError;

impl PartitionLog {
    /// Deletes whole old segments: a prefix of segments each of which has a
    /// max timestamp older than `now_ms - retention_ms`, or is needed to bring
    /// the total size down to `retention_bytes` (while the total exceeds it).
    /// Never deletes the active segment, nor a segment holding an offset at or
    /// above `high_watermark` (records not yet known to be replicated), so the
    /// log start never passes the HW. Advances the log start to the first
    /// remaining segment and returns how many segments were deleted.
    pub fn apply_retention(&self, now_ms: i64, high_watermark: u64) -> Result<usize, LogError> {
        let cfg = self.config();
        let _writer = self.lock_writer();
        let victims: Vec<u64> = {
            let st = self.read_state();
            let active_base = st.active()?.base_offset;
            let cutoff = (cfg.retention_ms >= 0).then(|| now_ms.saturating_sub(cfg.retention_ms));
            let size_limit = u64::try_from(cfg.retention_bytes).ok();
            let mut total: u64 = st.segments.values().map(|s| s.size).sum();
            let mut victims = Vec::new();
            for seg in st
                .segments
                .values()
                .take_while(|s| s.base_offset != active_base && s.next_offset <= high_watermark)
            {
                let expired = cutoff.is_some_and(|c| seg.max_timestamp < c);
                let oversize = size_limit.is_some_and(|limit| total > limit);
                if !(expired || oversize) {
                    break;
                }
                victims.push(seg.base_offset);
                total -= seg.size;
            }
            victims
        };
        if victims.is_empty() {
            return Ok(0);
        }
        self.remove_front(&victims, 0)?;
        info!(dir = %self.dir.display(), deleted = victims.len(), log_start = self.log_start_offset(), "applied retention");
        Ok(victims.len())
    }

    /// Advances the log start offset (e.g. to the leader's) and deletes the
    /// segments entirely below it. Offsets below the current start are
    /// ignored. An offset past the log end empties the log and restarts it at
    /// `offset`, as a follower must when the leader has deleted what it lacks.
    pub fn advance_log_start(&self, offset: u64) -> Result<(), LogError> {
        let _writer = self.lock_writer();
        let (log_start, log_end, victims) = {
            let st = self.read_state();
            let active_base = st.active()?.base_offset;
            let victims: Vec<u64> = st
                .segments
                .values()
                .filter(|s| s.base_offset != active_base && s.next_offset <= offset)
                .map(|s| s.base_offset)
                .collect();
            (st.log_start, st.log_end, victims)
        };
        if offset <= log_start {
            return Ok(());
        }
        if offset > log_end {
            return self.reset_to(offset);
        }
        self.remove_front(&victims, offset)
    }

    /// Removes every record with offset >= `offset`, for replication
    /// divergence. Truncation works on whole batches: if `offset` falls in the
    /// middle of a batch, that entire batch is removed and the log end becomes
    /// the batch's base offset. Truncating below every stored segment empties
    /// the log and restarts it at `offset`. Appends continue at the new log end.
    pub fn truncate_to(&self, offset: u64) -> Result<(), LogError> {
        let _writer = self.lock_writer();
        let (plan, doomed, target) = {
            let st = self.read_state();
            st.check_live()?;
            if offset >= st.log_end {
                return Ok(());
            }
            let Some((&target, seg)) = st.segments.range(..=offset).next_back() else {
                drop(st);
                return self.reset_to(offset);
            };
            let doomed: Vec<u64> = st.segments.range(target + 1..).map(|(&b, _)| b).collect();
            (seg.plan_truncate(offset)?, doomed, target)
        };
        let (removed, lowered_start) = {
            let mut st = self.write_state();
            let removed: Vec<Segment> = doomed
                .iter()
                .filter_map(|b| st.segments.remove(b))
                .collect();
            if let Some(seg) = st.segments.get_mut(&target) {
                seg.commit_truncate(&plan);
            }
            st.log_end = plan.next_offset;
            st.synced = st.synced.min(st.log_end);
            st.sync_gen += 1;
            self.sync.publish(st.synced, st.sync_gen);
            let lowered = st.log_start > st.log_end;
            st.log_start = st.log_start.min(st.log_end);
            let log_end = st.log_end;
            trim_epochs_back(&mut st.epochs, log_end);
            (removed, lowered.then_some(log_end))
        };
        // Newest first, so a crash part-way leaves a contiguous (longer) log.
        for seg in removed.iter().rev() {
            seg.files.remove()?;
        }
        {
            let st = self.read_state();
            if let Some(seg) = st.segments.get(&target) {
                seg.truncate_files()?;
            }
        }
        if !removed.is_empty() {
            sync_dir(&self.dir)?;
        }
        if let Some(start) = lowered_start {
            self.write_checkpoint(start)?;
        }
        // A snapshot past the cut describes records that are gone.
        snapshot::remove_outside(&self.dir, 0, plan.next_offset)?;
        info!(dir = %self.dir.display(), requested = offset, log_end = plan.next_offset, "truncated log");
        Ok(())
    }

    /// Removes the segments based at `bases` (oldest segments, never the
    /// active one) and moves the log start to at least `min_start` and the
    /// first remaining segment. Caller holds `writer`.
    fn remove_front(&self, bases: &[u64], min_start: u64) -> Result<(), LogError> {
        let (removed, log_start) = {
            let mut st = self.write_state();
            let removed: Vec<Segment> =
                bases.iter().filter_map(|b| st.segments.remove(b)).collect();
            let first = st.segments.keys().next().copied().unwrap_or(st.log_end);
            st.log_start = st.log_start.max(min_start).max(first);
            let log_start = st.log_start;
            trim_epochs_front(&mut st.epochs, log_start);
            (removed, log_start)
        };
        self.write_checkpoint(log_start)?;
        snapshot::remove_outside(&self.dir, log_start, u64::MAX)?;
        for seg in &removed {
            seg.files.remove()?;
        }
        if !removed.is_empty() {
            sync_dir(&self.dir)?;
        }
        Ok(())
    }

    /// Replaces the whole log by an empty one starting at `offset`. The
    /// checkpoint goes first and old files are removed oldest first before the
    /// new segment is created, so a crash leaves either a contiguous old
    /// suffix or nothing, both of which `open` handles. Caller holds `writer`.
    fn reset_to(&self, offset: u64) -> Result<(), LogError> {
        self.write_checkpoint(offset)?;
        snapshot::remove_outside(&self.dir, u64::MAX, 0)?;
        {
            let st = self.read_state();
            for seg in st.segments.values() {
                seg.files.remove()?;
            }
        }
        let seg = Segment::create(&self.dir, offset, &self.cache)?;
        sync_dir(&self.dir)?;
        let mut st = self.write_state();
        st.segments.clear();
        st.segments.insert(offset, seg);
        st.log_start = offset;
        st.log_end = offset;
        st.epochs.clear();
        // The new segment's creation was synced with the directory above.
        st.synced = offset;
        st.sync_gen += 1;
        self.sync.publish(st.synced, st.sync_gen);
        info!(dir = %self.dir.display(), offset, "reset log to a new start offset");
        Ok(())
    }
}
