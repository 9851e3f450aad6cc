//! HTTP client for broker -> broker calls: forwarding produce requests to a
//! partition's leader, and replica fetches.

use ferry_common::internal::{decode_replica_fetch, ReplicaFetchRequest, ReplicaFetchResponse};
use ferry_common::records::{ProduceRequest, ProduceResponse};
use ferry_common::ErrorBody;
use std::time::Duration;

/// A failed call to another broker.
#[derive(Debug, thiserror::Error)]
pub enum PeerError {
    #[error("{}: {}", .0.error_code, .0.message)]
    Api(ErrorBody),
    #[error("broker unreachable: {0}")]
    Transport(String),
}

/// Reused connection pool to the other brokers.
pub struct PeerClient {
    http: reqwest::Client,
}

impl Default for PeerClient {
    fn default() -> Self {
        Self::new()
    }
}

impl PeerClient {
    pub fn new() -> Self {
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(Duration::from_secs(1))
            .timeout(Duration::from_secs(60))
            .tcp_nodelay(true)
            .build()
            .unwrap_or_default();
        PeerClient { http }
    }

    /// Sends records to the leader's strict partition endpoint (a partial
    /// failure answers 207, which is a success here: the body has per-record results).
    pub async fn produce(
        &self,
        leader_url: &str,
        topic: &str,
        partition: u32,
        req: &ProduceRequest,
    ) -> Result<ProduceResponse, PeerError> {
        let url = format!("{leader_url}/v1/topics/{topic}/partitions/{partition}/records");
        self.forward(reqwest::Method::POST, &url, Some(req)).await
    }

    /// A follower's long-poll fetch from a leader: the header and each
    /// partition's raw batches, in header order.
    pub async fn replica_fetch(
        &self,
        leader_url: &str,
        req: &ReplicaFetchRequest,
    ) -> Result<(ReplicaFetchResponse, Vec<Vec<u8>>), PeerError> {
        let url = format!("{leader_url}/internal/v1/replica/fetch");
        let timeout = Duration::from_millis(req.max_wait_ms) + Duration::from_secs(10);
        let res = self
            .http
            .post(&url)
            .json(req)
            .timeout(timeout)
            .send()
            .await
            .map_err(|e| PeerError::Transport(e.to_string()))?;
        let status = res.status();
        if status.is_success() {
            let body = res
                .bytes()
                .await
                .map_err(|e| PeerError::Transport(format!("reading {url}: {e}")))?;
            let (header, parts) = decode_replica_fetch(&body)
                .map_err(|e| PeerError::Transport(format!("bad answer from {url}: {e}")))?;
            let parts = parts.into_iter().map(<[u8]>::to_vec).collect();
            return Ok((header, parts));
        }
        let body: ErrorBody = res
            .json()
            .await
            .map_err(|e| PeerError::Transport(format!("{url} answered {status}: {e}")))?;
        Err(PeerError::Api(body))
    }

    /// Forwards a JSON request to another broker (the group coordinator) and
    /// returns its answer as is.
    pub async fn forward<Req: serde::Serialize, Resp: serde::de::DeserializeOwned>(
        &self,
        method: reqwest::Method,
        url: &str,
        body: Option<&Req>,
    ) -> Result<Resp, PeerError> {
        let mut req = self.http.request(method, url);
        if let Some(b) = body {
            req = req.json(b);
        }
        let res = req
            .send()
            .await
            .map_err(|e| PeerError::Transport(e.to_string()))?;
        let status = res.status();
        if status.is_success() {
            return res
                .json()
                .await
                .map_err(|e| PeerError::Transport(format!("bad answer from {url}: {e}")));
        }
        let body: ErrorBody = res
            .json()
            .await
            .map_err(|e| PeerError::Transport(format!("{url} answered {status}: {e}")))?;
        Err(PeerError::Api(body))
    }
}
