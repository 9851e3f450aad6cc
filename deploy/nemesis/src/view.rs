//! What the cluster looks like right now, through public endpoints only:
//! partition leaders and ISRs from the controllers, the active controller,
//! per-replica offsets from each broker's `/v1/replicas`.

use ferry_client::AdminClient;
use ferry_local_cluster::LocalCluster;
use serde_json::Value;
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

/// One partition as the controller reports it.
#[derive(Debug, Clone)]
pub struct PartitionView {
    pub partition: u32,
    pub leader: Option<u32>,
    pub replicas: Vec<u32>,
    pub isr: Vec<u32>,
}

impl PartitionView {
    pub fn healthy(&self) -> bool {
        self.leader.is_some() && self.isr.len() == self.replicas.len()
    }
}

/// An admin client that gives up quickly, so a paused or isolated
/// controller does not stall the schedule.
pub fn admin(cluster: &LocalCluster) -> AdminClient {
    AdminClient::new(cluster.controller_urls())
        .with_attempts(2)
        .with_request_timeout(Duration::from_secs(2))
}

/// The topic's partitions; `None` when no controller answers.
pub async fn partitions(admin: &AdminClient, topic: &str) -> Option<Vec<PartitionView>> {
    let d = admin.describe_topic(topic).await.ok()?;
    Some(
        d.partitions
            .iter()
            .map(|p| PartitionView {
                partition: p.partition,
                leader: p.leader.map(|b| b.0),
                replicas: p.replicas.iter().map(|b| b.0).collect(),
                isr: p.isr.iter().map(|b| b.0).collect(),
            })
            .collect(),
    )
}

/// Waits until every partition has a leader and a full ISR; how long that took.
pub async fn wait_healthy(admin: &AdminClient, topic: &str, timeout: Duration) -> Option<Duration> {
    let start = Instant::now();
    while start.elapsed() < timeout {
        if let Some(ps) = partitions(admin, topic).await {
            if !ps.is_empty() && ps.iter().all(PartitionView::healthy) {
                return Some(start.elapsed());
            }
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    None
}

/// GET `url` as JSON; `None` on any failure (a faulty node is expected here).
pub async fn get_json(http: &reqwest::Client, url: &str, timeout: Duration) -> Option<Value> {
    let r = http.get(url).timeout(timeout).send().await.ok()?;
    if !r.status().is_success() {
        return None;
    }
    r.json().await.ok()
}

/// The name of the active controller (`controller-N`), if one is known.
pub async fn active_controller(cluster: &LocalCluster, http: &reqwest::Client) -> Option<String> {
    for url in cluster.controller_urls() {
        let Some(v) = get_json(http, &format!("{url}/v1/cluster"), Duration::from_secs(1)).await
        else {
            continue;
        };
        if let Some(id) = v["leader_id"].as_u64() {
            return Some(format!("controller-{id}"));
        }
    }
    None
}

/// Per partition, each broker's `(log_end_offset, high_watermark)` for `topic`;
/// brokers that do not answer are missing.
pub async fn replica_offsets(
    cluster: &LocalCluster,
    http: &reqwest::Client,
    topic: &str,
) -> BTreeMap<u32, BTreeMap<u32, (u64, u64)>> {
    let mut out: BTreeMap<u32, BTreeMap<u32, (u64, u64)>> = BTreeMap::new();
    for b in cluster.brokers() {
        let url = format!("{}/v1/replicas?topic={topic}", b.url());
        let Some(v) = get_json(http, &url, Duration::from_secs(2)).await else {
            continue;
        };
        for rep in v["replicas"].as_array().into_iter().flatten() {
            let (Some(p), Some(leo), Some(hw)) = (
                rep["partition"].as_u64(),
                rep["log_end_offset"].as_u64(),
                rep["high_watermark"].as_u64(),
            ) else {
                continue;
            };
            out.entry(p as u32)
                .or_default()
                .insert(b.id as u32, (leo, hw));
        }
    }
    out
}

/// Waits until, for every partition, all `replication_factor` replicas report
/// the same log end offset and a high watermark equal to it (nothing left to
/// replicate); false on timeout.
pub async fn wait_replicas_in_sync(
    cluster: &LocalCluster,
    http: &reqwest::Client,
    topic: &str,
    partitions: u32,
    replication_factor: usize,
    timeout: Duration,
) -> bool {
    let start = Instant::now();
    while start.elapsed() < timeout {
        let offsets = replica_offsets(cluster, http, topic).await;
        let synced = (0..partitions).all(|p| {
            offsets.get(&p).is_some_and(|reps| {
                let first = reps.values().next().copied();
                reps.len() == replication_factor
                    && reps
                        .values()
                        .all(|&(leo, hw)| Some((leo, hw)) == first && leo == hw)
            })
        });
        if synced {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    false
}
