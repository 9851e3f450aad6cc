//! HTTP client for the controller quorum: finds the active controller by
//! following `NOT_CONTROLLER` hints and trying each configured URL.

use ferry_common::internal::{
    AlterPartitionRequest, ControlledShutdownRequest, HeartbeatRequest, HeartbeatResponse,
    RegisterBrokerRequest, RegisterBrokerResponse, UnreachableReport, UnreachableVerdict,
};
use ferry_common::metadata::{MetadataImage, PartitionState};
use ferry_common::{BrokerId, ErrorBody, ErrorCode};
use ferry_http::auth::{NodeIdentity, Signer};
use serde::de::DeserializeOwned;
use serde::Serialize;
use std::sync::Mutex;
use std::time::Duration;

/// A failed controller call.
#[derive(Debug, thiserror::Error)]
pub enum ControllerCallError {
    /// The controller answered with an error that retrying elsewhere won't fix.
    #[error("{}: {}", .0.error_code, .0.message)]
    Api(ErrorBody),
    /// No controller could be reached or none is active.
    #[error("controller quorum unavailable: {0}")]
    Unavailable(String),
}

impl ControllerCallError {
    pub fn code(&self) -> Option<ErrorCode> {
        match self {
            ControllerCallError::Api(b) => Some(b.error_code),
            ControllerCallError::Unavailable(_) => None,
        }
    }
}

/// Rounds over the controllers per call (pauses total 1.05 s).
const ROUNDS: u64 = 7;

/// Talks to whichever controller is active.
pub struct ControllerClient {
    urls: Vec<String>,
    http: reqwest::Client,
    leader: Mutex<Option<String>>,
    signer: Signer,
}

impl ControllerClient {
    /// Every call is signed by `signer` (internal endpoints refuse unsigned ones).
    pub fn new(urls: Vec<String>, signer: Signer) -> Self {
        Self::with_tls(urls, signer, &ferry_http::tls::ClientTls::default())
    }

    /// [`ControllerClient::new`], reaching TLS controllers with `tls`.
    pub fn with_tls(urls: Vec<String>, signer: Signer, tls: &ferry_http::tls::ClientTls) -> Self {
        let http = tls
            .apply(reqwest::Client::builder())
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(Duration::from_millis(500))
            .timeout(Duration::from_secs(10))
            .build()
            .unwrap_or_default();
        ControllerClient {
            urls,
            http,
            leader: Mutex::new(None),
            signer,
        }
    }

    fn candidates(&self) -> Vec<String> {
        let hint = self
            .leader
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        hint.into_iter().chain(self.urls.iter().cloned()).collect()
    }

    fn set_leader(&self, url: Option<String>) {
        *self.leader.lock().unwrap_or_else(|p| p.into_inner()) = url;
    }

    async fn call<Req: Serialize, Resp: DeserializeOwned>(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<&Req>,
    ) -> Result<Resp, ControllerCallError> {
        self.call_as(None, method, path, body).await
    }

