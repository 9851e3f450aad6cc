//! Pushing committed metadata deltas to brokers (the active controller only).
//!
//! One worker per registered broker, each with at most one request in flight,
//! so a slow or dead broker delays nobody else and never the quorum. A broker
//! that finds a gap (or is behind the delta ring) pulls a snapshot itself.

use crate::service::metadata_service::MetadataService;
use ferry_common::internal::MetadataPush;
use ferry_common::BrokerId;
use std::collections::HashMap;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;
use tokio::task::JoinHandle;

/// Deltas per push request.
const MAX_DELTAS_PER_PUSH: usize = 256;
/// Pause after a failed push before trying that broker again.
const RETRY_BACKOFF: Duration = Duration::from_millis(500);
/// Idle re-push interval: also tells a quiet broker the current head.
const IDLE_INTERVAL: Duration = Duration::from_secs(2);

/// Where pushes go; the real one is HTTP ([`crate::peers::broker_client`]).
pub trait DeltaSink: Send + Sync + 'static {
    /// Delivers `push` to the broker at `url`; answers the broker's applied offset.
    fn push(
        &self,
        url: &str,
        push: &MetadataPush,
    ) -> impl Future<Output = Result<u64, String>> + Send;
}

/// Runs until `shutdown` fires: keeps one push worker per broker while this node leads.
pub async fn run<S: DeltaSink>(
    svc: Arc<MetadataService>,
    sink: Arc<S>,
    mut shutdown: tokio::sync::watch::Receiver<bool>,
) {
    let mut workers: HashMap<BrokerId, JoinHandle<()>> = HashMap::new();
    let mut tick = tokio::time::interval(Duration::from_millis(200));
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = shutdown.changed() => break,
        }
        if !svc.is_leader() {
            for (_, w) in workers.drain() {
                w.abort();
            }
            continue;
        }
        let brokers: Vec<BrokerId> = svc
            .view()
            .read(|s| s.image.brokers.keys().copied().collect());
        workers.retain(|id, w| brokers.contains(id) && !w.is_finished());
        for id in brokers {
            workers
                .entry(id)
                .or_insert_with(|| tokio::spawn(push_worker(svc.clone(), sink.clone(), id)));
        }
    }
    for (_, w) in workers.drain() {
        w.abort();
    }
}

async fn push_worker<S: DeltaSink>(svc: Arc<MetadataService>, sink: Arc<S>, id: BrokerId) {
    let mut applied_rx = svc.view().subscribe();
    // Start from what the broker last reported; 0 makes it resync if needed.
    let mut acked = svc.sessions().contact(id).map_or(0, |c| c.metadata_offset);
    let term = svc.raft().metrics().borrow().current_term;
    loop {
        if !svc.is_leader() {
            return;
        }
        let Some(url) = svc
            .view()
            .read(|s| s.image.brokers.get(&id).map(|b| b.url.clone()))
        else {
            return;
        };
        let batch = svc.view().deltas_after(acked, MAX_DELTAS_PER_PUSH);
        let push = MetadataPush {
            controller_id: svc.node_id(),
            term,
            head_offset: batch.head,
            head_last_record_offset: svc.view().read(|s| s.image.last_record_offset),
            deltas: batch.deltas.iter().map(|d| (**d).clone()).collect(),
        };
        if acked < batch.head {
            match sink.push(&url, &push).await {
                Ok(offset) => {
                    acked = offset;
                    if acked < batch.head && push.deltas.is_empty() {
                        // Nothing more to send and the broker did not advance: wait.
                        wait_for_change(&mut applied_rx).await;
                    }
                    continue;
                }
                Err(e) => {
                    tracing::debug!(broker_id = id.0, error = %e, "metadata push failed; will retry");
                    tokio::time::sleep(RETRY_BACKOFF).await;
                    // The broker may have restarted; take its latest report.
                    if let Some(c) = svc.sessions().contact(id) {
                        acked = acked.min(c.metadata_offset);
                    }
                    continue;
                }
            }
        }
        wait_for_change(&mut applied_rx).await;
        if let Some(c) = svc.sessions().contact(id) {
            // A restarted broker reports a lower offset through its heartbeat.
            if c.metadata_offset < acked {
                acked = c.metadata_offset;
            }
        }
    }
}

async fn wait_for_change(rx: &mut tokio::sync::watch::Receiver<u64>) {
    let _ = tokio::time::timeout(IDLE_INTERVAL, rx.changed()).await;
}
