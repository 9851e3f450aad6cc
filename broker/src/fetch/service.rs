//! The fetch and offsets paths: reads below the high watermark, long-polling
//! until new records are committed.

use super::budget::{FetchBudget, MemoryGrant};
use crate::error::BrokerError;
use crate::metadata::topic_name;
use crate::metrics::Metrics;
use crate::replicas::LeaderLookup;
use crate::storage::Record;
use ferry_common::records::{FetchResponse, FetchedRecord, OffsetsResponse};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Fetch parameters after defaults and bounds.
#[derive(Debug, Clone, Copy)]
pub struct FetchParams {
    pub offset: Option<u64>,
    pub max_records: usize,
    pub max_bytes: usize,
    pub max_wait: Duration,
    /// The leader epoch the consumer expects, if it says.
    pub leader_epoch: Option<u32>,
}

/// The fetch path's handle: local leader replicas, the server-wide fetch
/// bounds and the metrics it feeds.
pub struct FetchService {
    pub leaders: LeaderLookup,
    pub budget: FetchBudget,
    pub metrics: Arc<Metrics>,
}

/// A fetch answer and the memory it was read under: hold it until the answer
/// is serialized.
pub struct Fetched {
    pub response: FetchResponse,
    pub grant: Option<MemoryGrant>,
}

impl FetchService {
    /// Records of `topic`/`partition` from `offset`, only below the high watermark.
    pub async fn fetch(
        &self,
        topic: &str,
        partition: u32,
        params: FetchParams,
    ) -> Result<Fetched, BrokerError> {
        let topic = topic_name(topic)?;
        let part = self.leaders.leader_replica(&topic, partition)?;
        part.check_leader_epoch(params.leader_epoch)?;
        let started = Instant::now();
        let log_start = part.log.log_start_offset();
        let leo = part.log.log_end_offset();
        let mut hw = part.high_watermark();
        let offset = params.offset.unwrap_or(log_start);
        if offset < log_start || offset > leo {
            return Err(BrokerError::OffsetOutOfRange {
                requested: offset,
                log_start_offset: log_start,
                log_end_offset: leo,
                high_watermark: hw,
            });
        }
        if offset >= hw && !params.max_wait.is_zero() {
            let _slot = self.budget.long_poll()?;
            // Woken by the HW watch the moment an append commits; no polling.
            hw = part.wait_hw_above(offset, params.max_wait).await;
        }
        let mut grant = None;
        let records = if offset < hw {
            let granted = self
                .budget
                .memory(params.max_bytes, params.max_records)
                .await?;
            let (max_records, max_bytes) = (params.max_records, granted.max_bytes);
            grant = Some(granted);
            let log = part.log.clone();
            tokio::task::spawn_blocking(move || log.read(offset, hw, max_records, max_bytes))
                .await
                .map_err(|e| BrokerError::Internal(format!("read task: {e}")))??
        } else {
            Vec::new()
        };
        let next_offset = records.last().map_or(offset, |r| r.offset + 1);
        let bytes: usize = records
            .iter()
            .map(|r| r.key.as_ref().map_or(0, Vec::len) + r.value.as_ref().map_or(0, Vec::len))
            .sum();
        self.metrics
            .record_fetch(topic.as_str(), records.len(), bytes, started.elapsed());
        let response = FetchResponse {
            records: records.into_iter().map(to_fetched).collect(),
            high_watermark: hw,
            log_start_offset: part.log.log_start_offset(),
            next_offset,
        };
        Ok(Fetched { response, grant })
    }
}

fn to_fetched(r: Record) -> FetchedRecord {
    FetchedRecord::from_parts(
        r.offset,
        r.timestamp,
        r.key.as_deref(),
        r.value.as_deref(),
        &r.headers,
    )
}

impl FetchService {
    /// Log start, HW and LEO; with `timestamp`, also the first offset at or after it.
    pub async fn offsets(
        &self,
        topic: &str,
        partition: u32,
        timestamp: Option<i64>,
    ) -> Result<OffsetsResponse, BrokerError> {
        let topic = topic_name(topic)?;
        let part = self.leaders.leader_replica(&topic, partition)?;
        let hw = part.high_watermark();
        let offset = match timestamp {
            None => None,
            Some(ts) => {
                let log = part.log.clone();
                let found = tokio::task::spawn_blocking(move || log.offset_for_timestamp(ts))
                    .await
                    .map_err(|e| BrokerError::Internal(format!("lookup task: {e}")))??;
                // Only committed records are visible.
                Some(found.filter(|o| *o < hw))
            }
        };
        Ok(OffsetsResponse {
            log_start_offset: part.log.log_start_offset(),
            high_watermark: hw,
            log_end_offset: part.log.log_end_offset(),
            timestamp,
            offset,
        })
    }
}
