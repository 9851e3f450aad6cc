//! The consumer: assigned partitions, seek, and a fetch loop that follows
//! leader changes. (Consumer groups and committed offsets come later.)

use crate::error::FerryError;
use crate::http;
use crate::metadata::MetadataCache;
use ferry_common::records::{FetchResponse, OffsetsResponse};
use ferry_common::ErrorCode;
use std::collections::BTreeMap;
use std::time::Duration;

/// Where to start when there is no position (Kafka's `auto.offset.reset`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OffsetReset {
    Earliest,
    Latest,
    /// Fail with `OFFSET_OUT_OF_RANGE` instead.
    None,
}

/// A consumed record.
#[derive(Debug, Clone, PartialEq)]
pub struct ConsumerRecord {
    pub topic: String,
    pub partition: u32,
    pub offset: u64,
    pub timestamp: i64,
    pub key: Option<Vec<u8>>,
    pub value: Option<Vec<u8>>,
}

/// Reads assigned partitions from their leaders.
///
/// ```no_run
/// # async fn demo() -> Result<(), ferry_client::FerryError> {
/// use ferry_client::{Consumer, OffsetReset};
/// let mut consumer = Consumer::new(vec!["http://127.0.0.1:7201".into()], OffsetReset::Earliest);
/// consumer.assign("orders", 0);
/// let records = consumer.poll(std::time::Duration::from_millis(500)).await?;
/// for r in &records {
///     println!("{}@{}: {:?}", r.partition, r.offset, r.value);
/// }
/// # Ok(()) }
/// ```
pub struct Consumer {
    metadata: MetadataCache,
    http: reqwest::Client,
    reset: OffsetReset,
    /// (topic, partition) -> next offset to read (None: apply `reset`).
    positions: BTreeMap<(String, u32), Option<u64>>,
    pub max_records: usize,
}

impl Consumer {
    pub fn new(brokers: Vec<String>, reset: OffsetReset) -> Self {
        let http = http::client(Duration::from_secs(40));
        Consumer {
            metadata: MetadataCache::new(brokers, http.clone()),
            http,
            reset,
            positions: BTreeMap::new(),
            max_records: 500,
        }
    }

    /// Adds a partition; reading starts per `reset` unless sought.
    pub fn assign(&mut self, topic: &str, partition: u32) {
        self.positions
            .entry((topic.to_string(), partition))
            .or_insert(None);
    }

    /// Sets the next offset to read.
    pub fn seek(&mut self, topic: &str, partition: u32, offset: u64) {
        self.positions
            .insert((topic.to_string(), partition), Some(offset));
    }

    /// The next offset to be read, once known.
    pub fn position(&self, topic: &str, partition: u32) -> Option<u64> {
        self.positions
            .get(&(topic.to_string(), partition))
            .copied()
            .flatten()
    }

    /// Log start, high watermark and log end of a partition, from its leader.
    pub async fn offsets(
        &self,
        topic: &str,
        partition: u32,
    ) -> Result<OffsetsResponse, FerryError> {
        let leader = self.metadata.leader(topic, partition).await?;
        let url = format!("{leader}/v1/topics/{topic}/partitions/{partition}/offsets");
        let r =
            http::call::<(), OffsetsResponse>(&self.http, reqwest::Method::GET, &url, None).await;
        if r.is_err() {
            self.metadata.invalidate(topic);
        }
        r
    }

    /// Records available on the assigned partitions, waiting up to `wait` when
    /// there are none. Leader changes are followed transparently.
    pub async fn poll(&mut self, wait: Duration) -> Result<Vec<ConsumerRecord>, FerryError> {
        let mut out = Vec::new();
        let keys: Vec<(String, u32)> = self.positions.keys().cloned().collect();
        let per = wait / keys.len().max(1) as u32;
        for (topic, partition) in keys {
            let offset = match self.positions[&(topic.clone(), partition)] {
                Some(o) => o,
                None => {
                    let o = self.offsets(&topic, partition).await?;
                    let start = match self.reset {
                        OffsetReset::Earliest => o.log_start_offset,
                        OffsetReset::Latest => o.high_watermark,
                        OffsetReset::None => {
                            return Err(FerryError::Config(format!(
                                "no position for {topic}-{partition} and offset reset is none"
                            )))
                        }
                    };
                    self.positions
                        .insert((topic.clone(), partition), Some(start));
                    start
                }
            };
            let leader = match self.metadata.leader(&topic, partition).await {
                Ok(l) => l,
                Err(e) if e.is_retriable() => continue,
                Err(e) => return Err(e),
            };
            let url = format!(
                "{leader}/v1/topics/{topic}/partitions/{partition}/records?offset={offset}&max_records={}&max_wait_ms={}",
                self.max_records,
                per.as_millis()
            );
            match http::call::<(), FetchResponse>(&self.http, reqwest::Method::GET, &url, None)
                .await
            {
                Ok(res) => {
                    self.positions
                        .insert((topic.clone(), partition), Some(res.next_offset));
                    out.extend(res.records.into_iter().map(|r| ConsumerRecord {
                        topic: topic.clone(),
                        partition,
                        offset: r.offset,
                        timestamp: r.timestamp,
                        key: decode(r.key, r.key_b64),
                        value: decode(r.value, r.value_b64),
                    }));
                }
                Err(FerryError::Api {
                    code: ErrorCode::OffsetOutOfRange,
                    message,
                    ..
                }) if self.reset != OffsetReset::None => {
                    tracing::warn!(topic, partition, %message, "offset out of range; resetting");
                    self.positions.insert((topic.clone(), partition), None);
                }
                Err(e) if e.is_retriable() => self.metadata.invalidate(&topic),
                Err(e) => return Err(e),
            }
        }
        Ok(out)
    }
}

fn decode(text: Option<String>, b64: Option<String>) -> Option<Vec<u8>> {
    match (text, b64) {
        (Some(t), _) => Some(t.into_bytes()),
        (None, Some(b)) => ferry_common::records::bytes_from_json("value", None, Some(&b))
            .ok()
            .flatten(),
        (None, None) => None,
    }
}
