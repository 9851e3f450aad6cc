//! One local partition replica: its log, its view of the partition's state,
//! and its high watermark.
//!
//! HW = the smallest log end offset over the ISR. Until follower fetching
//! lands (replication issue), a leader knows only its own LEO, so the HW moves
//! only when the ISR is this broker alone; for RF > 1 it stays put, which is the
//! correct answer without replication: nothing is committed.

use crate::storage::{AppendInfo, BatchMeta, LogConfig, PartitionLog, RecordIn, TimestampType};
use ferry_common::metadata::PartitionState;
use ferry_common::{topic_config, BrokerId, TopicName};
use std::collections::BTreeMap;
use std::sync::{Arc, RwLock};
use std::time::Duration;
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

/// A local replica of one partition.
pub struct Partition {
    pub topic: TopicName,
    pub topic_id: String,
    pub partition: u32,
    pub log: Arc<PartitionLog>,
    state: RwLock<(PartitionState, PartitionSettings)>,
    hw: watch::Sender<u64>,
}

impl Partition {
    pub fn new(
        topic: TopicName,
        topic_id: String,
        log: PartitionLog,
        state: PartitionState,
        settings: PartitionSettings,
    ) -> Self {
        Partition {
            topic,
            topic_id,
            partition: state.partition,
            log: Arc::new(log),
            state: RwLock::new((state, settings)),
            hw: watch::channel(0).0,
        }
    }

    pub fn state(&self) -> PartitionState {
        self.state
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .0
            .clone()
    }

    pub fn settings(&self) -> PartitionSettings {
        self.state
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .1
            .clone()
    }

    /// Takes the latest metadata for this partition.
    pub fn update(&self, state: PartitionState, settings: PartitionSettings, me: BrokerId) {
        *self.state.write().unwrap_or_else(|p| p.into_inner()) = (state, settings);
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

    /// HW = min LEO over the ISR, never backwards; with the leader alone in the
    /// ISR that is its own LEO.
    pub fn maybe_advance_hw(&self, me: BrokerId) {
        let state = self.state();
        if state.leader != Some(me) || state.isr != [me] {
            return;
        }
        let leo = self.log.log_end_offset();
        self.hw.send_if_modified(|hw| {
            if leo > *hw {
                *hw = leo;
                true
            } else {
                false
            }
        });
    }

    /// Appends one batch (blocking file IO: call from a blocking context).
    pub fn append(
        &self,
        records: &[RecordIn],
        now_ms: i64,
    ) -> Result<AppendInfo, crate::storage::LogError> {
        let (state, settings) = self.state.read().unwrap_or_else(|p| p.into_inner()).clone();
        let meta = BatchMeta {
            leader_epoch: state.leader_epoch,
            producer_id: -1,
            producer_epoch: -1,
            base_sequence: -1,
            timestamp_type: settings.timestamp_type,
        };
        self.log.append(records, meta, now_ms)
    }
}
