//! The produce path: validate, pick partitions, append locally where this
//! broker leads (see [`super::append`]), forward the rest to their leaders,
//! answer per record.

use super::append::{Appender, ProducerBatchId};
use super::partitioner::{partition_for_key, StickyPartitioner};
use crate::clock::now_ms;
use crate::config::MAX_PRODUCE_TIMEOUT_MS;
use crate::error::BrokerError;
use crate::metadata::{topic_name, MetadataCache};
use crate::node::Node;
use crate::peer_client::{ForwardError, PeerClient};
use crate::replicas::LeaderLookup;
use crate::storage::RecordIn;
use ferry_common::records::{
    bytes_from_json, headers_from_json, Acks, ProduceRecord, ProduceRequest, ProduceResponse,
    ProduceResult,
};
use ferry_common::{ErrorCode, TopicName};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

/// The produce path's handle: what it reads (metadata, local leaders) and
/// where it writes (the local appender, or the leader through a peer call).
pub struct ProduceService {
    pub node: Arc<Node>,
    pub metadata: Arc<MetadataCache>,
    pub leaders: LeaderLookup,
    pub appender: Appender,
    pub peers: Arc<PeerClient>,
    pub sticky: StickyPartitioner,
}

impl ProduceService {
    /// Produces `req` to `topic`. With `strict_partition` only that partition's
    /// leader may accept (no routing, no forwarding).
    pub async fn produce(
        self: &Arc<Self>,
        topic: &str,
        req: ProduceRequest,
        strict_partition: Option<u32>,
    ) -> Result<ProduceResponse, BrokerError> {
        let topic = topic_name(topic)?;
        // Only the cluster writes to internal topics: group commits go through
        // the coordinator's own append path, never through client produce.
        if ferry_common::types::is_internal_topic(topic.as_str()) {
            return Err(BrokerError::InternalTopic {
                topic: topic.to_string(),
            });
        }
        let acks = Acks::parse(req.acks.as_ref()).map_err(BrokerError::InvalidRequest)?;
        if req.records.is_empty() {
            return Err(BrokerError::InvalidRequest(
                "records is empty; send at least one record".into(),
            ));
        }
        let Some(topic_image) = self.metadata.topic(&topic) else {
            return Err(self.metadata.unknown(&topic, strict_partition.unwrap_or(0)));
        };
        let partitions = topic_image.partitions.len() as u32;
        if let Some(p) = strict_partition {
            if p >= partitions {
                return Err(self.metadata.unknown(&topic, p));
            }
        }
        let now = now_ms();
        let sticky = self.sticky.next_partition(partitions);
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
                    return Err(self
                        .metadata
                        .unknown(&topic, p.clamp(0, u32::MAX as i64) as u32))
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
                .unwrap_or(self.node.config.produce_timeout_ms)
                .min(MAX_PRODUCE_TIMEOUT_MS),
        );
        let total: usize = groups.values().map(Vec::len).sum();
        let mut results: Vec<Option<ProduceResult>> = vec![None; total];
        let futures = groups.into_iter().map(|(p, group)| {
            let this = self.clone();
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
                let out = this.produce_partition(&topic, p, group, opts).await;
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
                    let (code, message) = (e.code(), e.to_string());
                    for i in idx {
                        results[i] = Some(ProduceResult::Err {
                            partition: Some(p),
                            error_code: code,
                            message: message.clone(),
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
}

/// How one partition's records are to be produced.
#[derive(Debug, Clone, Copy)]
struct ProduceOptions {
    acks: Acks,
    timeout: Duration,
    /// Strict partition endpoint: no forwarding.
    strict: bool,
    leader_epoch: Option<u32>,
    producer: Option<ProducerBatchId>,
}

impl ProduceService {
    /// Appends one partition's records here, or forwards them to the leader.
    /// Answers one offset per record (-1 when acks=0).
    async fn produce_partition(
        &self,
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
        match self.leaders.leader_replica(topic, p) {
            Ok(part) => {
                part.check_leader_epoch(leader_epoch)?;
                let records: Vec<RecordIn> = group.into_iter().map(|(_, r, _)| r).collect();
                self.appender
                    .append_local(&part, records, acks, timeout, producer, leader_epoch)
                    .await
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
                let res = self
                    .peers
                    .produce(&url, topic.as_str(), p, &req)
                    .await
                    .map_err(|e| forward_failed(&url, e))?;
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
}

/// What the client is told of a failed forward. Once the request went out,
/// the leader may have written the records (it goes on after the forwarder
/// stops waiting): that is `REQUEST_TIMED_OUT`, retriable, as for a local
/// append not yet replicated, never a definite failure.
fn forward_failed(url: &str, e: ForwardError) -> BrokerError {
    match e {
        ForwardError::Api(b) => forwarded_error(b),
        ForwardError::NotSent(m) => {
            BrokerError::Unreachable(format!("partition leader at {url} unreachable: {m}"))
        }
        ForwardError::OutcomeUnknown(m) => BrokerError::TimedOut(format!(
            "forwarded to the partition leader at {url}, which did not answer ({m}); \
             the write may have been applied, the outcome is unknown"
        )),
    }
}

/// Relays the partition leader's error with its code. Its NOT_LEADER means
/// leadership is moving (its hint is not for our client); codes a strict
/// partition produce is not expected to answer become UNKNOWN_SERVER_ERROR.
fn forwarded_error(b: ferry_common::ErrorBody) -> BrokerError {
    let code = match b.error_code {
        c @ (ErrorCode::MessageTooLarge
        | ErrorCode::NotEnoughReplicas
        | ErrorCode::RequestTimedOut
        | ErrorCode::UnknownTopicOrPartition
        | ErrorCode::InvalidRequest
        | ErrorCode::KafkaStorageError
        | ErrorCode::LeaderNotAvailable) => c,
        ErrorCode::NotLeaderOrFollower => ErrorCode::LeaderNotAvailable,
        _ => ErrorCode::UnknownServerError,
    };
    BrokerError::Relayed {
        code,
        message: format!("from the partition leader: {}", b.message),
    }
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

#[cfg(test)]
mod tests {
    //! Forwarding to a stand-in partition leader (issue 10, scenario 12).

    use super::*;
    use crate::config::BrokerConfig;
    use crate::metrics::Metrics;
    use crate::replicas::ReplicaManager;
    use ferry_common::metadata::MetadataImage;
    use ferry_common::BrokerId;

    /// A produce service on broker 1 whose metadata names broker 2, at
    /// `leader_url`, the leader of `t`-0.
    fn forwarder(leader_url: &str, data: &std::path::Path) -> Arc<ProduceService> {
        let node = Arc::new(Node::new(
            BrokerConfig::default(),
            "http://127.0.0.1:1".into(),
        ));
        node.registered(BrokerId(1), 1, "c".into());
        let metadata = Arc::new(MetadataCache::default());
        let broker = |id: u32, url: &str| serde_json::json!({"id": id, "url": url, "incarnation_id": "i", "epoch": 1, "fenced": false});
        let image: MetadataImage = serde_json::from_value(serde_json::json!({
            "cluster_id": "c", "offset": 1, "last_record_offset": 1,
            "brokers": {"1": broker(1, "http://127.0.0.1:1"), "2": broker(2, leader_url)},
            "topics": {"t": {"name": "t", "topic_id": "t-id", "replication_factor": 2,
                "configs": {}, "partitions": [{"partition": 0, "leader": 2, "leader_epoch": 1,
                    "replicas": [2, 1], "isr": [2, 1], "partition_epoch": 1}]}},
        }))
        .expect("a metadata image");
        metadata.install_snapshot(image);
        let replicas = Arc::new(ReplicaManager::new(data, false));
        let metrics = Arc::new(Metrics::new().expect("metrics"));
        Arc::new(ProduceService {
            leaders: LeaderLookup::new(node.clone(), metadata.clone(), replicas.clone()),
            appender: Appender::new(node.clone(), replicas, metrics),
            node,
            metadata,
            peers: Arc::new(PeerClient::new(crate::peer_client::test_signer())),
            sticky: StickyPartitioner::default(),
        })
    }

    fn request(timeout_ms: u64) -> ProduceRequest {
        serde_json::from_value(serde_json::json!({
            "records": [{"value": "v"}], "acks": "all", "timeout_ms": timeout_ms,
        }))
        .expect("a produce request")
    }

    /// A stand-in leader answering every produce after `delay`.
    async fn slow_leader(delay: Duration) -> String {
        let app = axum::Router::new().route(
            "/v1/topics/{topic}/partitions/{partition}/records",
            axum::routing::post(move || async move {
                tokio::time::sleep(delay).await;
                axum::Json(serde_json::json!({"offsets": [{"partition": 0, "offset": 41}]}))
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await });
        format!("http://{addr}")
    }

    #[tokio::test(start_paused = true)]
    async fn scenario_12_a_forward_waits_as_long_as_the_forwarded_produce_timeout() {
        let data = tempfile::tempdir().unwrap();
        let leader = slow_leader(Duration::from_secs(90)).await;
        let service = forwarder(&leader, data.path());
        let res = service.produce("t", request(120_000), None).await.unwrap();
        assert_eq!(
            res.offsets,
            [ProduceResult::Ok {
                partition: 0,
                offset: 41
            }],
            "the leader's answer within the produce timeout is relayed"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn scenario_12_a_forward_timing_out_is_an_unknown_outcome() {
        let data = tempfile::tempdir().unwrap();
        let leader = slow_leader(Duration::from_secs(200)).await;
        let service = forwarder(&leader, data.path());
        let res = service.produce("t", request(120_000), None).await.unwrap();
        assert_unknown_outcome(&res);
    }

    fn assert_unknown_outcome(res: &ProduceResponse) {
        let [ProduceResult::Err {
            error_code,
            message,
            ..
        }] = &res.offsets[..]
        else {
            panic!("one failed record: {res:?}");
        };
        assert_eq!(*error_code, ErrorCode::RequestTimedOut, "{message}");
        assert!(error_code.is_retriable());
        assert!(message.contains("may have been applied"), "{message}");
    }

    #[tokio::test]
    async fn scenario_12_a_forward_lost_after_sending_is_an_unknown_outcome() {
        let data = tempfile::tempdir().unwrap();
        // Reads the request, then closes the connection without an answer.
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let leader = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move {
            use tokio::io::AsyncReadExt;
            while let Ok((mut conn, _)) = listener.accept().await {
                let mut buf = [0u8; 4096];
                let _ = conn.read(&mut buf).await;
            }
        });
        let service = forwarder(&leader, data.path());
        let res = service.produce("t", request(5_000), None).await.unwrap();
        assert_unknown_outcome(&res);
    }
}
