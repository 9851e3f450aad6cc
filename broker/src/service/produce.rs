//! The produce path: validate, pick partitions, append locally where this
//! broker leads, forward the rest to their leaders, answer per record.

use super::broker::Broker;
use super::partition::{AppendOutcome, Partition};
use super::partitioner::partition_for_key;
use crate::error::BrokerError;
use crate::storage::RecordIn;
use ferry_common::records::{
    bytes_from_json, headers_from_json, Acks, ProduceRecord, ProduceRequest, ProduceResponse,
    ProduceResult,
};
use ferry_common::{ErrorCode, TopicName};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Produces `req` to `topic`. With `strict_partition` only that partition's
/// leader may accept (no routing, no forwarding).
pub async fn produce(
    broker: &Arc<Broker>,
    topic: &str,
    req: ProduceRequest,
    strict_partition: Option<u32>,
) -> Result<ProduceResponse, BrokerError> {
    let topic = Broker::topic_name(topic)?;
    let acks = Acks::parse(req.acks.as_ref()).map_err(BrokerError::InvalidRequest)?;
    if req.records.is_empty() {
        return Err(BrokerError::InvalidRequest(
            "records is empty; send at least one record".into(),
        ));
    }
    let Some(topic_image) = broker.metadata.topic(&topic) else {
        return Err(broker.unknown(&topic, strict_partition.unwrap_or(0)));
    };
    let partitions = topic_image.partitions.len() as u32;
    if let Some(p) = strict_partition {
        if p >= partitions {
            return Err(broker.unknown(&topic, p));
        }
    }
    let now = now_ms();
    let sticky = broker.sticky.next_partition(partitions);
    // Group by partition, remembering each record's position in the request.
    let mut groups: BTreeMap<u32, Vec<(usize, RecordIn, ProduceRecord)>> = BTreeMap::new();
    for (i, r) in req.records.into_iter().enumerate() {
        let rec = to_record_in(i, &r, now)?;
        let p = match (strict_partition, r.partition) {
            (Some(s), Some(p)) if p != s as i64 => {
                return Err(BrokerError::InvalidRequest(format!(
                    "record {i} names partition {p} but was sent to partition {s}"
                )))
            }
            (Some(s), _) => s,
            (None, Some(p)) if p < 0 || p >= partitions as i64 => {
                return Err(broker.unknown(&topic, p.clamp(0, u32::MAX as i64) as u32))
            }
            (None, Some(p)) => p as u32,
            (None, None) => match &rec.key {
                Some(k) => partition_for_key(k, partitions),
                None => sticky,
            },
        };
        groups.entry(p).or_default().push((i, rec, r));
    }
    let leader_epoch = req.leader_epoch;
    let producer = match (req.producer_id, req.producer_epoch, req.base_sequence) {
        (None, None, None) => None,
        (Some(id), Some(epoch), Some(seq)) if id >= 0 && epoch >= 0 && seq >= 0 => {
            if strict_partition.is_none() {
                return Err(BrokerError::InvalidRequest(
                    "idempotent batches go to the partition endpoint /v1/topics/{topic}/partitions/{p}/records".into(),
                ));
            }
            Some((id, epoch, seq))
        }
        _ => {
            return Err(BrokerError::InvalidRequest(
                "send producer_id, producer_epoch and base_sequence together, each >= 0".into(),
            ))
        }
    };
    let timeout = Duration::from_millis(
        req.timeout_ms
            .unwrap_or(broker.config.produce_timeout_ms)
            .min(300_000),
    );
    let total: usize = groups.values().map(Vec::len).sum();
    let mut results: Vec<Option<ProduceResult>> = vec![None; total];
    let futures = groups.into_iter().map(|(p, group)| {
        let broker = broker.clone();
        let topic = topic.clone();
        async move {
            let idx: Vec<usize> = group.iter().map(|(i, ..)| *i).collect();
            let opts = ProduceOptions {
                producer,
                acks,
                timeout,
                strict: strict_partition.is_some(),
                leader_epoch,
            };
            let out = produce_partition(&broker, &topic, p, group, opts).await;
            (p, idx, out)
        }
    });
    for (p, idx, out) in futures_join(futures).await {
        match out {
            Ok(offsets) => {
                for (i, off) in idx.into_iter().zip(offsets) {
                    results[i] = Some(ProduceResult::Ok {
                        partition: p,
                        offset: off,
                    });
                }
            }
            Err(e) => {
                let body = ferry_http::error_body(&e);
                for i in idx {
                    results[i] = Some(ProduceResult::Err {
                        partition: Some(p),
                        error_code: body.error_code,
                        message: body.message.clone(),
                    });
                }
            }
        }
    }
    let offsets = results
        .into_iter()
        .map(|r| {
            r.unwrap_or(ProduceResult::Err {
                partition: None,
                error_code: ErrorCode::UnknownServerError,
                message: "record was not processed".into(),
            })
        })
        .collect();
    Ok(ProduceResponse { offsets })
}

