//! The local append of a leader replica, shared by the produce path and the
//! group coordinator's offset commits: checks min.insync and the batch size,
//! appends on a blocking thread, waits per `acks` (acks=1: the leader's own
//! fsync; acks=all: the HW, which counts fsynced offsets only), records metrics.
//! A failed fsync answers `KAFKA_STORAGE_ERROR`, never an acknowledgement.
//!
//! The acks=all wait is Kafka's delayed produce: the record counts as
//! committed only if the HW passes it while this replica still leads the
//! epoch it was appended (or, for an idempotent retry, found) in; any role
//! change first answers `NOT_LEADER_OR_FOLLOWER`, since the record may have
//! been truncated and its offset reused by the next leader.

use crate::clock::now_ms;
use crate::error::BrokerError;
use crate::metrics::Metrics;
use crate::node::Node;
use crate::partition::role::AppendRefused;
use crate::partition::watermark::CommitWait;
use crate::partition::{AppendOutcome, Partition};
use crate::replicas::ReplicaManager;
use crate::storage::{RecordIn, SyncWait};
use ferry_common::records::Acks;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Appends to local leader replicas.
#[derive(Clone)]
pub struct Appender {
    node: Arc<Node>,
    replicas: Arc<ReplicaManager>,
    metrics: Arc<Metrics>,
    #[cfg(feature = "fault-injection")]
    fault: Arc<super::fault::LoseAcks>,
}

/// An idempotent producer's batch: (producer id, producer epoch, first sequence).
pub type ProducerBatchId = (i64, i16, i32);

impl Appender {
    pub fn new(node: Arc<Node>, replicas: Arc<ReplicaManager>, metrics: Arc<Metrics>) -> Self {
        Appender {
            #[cfg(feature = "fault-injection")]
            fault: Arc::new(super::fault::LoseAcks::new(
                node.config.fault_lose_produce_ack_every,
            )),
            node,
            replicas,
            metrics,
        }
    }

    /// Appends `records` to `part` (which this broker leads, in
    /// `leader_epoch` if the request names one); answers one offset per
    /// record (-1 each with acks=0, which does not wait).
    pub async fn append_local(
        &self,
        part: &Arc<Partition>,
        records: Vec<RecordIn>,
        acks: Acks,
        timeout: Duration,
        producer: Option<ProducerBatchId>,
        leader_epoch: Option<u32>,
    ) -> Result<Vec<i64>, BrokerError> {
        let me = self.node.require_id()?;
        let state = part.state();
        let settings = part.settings();
        if acks == Acks::All && state.isr.len() < settings.min_insync_replicas {
            return Err(BrokerError::NotEnoughReplicas {
                topic: part.topic.to_string(),
                partition: part.partition,
                isr: state.isr.len(),
                min_insync: settings.min_insync_replicas,
            });
        }
        let size = batch_size(&records);
        if size > settings.max_message_bytes {
            return Err(BrokerError::MessageTooLarge(format!(
                "the batch for {}-{} is {size} bytes; max.message.bytes is {}",
                part.topic, part.partition, settings.max_message_bytes
            )));
        }
        let n = records.len();
        let started = Instant::now();
        let bytes_in: usize = records
            .iter()
            .map(|r| r.key.as_ref().map_or(0, Vec::len) + r.value.as_ref().map_or(0, Vec::len))
            .sum();
        let task_part = part.clone();
        let append = tokio::task::spawn_blocking(move || {
            task_part.append(&records, now_ms(), producer, leader_epoch)
        });
        if acks == Acks::None {
            // acks=0: the producer does not wait; failures are only logged.
            let (part, this) = (part.clone(), self.clone());
            tokio::spawn(async move {
                match append.await {
                    Ok(Ok(AppendOutcome::Appended { .. })) => {
                        this.replicas.notify_appended();
                        part.maybe_advance_hw(me);
                    }
                    Ok(Ok(outcome)) => {
                        tracing::debug!(topic = %part.topic, partition = part.partition, ?outcome, "acks=0 append not written")
                    }
                    Ok(Err(e)) => {
                        tracing::warn!(topic = %part.topic, partition = part.partition, error = %e, "acks=0 append failed")
                    }
                    Err(e) => tracing::error!(error = %e, "append task failed"),
                }
                this.metrics.record_produce(
                    part.topic.as_str(),
                    n,
                    bytes_in,
                    Acks::None,
                    started.elapsed(),
                );
            });
            return Ok(vec![-1; n]);
        }
        let outcome = append
            .await
            .map_err(|e| BrokerError::Internal(format!("append task: {e}")))??;
        let (base_offset, last_offset, epoch, sync_gen) = match outcome {
            AppendOutcome::Appended { info, leader_epoch } => {
                self.replicas.notify_appended();
                (
                    info.base_offset,
                    info.last_offset,
                    leader_epoch,
                    info.sync_gen,
                )
            }
            // A retry of a batch already written: its original offsets, once committed.
            AppendOutcome::Duplicate {
                base_offset,
                last_offset,
                leader_epoch,
            } => (
                base_offset,
                last_offset,
                leader_epoch,
                part.log.subscribe_durability().borrow().gen,
            ),
            AppendOutcome::Refused(AppendRefused::NotLeader { leader }) => {
                return Err(not_leader(me.0, part, leader.map(|l| l.0)))
            }
            AppendOutcome::Refused(AppendRefused::Epoch(mismatch)) => {
                return Err(part.epoch_error(mismatch))
            }
            AppendOutcome::OutOfOrder { expected } => {
                return Err(BrokerError::OutOfOrderSequence {
                    topic: part.topic.to_string(),
                    partition: part.partition,
                    expected,
                })
            }
            AppendOutcome::FencedEpoch { current } => {
                return Err(BrokerError::InvalidProducerEpoch {
                    topic: part.topic.to_string(),
                    partition: part.partition,
                    current,
                })
            }
        };
        #[cfg(feature = "fault-injection")]
        self.fault.check(base_offset, last_offset)?;
        part.maybe_advance_hw(me);
        if acks == Acks::Leader {
            wait_leader_sync(me.0, part, base_offset, last_offset, sync_gen, timeout).await?;
        }
        if acks == Acks::All {
            let commit = tokio::select! {
                c = part.wait_committed(epoch, last_offset, timeout) => c,
                e = sync_failure(part) => return Err(e),
            };
            match commit {
                CommitWait::Committed => {}
                CommitWait::NotLeader => {
                    tracing::info!(topic = %part.topic, partition = part.partition, base_offset, last_offset, leader_epoch = epoch, "leadership changed before the records were committed; their outcome is unknown");
                    return Err(not_leader(me.0, part, part.state().leader.map(|l| l.0)));
                }
                CommitWait::Pending => {
                    return Err(BrokerError::TimedOut(format!(
                        "records were appended at offsets {}..={} but not replicated to the ISR within {} ms; the outcome is unknown",
                        base_offset,
                        last_offset,
                        timeout.as_millis()
                    )));
                }
            }
        }
        self.metrics
            .record_produce(part.topic.as_str(), n, bytes_in, acks, started.elapsed());
        Ok((base_offset..=last_offset).map(|o| o as i64).collect())
    }
}

