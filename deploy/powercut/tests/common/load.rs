//! An acks=all producer for power-cut tests: `workers` tasks each send
//! batches of distinct values to one partition, following leader changes,
//! and record every value whose produce request was acknowledged.

use serde_json::{json, Value};
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Acknowledged values (unique by construction).
pub type Acked = Arc<Mutex<Vec<String>>>;

/// A running producer; [`stop`](Self::stop) ends it and returns the acks.
pub struct Load {
    pub acked: Acked,
    stop: Arc<AtomicBool>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Load {
    /// Starts `workers` producers of `batch` records per request.
    pub fn start(
        http: reqwest::Client,
        brokers: Vec<String>,
        topic: &str,
        partition: u32,
        workers: usize,
        batch: usize,
    ) -> Load {
        let acked: Acked = Arc::default();
        let stop = Arc::new(AtomicBool::new(false));
        let tasks = (0..workers)
            .map(|w| {
                let (http, brokers, topic) = (http.clone(), brokers.clone(), topic.to_string());
                let (acked, stop) = (acked.clone(), stop.clone());
                tokio::spawn(async move {
                    let mut n = 0u64;
                    let mut leader: Option<String> = None;
                    while !stop.load(Ordering::Relaxed) {
                        let Some(url) = leader.clone() else {
                            leader = find_leader(&http, &brokers, &topic, partition).await;
                            if leader.is_none() {
                                tokio::time::sleep(Duration::from_millis(100)).await;
                            }
                            continue;
                        };
                        // A value is never sent twice, so each ack is unique.
                        let values: Vec<String> = (0..batch)
                            .map(|i| format!("w{w}-{}", n + i as u64))
                            .collect();
                        n += batch as u64;
                        let records: Vec<Value> =
                            values.iter().map(|v| json!({ "value": v })).collect();
                        let body = json!({"records": records, "acks": "all", "timeout_ms": 2000});
                        let res = http
                            .post(format!(
                                "{url}/v1/topics/{topic}/partitions/{partition}/records"
                            ))
                            .json(&body)
                            .timeout(Duration::from_secs(3))
                            .send()
                            .await;
                        match res {
                            Ok(r) if r.status().is_success() => {
                                acked.lock().unwrap().extend(values);
                            }
                            _ => {
                                leader = None;
                                tokio::time::sleep(Duration::from_millis(50)).await;
                            }
                        }
                    }
                })
            })
            .collect();
        Load { acked, stop, tasks }
    }

    /// How many values were acknowledged so far.
    pub fn acked(&self) -> usize {
        self.acked.lock().unwrap().len()
    }

    /// Waits until at least `n` values are acknowledged (panics after `within`).
    pub async fn wait_acked(&self, n: usize, within: Duration) {
        let ok =
            ferry_test_cluster::wait_for(within, || async { (self.acked() >= n).then_some(()) })
                .await;
        assert!(
            ok.is_some(),
            "{n} acks=all records acknowledged within {within:?} (got {})",
            self.acked()
        );
    }

    /// Stops every worker; the acknowledged values.
    pub async fn stop(self) -> Vec<String> {
        self.stop.store(true, Ordering::Relaxed);
        for t in self.tasks {
            let _ = t.await;
        }
        let acked = self.acked.lock().unwrap().clone();
        acked
    }
}

pub use ferry_test_cluster::find_leader;

/// What survived of the acknowledged values: (lost, duplicated).
pub fn survivors(records: &[Value], acked: &[String]) -> (Vec<String>, Vec<String>) {
    let mut seen: HashMap<&str, usize> = HashMap::new();
    for r in records {
        *seen
            .entry(r["value"].as_str().unwrap_or_default())
            .or_default() += 1;
    }
    let lost = acked
        .iter()
        .filter(|v| !seen.contains_key(v.as_str()))
        .cloned()
        .collect();
    let dup = acked
        .iter()
        .filter(|v| seen.get(v.as_str()).is_some_and(|&n| n > 1))
        .cloned()
        .collect();
    (lost, dup)
}