/// Appends one partition's records here, or forwards them to the leader.
/// Answers one offset per record (-1 when acks=0).
/// How one partition's records are to be produced.
#[derive(Debug, Clone, Copy)]
struct ProduceOptions {
    acks: Acks,
    timeout: Duration,
    /// Strict partition endpoint: no forwarding.
    strict: bool,
    leader_epoch: Option<u32>,
    /// Idempotent producer (id, epoch, first sequence).
    producer: Option<(i64, i16, i32)>,
}

async fn produce_partition(
    broker: &Arc<Broker>,
    topic: &TopicName,
    p: u32,
    group: Vec<(usize, RecordIn, ProduceRecord)>,
    opts: ProduceOptions,
) -> Result<Vec<i64>, BrokerError> {
    let ProduceOptions {
        acks,
        timeout,
        strict,
        leader_epoch,
        producer,
    } = opts;
    match broker.leader_replica(topic, p) {
        Ok(part) => {
            Broker::check_leader_epoch(&part, leader_epoch)?;
            let records: Vec<RecordIn> = group.into_iter().map(|(_, r, _)| r).collect();
            append_local(broker, &part, records, acks, timeout, producer).await
        }
        Err(BrokerError::NotLeader {
            leader_url: Some(url),
            ..
        }) if !strict => {
            let n = group.len();
            let req = ProduceRequest {
                records: group
                    .into_iter()
                    .map(|(_, _, mut r)| {
                        r.partition = Some(p as i64);
                        r
                    })
                    .collect(),
                acks: Some(serde_json::Value::String(acks.label().into())),
                timeout_ms: Some(timeout.as_millis() as u64),
                leader_epoch: None,
                producer_id: None,
                producer_epoch: None,
                base_sequence: None,
            };
            let res = broker
                .peers
                .produce(&url, topic.as_str(), p, &req)
                .await
                .map_err(|e| match e {
                    crate::peer_client::PeerError::Api(b) => forwarded_error(b),
                    crate::peer_client::PeerError::Transport(m) => {
                        BrokerError::Upstream(format!("partition leader at {url} unreachable: {m}"))
                    }
                })?;
            let mut out = Vec::with_capacity(n);
            for r in res.offsets {
                match r {
                    ProduceResult::Ok { offset, .. } => out.push(offset),
                    ProduceResult::Err {
                        error_code,
                        message,
                        ..
                    } => {
                        return Err(forwarded_error(ferry_common::ErrorBody::new(
                            error_code, message,
                        )))
                    }
                }
            }
            Ok(out)
        }
        Err(e) => Err(e),
    }
}

/// Keeps the leader's code when relaying its error.
fn forwarded_error(b: ferry_common::ErrorBody) -> BrokerError {
    let msg = format!("from the partition leader: {}", b.message);
    match b.error_code {
        ErrorCode::MessageTooLarge => BrokerError::MessageTooLarge(msg),
        ErrorCode::NotEnoughReplicas => BrokerError::NotEnoughReplicas(msg),
        ErrorCode::RequestTimedOut => BrokerError::TimedOut(msg),
        ErrorCode::UnknownTopicOrPartition => BrokerError::UnknownTopicOrPartition(msg),
        ErrorCode::InvalidRequest => BrokerError::InvalidRequest(msg),
        ErrorCode::KafkaStorageError => BrokerError::Storage(msg),
        ErrorCode::NotLeaderOrFollower | ErrorCode::LeaderNotAvailable => {
            BrokerError::LeaderNotAvailable(msg)
        }
        _ => BrokerError::Upstream(msg),
    }
}