/// acks=1: waits until the leader's own log has fsynced the records (at
/// once on a `write.caching` topic). A truncation first means the offsets
/// may hold other records now: `NOT_LEADER_OR_FOLLOWER`, outcome unknown.
async fn wait_leader_sync(
    me: u32,
    part: &Partition,
    base_offset: u64,
    last_offset: u64,
    sync_gen: u64,
    timeout: Duration,
) -> Result<(), BrokerError> {
    let wait = part.log.wait_synced(last_offset + 1, sync_gen);
    match tokio::time::timeout(timeout, wait).await {
        Ok(SyncWait::Synced) => Ok(()),
        Ok(SyncWait::Failed(e)) => Err(storage_failed(part, &e)),
        Ok(SyncWait::Truncated) => Err(not_leader(me, part, part.state().leader.map(|l| l.0))),
        Err(_) => Err(BrokerError::TimedOut(format!(
            "records were appended at offsets {base_offset}..={last_offset} but not fsynced within {} ms; the outcome is unknown",
            timeout.as_millis()
        ))),
    }
}

/// Resolves once `part`'s log failed an fsync (never, otherwise): no
/// record waiting on it may be acknowledged.
async fn sync_failure(part: &Partition) -> BrokerError {
    let mut rx = part.log.subscribe_durability();
    let failed = match rx.wait_for(|d| d.failed.is_some()).await {
        Ok(d) => d.failed.clone(),
        Err(_) => None,
    };
    match failed {
        Some(e) => storage_failed(part, &e),
        None => std::future::pending().await,
    }
}

/// `KAFKA_STORAGE_ERROR` for records whose fsync failed.
fn storage_failed(part: &Partition, error: &str) -> BrokerError {
    BrokerError::Storage(format!(
        "fsync of {}-{} failed, the records are not acknowledged: {error}",
        part.topic, part.partition
    ))
}

/// `NOT_LEADER_OR_FOLLOWER` from the replica itself (no URL: an append that
/// may have happened is never forwarded).
fn not_leader(me: u32, part: &Partition, leader_id: Option<u32>) -> BrokerError {
    BrokerError::NotLeader {
        me,
        topic: part.topic.to_string(),
        partition: part.partition,
        leader_id,
        leader_url: None,
    }
}

/// Encoded size of one batch of `records` in the on-disk format (see `storage`).
fn batch_size(records: &[RecordIn]) -> usize {
    const BATCH_OVERHEAD: usize = 60;
    const RECORD_OVERHEAD: usize = 4 + 8 + 4 + 4 + 4 + 4;
    BATCH_OVERHEAD
        + records
            .iter()
            .map(|r| {
                RECORD_OVERHEAD
                    + r.key.as_ref().map_or(0, Vec::len)
                    + r.value.as_ref().map_or(0, Vec::len)
                    + r.headers
                        .iter()
                        .map(|(k, v)| 8 + k.len() + v.len())
                        .sum::<usize>()
            })
            .sum::<usize>()
}

#[cfg(test)]
mod durable_tests;
#[cfg(test)]
mod tests;
