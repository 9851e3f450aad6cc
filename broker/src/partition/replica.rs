//! One local partition replica: the locked wrapper around its log, its
//! idempotent producers and its [`ReplicaState`] (role, HW, ISR rules). Every
//! decision is made by the pure state; this file holds the locks, reads the
//! clock and the log end, publishes the HW to waiters and logs role changes.
//!
//! Role changes and local appends exclude each other (`role_gate`), so an
//! append is checked against, and stamped with, the role it is written
//! under. The HW is checkpointed to `DIR/high-watermark`, per topic
//! incarnation (see `hw_checkpoint`).

use super::hw_checkpoint;
use super::producer_state::{ProducerBatch, ProducerStates, SequenceCheck};
use super::role::{
    AppendRefused, EpochMismatch, IsrAnswer, IsrProposal, LeaderState, ReplicaState, Role,
    RoleChange,
};
use super::settings::PartitionSettings;
use super::watermark::{CommitWait, Watermark};
use crate::error::BrokerError;
use crate::storage::{AppendInfo, BatchMeta, LogError, PartitionLog, RecordIn};
use ferry_common::metadata::PartitionState;
use ferry_common::{BrokerId, TopicName};
use std::path::PathBuf;
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};
use tokio::sync::watch;

/// What an append did.
#[derive(Debug, Clone, Copy)]
pub enum AppendOutcome {
    /// Written while leading `leader_epoch` (and stamped with it).
    Appended {
        info: AppendInfo,
        leader_epoch: u32,
    },
    /// An idempotent retry of a batch already in the log, found while
    /// leading `leader_epoch`.
    Duplicate {
        base_offset: u64,
        last_offset: u64,
        leader_epoch: u32,
    },
    /// This replica may not append (see [`ReplicaState::append_stamp`]).
    Refused(AppendRefused),
    OutOfOrder {
        expected: i32,
    },
    FencedEpoch {
        current: i16,
    },
}

/// A local replica of one partition.
pub struct Partition {
    pub topic: TopicName,
    pub topic_id: String,
    pub partition: u32,
    pub log: Arc<PartitionLog>,
    dir: PathBuf,
    /// Role, metadata, settings and HW: what appends and replication read.
    state: Mutex<ReplicaState>,
    /// Idempotent producers' recent batches; held across check + append so two
    /// retries of one batch cannot both be written.
    pub(super) producers: Mutex<ProducerStates>,
    /// Batch bytes read to rebuild producer state at open (the log after
    /// the snapshot, or all of it).
    pub(super) replayed: std::sync::atomic::AtomicU64,
    /// Held for writing by role changes, for reading by local appends from
    /// their role check until their batch is written (Kafka's leader-ISR lock).
    role_gate: RwLock<()>,
    /// Serialises HW checkpoints, each writing the HW as of taking it, so an
    /// older value cannot land after a newer (lowered) one.
    checkpoint: Mutex<()>,
    /// Mirrors the state's HW and role for waiters (produce acks=all, fetch long-polls).
    hw: watch::Sender<Watermark>,
    /// Bumped on every change of the log end (append, truncate): wakes replica fetches.
    pub(super) leo: watch::Sender<u64>,
}

impl Partition {
    pub fn new(
        topic: TopicName,
        topic_id: String,
        log: PartitionLog,
        dir: PathBuf,
        state: PartitionState,
        settings: PartitionSettings,
    ) -> Self {
        let leo = log.log_end_offset();
        let checkpointed = hw_checkpoint::read(&dir, &topic_id);
        let hw = checkpointed.min(leo);
        let state = ReplicaState::new(state, settings, hw);
        let part = Partition {
            topic,
            topic_id,
            partition: state.metadata().partition,
            log: Arc::new(log),
            dir,
            hw: watch::channel(state.watermark()).0,
            state: Mutex::new(state),
            role_gate: RwLock::new(()),
            checkpoint: Mutex::new(()),
            producers: Mutex::new(ProducerStates::default()),
            replayed: Default::default(),
            leo: watch::channel(leo).0,
        };
        if checkpointed > hw {
            // The log was cut below the HW while this broker was down (a torn tail).
            if let Err(e) = part.checkpoint_hw() {
                tracing::warn!(topic = %part.topic, partition = part.partition, error = %e, "HW checkpoint failed");
            }
        }
        part
    }

    /// Runs `f` on the replica state under its lock, then publishes the HW.
    fn with_state<R>(&self, f: impl FnOnce(&mut ReplicaState) -> R) -> R {
        let mut st = self.state.lock().unwrap_or_else(|p| p.into_inner());
        let out = f(&mut st);
        let now = st.watermark();
        self.hw.send_if_modified(|cur| {
            let changed = *cur != now;
            *cur = now;
            changed
        });
        out
    }

