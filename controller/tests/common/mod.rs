//! Shared helpers for the controller's multi-process tests: a cluster of real
//! `ferry-controller` processes (through the deploy crate's runner), an HTTP
//! client that does not follow redirects, and condition waits with deadlines.
#![allow(dead_code)]

pub mod broker_standin;

use ferry_deploy::{launch_for_tests, LocalCluster};
use serde_json::Value;
use std::path::Path;
use std::time::Duration;

/// A running test cluster; every process is SIGKILLed when it is dropped.
pub struct TestCluster {
    pub cluster: LocalCluster,
    pub dir: tempfile::TempDir,
    pub http: reqwest::Client,
}

/// Starts `n` controllers with extra `settings` and waits until all are ready.
pub async fn start_cluster(n: usize, settings: &[(&str, &str)]) -> TestCluster {
    let dir = tempfile::tempdir().expect("tempdir");
    let bin = Path::new(env!("CARGO_BIN_EXE_ferry-controller"));
    let cluster = launch_for_tests(
        dir.path(),
        n,
        0,
        bin.parent().expect("bin dir"),
        settings,
        &[],
    )
    .await
    .expect("cluster up");
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(15))
        .build()
        .expect("client");
    TestCluster { cluster, dir, http }
}

/// Settings that make elections and fencing quick enough for tests.
pub const FAST: &[(&str, &str)] = &[
    ("broker_session_timeout_ms", "2000"),
    ("write_timeout_ms", "2000"),
];

impl TestCluster {
    pub fn url(&self, name: &str) -> String {
        self.cluster.node(name).expect("node").url()
    }

    pub fn names(&self) -> Vec<String> {
        self.cluster.controllers().map(|c| c.name.clone()).collect()
    }

    pub async fn get(&self, name: &str, path: &str) -> (u16, Value) {
        let res = self
            .http
            .get(format!("{}{path}", self.url(name)))
            .send()
            .await
            .expect("GET");
        let status = res.status().as_u16();
        (status, res.json().await.unwrap_or(Value::Null))
    }

    pub async fn post(&self, name: &str, path: &str, body: &Value) -> (u16, Value) {
        let res = self
            .http
            .post(format!("{}{path}", self.url(name)))
            .json(body)
            .send()
            .await
            .expect("POST");
        let status = res.status().as_u16();
        (status, res.json().await.unwrap_or(Value::Null))
    }

    /// The leader every given running node agrees on, waiting up to `timeout`.
    pub async fn agreed_leader(&self, nodes: &[String], timeout: Duration) -> String {
        let found = wait_for(timeout, || async {
            let mut leader = None;
            for n in nodes {
                let res = self
                    .http
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

    /// Creates a topic through the leader, following NOT_CONTROLLER hints.
    pub async fn create_topic(&self, name: &str, partitions: u32, rf: u32) -> (u16, Value) {
        let body =
            serde_json::json!({"name": name, "partitions": partitions, "replication_factor": rf});
        let mut target = self.names()[0].clone();
        for _ in 0..20 {
            let (status, v) = self.post(&target, "/v1/topics", &body).await;
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

    /// Topic names as `node` sees them.
    pub async fn topics_on(&self, node: &str) -> Vec<String> {
        let (_, v) = self.get(node, "/v1/topics").await;
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

pub use ferry_deploy::wait::wait_for;
