//! HTTP client for broker -> broker calls, one typed method per call:
//! forwarding produce requests to a partition's leader (waiting as long as
//! the leader may, and telling a refusal from a lost answer), replica
//! fetches, and relaying consumer-group requests to the group's coordinator.
//! The only place URLs of other brokers are built. A refused connection (a
//! closed port: the peer process is gone) goes to a [`RefusalSink`].

use crate::config::MAX_PRODUCE_TIMEOUT_MS;
use ferry_common::groups::{
    GroupDescription, GroupListing, HeartbeatRequest, JoinGroupRequest, MemberAssignment,
};
use ferry_common::internal::{decode_replica_fetch, ReplicaFetchRequest, ReplicaFetchResponse};
use ferry_common::records::{
    GroupOffsetsResponse, OffsetCommitRequest, ProduceRequest, ProduceResponse,
};
use ferry_common::ErrorBody;
use ferry_http::auth::Signer;
use std::time::Duration;

/// A failed call to another broker.
#[derive(Debug, thiserror::Error)]
pub enum PeerError {
    #[error("{}: {}", .0.error_code, .0.message)]
    Api(ErrorBody),
    #[error("broker unreachable: {0}")]
    Transport(String),
}

/// A forwarded produce that failed.
#[derive(Debug, thiserror::Error)]
pub enum ForwardError {
    /// The leader answered with this error.
    #[error("{}: {}", .0.error_code, .0.message)]
    Api(ErrorBody),
    /// The leader could not be reached: nothing was sent.
    #[error("leader unreachable: {0}")]
    NotSent(String),
    /// Sent, but no readable answer came back: the leader may have written the records.
    #[error("no answer from the leader: {0}")]
    OutcomeUnknown(String),
}

/// How much longer than the produce timeout a forward waits: the leader's
/// append before its acks wait, and the answer's way back.
pub const FORWARD_TIMEOUT_MARGIN: Duration = Duration::from_secs(10);

/// The HTTP timeout of a forwarded produce: the produce timeout it carries
/// (the leader's longest, if none) plus [`FORWARD_TIMEOUT_MARGIN`]. Shorter,
/// the forwarder would report a failure while the leader still commits.
pub fn forward_timeout(req: &ProduceRequest) -> Duration {
    let produce = req
        .timeout_ms
        .unwrap_or(MAX_PRODUCE_TIMEOUT_MS)
        .min(MAX_PRODUCE_TIMEOUT_MS);
    Duration::from_millis(produce) + FORWARD_TIMEOUT_MARGIN
}

/// Told of every connection another broker refused (`membership::suspects`).
pub trait RefusalSink: Send + Sync {
    /// `url` is the request's URL; it starts with the peer's advertised URL.
    fn refused(&self, url: &str);
}

/// Whether `e` is a refused TCP connection, as opposed to a timeout or a
/// connection lost midway (which a live but slow peer can cause).
pub fn is_refused(e: &reqwest::Error) -> bool {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(s) = source {
        let io = s.downcast_ref::<std::io::Error>();
        if io.is_some_and(|io| io.kind() == std::io::ErrorKind::ConnectionRefused) {
            return true;
        }
        source = s.source();
    }
    false
}

/// Reused connection pool to the other brokers.
pub struct PeerClient {
    http: reqwest::Client,
    signer: Signer,
    refusals: Option<std::sync::Arc<dyn RefusalSink>>,
}

impl PeerClient {
    /// Internal calls (replica fetches, group relays) are signed by `signer`.
    pub fn new(signer: Signer) -> Self {
        Self::with_tls(signer, &ferry_http::tls::ClientTls::default())
    }

    /// [`PeerClient::new`], reaching TLS peers with `tls` (the cluster CA, https only).
    pub fn with_tls(signer: Signer, tls: &ferry_http::tls::ClientTls) -> Self {
        let http = tls
            .apply(reqwest::Client::builder())
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(Duration::from_secs(1))
            .timeout(Duration::from_secs(60))
            .tcp_nodelay(true)
            .build()
            .unwrap_or_default();
        PeerClient {
            http,
            signer,
            refusals: None,
        }
    }

    /// The same client, telling `sink` of refused connections.
    pub fn with_refusal_sink(self, sink: std::sync::Arc<dyn RefusalSink>) -> Self {
        PeerClient {
            refusals: Some(sink),
            ..self
        }
    }

    /// Passes a refused connection to `url` on to the sink.
    fn note(&self, url: &str, e: &reqwest::Error) {
        if let Some(sink) = self.refusals.as_ref().filter(|_| is_refused(e)) {
            sink.refused(url);
        }
    }

    /// A `method url` request carrying `body` as JSON, signed as this broker.
    fn signed<Req: serde::Serialize>(
        &self,
        method: reqwest::Method,
        url: &str,
        body: Option<&Req>,
    ) -> Result<reqwest::RequestBuilder, PeerError> {
        let bytes = match body {
            Some(b) => serde_json::to_vec(b)
                .map_err(|e| PeerError::Transport(format!("encoding a request: {e}")))?,
            None => Vec::new(),
        };
        let headers = self.signer.headers(&method, url, &bytes);
        let req = self.http.request(method, url).headers(headers);
        Ok(match body {
            Some(_) => req
                .header(reqwest::header::CONTENT_TYPE, "application/json")
                .body(bytes),
            None => req,
        })
    }

