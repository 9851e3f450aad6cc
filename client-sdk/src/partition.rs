//! Single requests to partition leaders: one produce request, one fetch, the
//! offsets. For tools that measure requests rather than records (benchmarks);
//! applications use the [`Producer`](crate::Producer) and [`Consumer`](crate::Consumer).

use crate::error::FerryError;
use crate::http;
use crate::metadata::MetadataCache;
use ferry_common::records::{FetchResponse, OffsetsResponse, ProduceRequest, ProduceResponse};
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::time::Duration;

/// What one fetch asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FetchLimits {
    pub max_records: usize,
    /// The broker's default when `None`.
    pub max_bytes: Option<usize>,
    /// Long poll: wait up to this long for records when there are none.
    pub max_wait_ms: Option<u64>,
}

/// Sends one request per call to the partition's leader, as the brokers'
/// metadata names it. No retries: an error is the caller's to count; after a
/// retriable one the next call re-reads the metadata.
pub struct PartitionClient {
    metadata: MetadataCache,
    http: reqwest::Client,
}

impl PartitionClient {
    /// A client reading metadata from `brokers`, with `timeout` per request.
    pub fn new(brokers: Vec<String>, timeout: Duration) -> Self {
        let http = http::client(timeout);
        PartitionClient {
            metadata: MetadataCache::new(brokers, http.clone()),
            http,
        }
    }

    /// As [`PartitionClient::new`], sending `credentials` (HTTP Basic) with every request.
    pub fn with_credentials(
        brokers: Vec<String>,
        timeout: Duration,
        credentials: Option<&crate::Credentials>,
    ) -> Self {
        let http = http::client_with(timeout, credentials);
        PartitionClient {
            metadata: MetadataCache::new(brokers, http.clone()),
            http,
        }
    }

    /// Partition -> leader URL, freshly read; `None` until every partition has a leader.
    pub async fn leaders(&self, topic: &str) -> Result<Option<BTreeMap<u32, String>>, FerryError> {
        self.metadata.refresh(topic).await?;
        let mut out = BTreeMap::new();
        for p in 0..self.metadata.partitions(topic).await? {
            match self.metadata.leader(topic, p).await {
                Ok(l) => out.insert(p, l),
                Err(e) if e.is_retriable() => return Ok(None),
                Err(e) => return Err(e),
            };
        }
        Ok((!out.is_empty()).then_some(out))
    }

    async fn url(&self, topic: &str, partition: u32, rest: &str) -> Result<String, FerryError> {
        let leader = self.metadata.leader(topic, partition).await?;
        Ok(format!(
            "{leader}/v1/topics/{topic}/partitions/{partition}/{rest}"
        ))
    }

    /// Forgets the leaders of `topic` after a retriable failure.
    fn settle<T>(&self, topic: &str, r: Result<T, FerryError>) -> Result<T, FerryError> {
        if r.as_ref().is_err_and(FerryError::is_retriable) {
            self.metadata.invalidate(topic);
        }
        r
    }

    /// Log start, high watermark and log end of a partition.
    pub async fn offsets(
        &self,
        topic: &str,
        partition: u32,
    ) -> Result<OffsetsResponse, FerryError> {
        let url = self.url(topic, partition, "offsets").await?;
        let r = http::call::<(), _>(&self.http, reqwest::Method::GET, &url, None).await;
        self.settle(topic, r)
    }

    /// One produce request: one result per record.
    pub async fn produce(
        &self,
        topic: &str,
        partition: u32,
        request: &ProduceRequest,
    ) -> Result<ProduceResponse, FerryError> {
        let url = self.url(topic, partition, "records").await?;
        let r = http::call(&self.http, reqwest::Method::POST, &url, Some(request)).await;
        self.settle(topic, r)
    }

    /// One fetch from `offset`.
    pub async fn fetch(
        &self,
        topic: &str,
        partition: u32,
        offset: u64,
        limits: FetchLimits,
    ) -> Result<FetchResponse, FerryError> {
        let mut query = format!("records?offset={offset}&max_records={}", limits.max_records);
        if let Some(b) = limits.max_bytes {
            let _ = write!(query, "&max_bytes={b}");
        }
        if let Some(w) = limits.max_wait_ms {
            let _ = write!(query, "&max_wait_ms={w}");
        }
        let url = self.url(topic, partition, &query).await?;
        let r = http::call::<(), _>(&self.http, reqwest::Method::GET, &url, None).await;
        self.settle(topic, r)
    }
}