    /// Sends `method path` to the active controller, signed as `identity`
    /// (the signer's own when `None`), each try with a fresh nonce.
    async fn call_as<Req: Serialize, Resp: DeserializeOwned>(
        &self,
        identity: Option<NodeIdentity>,
        method: reqwest::Method,
        path: &str,
        body: Option<&Req>,
    ) -> Result<Resp, ControllerCallError> {
        let bytes = match body {
            Some(b) => serde_json::to_vec(b).map_err(|e| {
                ControllerCallError::Unavailable(format!("encoding a request: {e}"))
            })?,
            None => Vec::new(),
        };
        let mut last = String::from("no controller tried");
        // Short, growing pauses between rounds: a controller election takes
        // well under a second, and brokers should find the winner at once.
        for round in 0..ROUNDS {
            for base in self.candidates() {
                let headers = match identity {
                    Some(id) => self.signer.headers_as(id, &method, path, &bytes),
                    None => self.signer.headers(&method, path, &bytes),
                };
                let mut req = self
                    .http
                    .request(method.clone(), format!("{base}{path}"))
                    .headers(headers);
                if body.is_some() {
                    req = req
                        .header(reqwest::header::CONTENT_TYPE, "application/json")
                        .body(bytes.clone());
                }
                let res = match req.send().await {
                    Ok(r) => r,
                    Err(e) => {
                        last = format!("{base}: {e}");
                        continue;
                    }
                };
                let status = res.status();
                if status.is_success() {
                    self.set_leader(Some(base.clone()));
                    return res.json().await.map_err(|e| {
                        ControllerCallError::Unavailable(format!("{base}: bad body: {e}"))
                    });
                }
                let err: ErrorBody = match res.json().await {
                    Ok(e) => e,
                    Err(e) => {
                        last = format!("{base}: {status}: {e}");
                        continue;
                    }
                };
                match err.error_code {
                    ErrorCode::NotController => {
                        if let Some(url) = err.leader_url.clone() {
                            self.set_leader(Some(url));
                        }
                        last = format!("{base}: {}", err.message);
                    }
                    ErrorCode::RequestTimedOut | ErrorCode::LeaderNotAvailable => {
                        last = format!("{base}: {}", err.message)
                    }
                    _ => return Err(ControllerCallError::Api(err)),
                }
            }
            self.set_leader(None);
            if round + 1 < ROUNDS {
                tokio::time::sleep(Duration::from_millis(50 * (round + 1))).await;
            }
        }
        Err(ControllerCallError::Unavailable(last))
    }

    pub async fn register(
        &self,
        req: &RegisterBrokerRequest,
    ) -> Result<RegisterBrokerResponse, ControllerCallError> {
        // Not registered yet: signed as the id it asks for, or as a new broker.
        let identity = req
            .broker_id
            .map_or(NodeIdentity::NewBroker, |id| NodeIdentity::Broker(id.0));
        self.call_as(
            Some(identity),
            reqwest::Method::POST,
            "/internal/v1/brokers/register",
            Some(req),
        )
        .await
    }

    pub async fn heartbeat(
        &self,
        id: BrokerId,
        req: &HeartbeatRequest,
    ) -> Result<HeartbeatResponse, ControllerCallError> {
        self.call(
            reqwest::Method::POST,
            &format!("/internal/v1/brokers/{id}/heartbeat"),
            Some(req),
        )
        .await
    }

    /// Asks the active controller to change a partition's ISR (compare-and-set
    /// on the partition epoch); answers the committed state.
    pub async fn alter_partition(
        &self,
        req: &AlterPartitionRequest,
    ) -> Result<PartitionState, ControllerCallError> {
        self.call(
            reqwest::Method::POST,
            "/internal/v1/alter-partition",
            Some(req),
        )
        .await
    }

    /// Controlled shutdown: the controller moves leadership away from this broker.
    pub async fn controlled_shutdown(
        &self,
        id: BrokerId,
        req: &ControlledShutdownRequest,
    ) -> Result<serde_json::Value, ControllerCallError> {
        self.call(
            reqwest::Method::POST,
            &format!("/internal/v1/brokers/{id}/shutdown"),
            Some(req),
        )
        .await
    }

    /// Reports that broker `suspect` refused a connection; the controller
    /// confirms with its own probe before fencing it.
    pub async fn report_unreachable(
        &self,
        suspect: BrokerId,
        req: &UnreachableReport,
    ) -> Result<UnreachableVerdict, ControllerCallError> {
        self.call(
            reqwest::Method::POST,
            &format!("/internal/v1/brokers/{suspect}/unreachable"),
            Some(req),
        )
        .await
    }

    /// Creates a topic (used for the internal `__consumer_offsets` topic).
    pub async fn create_topic(
        &self,
        req: &ferry_common::api::CreateTopicRequest,
    ) -> Result<serde_json::Value, ControllerCallError> {
        self.call(reqwest::Method::POST, "/v1/topics", Some(req))
            .await
    }

    /// The full metadata image from the active controller.
    pub async fn snapshot(&self) -> Result<MetadataImage, ControllerCallError> {
        self.call::<(), _>(reqwest::Method::GET, "/internal/v1/metadata/snapshot", None)
            .await
    }
}
