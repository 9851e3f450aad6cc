//! One local partition replica: the locked wrapper around its log, its
//! idempotent producers and its [`ReplicaState`] (role, HW, ISR rules). Every
//! decision is made by the pure state; this file holds the locks, reads the
//! clock and the log end, publishes the HW to waiters and logs role changes.
//! The HW is checkpointed to `DIR/high-watermark`.

use super::producer_state::{ProducerBatch, ProducerStates, SequenceCheck};
use super::role::{
    EpochMismatch, IsrAnswer, IsrProposal, LeaderState, ReplicaState, Role, RoleChange,
};
use super::settings::PartitionSettings;
use crate::error::BrokerError;
use crate::storage::{AppendInfo, BatchMeta, PartitionLog, RecordIn};
use ferry_common::metadata::PartitionState;
use ferry_common::{BrokerId, TopicName};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::watch;

/// What an append did.
#[derive(Debug, Clone, Copy)]
pub enum AppendOutcome {
    Appended(AppendInfo),
    /// An idempotent retry of a batch already in the log.
    Duplicate {
        base_offset: u64,
        last_offset: u64,
    },
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
    producers: Mutex<ProducerStates>,
    /// Mirrors the state's HW for waiters (produce acks=all, fetch long-polls).
    hw: watch::Sender<u64>,
    /// Bumped on every change of the log end (append, truncate): wakes replica fetches.
    leo: watch::Sender<u64>,
}

