//! Sorting a bootstrap list of node URLs into controllers and brokers.

use crate::admin::AdminClient;
use crate::error::FerryError;
use crate::http;
use std::time::Duration;

/// Controller and broker URLs of a cluster.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Endpoints {
    pub controllers: Vec<String>,
    pub brokers: Vec<String>,
}

impl Endpoints {
    /// Asks every bootstrap URL for `/v1/cluster`: controllers answer it,
    /// brokers answer with an error status, unreachable URLs are skipped.
    /// URLs without a scheme get `http://`. When the list names controllers
    /// but no broker, the brokers are the ones the controllers know.
    ///
    /// Both lists are empty when no URL answers.
    pub async fn discover<I, S>(bootstrap: I) -> Result<Endpoints, FerryError>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        Self::discover_with(bootstrap, None).await
    }

    /// As [`Endpoints::discover`], with `credentials` for a cluster with
    /// client authentication on (without them every node answers 401 and
    /// looks like a broker).
    pub async fn discover_with<I, S>(
        bootstrap: I,
        credentials: Option<&crate::Credentials>,
    ) -> Result<Endpoints, FerryError>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let client = http::client_with(Duration::from_secs(3), credentials);
        let mut found = Endpoints::default();
        let mut refused = None;
        for url in bootstrap {
            let url = url.as_ref().trim().trim_end_matches('/');
            if url.is_empty() {
                continue;
            }
            let url = if url.contains("://") {
                url.to_string()
            } else {
                format!("http://{url}")
            };
            match client.get(format!("{url}/v1/cluster")).send().await {
                Ok(r) if r.status().is_success() => found.controllers.push(url),
                // Controllers and brokers alike refuse without credentials:
                // nothing can be told apart, and every later call would fail.
                Ok(r) if r.status() == reqwest::StatusCode::UNAUTHORIZED => {
                    refused = r.json::<ferry_common::ErrorBody>().await.ok();
                }
                Ok(_) => found.brokers.push(url),
                Err(_) => {}
            }
        }
        if let Some(body) = refused.filter(|_| found.controllers.is_empty()) {
            return Err(body.into());
        }
        if found.brokers.is_empty() && !found.controllers.is_empty() {
            found.brokers = AdminClient::new(found.controllers.clone())
                .with_credentials_opt(credentials.cloned())
                .describe_brokers()
                .await?
                .into_iter()
                .map(|b| b.url)
                .collect();
        }
        Ok(found)
    }

    /// No node answered.
    pub fn is_empty(&self) -> bool {
        self.controllers.is_empty() && self.brokers.is_empty()
    }
}
