//! Helpers for the power-cut cluster tests: a [`TestCluster`] whose nodes
//! keep their data on one [`PowerCutMount`] (one host, one power supply), a
//! cut of every node at once, an acks=all producer that records what was
//! acknowledged, and a checker of what survived.
#![allow(dead_code)]

pub mod load;

use ferry_powercut::PowerCutMount;
use ferry_test_cluster::{wait_for, TestCluster};
use serde_json::{json, Value};
use std::fs::File;
use std::time::Duration;

/// The durability settings, in one place: when durable acks become the
/// default with a `write.caching` topic config, switch these and nothing else.
pub mod durability {
    /// Broker settings for durable acknowledgements: the default.
    pub const DURABLE_BROKER: &[(&str, &str)] = &[];
    /// Topic configs for durable acknowledgements: the default.
    pub const DURABLE_TOPIC: &[(&str, &str)] = &[];
    /// Broker settings for page-cache acknowledgements: none, the topic asks.
    pub const PAGE_CACHE_BROKER: &[(&str, &str)] = &[];
    /// Topic configs for page-cache acknowledgements (Kafka's default).
    pub const PAGE_CACHE_TOPIC: &[(&str, &str)] = &[("write.caching", "true")];
}

const CONTROLLER: &[(&str, &str)] = &[
    ("broker_session_timeout_ms", "3000"),
    ("leader_rebalance_interval_ms", "1000"),
];
const BROKER: &[(&str, &str)] = &[
    ("heartbeat_interval_ms", "250"),
    ("replica_lag_time_max_ms", "3000"),
];

/// A cluster on a power-cut mount. Fields drop in order: the processes die
/// before the file system under them is unmounted.
pub struct PowerCutCluster {
    pub tc: TestCluster,
    pub mount: PowerCutMount,
}

impl PowerCutCluster {
    /// 1 controller and 3 brokers, every data dir on one power-cut mount.
    /// The data roots exist durably before the nodes start, as a provisioned
    /// disk's would.
    pub async fn start(broker_settings: &[(&str, &str)]) -> PowerCutCluster {
        let mount = PowerCutMount::new().unwrap_or_else(|e| panic!("{e}"));
        let root = mount.path().to_path_buf();
        let names = ["controller-1", "broker-1", "broker-2", "broker-3"];
        for n in names {
            std::fs::create_dir(root.join(n)).unwrap_or_else(|e| panic!("creating {n}: {e}"));
            sync_dir(&root.join(n));
        }
        sync_dir(&root);
        let settings: Vec<(&str, &str)> = BROKER.iter().chain(broker_settings).copied().collect();
        let tc = TestCluster::builder(1, 3)
            .controller_settings(CONTROLLER)
            .broker_settings(&settings)
            .broker_data_root(&root)
            .controller_data_root(&root)
            .start()
            .await;
        PowerCutCluster { tc, mount }
    }

    /// Every node: SIGSTOP (nothing more reaches the disk or the network),
    /// the cut (unsynced writes vanish for all at once), SIGKILL, power on.
    pub fn cut_power(&self) {
        let names: Vec<String> = self
            .tc
            .controller_names()
            .into_iter()
            .chain(self.tc.broker_names())
            .collect();
        for n in &names {
            self.tc.pause(n);
        }
        self.mount.cut();
        for n in &names {
            self.tc.kill(n);
        }
        self.mount.power_on();
    }

    /// Starts every node after a cut; waits until all answer `/readyz`.
    pub async fn restart(&self) {
        self.tc.start_all().await;
    }

    /// Creates `topic` (`partitions`, RF 3, min.insync.replicas 2) and waits
    /// until its leaders serve it.
    pub async fn create_topic(&self, topic: &str, partitions: u32, configs: &[(&str, &str)]) {
        let mut cfg = serde_json::Map::new();
        cfg.insert("min.insync.replicas".into(), json!("2"));
        for (k, v) in configs {
            cfg.insert(k.to_string(), json!(v));
        }
        let body = json!({"name": topic, "partitions": partitions, "replication_factor": 3, "configs": cfg});
        let (s, v) = self
            .tc
            .post(&format!("{}/v1/topics", self.tc.url("controller-1")), &body)
            .await;
        assert_eq!(s, 201, "create topic: {v}");
        for p in 0..partitions {
            self.leader(topic, p, Duration::from_secs(30)).await;
        }
    }