const HW_CHECKPOINT: &str = "high-watermark";

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
        let hw = std::fs::read_to_string(dir.join(HW_CHECKPOINT))
            .ok()
            .and_then(|s| s.trim().parse::<u64>().ok())
            .unwrap_or(0)
            .min(leo);
        Partition {
            topic,
            topic_id,
            partition: state.partition,
            log: Arc::new(log),
            dir,
            state: Mutex::new(ReplicaState::new(state, settings, hw)),
            producers: Mutex::new(ProducerStates::default()),
            hw: watch::channel(hw).0,
            leo: watch::channel(leo).0,
        }
    }

    /// Runs `f` on the replica state under its lock, then publishes the HW.
    fn with_state<R>(&self, f: impl FnOnce(&mut ReplicaState) -> R) -> R {
        let mut st = self.state.lock().unwrap_or_else(|p| p.into_inner());
        let out = f(&mut st);
        let hw = st.high_watermark();
        self.hw.send_if_modified(|cur| {
            let moved = hw > *cur;
            if moved {
                *cur = hw;
            }
            moved
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
        let (topic, partition) = (self.topic.to_string(), self.partition);
        match self.with_state(|s| s.check_leader_epoch(requested)) {
            Ok(()) => Ok(()),
            Err(EpochMismatch::Fenced { requested, current }) => {
                Err(BrokerError::FencedLeaderEpoch {
                    topic,
                    partition,
                    requested,
                    current,
                })
            }
            Err(EpochMismatch::Unknown { requested, current }) => {
                Err(BrokerError::UnknownLeaderEpoch {
                    topic,
                    partition,
                    requested,
                    current,
                })
            }
        }
    }

    /// Takes the latest metadata for this partition and switches role when it
    /// says so (see [`ReplicaState::on_metadata`]).
    pub fn update(&self, state: PartitionState, settings: PartitionSettings, me: BrokerId) {
        let leo = self.log.log_end_offset();
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
        *self.hw.borrow()
    }

    /// Waits until the HW moves past `offset` or `timeout` passes; the HW then.
    pub async fn wait_hw_above(&self, offset: u64, timeout: Duration) -> u64 {
        let mut rx = self.hw.subscribe();
        let _ = tokio::time::timeout(timeout, rx.wait_for(|hw| *hw > offset)).await;
        self.high_watermark()
    }

    /// Watches the log end offset (replica fetches long-poll on it).
    pub fn subscribe_leo(&self) -> watch::Receiver<u64> {
        self.leo.subscribe()
    }

    /// Leader: recompute HW from the maximal ISR. Followers: no-op.
    pub fn maybe_advance_hw(&self, me: BrokerId) {
        let leo = self.log.log_end_offset();
        self.with_state(|s| s.advance_hw(me, leo));
    }

    /// Follower: HW = min(leader's HW, own LEO).
    pub fn follower_hw(&self, leader_hw: u64) {
        let leo = self.log.log_end_offset();
        self.with_state(|s| s.on_leader_hw(leader_hw, leo));
    }

    /// Leader: records a follower's fetch at `fetch_offset`; returns a new ISR
    /// to propose when the follower may join it.
    pub fn on_follower_fetch(
        &self,
        follower: BrokerId,
        fetch_offset: u64,
        me: BrokerId,
    ) -> Option<IsrProposal> {
        let leo = self.log.log_end_offset();
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
    /// context). With `producer` = (id, epoch, first sequence) the batch is
    /// checked against the producer's recent batches first.
    pub fn append(
        &self,
        records: &[RecordIn],
        now_ms: i64,
        producer: Option<(i64, i16, i32)>,
    ) -> Result<AppendOutcome, crate::storage::LogError> {
        let (leader_epoch, timestamp_type) = self.with_state(|s| s.append_stamp());
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
            timestamp_type,
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
        drop(producers);
        self.leo.send_replace(self.log.log_end_offset());
        Ok(AppendOutcome::Appended(info))
    }

    /// Learns idempotent producers' batches from encoded batches (log scan or replication).
    fn observe_batches(&self, bytes: &[u8]) {
        let Ok(batches) = crate::storage::decode_batches(bytes) else {
            return;
        };
        let mut producers = self.producers.lock().unwrap_or_else(|p| p.into_inner());
        for (h, _) in batches.iter().filter(|(h, _)| h.producer_id >= 0) {
            let batch = ProducerBatch {
                first_seq: h.base_sequence,
                last_seq: h.base_sequence.saturating_add(h.last_offset_delta as i32),
                base_offset: h.base_offset,
                last_offset: h.last_offset(),
            };
            producers.record(h.producer_id, h.producer_epoch, batch);
        }
    }

    /// Rebuilds producer state from the whole log (on open; blocking).
    pub fn rebuild_producer_state(&self) {
        let mut offset = self.log.log_start_offset();
        let leo = self.log.log_end_offset();
        while offset < leo {
            let Ok(bytes) = self.log.read_batches(offset, u64::MAX, 8 * 1024 * 1024) else {
                return;
            };
            let Ok(batches) = crate::storage::decode_batches(&bytes) else {
                return;
            };
            let Some((last, _)) = batches.last() else {
                return;
            };
            offset = last.last_offset() + 1;
            self.observe_batches(&bytes);
        }
    }

    /// Appends a leader's batches as follower (blocking).
    pub fn append_replicated(&self, batches: &[u8]) -> Result<u64, crate::storage::LogError> {
        let leo = self.log.append_raw(batches)?;
        // A follower keeps producer state too, so it dedups after a failover.
        self.observe_batches(batches);
        self.leo.send_replace(leo);
        Ok(leo)
    }

    /// Cuts a divergent suffix as follower (blocking).
    pub fn truncate_to(&self, offset: u64) -> Result<(), crate::storage::LogError> {
        tracing::info!(topic = %self.topic, partition = self.partition, offset, leo = self.log.log_end_offset(), "truncating divergent suffix");
        self.log.truncate_to(offset)?;
        self.producers
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .truncate(offset);
        self.leo.send_replace(self.log.log_end_offset());
        Ok(())
    }

    /// Writes the HW to `DIR/high-watermark` (blocking; atomic replace).
    pub fn checkpoint_hw(&self) -> std::io::Result<()> {
        let tmp = self.dir.join("high-watermark.tmp");
        std::fs::write(&tmp, self.high_watermark().to_string())?;
        std::fs::File::open(&tmp)?.sync_all()?;
        std::fs::rename(&tmp, self.dir.join(HW_CHECKPOINT))
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
        self.with_state(|s| {
            if !following(s, leader, leader_epoch) {
                return Ok(false);
            }
            self.truncate_to(to(&self.log)).map(|()| true)
        })
    }

    /// Follower: takes the HW `leader` answered in `leader_epoch`; false when stale.
    pub fn follower_hw_from(&self, leader: BrokerId, leader_epoch: u32, leader_hw: u64) -> bool {
        self.with_state(|s| {
            let current = following(s, leader, leader_epoch);
            if current {
                s.on_leader_hw(leader_hw, self.log.log_end_offset());
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
