//! Periodic retention of the local replicas' logs.

use super::manager::ReplicaManager;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;

/// Deletes old segments per `retention.ms`/`retention.bytes` every `interval`,
/// never at or above a replica's high watermark.
pub async fn retention_loop(
    replicas: Arc<ReplicaManager>,
    interval: Duration,
    mut shutdown: watch::Receiver<bool>,
) {
    loop {
        tokio::select! {
            _ = tokio::time::sleep(interval) => {}
            _ = shutdown.changed() => return,
        }
        let replicas = replicas.clone();
        let _ = tokio::task::spawn_blocking(move || {
            let now = crate::clock::now_ms();
            for p in replicas.all() {
                // Only what every ISR member has (below the HW) may go.
                match p.log.apply_retention(now, p.high_watermark()) {
                    Ok(0) => {}
                    Ok(n) => tracing::info!(topic = %p.topic, partition = p.partition, segments = n, "retention deleted segments"),
                    Err(e) => tracing::warn!(topic = %p.topic, partition = p.partition, error = %e, "retention failed"),
                }
            }
        })
        .await;
    }
}
