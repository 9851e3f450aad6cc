//! The producer: per-partition batching with linger, Kafka's partitioner,
//! acks, retries with metadata refresh, idempotence, bounded memory.
//!
//! Each partition has its own queue and at most one request in flight, so
//! records of a partition are written in send order even across retries; with
//! idempotence (the default with acks=all) a retried batch keeps its sequence
//! numbers, so the broker writes it once. A batch that finally fails gives
//! its sequence numbers to the next one when the broker provably did not
//! write it, and otherwise fails with `OutcomeUnknown` and moves the
//! partition to a new producer epoch (module `sequence`), so one failed
//! batch never blocks the ones after it.

use crate::admin::AdminClient;
use crate::credentials::Credentials;
use crate::error::FerryError;
use crate::http;
use crate::metadata::MetadataCache;
use crate::sequence::{classify, end_of, AttemptFailure, BatchEnd, Sequencer};
use ferry_common::partitioner::partition_for_key;
use ferry_common::records::{
    bytes_to_json, Acks, ProduceRecord, ProduceRequest, ProduceResponse, ProduceResult,
};
use std::collections::HashMap;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, oneshot, Mutex, Semaphore};

/// Producer settings (Kafka's names where they exist).
#[derive(Debug, Clone)]
pub struct ProducerConfig {
    /// Broker URLs to read metadata from.
    pub brokers: Vec<String>,
    /// Controller URLs, for the idempotent producer id.
    pub controllers: Vec<String>,
    pub acks: Acks,
    /// Wait up to this long to fill a batch.
    pub linger_ms: u64,
    /// Records per batch.
    pub batch_size: usize,
    /// Records buffered before `send` waits (backpressure).
    pub buffer_records: usize,
    /// Attempts per batch before its records fail.
    pub retries: u32,
    pub retry_backoff_ms: u64,
    pub request_timeout_ms: u64,
    /// Idempotence: on by default with acks=all, as in Kafka.
    pub idempotence: bool,
    /// User and password for a cluster with client authentication on.
    pub credentials: Option<Credentials>,
}

impl ProducerConfig {
    pub fn new(brokers: Vec<String>, controllers: Vec<String>) -> Self {
        ProducerConfig {
            brokers,
            controllers,
            acks: Acks::All,
            linger_ms: 5,
            batch_size: 500,
            buffer_records: 100_000,
            retries: 20,
            retry_backoff_ms: 100,
            request_timeout_ms: 30_000,
            idempotence: true,
            credentials: None,
        }
    }
}

/// Where a record was written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecordMetadata {
    pub partition: u32,
    /// -1 with acks=0.
    pub offset: i64,
}

/// Resolves when the record is acknowledged or has failed.
pub type DeliveryFuture = oneshot::Receiver<Result<RecordMetadata, FerryError>>;

struct Pending {
    record: ProduceRecord,
    done: oneshot::Sender<Result<RecordMetadata, FerryError>>,
    _permit: tokio::sync::OwnedSemaphorePermit,
}

struct Shared {
    config: ProducerConfig,
    http: reqwest::Client,
    metadata: MetadataCache,
    producer: Option<(i64, i16)>,
}

/// An async producer; cheap to share behind an `Arc`.
///
/// ```no_run
/// # async fn demo() -> Result<(), ferry_client::FerryError> {
/// use ferry_client::{Producer, ProducerConfig};
/// let cfg = ProducerConfig::new(vec!["http://127.0.0.1:7201".into()], vec!["http://127.0.0.1:7101".into()]);
/// let producer = Producer::connect(cfg).await?;
/// let delivery = producer.send("orders", Some(b"customer-7".to_vec()), b"{\"total\": 12}".to_vec()).await?;
/// let meta = delivery.await.map_err(|_| ferry_client::FerryError::Config("producer closed".into()))??;
/// println!("written to partition {} at offset {}", meta.partition, meta.offset);
/// producer.flush().await;
/// # Ok(()) }
/// ```
pub struct Producer {
    shared: Arc<Shared>,
    queues: Mutex<HashMap<(String, u32), mpsc::UnboundedSender<Pending>>>,
    buffer: Arc<Semaphore>,
    sticky: AtomicU32,
    tasks: Mutex<Vec<tokio::task::JoinHandle<()>>>,
}

impl Producer {
    /// Connects; with idempotence, obtains a producer id from the controllers.
    pub async fn connect(config: ProducerConfig) -> Result<Producer, FerryError> {
        if config.brokers.is_empty() {
            return Err(FerryError::Config("no broker URL configured".into()));
        }
        let idempotent = config.idempotence && config.acks == Acks::All;
        let producer = if idempotent {
            Some(
                AdminClient::new(config.controllers.clone())
                    .with_credentials_opt(config.credentials.clone())
                    .allocate_producer_id()
                    .await?,
            )
        } else {
            None
        };
        let http = http::client_with(
            Duration::from_millis(config.request_timeout_ms + 5_000),
            config.credentials.as_ref(),
        );
        let buffer = Arc::new(Semaphore::new(config.buffer_records.max(1)));
        let shared = Arc::new(Shared {
            metadata: MetadataCache::new(config.brokers.clone(), http.clone()),
            http,
            producer,
            config,
        });
        Ok(Producer {
            shared,
            queues: Mutex::new(HashMap::new()),
            buffer,
            sticky: AtomicU32::new(0),
            tasks: Mutex::new(Vec::new()),
        })
    }

