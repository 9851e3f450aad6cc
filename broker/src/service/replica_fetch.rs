//! The leader's side of replication: serve a follower's fetch for all the
//! partitions it follows here, learn its LEO from the fetch offset, detect a
//! diverged log by leader epoch, and long-poll until there is something new.

use super::broker::Broker;
use super::leader_state::end_offset_for_epoch;
use super::partition::Partition;
use crate::error::BrokerError;
use base64::Engine;
use ferry_common::internal::{
    EpochEndOffset, ReplicaFetchPartition, ReplicaFetchPartitionResult, ReplicaFetchRequest,
    ReplicaFetchResponse,
};
use ferry_common::{ErrorCode, TopicName};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Serves one replica fetch; waits up to `max_wait_ms` when no partition has data.
pub async fn handle(
    broker: &Arc<Broker>,
    req: ReplicaFetchRequest,
) -> Result<ReplicaFetchResponse, BrokerError> {
    let me = broker.require_id()?;
    let deadline = Instant::now()
        + Duration::from_millis(req.max_wait_ms.min(broker.config.fetch_max_wait_ms));
    let mut appended = broker.appended.subscribe();
    let mut first = true;
    loop {
        let mut results = Vec::with_capacity(req.partitions.len());
        let mut budget = req.max_bytes.max(1);
        let mut anything = false;
        for p in &req.partitions {
            let r = serve_partition(broker, me, req.replica_id, p, first, &mut budget).await;
            anything |=
                r.error_code.is_some() || r.diverging_epoch.is_some() || !r.records_b64.is_empty();
            results.push(r);
        }
        first = false;
        if anything || Instant::now() >= deadline {
            return Ok(ReplicaFetchResponse {
                partitions: results,
            });
        }
        // Woken by any local append; no polling loop.
        let _ = tokio::time::timeout_at(deadline.into(), appended.changed()).await;
    }
}

fn result(p: &ReplicaFetchPartition, part: Option<&Partition>) -> ReplicaFetchPartitionResult {
    ReplicaFetchPartitionResult {
        topic: p.topic.clone(),
        partition: p.partition,
        error_code: None,
        high_watermark: part.map_or(0, Partition::high_watermark),
        log_start_offset: part.map_or(0, |x| x.log.log_start_offset()),
        log_end_offset: part.map_or(0, |x| x.log.log_end_offset()),
        diverging_epoch: None,
        records_b64: String::new(),
    }
}

async fn serve_partition(
    broker: &Arc<Broker>,
    me: ferry_common::BrokerId,
    follower: ferry_common::BrokerId,
    p: &ReplicaFetchPartition,
    register: bool,
    budget: &mut usize,
) -> ReplicaFetchPartitionResult {
    let fail = |code: ErrorCode, part: Option<&Partition>| ReplicaFetchPartitionResult {
        error_code: Some(code),
        ..result(p, part)
    };
    let Ok(topic) = TopicName::new(p.topic.clone()) else {
        return fail(ErrorCode::UnknownTopicOrPartition, None);
    };
    let part = match broker.leader_replica(&topic, p.partition) {
        Ok(part) => part,
        Err(e) => return fail(e.code(), None),
    };
    let state = part.state();
    if p.current_leader_epoch < state.leader_epoch {
        return fail(ErrorCode::FencedLeaderEpoch, Some(&part));
    }
    if p.current_leader_epoch > state.leader_epoch {
        return fail(ErrorCode::UnknownLeaderEpoch, Some(&part));
    }
    let log_start = part.log.log_start_offset();
    let leo = part.log.log_end_offset();
    if p.fetch_offset < log_start {
        return fail(ErrorCode::OffsetOutOfRange, Some(&part));
    }
    // Divergence: the follower's last epoch ends earlier here, or not at all.
    if let Some(last_epoch) = p.last_fetched_epoch {
        let ends = end_offset_for_epoch(&part.log.epoch_starts(), leo, last_epoch);
        let diverged = match ends {
            Some((epoch, end)) => epoch < last_epoch || end < p.fetch_offset,
            None => p.fetch_offset > log_start,
        };
        if diverged {
            let (epoch, end_offset) = ends.unwrap_or((last_epoch, log_start));
            return ReplicaFetchPartitionResult {
                diverging_epoch: Some(EpochEndOffset { epoch, end_offset }),
                ..result(p, Some(&part))
            };
        }
    } else if p.fetch_offset > leo {
        return ReplicaFetchPartitionResult {
            diverging_epoch: Some(EpochEndOffset {
                epoch: 0,
                end_offset: leo,
            }),
            ..result(p, Some(&part))
        };
    }
    if register {
        if let Some(new_isr) = part.on_follower_fetch(follower, p.fetch_offset, me) {
            crate::replication::isr::propose(broker.clone(), part.clone(), new_isr);
        }
    }
    let mut out = result(p, Some(&part));
    if p.fetch_offset < leo && *budget > 0 {
        let (log, offset, max) = (part.log.clone(), p.fetch_offset, *budget);
        let read =
            tokio::task::spawn_blocking(move || log.read_batches(offset, u64::MAX, max)).await;
        match read {
            Ok(Ok(bytes)) => {
                *budget = budget.saturating_sub(bytes.len());
                out.records_b64 = base64::engine::general_purpose::STANDARD.encode(&bytes);
            }
            Ok(Err(e)) => {
                tracing::warn!(topic = %part.topic, partition = part.partition, error = %e, "replica read failed");
                out.error_code = Some(BrokerError::from(e).code());
            }
            Err(e) => {
                tracing::error!(error = %e, "replica read task failed");
                out.error_code = Some(ErrorCode::UnknownServerError);
            }
        }
    }
    out
}
