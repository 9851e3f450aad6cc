//! Topic and cluster administration against the controller quorum; ACLs in
//! `admin/acls.rs`.

mod acls;

use crate::credentials::Credentials;
use crate::error::FerryError;
use crate::http;
use ferry_common::api::{
    BrokerInfo, BrokerList, ClusterInfo, CreateTopicRequest, TopicDescription, TopicList,
    TopicListing,
};
use ferry_common::users::{UpsertUserRequest, UserDeleted, UserDescription, UserList};
use ferry_common::ErrorCode;
use serde::de::DeserializeOwned;
use serde::Serialize;
use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::Duration;

/// Talks to the active controller: follows `NOT_CONTROLLER` hints, retries
/// retriable errors with backoff, reports the rest as typed errors.
///
/// ```no_run
/// # async fn demo() -> Result<(), ferry_client::FerryError> {
/// let admin = ferry_client::AdminClient::new(vec!["http://127.0.0.1:7101".into()]);
/// let topic = admin.create_topic("orders", 6, 3, [("min.insync.replicas", "2")]).await?;
/// assert_eq!(topic.partitions.len(), 6);
/// for t in admin.list_topics().await? {
///     println!("{} ({} partitions)", t.topic, t.partitions);
/// }
/// # Ok(()) }
/// ```
pub struct AdminClient {
    controllers: Vec<String>,
    leader: Mutex<Option<String>>,
    http: reqwest::Client,
    attempts: u32,
    timeout: Duration,
    credentials: Option<Credentials>,
}

impl AdminClient {
    /// A client for the controllers at `controllers` (any subset of the quorum).
    pub fn new(controllers: Vec<String>) -> Self {
        AdminClient {
            controllers: controllers
                .into_iter()
                .map(|u| u.trim_end_matches('/').to_string())
                .collect(),
            leader: Mutex::new(None),
            http: http::client(Duration::from_secs(15)),
            attempts: 10,
            timeout: Duration::from_secs(15),
            credentials: None,
        }
    }

    /// Sends `credentials` (HTTP Basic) with every request.
    pub fn with_credentials(self, credentials: Credentials) -> Self {
        self.with_credentials_opt(Some(credentials))
    }

    /// As [`AdminClient::with_credentials`], when there may be none.
    pub fn with_credentials_opt(mut self, credentials: Option<Credentials>) -> Self {
        self.credentials = credentials;
        self.http = http::client_with(self.timeout, self.credentials.as_ref());
        self
    }

    /// Rounds over the controllers before a retriable error is returned (default 10).
    pub fn with_attempts(mut self, attempts: u32) -> Self {
        self.attempts = attempts.max(1);
        self
    }