    /// Queues a record; waits while `buffer_records` records are in flight.
    /// The key picks the partition as Kafka's producer would.
    pub async fn send(
        &self,
        topic: &str,
        key: Option<Vec<u8>>,
        value: Vec<u8>,
    ) -> Result<DeliveryFuture, FerryError> {
        let partitions = self.partitions(topic).await?;
        let partition = match &key {
            Some(k) => partition_for_key(k, partitions),
            None => {
                self.sticky.fetch_add(1, Ordering::Relaxed)
                    / self.shared.config.batch_size.max(1) as u32
                    % partitions
            }
        };
        self.send_to(topic, partition, key, value).await
    }

    /// Queues a record for an explicit partition.
    pub async fn send_to(
        &self,
        topic: &str,
        partition: u32,
        key: Option<Vec<u8>>,
        value: Vec<u8>,
    ) -> Result<DeliveryFuture, FerryError> {
        let permit = self
            .buffer
            .clone()
            .acquire_owned()
            .await
            .map_err(|_| FerryError::Config("producer closed".into()))?;
        let (k, kb) = bytes_to_json(key.as_deref());
        let (v, vb) = bytes_to_json(Some(&value));
        let record = ProduceRecord {
            key: k.map(serde_json::Value::String),
            key_b64: kb,
            value: Some(v.map_or(serde_json::Value::Null, serde_json::Value::String)),
            value_b64: vb,
            ..Default::default()
        };
        let (tx, rx) = oneshot::channel();
        let queue = self.queue(topic, partition).await;
        queue
            .send(Pending {
                record,
                done: tx,
                _permit: permit,
            })
            .map_err(|_| FerryError::Config("producer closed".into()))?;
        Ok(rx)
    }

    async fn partitions(&self, topic: &str) -> Result<u32, FerryError> {
        let mut last = None;
        for attempt in 0..self.shared.config.retries.max(1) {
            match self.shared.metadata.partitions(topic).await {
                Ok(n) if n > 0 => return Ok(n),
                Ok(_) => {}
                Err(e) if e.is_retriable() => last = Some(e),
                Err(e) => return Err(e),
            }
            self.shared.metadata.invalidate(topic);
            tokio::time::sleep(Duration::from_millis(
                self.shared.config.retry_backoff_ms * u64::from(attempt + 1),
            ))
            .await;
        }
        Err(last.unwrap_or_else(|| FerryError::Transport(format!("no metadata for topic {topic}"))))
    }

    async fn queue(&self, topic: &str, partition: u32) -> mpsc::UnboundedSender<Pending> {
        let mut queues = self.queues.lock().await;
        if let Some(q) = queues.get(&(topic.to_string(), partition)) {
            return q.clone();
        }
        // Unbounded channel, bounded by the buffer semaphore above.
        let (tx, rx) = mpsc::unbounded_channel();
        let task = tokio::spawn(partition_loop(
            self.shared.clone(),
            topic.to_string(),
            partition,
            rx,
        ));
        self.tasks.lock().await.push(task);
        queues.insert((topic.to_string(), partition), tx.clone());
        tx
    }

    /// Waits until every record sent so far is acknowledged or failed.
    pub async fn flush(&self) {
        let all = self.shared.config.buffer_records.max(1) as u32;
        if let Ok(p) = self.buffer.acquire_many(all).await {
            drop(p);
        }
    }
}

/// One partition's sender: batches with linger, one request in flight.
async fn partition_loop(
    shared: Arc<Shared>,
    topic: String,
    partition: u32,
    mut rx: mpsc::UnboundedReceiver<Pending>,
) {
    let mut sequencer = shared.producer.map(Sequencer::new);
    let linger = Duration::from_millis(shared.config.linger_ms);
    while let Some(first) = rx.recv().await {
        let mut batch = vec![first];
        let deadline = tokio::time::Instant::now() + linger;
        while batch.len() < shared.config.batch_size.max(1) {
            match tokio::time::timeout_at(deadline, rx.recv()).await {
                Ok(Some(p)) => batch.push(p),
                _ => break,
            }
        }
        let result = match sequencer.as_mut() {
            None => send_batch(&shared, &topic, partition, &batch, None)
                .await
                .map_err(|(e, _)| e),
            Some(seq) => send_idempotent(&shared, &topic, partition, &batch, seq).await,
        };
        match result {
            Ok(offsets) => {
                for (p, offset) in batch.into_iter().zip(offsets) {
                    let _ = p.done.send(Ok(RecordMetadata { partition, offset }));
                }
            }
            Err(e) => {
                for p in batch {
                    let _ = p.done.send(Err(e.clone()));
                }
            }
        }
    }
}

