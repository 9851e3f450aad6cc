//! HTTP client for broker -> broker calls, one typed method per call:
//! forwarding produce requests to a partition's leader, replica fetches, and
//! relaying consumer-group requests to the group's coordinator. The only
//! place URLs of other brokers are built.

use ferry_common::groups::{GroupDescription, GroupListing, JoinGroupRequest, MemberAssignment};
use ferry_common::internal::{decode_replica_fetch, ReplicaFetchRequest, ReplicaFetchResponse};
use ferry_common::records::{
    GroupOffsetsResponse, OffsetCommitRequest, ProduceRequest, ProduceResponse,
};
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
        self.call(reqwest::Method::POST, &url, Some(req)).await
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

    /// Joins `group` at its coordinator.
    pub async fn join_group(
        &self,
        coordinator_url: &str,
        group: &str,
        req: &JoinGroupRequest,
    ) -> Result<MemberAssignment, PeerError> {
        let url = format!("{coordinator_url}/v1/groups/{group}/members");
        self.call(reqwest::Method::POST, &url, Some(req)).await
    }

    /// A member's heartbeat at its group's coordinator.
    pub async fn group_heartbeat(
        &self,
        coordinator_url: &str,
        group: &str,
        member: &str,
    ) -> Result<MemberAssignment, PeerError> {
        let url = format!("{coordinator_url}/v1/groups/{group}/members/{member}/heartbeat");
        self.call::<(), _>(reqwest::Method::POST, &url, None).await
    }

    /// A member leaving its group at the coordinator.
    pub async fn leave_group(
        &self,
        coordinator_url: &str,
        group: &str,
        member: &str,
    ) -> Result<(), PeerError> {
        let url = format!("{coordinator_url}/v1/groups/{group}/members/{member}");
        self.call::<(), serde_json::Value>(reqwest::Method::DELETE, &url, None)
            .await
            .map(|_| ())
    }

    /// The coordinator's description of `group`.
    pub async fn describe_group(
        &self,
        coordinator_url: &str,
        group: &str,
    ) -> Result<GroupDescription, PeerError> {
        let url = format!("{coordinator_url}/v1/groups/{group}");
        self.call::<(), _>(reqwest::Method::GET, &url, None).await
    }

    /// Commits offsets of `group` at its coordinator.
    pub async fn commit_offsets(
        &self,
        coordinator_url: &str,
        group: &str,
        req: &OffsetCommitRequest,
    ) -> Result<GroupOffsetsResponse, PeerError> {
        let url = format!("{coordinator_url}/v1/groups/{group}/offsets");
        self.call(reqwest::Method::POST, &url, Some(req)).await
    }

    /// The committed offsets of `group` (optionally of one topic) at its coordinator.
    pub async fn fetch_offsets(
        &self,
        coordinator_url: &str,
        group: &str,
        topic: Option<&str>,
    ) -> Result<GroupOffsetsResponse, PeerError> {
        let q = topic.map(|t| format!("?topic={t}")).unwrap_or_default();
        let url = format!("{coordinator_url}/v1/groups/{group}/offsets{q}");
        self.call::<(), _>(reqwest::Method::GET, &url, None).await
    }

    /// The groups another broker coordinates.
    pub async fn local_groups(&self, broker_url: &str) -> Result<Vec<GroupListing>, PeerError> {
        let url = format!("{broker_url}/internal/v1/groups");
        self.call::<(), _>(reqwest::Method::GET, &url, None).await
    }

    /// Sends a JSON request to another broker and returns its answer as is.
    async fn call<Req: serde::Serialize, Resp: serde::de::DeserializeOwned>(
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
