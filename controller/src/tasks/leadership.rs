//! Duties of the active controller that run in the background: initialising the
//! cluster id once, and fencing brokers whose sessions expired.

use crate::metadata::commands::Command;
use crate::service::metadata_service::MetadataService;
use std::sync::Arc;
use std::time::{Duration, Instant};

const CHECK_INTERVAL: Duration = Duration::from_millis(250);

/// Runs until `shutdown` fires.
pub async fn run(svc: Arc<MetadataService>, mut shutdown: tokio::sync::watch::Receiver<bool>) {
    let mut tick = tokio::time::interval(CHECK_INTERVAL);
    let mut was_leader = false;
    let mut last_rebalance = Instant::now();
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = shutdown.changed() => return,
        }
        let leader = svc.is_leader();
        if leader != was_leader {
            svc.sessions().set_active(leader.then(Instant::now));
            if leader {
                let term = svc.raft().metrics().borrow().current_term;
                tracing::info!(term, "became the active controller");
            } else {
                tracing::info!("no longer the active controller");
            }
            was_leader = leader;
        }
        if !leader {
            continue;
        }
        if let Err(e) = svc.ensure_cluster_id().await {
            tracing::warn!(error = %e, "could not initialise the cluster id yet");
            continue;
        }
        let unfenced: Vec<_> = svc.view().read(|s| {
            s.image
                .unfenced_brokers()
                .map(|b| (b.id, b.epoch))
                .collect()
        });
        let expired =
            svc.sessions()
                .expired(unfenced.into_iter(), Instant::now(), svc.session_timeout());
        for (broker_id, epoch) in expired {
            tracing::warn!(
                broker_id = broker_id.0,
                broker_epoch = epoch,
                "broker session expired; fencing it"
            );
            if let Err(e) = svc
                .write(None, Command::FenceBroker { broker_id, epoch })
                .await
            {
                tracing::warn!(broker_id = broker_id.0, error = %e, "fencing failed; will retry");
            }
        }
        if let Some(every) = svc.rebalance_interval() {
            if last_rebalance.elapsed() >= every {
                last_rebalance = Instant::now();
                match svc.rebalance_leaders().await {
                    Ok(0) => {}
                    Ok(n) => tracing::info!(
                        partitions = n,
                        "moved leadership back to preferred replicas"
                    ),
                    Err(e) => tracing::warn!(error = %e, "preferred leader election failed"),
                }
            }
        }
    }
}