pub(crate) async fn append_local(
    broker: &Arc<Broker>,
    part: &Arc<Partition>,
    records: Vec<RecordIn>,
    acks: Acks,
    timeout: Duration,
    producer: Option<(i64, i16, i32)>,
) -> Result<Vec<i64>, BrokerError> {
    let me = broker.require_id()?;
    let state = part.state();
    let settings = part.settings();
    if acks == Acks::All && state.isr.len() < settings.min_insync_replicas {
        return Err(BrokerError::NotEnoughReplicas(format!(
            "{}-{} has {} in-sync replicas, min.insync.replicas is {}; nothing was written",
            part.topic,
            part.partition,
            state.isr.len(),
            settings.min_insync_replicas
        )));
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
    let append =
        tokio::task::spawn_blocking(move || task_part.append(&records, now_ms(), producer));
    if acks == Acks::None {
        // acks=0: the producer does not wait; failures are only logged.
        let (part, broker) = (part.clone(), broker.clone());
        tokio::spawn(async move {
            match append.await {
                Ok(Ok(_)) => {
                    broker.notify_appended();
                    part.maybe_advance_hw(me);
                }
                Ok(Err(e)) => {
                    tracing::warn!(topic = %part.topic, partition = part.partition, error = %e, "acks=0 append failed")
                }
                Err(e) => tracing::error!(error = %e, "append task failed"),
            }
            broker.metrics.record_produce(
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
    let (base_offset, last_offset) = match outcome {
        AppendOutcome::Appended(info) => {
            broker.notify_appended();
            (info.base_offset, info.last_offset)
        }
        // A retry of a batch already written: its original offsets, once committed.
        AppendOutcome::Duplicate { base_offset, last_offset } => (base_offset, last_offset),
        AppendOutcome::OutOfOrder { expected } => {
            return Err(BrokerError::OutOfOrderSequence(format!(
                "{}-{}: the producer's next sequence number is {expected}; a batch is missing",
                part.topic, part.partition
            )))
        }
        AppendOutcome::FencedEpoch { current } => {
            return Err(BrokerError::InvalidProducerEpoch(format!(
                "{}-{}: producer epoch is older than the current {current}; this producer was fenced",
                part.topic, part.partition
            )))
        }
    };
    let every = broker.config.fault_lose_produce_ack_every;
    if every > 0
        && broker
            .produce_requests
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed)
            % every
            == every - 1
    {
        return Err(BrokerError::TimedOut(format!(
            "fault injection: offsets {base_offset}..={last_offset} appended, acknowledgement dropped"
        )));
    }
    part.maybe_advance_hw(me);
    if acks == Acks::All {
        let hw = part.wait_hw_above(last_offset, timeout).await;
        if hw <= last_offset {
            return Err(BrokerError::TimedOut(format!(
                "records were appended at offsets {}..={} but not replicated to the ISR within {} ms; the outcome is unknown",
                base_offset,
                last_offset,
                timeout.as_millis()
            )));
        }
    }
    broker
        .metrics
        .record_produce(part.topic.as_str(), n, bytes_in, acks, started.elapsed());
    Ok((base_offset..=last_offset).map(|o| o as i64).collect())
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

fn to_record_in(i: usize, r: &ProduceRecord, now: i64) -> Result<RecordIn, BrokerError> {
    let bad = |m: String| BrokerError::InvalidRequest(format!("record {i}: {m}"));
    if r.value.is_none() && r.value_b64.is_none() {
        return Err(bad(
            "has no value; send \"value\" (null for a tombstone) or \"value_b64\"".into(),
        ));
    }
    let key = bytes_from_json("key", r.key.as_ref(), r.key_b64.as_deref()).map_err(bad)?;
    let value = bytes_from_json("value", r.value.as_ref(), r.value_b64.as_deref()).map_err(bad)?;
    let headers = headers_from_json(r.headers.as_ref())
        .map_err(bad)?
        .into_iter()
        .map(|(k, v)| (k, v.unwrap_or_default()))
        .collect();
    let timestamp = match r.timestamp {
        Some(t) if t < 0 => return Err(bad(format!("timestamp {t} is negative"))),
        Some(t) => t,
        None => now,
    };
    Ok(RecordIn {
        timestamp,
        key,
        value,
        headers,
    })
}

/// Runs futures concurrently and collects their outputs.
async fn futures_join<F>(futs: impl IntoIterator<Item = F>) -> Vec<F::Output>
where
    F: std::future::Future + Send + 'static,
    F::Output: Send + 'static,
{
    let handles: Vec<_> = futs.into_iter().map(tokio::spawn).collect();
    let mut out = Vec::with_capacity(handles.len());
    for h in handles {
        if let Ok(v) = h.await {
            out.push(v);
        }
    }
    out
}

/// Wall-clock milliseconds since the epoch.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}
