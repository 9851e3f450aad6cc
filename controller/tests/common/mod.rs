//! The controller's multi-process test helpers on top of `ferry-test-cluster`:
//! requests addressed by node name that see redirects themselves, the leader
//! the quorum agrees on, and topic writes that follow `NOT_CONTROLLER` hints.
#![allow(dead_code)]

pub mod broker_standin;

use serde_json::Value;
use std::time::Duration;

pub use ferry_test_cluster::{wait_for, NodeIdentity, TestCluster};

/// Starts `n` controllers with extra `settings` and waits until all are ready.
pub async fn start_cluster(n: usize, settings: &[(&str, &str)]) -> TestCluster {
    TestCluster::builder(n, 0)
        .controller_settings(settings)
        .http_timeout(Duration::from_secs(15))
        .start()
        .await
}

/// Settings that make elections and fencing quick enough for tests.
pub const FAST: &[(&str, &str)] = &[
    ("broker_session_timeout_ms", "2000"),
    ("write_timeout_ms", "2000"),
];

/// Quorum helpers; requests go to a node by name and do not follow redirects.
pub trait Quorum {
    /// GET `path` on node `name`.
    async fn get_at(&self, name: &str, path: &str) -> (u16, Value);
    /// POST `body` to `path` on node `name`.
    async fn post_at(&self, name: &str, path: &str, body: &Value) -> (u16, Value);
    /// GET an internal `path` on node `name`, signed as `who`.
    async fn get_as(&self, who: NodeIdentity, name: &str, path: &str) -> (u16, Value);
    /// POST `body` to an internal `path` on node `name`, signed as `who`.
    async fn post_as(
        &self,
        who: NodeIdentity,
        name: &str,
        path: &str,
        body: &Value,
    ) -> (u16, Value);
    /// The leader every given running node agrees on, waiting up to `timeout`.
    async fn agreed_leader(&self, nodes: &[String], timeout: Duration) -> String;
    /// Creates a topic through the leader, following NOT_CONTROLLER hints.
    async fn create_topic(&self, name: &str, partitions: u32, rf: u32) -> (u16, Value);
    /// Topic names as `node` sees them.
    async fn topics_on(&self, node: &str) -> Vec<String>;
}

impl Quorum for TestCluster {
    async fn get_at(&self, name: &str, path: &str) -> (u16, Value) {
        let url = format!("{}{path}", self.url(name));
        self.send_direct(reqwest::Method::GET, &url, None).await
    }

    async fn post_at(&self, name: &str, path: &str, body: &Value) -> (u16, Value) {
        let url = format!("{}{path}", self.url(name));
        self.send_direct(reqwest::Method::POST, &url, Some(body))
            .await
    }

    async fn get_as(&self, who: NodeIdentity, name: &str, path: &str) -> (u16, Value) {
        let url = format!("{}{path}", self.url(name));
        self.send_signed(who, reqwest::Method::GET, &url, None)
            .await
    }

    async fn post_as(
        &self,
        who: NodeIdentity,
        name: &str,
        path: &str,
        body: &Value,
    ) -> (u16, Value) {
        let url = format!("{}{path}", self.url(name));
        self.send_signed(who, reqwest::Method::POST, &url, Some(body))
            .await
    }

    async fn agreed_leader(&self, nodes: &[String], timeout: Duration) -> String {
        let found = wait_for(timeout, || async {
            let mut leader = None;
            for n in nodes {
                let res = self
                    .http_direct()
                    .get(format!("{}/v1/cluster", self.url(n)))
                    .timeout(Duration::from_secs(1))
                    .send()
                    .await
                    .ok()?;
                let v: Value = res.json().await.ok()?;
                let l = v["leader_id"].as_u64()?;
                // A leader outside `nodes` (e.g. just killed) does not count.
                if !nodes.contains(&format!("controller-{l}")) {
                    return None;
                }
                if leader.is_some_and(|x| x != l) {
                    return None;
                }
                leader = Some(l);
            }
            leader
        })
        .await;
        format!(
            "controller-{}",
            found.expect("controllers agree on a leader")
        )
    }

    async fn create_topic(&self, name: &str, partitions: u32, rf: u32) -> (u16, Value) {
        let body =
            serde_json::json!({"name": name, "partitions": partitions, "replication_factor": rf});
        let mut target = self.controller_names()[0].clone();
        for _ in 0..20 {
            let (status, v) = self.post_at(&target, "/v1/topics", &body).await;
            if v["error_code"] == "NOT_CONTROLLER" {
                match v["leader_id"].as_u64() {
                    Some(id) => target = format!("controller-{id}"),
                    None => tokio::time::sleep(Duration::from_millis(200)).await,
                }
                continue;
            }
            return (status, v);
        }
        panic!("no leader accepted the write");
    }

    async fn topics_on(&self, node: &str) -> Vec<String> {
        let (_, v) = self.get_at(node, "/v1/topics").await;
        let mut names: Vec<String> = v["topics"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|t| t["topic"].as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default();
        names.sort();
        names
    }
}