    /// The latest partition metadata this replica took.
    pub fn state(&self) -> PartitionState {
        self.with_state(|s| s.metadata().clone())
    }

    pub fn settings(&self) -> PartitionSettings {
        self.with_state(|s| s.settings().clone())
    }

    /// A copy of the leader bookkeeping, if this replica leads.
    pub fn leader_context(&self) -> Option<LeaderState> {
        self.with_state(|s| s.leader().cloned())
    }

    /// Refuses a request made for another leader epoch than the current one.
    pub fn check_leader_epoch(&self, requested: Option<u32>) -> Result<(), BrokerError> {
        let Some(requested) = requested else {
            return Ok(());
        };
        self.with_state(|s| s.check_leader_epoch(requested))
            .map_err(|m| self.epoch_error(m))
    }

    /// The client error for a request made for another leader epoch.
    pub fn epoch_error(&self, mismatch: EpochMismatch) -> BrokerError {
        let (topic, partition) = (self.topic.to_string(), self.partition);
        match mismatch {
            EpochMismatch::Fenced { requested, current } => BrokerError::FencedLeaderEpoch {
                topic,
                partition,
                requested,
                current,
            },
            EpochMismatch::Unknown { requested, current } => BrokerError::UnknownLeaderEpoch {
                topic,
                partition,
                requested,
                current,
            },
        }
    }

    /// Takes the latest metadata for this partition and switches role when it
    /// says so (see [`ReplicaState::on_metadata`]).
    pub fn update(&self, state: PartitionState, settings: PartitionSettings, me: BrokerId) {
        // No local append is between its role check and its write now, so
        // the LEO is exact and every batch was written under the old role.
        let _gate = self.role_gate.write().unwrap_or_else(|p| p.into_inner());
        let leo = self.log.counted_end();
        let change = self.with_state(|s| s.on_metadata(state, settings, me, leo, Instant::now()));
        match change {
            RoleChange::BecameLeader { leader_epoch } => {
                tracing::info!(topic = %self.topic, partition = self.partition, leader_epoch, "became leader")
            }
            RoleChange::BecameFollower { leader_epoch } => {
                tracing::info!(topic = %self.topic, partition = self.partition, leader_epoch, "became follower")
            }
            RoleChange::Stale | RoleChange::Unchanged => {}
        }
    }

    pub fn high_watermark(&self) -> u64 {
        self.hw.borrow().hw
    }

    /// The leader epoch this replica leads in, if it leads.
    pub fn leading_epoch(&self) -> Option<u32> {
        self.hw.borrow().leading_epoch
    }

    /// Waits until the HW moves past `offset` or `timeout` passes; the HW then.
    pub async fn wait_hw_above(&self, offset: u64, timeout: Duration) -> u64 {
        let mut rx = self.hw.subscribe();
        let _ = tokio::time::timeout(timeout, rx.wait_for(|w| w.hw > offset)).await;
        self.high_watermark()
    }

    /// The acks=all wait for a record at `last_offset` appended (or found)
    /// while leading `leader_epoch`: `Committed` once the HW passes it in
    /// that epoch, `NotLeader` as soon as the role changes, `Pending` when
    /// `timeout` passes first.
    pub async fn wait_committed(
        &self,
        leader_epoch: u32,
        last_offset: u64,
        timeout: Duration,
    ) -> CommitWait {
        let mut rx = self.hw.subscribe();
        let done = |w: &Watermark| w.commit_of(leader_epoch, last_offset) != CommitWait::Pending;
        let seen = match tokio::time::timeout(timeout, rx.wait_for(done)).await {
            Ok(Ok(w)) => *w,
            // The sender lives as long as `self`; a timeout leaves it pending.
            Ok(Err(_)) | Err(_) => return CommitWait::Pending,
        };
        seen.commit_of(leader_epoch, last_offset)
    }

    /// How many tasks wait on the HW (tests wait for a waiter without sleeping).
    #[cfg(test)]
    pub fn hw_waiters(&self) -> usize {
        self.hw.receiver_count()
    }

    /// Watches the log end offset (replica fetches long-poll on it).
    pub fn subscribe_leo(&self) -> watch::Receiver<u64> {
        self.leo.subscribe()
    }

    /// Leader: recompute HW from the maximal ISR. Followers: no-op.
    pub fn maybe_advance_hw(&self, me: BrokerId) {
        let leo = self.log.counted_end();
        self.with_state(|s| s.advance_hw(me, leo));
    }

