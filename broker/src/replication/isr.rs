//! ISR changes through the controller (Kafka's AlterPartition).

use crate::service::broker::Broker;
use crate::service::partition::Partition;
use ferry_common::internal::AlterPartitionRequest;
use ferry_common::BrokerId;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;

/// Sends `new_isr` for `part` to the controller in the background; the answer
/// (or its failure) ends the in-flight change.
pub fn propose(broker: Arc<Broker>, part: Arc<Partition>, new_isr: Vec<BrokerId>) {
    tokio::spawn(async move {
        let Some(me) = broker.id() else {
            part.clear_pending_isr();
            return;
        };
        let state = part.state();
        let req = AlterPartitionRequest {
            broker_id: me,
            broker_epoch: broker.epoch.load(Ordering::Acquire),
            topic: part.topic.to_string(),
            partition: part.partition,
            leader_epoch: state.leader_epoch,
            partition_epoch: state.partition_epoch,
            new_isr: new_isr.clone(),
        };
        match broker.controller.alter_partition(&req).await {
            Ok(committed) => {
                tracing::info!(topic = %part.topic, partition = part.partition, isr = ?committed.isr.iter().map(|b| b.0).collect::<Vec<_>>(), "ISR changed");
                part.clear_pending_isr();
                part.update(committed, part.settings(), me);
            }
            Err(e) => {
                tracing::warn!(topic = %part.topic, partition = part.partition, error = %e, "ISR change refused");
                part.clear_pending_isr();
            }
        }
    });
}

/// Every half lag time, drops ISR members that have not caught up within
/// `replica_lag_time_max_ms`.
pub async fn shrink_loop(broker: Arc<Broker>, mut shutdown: watch::Receiver<bool>) {
    let max_lag = Duration::from_millis(broker.config.replica_lag_time_max_ms);
    let tick = (max_lag / 2).max(Duration::from_millis(50));
    loop {
        tokio::select! {
            _ = tokio::time::sleep(tick) => {}
            _ = shutdown.changed() => return,
        }
        let Some(me) = broker.id() else { continue };
        for part in broker.replicas.all() {
            if let Some(isr) = part.isr_shrink(me, max_lag) {
                tracing::warn!(topic = %part.topic, partition = part.partition, "follower fell behind; shrinking the ISR");
                propose(broker.clone(), part, isr);
            }
        }
    }
}

/// Checkpoints high watermarks that moved, once a second.
pub async fn checkpoint_loop(broker: Arc<Broker>, mut shutdown: watch::Receiver<bool>) {
    let mut last: std::collections::HashMap<(String, u32), u64> = std::collections::HashMap::new();
    loop {
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_secs(1)) => {}
            _ = shutdown.changed() => return,
        }
        let parts = broker.replicas.all();
        let changed: Vec<Arc<Partition>> = parts
            .into_iter()
            .filter(|p| last.get(&(p.topic.to_string(), p.partition)) != Some(&p.high_watermark()))
            .collect();
        for p in &changed {
            last.insert((p.topic.to_string(), p.partition), p.high_watermark());
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
