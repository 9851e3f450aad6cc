//! One local partition replica: its log, its view of the partition's state,
//! its high watermark and, while it leads, what it knows of its followers.
//!
//! Leader: HW = the smallest LEO over the (maximal) ISR, where followers' LEOs
//! come from their fetch positions; it never moves backwards and does not move
//! while the ISR is smaller than `min.insync.replicas`. Follower: HW =
//! min(leader's HW, own LEO). The HW is checkpointed to `DIR/high-watermark`.

use super::leader_state::{self, FollowerState};
use super::producer_state::{ProducerBatch, ProducerStates, SequenceCheck};
use crate::error::BrokerError;
use crate::storage::{AppendInfo, BatchMeta, LogConfig, PartitionLog, RecordIn, TimestampType};
use ferry_common::metadata::PartitionState;
use ferry_common::{topic_config, BrokerId, TopicName};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};
use tokio::sync::watch;

/// Topic configs a partition applies on every append.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartitionSettings {
    pub max_message_bytes: usize,
    pub min_insync_replicas: usize,
    pub timestamp_type: TimestampType,
}

impl PartitionSettings {
    /// Effective settings from a topic's configs (Kafka defaults where unset).
    pub fn from_configs(configs: &BTreeMap<String, String>) -> Self {
        let num = |k: &str, d: i64| {
            topic_config::effective(configs, k)
                .and_then(|v| v.parse::<i64>().ok())
                .unwrap_or(d)
        };
        PartitionSettings {
            max_message_bytes: num("max.message.bytes", 1_048_588).max(0) as usize,
            min_insync_replicas: num("min.insync.replicas", 1).max(1) as usize,
            timestamp_type: match topic_config::effective(configs, "message.timestamp.type") {
                Some("LogAppendTime") => TimestampType::LogAppendTime,
                _ => TimestampType::CreateTime,
            },
        }
    }

    /// The storage-level config for a topic's logs.
    pub fn log_config(configs: &BTreeMap<String, String>, flush_on_append: bool) -> LogConfig {
        let num = |k: &str, d: i64| {
            topic_config::effective(configs, k)
                .and_then(|v| v.parse::<i64>().ok())
                .unwrap_or(d)
        };
        LogConfig {
            segment_bytes: num("segment.bytes", 1 << 30).max(14) as u64,
            segment_ms: num("segment.ms", 604_800_000).max(1) as u64,
            retention_ms: num("retention.ms", 604_800_000),
            retention_bytes: num("retention.bytes", -1),
            flush_on_append,
            ..LogConfig::default()
        }
    }
}

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

/// The leader's bookkeeping while this replica leads.
#[derive(Debug, Clone)]
pub struct LeaderContext {
    pub leader_epoch: u32,
    pub since: Instant,
    /// LEO when this leadership began: followers must reach it to join the ISR.
    pub epoch_start_offset: u64,
    pub followers: BTreeMap<BrokerId, FollowerState>,
    /// ISR proposed to the controller and not answered yet (one change in flight).
    pub pending_isr: Option<Vec<BrokerId>>,
}

