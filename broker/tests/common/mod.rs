//! The broker's multi-process test helpers on top of `ferry-test-cluster`:
//! settings for quick fencing, and topic helpers that wait until every broker
//! knows a new topic and its leaders serve it.
#![allow(dead_code)]

pub mod replication;

use serde_json::{json, Value};
use std::time::Duration;

pub use ferry_test_cluster::{wait_for, TestCluster};

/// Starts `controllers` + `brokers` with extra settings; waits until all are ready.
pub async fn start(
    controllers: usize,
    brokers: usize,
    controller_settings: &[(&str, &str)],
    broker_settings: &[(&str, &str)],
) -> TestCluster {
    TestCluster::builder(controllers, brokers)
        .controller_settings(controller_settings)
        .broker_settings(broker_settings)
        .start()
        .await
}

/// Quick fencing so restarts are observed within test time.
pub const FAST_CONTROLLER: &[(&str, &str)] = &[("broker_session_timeout_ms", "2000")];
pub const FAST_BROKER: &[(&str, &str)] = &[("heartbeat_interval_ms", "250")];

/// Topic helpers over the brokers' metadata.
pub trait Topics {
    /// Creates a topic (through controller-1; the client follows the 307 to the
    /// leader) and waits until every broker's metadata shows it with leaders.
    async fn create_topic(&self, name: &str, partitions: u32, rf: u32, configs: Value) -> Value;
    /// partition -> leader URL, from broker-1's metadata.
    async fn leaders(&self, topic: &str) -> Vec<String>;
    /// Every record of a partition from `from`, read from its leader.
    async fn fetch_all(&self, leader: &str, topic: &str, partition: u32, from: u64) -> Vec<Value>;
}

impl Topics for TestCluster {
    async fn create_topic(&self, name: &str, partitions: u32, rf: u32, configs: Value) -> Value {
        let body = json!({"name": name, "partitions": partitions, "replication_factor": rf, "configs": configs});
        let (s, v) = self
            .post(&format!("{}/v1/topics", self.url("controller-1")), &body)
            .await;
        assert_eq!(s, 201, "create topic: {v}");
        for b in self.broker_names() {
            let url = format!("{}/v1/metadata?topics={name}", self.url(&b));
            let ok = wait_for(Duration::from_secs(20), || async {
                let (_, m) = self.get(&url).await;
                let parts = m["topics"][0]["partitions"].as_array()?.clone();
                (parts.len() == partitions as usize
                    && parts.iter().all(|p| p["leader_url"].is_string()))
                .then_some(())
            })
            .await;
            assert!(ok.is_some(), "{b} learned about {name}");
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

    async fn leaders(&self, topic: &str) -> Vec<String> {
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

    async fn fetch_all(&self, leader: &str, topic: &str, partition: u32, from: u64) -> Vec<Value> {
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