    /// The URL of a leader that answers for `topic`-`partition`.
    pub async fn leader(&self, topic: &str, partition: u32, within: Duration) -> String {
        wait_for(within, || async {
            let url =
                load::find_leader(self.tc.http(), &self.tc.broker_urls(), topic, partition).await?;
            let off = format!("{url}/v1/topics/{topic}/partitions/{partition}/offsets");
            (self.tc.get(&off).await.0 == 200).then_some(url)
        })
        .await
        .unwrap_or_else(|| panic!("{topic}-{partition} has a serving leader within {within:?}"))
    }

    /// `/v1/replicas` of every broker: (online replicas, offline dirs).
    pub async fn replicas(&self) -> Vec<(String, Value)> {
        let mut out = Vec::new();
        for b in self.tc.broker_names() {
            let (s, v) = self
                .tc
                .get(&format!("{}/v1/replicas", self.tc.url(&b)))
                .await;
            assert_eq!(s, 200, "{b} /v1/replicas: {v}");
            out.push((b, v));
        }
        out
    }

    /// Every record of `topic`-`partition` from its leader once the leader's
    /// high watermark reached its log end (all committed records visible).
    /// Starts over from the new leader if leadership moves during the read
    /// (the preferred-leader election returns it to the first replica as soon
    /// as that one rejoins the ISR after a restart).
    pub async fn read_all(&self, topic: &str, partition: u32) -> Vec<Value> {
        for _ in 0..5 {
            if let Some(records) = self.read_all_from_leader(topic, partition).await {
                return records;
            }
        }
        panic!("{topic}-{partition}: leadership kept moving during five full reads");
    }

    /// [`Self::read_all`] from one leader; `None` if it stopped leading.
    async fn read_all_from_leader(&self, topic: &str, partition: u32) -> Option<Vec<Value>> {
        let leader = self.leader(topic, partition, Duration::from_secs(60)).await;
        let off = format!("{leader}/v1/topics/{topic}/partitions/{partition}/offsets");
        let settled = wait_for(Duration::from_secs(30), || async {
            let (s, v) = self.tc.get(&off).await;
            let hw = v["high_watermark"].as_u64()?;
            (s == 200 && Some(hw) == v["log_end_offset"].as_u64()).then_some(v)
        })
        .await
        .unwrap_or_else(|| panic!("{topic}-{partition}: high watermark reached the log end"));
        let mut out = Vec::new();
        let mut offset = settled["log_start_offset"].as_u64().unwrap_or(0);
        loop {
            let url = format!(
                "{leader}/v1/topics/{topic}/partitions/{partition}/records?offset={offset}&max_records=2000"
            );
            let (s, v) = self.tc.get(&url).await;
            if s == 503 && v["error_code"] == "NOT_LEADER_OR_FOLLOWER" {
                return None;
            }
            // Retention may delete the head while we read (the churn topics
            // run it every 100 ms): go on from the new log start, as a
            // consumer with auto.offset.reset=earliest does.
            if let Some(start) = v["log_start_offset"].as_u64().filter(|start| {
                s == 416 && v["error_code"] == "OFFSET_OUT_OF_RANGE" && offset < *start
            }) {
                offset = start;
                continue;
            }
            assert_eq!(s, 200, "fetch {url}: {v}");
            let recs = v["records"].as_array().cloned().unwrap_or_default();
            if recs.is_empty() {
                return Some(out);
            }
            offset = v["next_offset"].as_u64().expect("next_offset");
            out.extend(recs);
        }
    }
}

/// The file tree under `dir` with file sizes, one path a line, for the
/// output of a test (what survived a cut).
pub fn tree(dir: &std::path::Path) -> String {
    let mut out = String::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        let mut entries: Vec<_> = entries.flatten().collect();
        entries.sort_by_key(|e| e.file_name());
        for e in entries {
            let p = e.path();
            let rel = p.strip_prefix(dir).unwrap_or(&p).display().to_string();
            match e.metadata() {
                Ok(m) if m.is_dir() => {
                    out.push_str(&format!("  {rel}/\n"));
                    stack.push(p);
                }
                Ok(m) => out.push_str(&format!("  {rel} ({} B)\n", m.len())),
                Err(_) => {}
            }
        }
    }
    out
}

/// Fsyncs a directory (the tests' own durable steps).
pub fn sync_dir(dir: &std::path::Path) {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .unwrap_or_else(|e| panic!("fsync {}: {e}", dir.display()));
}
