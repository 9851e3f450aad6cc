//! Partition leaders as the brokers report them, refreshed on demand.

use crate::error::FerryError;
use crate::http;
use ferry_common::records::MetadataResponse;
use std::collections::HashMap;
use std::sync::Mutex;

/// Leader URL and partition count per topic, from any reachable broker.
pub struct MetadataCache {
    brokers: Vec<String>,
    http: reqwest::Client,
    topics: Mutex<HashMap<String, Vec<Option<String>>>>,
}

impl MetadataCache {
    pub fn new(brokers: Vec<String>, http: reqwest::Client) -> Self {
        MetadataCache {
            brokers: brokers
                .into_iter()
                .map(|b| b.trim_end_matches('/').to_string())
                .collect(),
            http,
            topics: Mutex::new(HashMap::new()),
        }
    }

    /// The configured broker URLs.
    pub fn brokers(&self) -> &[String] {
        &self.brokers
    }

    /// Re-reads `topic` from the first broker that answers.
    pub async fn refresh(&self, topic: &str) -> Result<(), FerryError> {
        let mut last = FerryError::Transport("no broker configured".into());
        for b in &self.brokers {
            let url = format!("{b}/v1/metadata?topics={topic}");
            match http::call::<(), MetadataResponse>(&self.http, reqwest::Method::GET, &url, None)
                .await
            {
                Ok(m) => {
                    let Some(t) = m.topics.into_iter().find(|t| t.topic == topic) else {
                        last = FerryError::Api {
                            code: ferry_common::ErrorCode::UnknownTopicOrPartition,
                            message: format!("topic '{topic}' is not known to {b} yet"),
                            leader_url: None,
                        };
                        continue;
                    };
                    let leaders = t.partitions.into_iter().map(|p| p.leader_url).collect();
                    self.topics
                        .lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .insert(topic.to_string(), leaders);
                    return Ok(());
                }
                Err(e) => last = e,
            }
        }
        Err(last)
    }

    /// Partition count, refreshing when unknown.
    pub async fn partitions(&self, topic: &str) -> Result<u32, FerryError> {
        if let Some(n) = self
            .topics
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(topic)
            .map(Vec::len)
        {
            return Ok(n as u32);
        }
        self.refresh(topic).await?;
        Ok(self
            .topics
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(topic)
            .map_or(0, Vec::len) as u32)
    }

    /// The leader of `topic`/`partition`, refreshing when unknown.
    pub async fn leader(&self, topic: &str, partition: u32) -> Result<String, FerryError> {
        let cached = |c: &Self| {
            c.topics
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .get(topic)
                .and_then(|v| v.get(partition as usize).cloned().flatten())
        };
        if let Some(l) = cached(self) {
            return Ok(l);
        }
        self.refresh(topic).await?;
        cached(self).ok_or_else(|| FerryError::Api {
            code: ferry_common::ErrorCode::LeaderNotAvailable,
            message: format!("{topic}-{partition} has no leader right now"),
            leader_url: None,
        })
    }

    /// Drops what is known about `topic` (after a leadership error).
    pub fn invalidate(&self, topic: &str) {
        self.topics
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(topic);
    }
}
