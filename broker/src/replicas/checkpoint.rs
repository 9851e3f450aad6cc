//! Periodic high-watermark checkpoints of the local replicas, so a restarted
//! broker does not start from HW 0. A HW lowered by truncation is written at
//! once by the truncation itself (`Partition::truncate_to`).

use super::manager::ReplicaManager;
use crate::partition::Partition;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;

/// Checkpoints high watermarks that moved, once a second.
pub async fn checkpoint_loop(replicas: Arc<ReplicaManager>, mut shutdown: watch::Receiver<bool>) {
    // Keyed by incarnation: a re-created topic's replica is written at least once.
    let mut last: HashMap<(String, u32), u64> = HashMap::new();
    loop {
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_secs(1)) => {}
            _ = shutdown.changed() => return,
        }
        let parts = replicas.all();
        let changed: Vec<Arc<Partition>> = parts
            .into_iter()
            .filter(|p| last.get(&(p.topic_id.clone(), p.partition)) != Some(&p.high_watermark()))
            .collect();
        for p in &changed {
            last.insert((p.topic_id.clone(), p.partition), p.high_watermark());
        }
        let _ = tokio::task::spawn_blocking(move || {
            for p in changed {
                if let Err(e) = p.checkpoint_hw() {
                    tracing::warn!(topic = %p.topic, partition = p.partition, error = %e, "HW checkpoint failed");
                }
            }
        })
        .await;
    }
}
