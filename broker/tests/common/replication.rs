//! Helpers for replication tests: a continuous acks=all producer that follows
//! leader changes, partition-state queries, and replica log comparisons.

use super::TestCluster;
use serde_json::{json, Value};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Acknowledged `(offset, value)` pairs, in acknowledgement order.
pub type Acked = Arc<Mutex<Vec<(u64, String)>>>;

/// Produces `v-N` one record at a time to partition 0 of `topic` with acks=all,
/// finding the leader through any reachable broker. A failed send is never
/// retried with the same value, so every acknowledged value is unique.
pub fn spawn_producer(
    http: reqwest::Client,
    brokers: Vec<String>,
    topic: String,
    stop: Arc<AtomicBool>,
) -> (Acked, tokio::task::JoinHandle<()>) {
    let acked: Acked = Arc::new(Mutex::new(Vec::new()));
    let out = acked.clone();
    let task = tokio::spawn(async move {
        let mut n = 0u64;
        let mut leader: Option<String> = None;
        while !stop.load(Ordering::Relaxed) {
            let Some(url) = leader.clone() else {
                leader = find_leader(&http, &brokers, &topic).await;
                if leader.is_none() {
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                continue;
            };
            let value = format!("v-{n}");
            n += 1;
            let body = json!({"records": [{"value": value}], "acks": "all", "timeout_ms": 3000});
            let res = http
                .post(format!("{url}/v1/topics/{topic}/partitions/0/records"))
                .json(&body)
                .timeout(Duration::from_secs(5))
                .send()
                .await;
            match res {
                Ok(r) if r.status().is_success() => {
                    let v: Value = r.json().await.unwrap_or_default();
                    if let Some(off) = v["offsets"][0]["offset"].as_u64() {
                        out.lock().unwrap().push((off, value));
                    }
                }
                _ => {
                    leader = None;
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            }
        }
    });
    (acked, task)
}

/// The leader URL of partition 0 as some reachable broker sees it.
pub async fn find_leader(
    http: &reqwest::Client,
    brokers: &[String],
    topic: &str,
) -> Option<String> {
    ferry_test_cluster::find_leader(http, brokers, topic, 0).await
}

/// Partition 0 of `topic` as the controller reports it.
pub async fn partition_state(tc: &TestCluster, topic: &str) -> Value {
    let (_, v) = tc
        .get(&format!("{}/v1/topics/{topic}", tc.url("controller-1")))
        .await;
    v["partitions"][0].clone()
}

/// Broker name of a broker id.
pub fn name_of(id: &Value) -> String {
    format!("broker-{}", id.as_u64().expect("broker id"))
}

/// All segment bytes of `topic`-0 on `broker`, in offset order.
pub fn log_bytes(dir: &Path, broker: &str, topic: &str) -> Vec<u8> {
    let pdir = dir
        .join(broker)
        .join("data/logs")
        .join(format!("{topic}-0"));
    ferry_test_cluster::segment_bytes(&pdir)
}

/// Offsets of partition 0 on one broker: (log_end_offset, high_watermark) from its metrics.
pub async fn replica_offsets(tc: &TestCluster, broker: &str, topic: &str) -> Option<(u64, u64)> {
    let r = tc
        .http()
        .get(format!("{}/metrics", tc.url(broker)))
        .timeout(Duration::from_secs(1))
        .send()
        .await
        .ok()?;
    let text = r.text().await.ok()?;
    let find = |metric: &str| {
        text.lines()
            .find(|l| {
                l.starts_with(metric)
                    && l.contains(&format!("topic=\"{topic}\""))
                    && l.contains("partition=\"0\"")
            })
            .and_then(|l| l.rsplit(' ').next())
            .and_then(|v| v.parse::<u64>().ok())
    };
    Some((
        find("ferry_broker_log_end_offset")?,
        find("ferry_broker_high_watermark")?,
    ))
}

/// Checks every acknowledged value is in `records` exactly once, at its offset.
pub fn assert_acked_present_once(records: &[Value], acked: &[(u64, String)]) {
    let mut seen = std::collections::HashMap::new();
    for r in records {
        *seen
            .entry(r["value"].as_str().unwrap_or_default().to_string())
            .or_insert(0) += 1;
    }
    for (off, v) in acked {
        assert_eq!(
            seen.get(v),
            Some(&1),
            "acknowledged {v} present exactly once"
        );
        assert_eq!(
            records[*off as usize]["value"].as_str(),
            Some(v.as_str()),
            "acknowledged {v} at offset {off}"
        );
    }
    let offs: Vec<u64> = acked.iter().map(|(o, _)| *o).collect();
    assert!(
        offs.windows(2).all(|w| w[0] < w[1]),
        "acknowledged in offset order"
    );
}
