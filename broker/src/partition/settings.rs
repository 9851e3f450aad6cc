//! The topic configs a partition replica applies (Kafka defaults where unset).

use crate::storage::{LogConfig, TimestampType};
use ferry_common::topic_config;
use std::collections::BTreeMap;

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

    /// The storage-level config for a topic's logs. `write.caching` is the
    /// topic's own setting, else the broker's `write_caching_default`.
    pub fn log_config(
        configs: &BTreeMap<String, String>,
        write_caching_default: bool,
    ) -> LogConfig {
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
            write_caching: configs
                .get("write.caching")
                .map_or(write_caching_default, |v| v == "true"),
            ..LogConfig::default()
        }
    }
}