    /// Sends records to the leader's strict partition endpoint (a partial
    /// failure answers 207, which is a success here: the body has per-record
    /// results), signed as this broker: the client was authorized here, and
    /// the leader does not authorize a signing member again. Waits as long as the leader may take to answer (see
    /// [`forward_timeout`]); a failure after the request went out is
    /// [`ForwardError::OutcomeUnknown`], never a refusal.
    pub async fn produce(
        &self,
        leader_url: &str,
        topic: &str,
        partition: u32,
        req: &ProduceRequest,
    ) -> Result<ProduceResponse, ForwardError> {
        let url = format!("{leader_url}/v1/topics/{topic}/partitions/{partition}/records");
        // Signed: with client authentication on, the leader takes a forward
        // from a cluster member, which authenticated the client itself.
        let res = self
            .signed(reqwest::Method::POST, &url, Some(req))
            .map_err(|e| ForwardError::NotSent(e.to_string()))?
            .timeout(forward_timeout(req))
            .send()
            .await
            .map_err(|e| {
                self.note(&url, &e);
                if e.is_connect() {
                    ForwardError::NotSent(e.to_string())
                } else {
                    ForwardError::OutcomeUnknown(e.to_string())
                }
            })?;
        let status = res.status();
        let body = res
            .bytes()
            .await
            .map_err(|e| ForwardError::OutcomeUnknown(format!("reading the answer: {e}")))?;
        if status.is_success() {
            return serde_json::from_slice(&body).map_err(|e| {
                ForwardError::OutcomeUnknown(format!("unreadable answer ({status}): {e}"))
            });
        }
        serde_json::from_slice(&body)
            .map(ForwardError::Api)
            .map_err(|e| ForwardError::OutcomeUnknown(format!("unreadable answer ({status}): {e}")))
            .and_then(Err)
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
            .signed(reqwest::Method::POST, &url, Some(req))?
            .timeout(timeout)
            .send()
            .await
            .map_err(|e| {
                self.note(&url, &e);
                PeerError::Transport(e.to_string())
            })?;
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
        req: &HeartbeatRequest,
    ) -> Result<MemberAssignment, PeerError> {
        let url = format!("{coordinator_url}/v1/groups/{group}/members/{member}/heartbeat");
        self.call(reqwest::Method::POST, &url, Some(req)).await
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

    /// A partition's log start, high watermark and log end, from its leader
    /// (for a group's lag on partitions led elsewhere).
    pub async fn partition_offsets(
        &self,
        leader_url: &str,
        topic: &str,
        partition: u32,
    ) -> Result<ferry_common::records::OffsetsResponse, PeerError> {
        let url = format!("{leader_url}/v1/topics/{topic}/partitions/{partition}/offsets");
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
        let res = self.signed(method, url, body)?.send().await.map_err(|e| {
            self.note(url, &e);
            PeerError::Transport(e.to_string())
        })?;
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

/// A signer with a throwaway key, for unit tests whose peers are stand-ins.
#[cfg(test)]
pub(crate) fn test_signer() -> Signer {
    use ferry_http::auth::{ClusterKey, NodeIdentity};
    Signer::fixed(ClusterKey::random(), NodeIdentity::Broker(1))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn carrying(timeout_ms: Option<u64>) -> ProduceRequest {
        ProduceRequest {
            timeout_ms,
            ..serde_json::from_value(serde_json::json!({"records": []})).expect("a request")
        }
    }

    #[test]
    fn scenario_12_a_forward_never_times_out_before_the_produce_it_carries() {
        for ms in [0, 1_000, 30_000, 60_000, 120_000, MAX_PRODUCE_TIMEOUT_MS] {
            assert_eq!(
                forward_timeout(&carrying(Some(ms))),
                Duration::from_millis(ms) + FORWARD_TIMEOUT_MARGIN
            );
        }
        let longest = Duration::from_millis(MAX_PRODUCE_TIMEOUT_MS) + FORWARD_TIMEOUT_MARGIN;
        assert_eq!(
            forward_timeout(&carrying(None)),
            longest,
            "the leader's longest"
        );
        assert_eq!(
            forward_timeout(&carrying(Some(u64::MAX))),
            longest,
            "the leader caps it"
        );
    }

    #[derive(Default)]
    struct Recorder(std::sync::Mutex<Vec<String>>);

    impl RefusalSink for Recorder {
        fn refused(&self, url: &str) {
            self.0.lock().unwrap().push(url.to_string());
        }
    }

    #[tokio::test]
    async fn only_a_refused_connection_reaches_the_sink_not_one_lost_midway() {
        let sink = std::sync::Arc::new(Recorder::default());
        let peers = PeerClient::new(test_signer()).with_refusal_sink(sink.clone());
        // A peer that accepts and hangs up at once: alive, answering badly.
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let alive = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move {
            while let Ok((conn, _)) = listener.accept().await {
                drop(conn);
            }
        });
        assert!(matches!(
            peers.local_groups(&alive).await,
            Err(PeerError::Transport(_))
        ));
        assert!(
            sink.0.lock().unwrap().is_empty(),
            "a hang-up is no proof of death"
        );
        // A closed port.
        let gone = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            format!("http://{}", l.local_addr().unwrap())
        };
        assert!(peers.local_groups(&gone).await.is_err());
        let seen = sink.0.lock().unwrap().clone();
        assert_eq!(seen, vec![format!("{gone}/internal/v1/groups")]);
    }
}
