//! Harness for the broker's multi-process tests: real `ferry-controller` and
//! `ferry-broker` processes through the deploy crate's runner, temp dirs, free
//! ports, readiness by health endpoints, waits with deadlines.
//!
//! The controller binary is taken from the same target dir as `ferry-broker`;
//! `cargo test --workspace` builds both.
#![allow(dead_code)]

pub mod replication;

use ferry_deploy::{launch_for_tests, LocalCluster};
use serde_json::{json, Value};
use std::path::PathBuf;
use std::time::Duration;

pub struct TestCluster {
    pub cluster: LocalCluster,
    pub dir: tempfile::TempDir,
    pub http: reqwest::Client,
}

fn bin_dir() -> PathBuf {
    let broker = PathBuf::from(env!("CARGO_BIN_EXE_ferry-broker"));
    let dir = broker.parent().expect("bin dir").to_path_buf();
    assert!(
        dir.join("ferry-controller").exists(),
        "ferry-controller is not built next to ferry-broker; run `cargo test --workspace` (or `cargo build -p ferry-controller` first)"
    );
    dir
}

/// Starts `controllers` + `brokers` with extra settings; waits until all are ready.
pub async fn start(
    controllers: usize,
    brokers: usize,
    controller_settings: &[(&str, &str)],
    broker_settings: &[(&str, &str)],
) -> TestCluster {
    let dir = tempfile::tempdir().expect("tempdir");
    let cluster = launch_for_tests(
        dir.path(),
        controllers,
        brokers,
        &bin_dir(),
        controller_settings,
        broker_settings,
    )
    .await
    .expect("cluster up");
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .expect("client");
    TestCluster { cluster, dir, http }
}

/// Quick fencing so restarts are observed within test time.
pub const FAST_CONTROLLER: &[(&str, &str)] = &[("broker_session_timeout_ms", "2000")];
pub const FAST_BROKER: &[(&str, &str)] = &[("heartbeat_interval_ms", "250")];

impl TestCluster {
    pub fn url(&self, name: &str) -> String {
        self.cluster.node(name).expect("node").url()
    }

    pub async fn send(
        &self,
        method: reqwest::Method,
        url: &str,
        body: Option<&Value>,
    ) -> (u16, Value) {
        let mut req = self.http.request(method, url);
        if let Some(b) = body {
            req = req.json(b);
        }
        let res = req.send().await.expect("request");
        let status = res.status().as_u16();
        (status, res.json().await.unwrap_or(Value::Null))
    }

    pub async fn get(&self, url: &str) -> (u16, Value) {
        self.send(reqwest::Method::GET, url, None).await
    }

    pub async fn post(&self, url: &str, body: &Value) -> (u16, Value) {
        self.send(reqwest::Method::POST, url, Some(body)).await
    }

    /// Creates a topic (through controller-1; the client follows the 307 to the leader)
    /// and waits until every broker's metadata shows it with leaders.
    pub async fn create_topic(
        &self,
        name: &str,
        partitions: u32,
        rf: u32,
        configs: Value,
    ) -> Value {
        let body = json!({"name": name, "partitions": partitions, "replication_factor": rf, "configs": configs});
        let (s, v) = self
            .post(&format!("{}/v1/topics", self.url("controller-1")), &body)
            .await;
        assert_eq!(s, 201, "create topic: {v}");
        for b in self.cluster.brokers() {
            let url = format!("{}/v1/metadata?topics={name}", b.url());
            let ok = wait_for(Duration::from_secs(20), || async {
                let (_, m) = self.get(&url).await;
                let parts = m["topics"][0]["partitions"].as_array()?.clone();
                (parts.len() == partitions as usize
                    && parts.iter().all(|p| p["leader_url"].is_string()))
                .then_some(())
            })
            .await;
            assert!(ok.is_some(), "{} learned about {name}", b.name);
        }
        // Leaders open their replicas right after the metadata arrives.
        for (p, leader) in self.leaders(name).await.iter().enumerate() {
            let url = format!("{leader}/v1/topics/{name}/partitions/{p}/offsets");
            let open = wait_for(Duration::from_secs(20), || async {
                (self.get(&url).await.0 == 200).then_some(())
            })
            .await;
            assert!(open.is_some(), "{name}-{p} opened on its leader");
        }
        v
    }

    /// partition -> leader URL, from broker-1's metadata.
    pub async fn leaders(&self, topic: &str) -> Vec<String> {
        let (_, m) = self
            .get(&format!(
                "{}/v1/metadata?topics={topic}",
                self.url("broker-1")
            ))
            .await;
        m["topics"][0]["partitions"]
            .as_array()
            .expect("partitions")
            .iter()
            .map(|p| p["leader_url"].as_str().expect("leader").to_string())
            .collect()
    }

    /// Every record of a partition from `from`, read from its leader.
    pub async fn fetch_all(
        &self,
        leader: &str,
        topic: &str,
        partition: u32,
        from: u64,
    ) -> Vec<Value> {
        let mut out = Vec::new();
        let mut offset = from;
        loop {
            let url = format!("{leader}/v1/topics/{topic}/partitions/{partition}/records?offset={offset}&max_records=2000");
            let (s, v) = self.get(&url).await;
            assert_eq!(s, 200, "fetch: {v}");
            let recs = v["records"].as_array().expect("records").clone();
            if recs.is_empty() {
                return out;
            }
            offset = v["next_offset"].as_u64().expect("next_offset");
            out.extend(recs);
        }
    }
}

pub use ferry_deploy::wait::wait_for;