    /// Timeout of each request (default 15 s).
    pub fn with_request_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self.http = http::client_with(timeout, self.credentials.as_ref());
        self
    }

    fn candidates(&self) -> Vec<String> {
        let hint = self
            .leader
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        hint.into_iter()
            .chain(self.controllers.iter().cloned())
            .collect()
    }

    async fn request<Req: Serialize, Resp: DeserializeOwned>(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<&Req>,
    ) -> Result<Resp, FerryError> {
        let mut last = FerryError::Transport("no controller configured".into());
        for attempt in 0..self.attempts {
            for base in self.candidates() {
                match http::call(&self.http, method.clone(), &format!("{base}{path}"), body).await {
                    Ok(r) => {
                        *self.leader.lock().unwrap_or_else(|p| p.into_inner()) = Some(base);
                        return Ok(r);
                    }
                    Err(FerryError::Api {
                        code: ErrorCode::NotController,
                        leader_url,
                        message,
                    }) => {
                        *self.leader.lock().unwrap_or_else(|p| p.into_inner()) = leader_url.clone();
                        last = FerryError::Api {
                            code: ErrorCode::NotController,
                            leader_url,
                            message,
                        };
                        if last_hint_known(&last) {
                            break;
                        }
                    }
                    Err(e @ FerryError::Transport(_)) => last = e,
                    Err(e) if e.is_retriable() => {
                        last = e;
                        break;
                    }
                    Err(e) => return Err(e),
                }
            }
            if attempt + 1 < self.attempts {
                tokio::time::sleep(Duration::from_millis(100 * u64::from(attempt + 1))).await;
            }
        }
        Err(last)
    }

    /// Creates a topic; configs are Kafka topic configs (`retention.ms`, ...).
    pub async fn create_topic<'a>(
        &self,
        name: &str,
        partitions: u32,
        replication_factor: u16,
        configs: impl IntoIterator<Item = (&'a str, &'a str)>,
    ) -> Result<TopicDescription, FerryError> {
        let req = CreateTopicRequest {
            name: name.to_string(),
            partitions: i64::from(partitions),
            replication_factor: i64::from(replication_factor),
            configs: configs
                .into_iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect::<BTreeMap<_, _>>(),
        };
        self.request(reqwest::Method::POST, "/v1/topics", Some(&req))
            .await
    }

    pub async fn list_topics(&self) -> Result<Vec<TopicListing>, FerryError> {
        let l: TopicList = self
            .request::<(), _>(reqwest::Method::GET, "/v1/topics", None)
            .await?;
        Ok(l.topics)
    }

    pub async fn describe_topic(&self, name: &str) -> Result<TopicDescription, FerryError> {
        self.request::<(), _>(reqwest::Method::GET, &format!("/v1/topics/{name}"), None)
            .await
    }

    pub async fn delete_topic(&self, name: &str) -> Result<(), FerryError> {
        self.request::<(), serde_json::Value>(
            reqwest::Method::DELETE,
            &format!("/v1/topics/{name}"),
            None,
        )
        .await
        .map(|_| ())
    }

    /// Grows a topic to `total` partitions.
    pub async fn add_partitions(
        &self,
        name: &str,
        total: u32,
    ) -> Result<TopicDescription, FerryError> {
        let body = serde_json::json!({ "count": total });
        self.request(
            reqwest::Method::POST,
            &format!("/v1/topics/{name}/partitions"),
            Some(&body),
        )
        .await
    }

    pub async fn describe_cluster(&self) -> Result<ClusterInfo, FerryError> {
        self.request::<(), _>(reqwest::Method::GET, "/v1/cluster", None)
            .await
    }

    pub async fn describe_brokers(&self) -> Result<Vec<BrokerInfo>, FerryError> {
        let l: BrokerList = self
            .request::<(), _>(reqwest::Method::GET, "/v1/brokers", None)
            .await?;
        Ok(l.brokers)
    }

    /// A new producer id for an idempotent producer.
    pub async fn allocate_producer_id(&self) -> Result<(i64, i16), FerryError> {
        let v: serde_json::Value = self
            .request::<(), _>(reqwest::Method::POST, "/v1/producer-ids", None)
            .await?;
        let id = v["producer_id"]
            .as_i64()
            .ok_or_else(|| FerryError::Transport("no producer_id in answer".into()))?;
        let epoch = v["producer_epoch"].as_i64().unwrap_or(0) as i16;
        Ok((id, epoch))
    }
}

impl AdminClient {
    /// Creates `name` or replaces its password (the controller hashes it;
    /// `iterations` defaults to 4096).
    pub async fn upsert_user(
        &self,
        name: &str,
        password: &str,
        iterations: Option<u32>,
    ) -> Result<UserDescription, FerryError> {
        let req = UpsertUserRequest {
            password: password.to_string(),
            iterations: iterations.map(u64::from),
        };
        let path = format!("/v1/users/{}", path_segment(name));
        self.request(reqwest::Method::PUT, &path, Some(&req)).await
    }

    /// Deletes `name` (`RESOURCE_NOT_FOUND` if there is no such user).
    pub async fn delete_user(&self, name: &str) -> Result<(), FerryError> {
        let path = format!("/v1/users/{}", path_segment(name));
        self.request::<(), UserDeleted>(reqwest::Method::DELETE, &path, None)
            .await
            .map(|_| ())
    }

    /// Every user: name, mechanism and iterations (never keys).
    pub async fn list_users(&self) -> Result<Vec<UserDescription>, FerryError> {
        let l: UserList = self
            .request::<(), _>(reqwest::Method::GET, "/v1/users", None)
            .await?;
        Ok(l.users)
    }
}

/// `s` percent-encoded for one path segment, so that a name holding `/`
/// or `?` reaches the server as a name (which it then refuses).
fn path_segment(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~' | b'@') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

fn last_hint_known(e: &FerryError) -> bool {
    matches!(
        e,
        FerryError::Api {
            leader_url: Some(_),
            ..
        }
    )
}
