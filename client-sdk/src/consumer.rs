//! The consumer: assigned partitions or group subscription, seek, a fetch loop
//! that follows leader changes, committed offsets.
//!
//! In a group the coordinator assigns partitions (see [`group`]): a
//! background task heartbeats, and `poll` applies reassignments: it commits
//! and drops revoked partitions before the coordinator hands them on, and
//! starts newly assigned ones at their committed offsets.

use crate::credentials::Credentials;
use crate::error::FerryError;
use crate::http;
use crate::metadata::MetadataCache;
use ferry_common::records::{FetchResponse, OffsetsResponse};
use ferry_common::ErrorCode;
use std::collections::BTreeMap;
use std::time::Duration;
use std::time::Instant;

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
    credentials: Option<Credentials>,
    reset: OffsetReset,
    /// (topic, partition) -> next offset to read (None: apply `reset`).
    positions: BTreeMap<(String, u32), Option<u64>>,
    pub max_records: usize,
    /// With a group: commit positions from `poll` at this interval (Kafka's
    /// `enable.auto.commit`); `None` leaves commits to the caller.
    pub auto_commit_interval: Option<Duration>,
    /// With a group: how often the background task heartbeats (capped at a
    /// third of the session timeout). Read by `subscribe`.
    pub heartbeat_interval: Duration,
    /// With a group: the longest the application may go between polls
    /// before the member leaves the group (Kafka's `max.poll.interval.ms`).
    /// Read by `subscribe`.
    pub max_poll_interval: Duration,
    group: Option<GroupState>,
    /// Last high watermark seen per partition, for `lag`.
    high_watermarks: BTreeMap<(String, u32), u64>,
    last_auto_commit: Instant,
}

mod group;
use group::GroupState;

/// Request timeout: above the longest fetch long-poll.
const CONSUMER_TIMEOUT: Duration = Duration::from_secs(40);

impl Consumer {
    pub fn new(brokers: Vec<String>, reset: OffsetReset) -> Self {
        let http = http::client(CONSUMER_TIMEOUT);
        Consumer {
            metadata: MetadataCache::new(brokers, http.clone()),
            http,
            credentials: None,
            reset,
            positions: BTreeMap::new(),
            max_records: 500,
            auto_commit_interval: Some(Duration::from_secs(5)),
            heartbeat_interval: Duration::from_secs(1),
            max_poll_interval: Duration::from_secs(300),
            group: None,
            high_watermarks: BTreeMap::new(),
            last_auto_commit: Instant::now(),
        }
    }

    /// Sends `credentials` (HTTP Basic) with every request, the group
    /// heartbeats included.
    pub fn with_credentials(mut self, credentials: Credentials) -> Self {
        let http = http::client_with(CONSUMER_TIMEOUT, Some(&credentials));
        self.metadata = MetadataCache::new(self.metadata.brokers().to_vec(), http.clone());
        self.http = http;
        self.credentials = Some(credentials);
        self
    }

    /// Reads `topic`/`partition` from its first retained record.
    pub async fn seek_to_beginning(
        &mut self,
        topic: &str,
        partition: u32,
    ) -> Result<(), FerryError> {
        let o = self.offsets(topic, partition).await?;
        self.seek(topic, partition, o.log_start_offset);
        Ok(())
    }

    /// Reads only records written from now on.
    pub async fn seek_to_end(&mut self, topic: &str, partition: u32) -> Result<(), FerryError> {
        let o = self.offsets(topic, partition).await?;
        self.seek(topic, partition, o.high_watermark);
        Ok(())
    }

    /// Reads from the first record at or after `timestamp_ms` (the end if none yet).
    pub async fn seek_to_timestamp(
        &mut self,
        topic: &str,
        partition: u32,
        timestamp_ms: i64,
    ) -> Result<(), FerryError> {
        let leader = self.metadata.leader(topic, partition).await?;
        let url = format!(
            "{leader}/v1/topics/{topic}/partitions/{partition}/offsets?timestamp={timestamp_ms}"
        );
        let o: OffsetsResponse =
            http::call::<(), _>(&self.http, reqwest::Method::GET, &url, None).await?;
        self.seek(
            topic,
            partition,
            o.offset.flatten().unwrap_or(o.high_watermark),
        );
        Ok(())
    }

    /// Records between the position and the last seen high watermark.
    pub fn lag(&self, topic: &str, partition: u32) -> Option<u64> {
        let key = (topic.to_string(), partition);
        let hw = self.high_watermarks.get(&key)?;
        Some(hw.saturating_sub(self.positions.get(&key).copied().flatten()?))
    }

    fn broker(&self) -> Result<&str, FerryError> {
        self.metadata
            .brokers()
            .first()
            .map(String::as_str)
            .ok_or_else(|| FerryError::Config("no broker URL configured".into()))
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
        self.group_sync().await?;
        if self.group.is_some()
            && self
                .auto_commit_interval
                .is_some_and(|i| self.last_auto_commit.elapsed() >= i)
        {
            self.last_auto_commit = Instant::now();
            if let Err(e) = self.commit().await {
                tracing::warn!(error = %e, "auto commit failed");
            }
        }
        let mut out = Vec::new();
        let keys: Vec<(String, u32)> = self.positions.keys().cloned().collect();
        if keys.is_empty() {
            // Nothing assigned (yet): wait as a fetch would, rather than spin.
            tokio::time::sleep(wait).await;
            return Ok(out);
        }
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
                    self.high_watermarks
                        .insert((topic.clone(), partition), res.high_watermark);
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