    /// The sync task made more of the log durable: a leader's HW may move
    /// (its own LEO in the HW is its synced offset).
    pub fn on_synced(&self) {
        let leo = self.log.counted_end();
        self.with_state(|s| s.on_own_progress(leo));
    }

    /// Follower: HW = min(leader's HW, own synced offset).
    pub fn follower_hw(&self, leader_hw: u64) {
        let leo = self.log.counted_end();
        self.with_state(|s| s.on_leader_hw(leader_hw, leo));
    }

    /// Leader: records a follower's fetch reporting its log counted (synced)
    /// to `fetch_offset`; returns a new ISR to propose when the follower may
    /// join it. Both sides count synced offsets (log ends with `write.caching`).
    pub fn on_follower_fetch(
        &self,
        follower: BrokerId,
        fetch_offset: u64,
        me: BrokerId,
    ) -> Option<IsrProposal> {
        let leo = self.log.counted_end();
        self.with_state(|s| s.on_follower_fetch(me, follower, fetch_offset, leo, Instant::now()))
    }

    /// Leader: an ISR without the followers that lagged longer than `max_lag`.
    pub fn isr_shrink(&self, me: BrokerId, max_lag: Duration) -> Option<IsrProposal> {
        self.with_state(|s| s.isr_shrink(me, Instant::now(), max_lag))
    }

    /// Leader: the controller's answer to `proposal` (see [`ReplicaState::on_isr_answer`]).
    pub fn on_isr_answer(&self, proposal: &IsrProposal, answer: IsrAnswer) {
        self.with_state(|s| s.on_isr_answer(proposal, answer));
    }

    /// Leader: whether `proposal` is still the ISR change in flight.
    pub fn isr_in_flight(&self, proposal: &IsrProposal) -> bool {
        self.with_state(|s| s.isr_in_flight(proposal))
    }

    /// Appends one batch as leader (blocking file IO: call from a blocking
    /// context). Refused unless this replica leads the current epoch (and
    /// `requested_epoch`, if given, is that one); no role change happens
    /// until the batch is written. With `producer` = (id, epoch, first
    /// sequence) the batch is checked against the producer's recent batches first.
    pub fn append(
        &self,
        records: &[RecordIn],
        now_ms: i64,
        producer: Option<(i64, i16, i32)>,
        requested_epoch: Option<u32>,
    ) -> Result<AppendOutcome, LogError> {
        let _gate = self.role_gate.read().unwrap_or_else(|p| p.into_inner());
        let stamp = match self.with_state(|s| s.append_stamp(requested_epoch)) {
            Ok(stamp) => stamp,
            Err(refused) => return Ok(AppendOutcome::Refused(refused)),
        };
        let leader_epoch = stamp.leader_epoch;
        let mut producers = self.producers.lock().unwrap_or_else(|p| p.into_inner());
        let (producer_id, producer_epoch, base_sequence) = producer.unwrap_or((-1, -1, -1));
        if producer.is_some() {
            match producers.check(
                producer_id,
                producer_epoch,
                base_sequence,
                records.len() as u32,
            ) {
                SequenceCheck::Append => {}
                SequenceCheck::Duplicate {
                    base_offset,
                    last_offset,
                } => {
                    return Ok(AppendOutcome::Duplicate {
                        base_offset,
                        last_offset,
                        leader_epoch,
                    })
                }
                SequenceCheck::OutOfOrder { expected } => {
                    return Ok(AppendOutcome::OutOfOrder { expected })
                }
                SequenceCheck::FencedEpoch { current } => {
                    return Ok(AppendOutcome::FencedEpoch { current })
                }
            }
        }
        let meta = BatchMeta {
            leader_epoch,
            producer_id,
            producer_epoch,
            base_sequence,
            timestamp_type: stamp.timestamp_type,
        };
        let info = self.log.append(records, meta, now_ms)?;
        if producer.is_some() {
            let last_seq = base_sequence.saturating_add(records.len().saturating_sub(1) as i32);
            let batch = ProducerBatch {
                first_seq: base_sequence,
                last_seq,
                base_offset: info.base_offset,
                last_offset: info.last_offset,
            };
            producers.record(producer_id, producer_epoch, batch);
        }
        self.snapshot_if_rolled(&producers);
        drop(producers);
        self.leo.send_replace(self.log.log_end_offset());
        Ok(AppendOutcome::Appended { info, leader_epoch })
    }

