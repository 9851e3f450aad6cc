//! Pushing committed metadata deltas to brokers (the active controller only).
//!
//! One worker per registered broker, each with at most one request in flight,
//! so a slow or dead broker delays nobody else and never the quorum. A broker
//! that finds a gap (or is behind the delta ring) pulls a snapshot itself.

use crate::metadata::state_view::StateView;
use crate::service::broker_sessions::SessionTable;
use crate::service::write_path::WritePath;
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

/// What the push workers read: leadership, the applied state and its delta
/// ring, and the offsets brokers last reported.
#[derive(Clone)]
pub struct Pusher {
    pub path: Arc<WritePath>,
    pub view: Arc<StateView>,
    pub sessions: Arc<SessionTable>,
}

/// Runs until `shutdown` fires: keeps one push worker per broker while this node leads.
pub async fn run<S: DeltaSink>(
    ctx: Pusher,
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
        if !ctx.path.is_leader() {
            for (_, w) in workers.drain() {
                w.abort();
            }
            continue;
        }
        let brokers: Vec<BrokerId> = ctx.view.read(|s| s.image.brokers.keys().copied().collect());
        workers.retain(|id, w| brokers.contains(id) && !w.is_finished());
        for id in brokers {
            workers
                .entry(id)
                .or_insert_with(|| tokio::spawn(push_worker(ctx.clone(), sink.clone(), id)));
        }
    }
    for (_, w) in workers.drain() {
        w.abort();
    }
}

async fn push_worker<S: DeltaSink>(ctx: Pusher, sink: Arc<S>, id: BrokerId) {
    let mut applied_rx = ctx.view.subscribe();
    // Start from what the broker last reported; 0 makes it resync if needed.
    let mut acked = ctx
        .sessions
        .lock()
        .contact(id)
        .map_or(0, |c| c.metadata_offset);
    let term = ctx.path.term();
    loop {
        if !ctx.path.is_leader() {
            return;
        }
        let Some(url) = ctx
            .view
            .read(|s| s.image.brokers.get(&id).map(|b| b.url.clone()))
        else {
            return;
        };
        let batch = ctx.view.deltas_after(acked, MAX_DELTAS_PER_PUSH);
        let push = MetadataPush {
            controller_id: ctx.path.node_id(),
            term,
            head_offset: batch.head,
            head_last_record_offset: ctx.view.read(|s| s.image.last_record_offset),
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
                    if let Some(c) = ctx.sessions.lock().contact(id) {
                        acked = acked.min(c.metadata_offset);
                    }
                    continue;
                }
            }
        }
        wait_for_change(&mut applied_rx).await;
        if let Some(c) = ctx.sessions.lock().contact(id) {
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
