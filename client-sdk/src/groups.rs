//! Consumer-group administration against the brokers: list and describe groups.
//! (Membership and commits are the [`Consumer`](crate::Consumer)'s.)

use crate::error::FerryError;
use crate::http;
use ferry_common::groups::{GroupDescription, GroupList, GroupListing};
use std::time::Duration;

/// Lists and describes consumer groups through a broker.
///
/// ```no_run
/// # async fn demo() -> Result<(), ferry_client::FerryError> {
/// let groups = ferry_client::GroupAdminClient::new(vec!["http://127.0.0.1:7201".into()]);
/// for g in groups.list_groups().await? {
///     println!("{}: {} members", g.group, g.members);
/// }
/// # Ok(()) }
/// ```
pub struct GroupAdminClient {
    brokers: Vec<String>,
    http: reqwest::Client,
}

impl GroupAdminClient {
    /// A client for the brokers at `brokers`; requests go to the first.
    pub fn new(brokers: Vec<String>) -> Self {
        GroupAdminClient {
            brokers: brokers
                .into_iter()
                .map(|b| b.trim_end_matches('/').to_string())
                .collect(),
            http: http::client(Duration::from_secs(15)),
        }
    }

    /// Sends `credentials` (HTTP Basic) with every request.
    pub fn with_credentials(mut self, credentials: crate::Credentials) -> Self {
        self.http = http::client_with(Duration::from_secs(15), Some(&credentials));
        self
    }

    fn broker(&self) -> Result<&str, FerryError> {
        self.brokers
            .first()
            .map(String::as_str)
            .ok_or_else(|| FerryError::Config("no broker found".into()))
    }

    /// Every group the cluster knows.
    pub async fn list_groups(&self) -> Result<Vec<GroupListing>, FerryError> {
        let url = format!("{}/v1/groups", self.broker()?);
        let l: GroupList =
            http::retry(|| http::call::<(), _>(&self.http, reqwest::Method::GET, &url, None))
                .await?;
        Ok(l.groups)
    }

    /// Members, assignments and committed offsets (with lag) of `group`.
    pub async fn describe_group(&self, group: &str) -> Result<GroupDescription, FerryError> {
        let url = format!("{}/v1/groups/{group}", self.broker()?);
        http::retry(|| http::call::<(), _>(&self.http, reqwest::Method::GET, &url, None)).await
    }
}
