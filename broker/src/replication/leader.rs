//! The leader's side of replication: serve a follower's fetch for all the
//! partitions it follows here, report its fetch to the partition state (its
//! synced offset, ISR joins, HW), answer a diverged log by leader epoch (the decision is
//! `partition/divergence.rs`), and long-poll until there is something new.

use super::isr::IsrDriver;
use crate::error::BrokerError;
use crate::node::Node;
use crate::partition::divergence::diverging_epoch;
use crate::partition::Partition;
use crate::replicas::{LeaderLookup, ReplicaManager};
use ferry_common::internal::{
    ReplicaFetchPartition, ReplicaFetchPartitionResult, ReplicaFetchRequest, ReplicaFetchResponse,
};
use ferry_common::{BrokerId, ErrorCode, TopicName};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Upper bound on one replica fetch answer.
const MAX_FETCH_BYTES: usize = 64 * 1024 * 1024;

/// The leader side of replication: what serving a replica fetch needs.
pub struct ReplicaFetchServer {
    pub node: Arc<Node>,
    pub leaders: LeaderLookup,
    pub replicas: Arc<ReplicaManager>,
    pub isr: IsrDriver,
}

impl ReplicaFetchServer {
    /// Serves one replica fetch; waits up to `max_wait_ms` when no partition has
    /// data. Answers the header and each partition's raw batches, in order.
    pub async fn handle(
        &self,
        req: ReplicaFetchRequest,
    ) -> Result<(ReplicaFetchResponse, Vec<Vec<u8>>), BrokerError> {
        let me = self.node.require_id()?;
        let deadline = Instant::now()
            + Duration::from_millis(req.max_wait_ms.min(self.node.config.fetch_max_wait_ms));
        let mut appended = self.replicas.subscribe_appended();
        let mut first = true;
        loop {
            let mut results = Vec::with_capacity(req.partitions.len());
            let mut batches = Vec::with_capacity(req.partitions.len());
            // Bounded whatever the caller asks: a fetch answer is held in memory.
            let mut budget = req.max_bytes.clamp(1, MAX_FETCH_BYTES);
            let mut anything = false;
            for p in &req.partitions {
                let (r, bytes) = self
                    .serve_partition(me, req.replica_id, p, first, &mut budget)
                    .await;
                anything |=
                    r.error_code.is_some() || r.diverging_epoch.is_some() || !bytes.is_empty();
                results.push(r);
                batches.push(bytes);
            }
            first = false;
            if anything || Instant::now() >= deadline {
                return Ok((
                    ReplicaFetchResponse {
                        partitions: results,
                    },
                    batches,
                ));
            }
            // Woken by any local append; no polling loop.
            let _ = tokio::time::timeout_at(deadline.into(), appended.changed()).await;
        }
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
        records_len: 0,
    }
}

impl ReplicaFetchServer {
    async fn serve_partition(
        &self,
        me: BrokerId,
        follower: BrokerId,
        p: &ReplicaFetchPartition,
        register: bool,
        budget: &mut usize,
    ) -> (ReplicaFetchPartitionResult, Vec<u8>) {
        let fail = |code: ErrorCode, part: Option<&Partition>| {
            (
                ReplicaFetchPartitionResult {
                    error_code: Some(code),
                    ..result(p, part)
                },
                Vec::new(),
            )
        };
        let Ok(topic) = TopicName::new(p.topic.clone()) else {
            return fail(ErrorCode::UnknownTopicOrPartition, None);
        };
        let part = match self.leaders.leader_replica(&topic, p.partition) {
            Ok(part) => part,
            Err(e) => return fail(e.code(), None),
        };
        if let Err(e) = part.check_leader_epoch(Some(p.current_leader_epoch)) {
            return fail(e.code(), Some(&part));
        }
        let log_start = part.log.log_start_offset();
        let leo = part.log.log_end_offset();
        if p.fetch_offset < log_start {
            return fail(ErrorCode::OffsetOutOfRange, Some(&part));
        }
        let diverging = diverging_epoch(
            &part.log.epoch_starts(),
            log_start,
            leo,
            p.fetch_offset,
            p.last_fetched_epoch,
        );
        if let Some(d) = diverging {
            return (
                ReplicaFetchPartitionResult {
                    diverging_epoch: Some(d),
                    ..result(p, Some(&part))
                },
                Vec::new(),
            );
        }
        if register {
            // The HW follows what the follower has fsynced, not what it appended.
            let counted = p
                .synced_offset
                .map_or(p.fetch_offset, |s| s.min(p.fetch_offset));
            if let Some(proposal) = part.on_follower_fetch(follower, counted, me) {
                self.isr.propose(part.clone(), proposal);
            }
        }
        let mut out = result(p, Some(&part));
        if p.fetch_offset >= leo || *budget == 0 {
            return (out, Vec::new());
        }
        let (log, offset, max) = (part.log.clone(), p.fetch_offset, *budget);
        match tokio::task::spawn_blocking(move || log.read_batches(offset, u64::MAX, max)).await {
            Ok(Ok(bytes)) => {
                *budget = budget.saturating_sub(bytes.len());
                out.records_len = bytes.len();
                (out, bytes)
            }
            Ok(Err(e)) => {
                tracing::warn!(topic = %part.topic, partition = part.partition, error = %e, "replica read failed");
                out.error_code = Some(BrokerError::from(e).code());
                (out, Vec::new())
            }
            Err(e) => {
                tracing::error!(error = %e, "replica read task failed");
                out.error_code = Some(ErrorCode::UnknownServerError);
                (out, Vec::new())
            }
        }
    }
}