/// A local replica of one partition.
pub struct Partition {
    pub topic: TopicName,
    pub topic_id: String,
    pub partition: u32,
    pub log: Arc<PartitionLog>,
    dir: PathBuf,
    state: RwLock<(PartitionState, PartitionSettings)>,
    leader: Mutex<Option<LeaderContext>>,
    /// Idempotent producers' recent batches; held across check + append so two
    /// retries of one batch cannot both be written.
    producers: Mutex<ProducerStates>,
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
            state: RwLock::new((state, settings)),
            leader: Mutex::new(None),
            producers: Mutex::new(ProducerStates::default()),
            hw: watch::channel(hw).0,
            leo: watch::channel(leo).0,
        }
    }

    pub fn state(&self) -> PartitionState {
        self.state
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .0
            .clone()
    }

    /// Refuses a request made for another leader epoch than the current one.
    pub fn check_leader_epoch(&self, requested: Option<u32>) -> Result<(), BrokerError> {
        let Some(requested) = requested else {
            return Ok(());
        };
        let current = self.state().leader_epoch;
        let (topic, partition) = (self.topic.to_string(), self.partition);
        if requested < current {
            return Err(BrokerError::FencedLeaderEpoch {
                topic,
                partition,
                requested,
                current,
            });
        }
        if requested > current {
            return Err(BrokerError::UnknownLeaderEpoch {
                topic,
                partition,
                requested,
                current,
            });
        }
        Ok(())
    }

    pub fn settings(&self) -> PartitionSettings {
        self.state
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .1
            .clone()
    }

    fn leader_ctx(&self) -> std::sync::MutexGuard<'_, Option<LeaderContext>> {
        self.leader.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A copy of the leader bookkeeping, if this replica leads.
    pub fn leader_context(&self) -> Option<LeaderContext> {
        self.leader_ctx().clone()
    }

    /// Takes the latest metadata for this partition and switches role when it
    /// says so. Older states (lower partition and leader epochs) are ignored,
    /// since an ISR change answered by the controller may arrive before its push.
    pub fn update(&self, state: PartitionState, settings: PartitionSettings, me: BrokerId) {
        {
            let mut cur = self.state.write().unwrap_or_else(|p| p.into_inner());
            let older = state.leader_epoch < cur.0.leader_epoch
                || (state.leader_epoch == cur.0.leader_epoch
                    && state.partition_epoch < cur.0.partition_epoch);
            if older {
                cur.1 = settings;
                return;
            }
            *cur = (state.clone(), settings);
        }
        let mut ctx = self.leader_ctx();
        match (
            state.leader == Some(me),
            ctx.as_ref().map(|c| c.leader_epoch),
        ) {
            (true, Some(e)) if e == state.leader_epoch => {
                if let Some(c) = ctx.as_mut() {
                    // Our own ISR change landed (or someone else's): nothing pending any more.
                    if c.pending_isr.as_ref().is_some_and(|p| *p == state.isr) {
                        c.pending_isr = None;
                    }
                    for r in state.replicas.iter().filter(|r| **r != me) {
                        c.followers
                            .entry(*r)
                            .or_insert_with(|| FollowerState::unknown(Instant::now()));
                    }
                }
            }
            (true, _) => {
                let now = Instant::now();
                tracing::info!(topic = %self.topic, partition = self.partition, leader_epoch = state.leader_epoch, "became leader");
                *ctx = Some(LeaderContext {
                    leader_epoch: state.leader_epoch,
                    since: now,
                    epoch_start_offset: self.log.log_end_offset(),
                    followers: state
                        .replicas
                        .iter()
                        .filter(|r| **r != me)
                        .map(|r| (*r, FollowerState::unknown(now)))
                        .collect(),
                    pending_isr: None,
                });
            }
            (false, was) => {
                if was.is_some() {
                    tracing::info!(topic = %self.topic, partition = self.partition, leader_epoch = state.leader_epoch, "became follower");
                }
                *ctx = None;
            }
        }
        drop(ctx);
        self.maybe_advance_hw(me);
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

    fn set_hw(&self, hw: u64) {
        self.hw.send_if_modified(|cur| {
            if hw > *cur {
                *cur = hw;
                true
            } else {
                false
            }
        });
    }

    /// Leader: recompute HW from the maximal ISR. Followers: no-op.
    pub fn maybe_advance_hw(&self, me: BrokerId) {
        let (state, settings) = self.state.read().unwrap_or_else(|p| p.into_inner()).clone();
        let ctx = self.leader_ctx();
        let Some(ctx) = ctx.as_ref() else { return };
        if state.leader != Some(me) {
            return;
        }
        // Maximal ISR: additions count at once, removals only once committed.
        let mut isr = state.isr.clone();
        if let Some(p) = &ctx.pending_isr {
            isr.extend(p.iter().filter(|b| !state.isr.contains(b)));
        }
        if isr.len() < settings.min_insync_replicas {
            return;
        }
        let hw = leader_state::high_watermark(
            self.high_watermark(),
            me,
            self.log.log_end_offset(),
            &isr,
            &ctx.followers,
        );
        self.set_hw(hw);
    }

    /// Follower: HW = min(leader's HW, own LEO).
    pub fn follower_hw(&self, leader_hw: u64) {
        self.set_hw(leader_hw.min(self.log.log_end_offset()));
    }

    /// Leader: records a follower's fetch at `fetch_offset`; returns a new ISR
    /// to propose when the follower may join it.
    pub fn on_follower_fetch(
        &self,
        follower: BrokerId,
        fetch_offset: u64,
        me: BrokerId,
    ) -> Option<Vec<BrokerId>> {
        let state = self.state();
        let proposal = {
            let mut guard = self.leader_ctx();
            let ctx = guard.as_mut()?;
            let leo = self.log.log_end_offset();
            ctx.followers
                .entry(follower)
                .or_insert_with(|| FollowerState::unknown(ctx.since))
                .on_fetch(fetch_offset, leo, Instant::now());
            // Only the fetching follower is considered: it is alive right now,
            // while a crashed one's last known LEO may still look caught up.
            let joiners: Vec<BrokerId> = leader_state::isr_joiners(
                &state.replicas,
                &state.isr,
                &ctx.followers,
                self.high_watermark(),
                ctx.epoch_start_offset,
            )
            .into_iter()
            .filter(|b| *b == follower)
            .collect();
            if ctx.pending_isr.is_none() && !joiners.is_empty() {
                let mut isr = state.isr.clone();
                isr.extend(joiners);
                ctx.pending_isr = Some(isr.clone());
                Some(isr)
            } else {
                None
            }
        };
        self.maybe_advance_hw(me);
        proposal
    }

    /// Leader: an ISR without the followers that lagged longer than `max_lag`.
    pub fn isr_shrink(&self, me: BrokerId, max_lag: Duration) -> Option<Vec<BrokerId>> {
        let state = self.state();
        let mut guard = self.leader_ctx();
        let ctx = guard.as_mut()?;
        if ctx.pending_isr.is_some() || state.leader != Some(me) {
            return None;
        }
        let out = leader_state::isr_laggards(
            me,
            &state.isr,
            &ctx.followers,
            Instant::now(),
            max_lag,
            ctx.since,
        );
        if out.is_empty() {
            return None;
        }
        let isr: Vec<BrokerId> = state
            .isr
            .iter()
            .filter(|b| !out.contains(b))
            .copied()
            .collect();
        ctx.pending_isr = Some(isr.clone());
        Some(isr)
    }

    /// Leader: the proposed ISR change failed; allow another.
    pub fn clear_pending_isr(&self) {
        if let Some(c) = self.leader_ctx().as_mut() {
            c.pending_isr = None;
        }
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
        let (state, settings) = self.state.read().unwrap_or_else(|p| p.into_inner()).clone();
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
            leader_epoch: state.leader_epoch,
            producer_id,
            producer_epoch,
            base_sequence,
            timestamp_type: settings.timestamp_type,
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
}