    /// Cuts a divergent suffix as follower (blocking). A HW above the new
    /// log end comes down to it and is checkpointed before this returns, so
    /// no record appended after the cut can pass for committed on restart.
    pub fn truncate_to(&self, offset: u64) -> Result<(), LogError> {
        let lowered = self.with_state(|s| self.truncate_in(s, offset))?;
        self.checkpoint_lowered(lowered)
    }

    /// Truncates the log to `offset` and lowers the HW with it, under the
    /// state lock (`st`); answers the lowered HW for
    /// [`Partition::checkpoint_lowered`], once the lock has published it.
    fn truncate_in(&self, st: &mut ReplicaState, offset: u64) -> Result<Option<u64>, LogError> {
        tracing::info!(topic = %self.topic, partition = self.partition, offset, leo = self.log.log_end_offset(), "truncating divergent suffix");
        self.log.truncate_to(offset)?;
        self.producers
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .truncate(offset);
        let leo = self.log.log_end_offset();
        self.leo.send_replace(leo);
        Ok(st.on_truncated(leo))
    }

    /// Checkpoints a HW that truncation lowered (blocking).
    fn checkpoint_lowered(&self, lowered: Option<u64>) -> Result<(), LogError> {
        let Some(hw) = lowered else {
            return Ok(());
        };
        tracing::info!(topic = %self.topic, partition = self.partition, hw, "high watermark lowered by truncation");
        self.checkpoint_hw().map_err(|source| LogError::Io {
            op: format!("checkpoint the high watermark in {}", self.dir.display()),
            source,
        })
    }

    /// Writes `HW TOPIC_ID` to `DIR/high-watermark` (blocking): temp file,
    /// fsync, rename, directory fsync. Nothing once the log was deleted: the
    /// directory may hold a re-created topic by now (whose reader would
    /// ignore this incarnation's id anyway, should that race be lost).
    pub fn checkpoint_hw(&self) -> std::io::Result<()> {
        let _one = self.checkpoint.lock().unwrap_or_else(|p| p.into_inner());
        if self.log.read_state().check_live().is_err() {
            return Ok(());
        }
        hw_checkpoint::write(&self.dir, self.high_watermark(), &self.topic_id)
    }

    /// Follower: whether this replica still follows `leader` in `leader_epoch`,
    /// the epoch a replica fetch was asked in.
    pub fn follows(&self, leader: BrokerId, leader_epoch: u32) -> bool {
        self.with_state(|s| following(s, leader, leader_epoch))
    }

    /// Follower: appends a fetch answer asked from `leader` in `leader_epoch`
    /// (blocking). The check and the append happen under the state lock, so a
    /// role change cannot slip in between; `None` (nothing written) when the
    /// answer is stale.
    pub fn append_replicated_from(
        &self,
        leader: BrokerId,
        leader_epoch: u32,
        batches: &[u8],
    ) -> Result<Option<u64>, crate::storage::LogError> {
        self.with_state(|s| {
            following(s, leader, leader_epoch)
                .then(|| self.append_replicated(batches))
                .transpose()
        })
    }

    /// Follower: truncates to `to(log)` for a divergence answered by `leader`
    /// in `leader_epoch`, under the state lock like
    /// [`Partition::append_replicated_from`] (blocking); false when stale.
    pub fn truncate_diverged_from(
        &self,
        leader: BrokerId,
        leader_epoch: u32,
        to: impl FnOnce(&PartitionLog) -> u64,
    ) -> Result<bool, crate::storage::LogError> {
        let lowered = self.with_state(|s| {
            if !following(s, leader, leader_epoch) {
                return Ok(None);
            }
            self.truncate_in(s, to(&self.log)).map(Some)
        })?;
        match lowered {
            None => Ok(false),
            Some(lowered) => self.checkpoint_lowered(lowered).map(|()| true),
        }
    }

    /// Follower: takes the HW `leader` answered in `leader_epoch`; false when stale.
    pub fn follower_hw_from(&self, leader: BrokerId, leader_epoch: u32, leader_hw: u64) -> bool {
        self.with_state(|s| {
            let current = following(s, leader, leader_epoch);
            if current {
                s.on_leader_hw(leader_hw, self.log.counted_end());
            }
            current
        })
    }
}

/// Whether `s` follows `leader` in `leader_epoch` (fetch answers from any
/// other leader or epoch are stale).
fn following(s: &ReplicaState, leader: BrokerId, leader_epoch: u32) -> bool {
    matches!(s.role(), Role::Follower { leader_epoch: e } if *e == leader_epoch)
        && s.metadata().leader == Some(leader)
        && s.metadata().leader_epoch == leader_epoch
}