/// Sends one idempotent batch and moves the partition's sequence state by
/// how it ended (see `crate::sequence`).
async fn send_idempotent(
    shared: &Shared,
    topic: &str,
    partition: u32,
    batch: &[Pending],
    seq: &mut Sequencer,
) -> Result<Vec<i64>, FerryError> {
    let n = batch.len();
    let mut base = seq.base(n);
    let identity = match seq.identity() {
        Some(identity) => identity,
        None => {
            // Nothing is sent without an identity: the batch fails, unwritten.
            let identity = AdminClient::new(shared.config.controllers.clone())
                .allocate_producer_id()
                .await?;
            seq.adopt(identity);
            base = seq.base(n);
            identity
        }
    };
    let result = send_batch(shared, topic, partition, batch, Some((identity, base))).await;
    let end = match &result {
        Ok(_) => BatchEnd::Written,
        Err((_, end)) => *end,
    };
    seq.finish(n, end);
    result.map_err(|(e, end)| match end {
        BatchEnd::Unknown => FerryError::OutcomeUnknown(format!(
            "{topic}-{partition}: the batch may or may not have been written; \
             the producer moved to a new epoch, so sending it again writes it anew: {e}"
        )),
        _ => e,
    })
}

/// Sends one batch to the partition leader, retrying retriable failures with
/// the same sequence numbers (`idempotent`: producer id and epoch, base
/// sequence). Answers one offset per record (-1 with acks=0), or the last
/// error and what it says about the batch.
async fn send_batch(
    shared: &Shared,
    topic: &str,
    partition: u32,
    batch: &[Pending],
    idempotent: Option<((i64, i16), i32)>,
) -> Result<Vec<i64>, (FerryError, BatchEnd)> {
    let cfg = &shared.config;
    let req = ProduceRequest {
        records: batch.iter().map(|p| p.record.clone()).collect(),
        acks: Some(serde_json::Value::String(cfg.acks.label().into())),
        timeout_ms: Some(cfg.request_timeout_ms),
        leader_epoch: None,
        producer_id: idempotent.map(|((id, _), _)| id),
        producer_epoch: idempotent.map(|((_, epoch), _)| epoch),
        base_sequence: idempotent.map(|(_, base)| base),
    };
    let mut last = FerryError::Transport("not sent".into());
    let mut last_failure = AttemptFailure::Retry {
        maybe_written: false,
    };
    // Whether an attempt before the last one may have written the batch.
    let mut maybe_written = false;
    for attempt in 0..cfg.retries.max(1) {
        if let AttemptFailure::Retry { maybe_written: m } = last_failure {
            maybe_written |= m;
        }
        last_failure = AttemptFailure::Retry {
            maybe_written: false,
        };
        let leader = match shared.metadata.leader(topic, partition).await {
            Ok(l) => l,
            Err(e) => {
                last = e;
                shared.metadata.invalidate(topic);
                tokio::time::sleep(Duration::from_millis(
                    cfg.retry_backoff_ms * u64::from(attempt + 1),
                ))
                .await;
                continue;
            }
        };
        let url = format!("{leader}/v1/topics/{topic}/partitions/{partition}/records");
        let e = match http::call::<_, ProduceResponse>(
            &shared.http,
            reqwest::Method::POST,
            &url,
            Some(&req),
        )
        .await
        {
            Ok(res) => match written(res, batch.len()) {
                Ok(offsets) => return Ok(offsets),
                Err(e) => e,
            },
            Err(e) => e,
        };
        let failure = classify(&e);
        match failure {
            // Without idempotence a retry after a lost answer could duplicate.
            _ if idempotent.is_none() && matches!(e, FerryError::OutcomeUnknown(_)) => {
                return Err((e, end_of(failure, maybe_written)));
            }
            AttemptFailure::Retry { .. } if e.is_retriable() => {
                tracing::debug!(topic, partition, error = %e, "produce failed; retrying");
                last = e;
                last_failure = failure;
                shared.metadata.invalidate(topic);
                tokio::time::sleep(Duration::from_millis(
                    cfg.retry_backoff_ms * u64::from(attempt + 1),
                ))
                .await;
            }
            _ => return Err((e, end_of(failure, maybe_written))),
        }
    }
    Err((last, end_of(last_failure, maybe_written)))
}

/// The offsets of a written batch; an answer with any record error (or the
/// wrong number of results) leaves the batch's outcome unknown.
fn written(res: ProduceResponse, records: usize) -> Result<Vec<i64>, FerryError> {
    let n = res.offsets.len();
    let mut offsets = Vec::with_capacity(n);
    for r in res.offsets {
        match r {
            ProduceResult::Ok { offset, .. } => offsets.push(offset),
            ProduceResult::Err {
                error_code,
                message,
                ..
            } => {
                return Err(FerryError::OutcomeUnknown(format!(
                    "a partial answer ({error_code}: {message})"
                )))
            }
        }
    }
    if n != records {
        return Err(FerryError::OutcomeUnknown(format!(
            "{n} results for {records} records"
        )));
    }
    Ok(offsets)
}
