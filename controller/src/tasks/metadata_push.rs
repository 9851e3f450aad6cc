//! Pushing committed metadata deltas to brokers (the active controller only).
//!
//! One worker per registered broker, each with at most one request in flight,
//! so a slow or dead broker delays nobody else and never the quorum. Pushes are
//! capped by count and bytes (a large backlog goes in several pushes, well under
//! any broker's body limit). When deltas cannot bring a broker to the head (the
//! ring does not reach back to its offset, e.g. after a restart or snapshot
//! install; or one delta is too large, or the broker refused a push as too
//! large) the push tells it to resync from a snapshot; a broker that finds a
//! gap itself does the same.

use crate::metadata::state_view::{ResyncCause, StateView};
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
/// JSON bytes of deltas per push: far below the broker's default body limit
/// (16 MiB), so a push is never refused for its size by a default broker.
const MAX_PUSH_BYTES: usize = 1024 * 1024;
/// Pause after a failed push before trying that broker again.
const RETRY_BACKOFF: Duration = Duration::from_millis(500);
/// Idle re-push interval: also tells a quiet broker the current head.
const IDLE_INTERVAL: Duration = Duration::from_secs(2);

/// Why a push was not delivered.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PushError {
    /// The broker refused the body as too large (HTTP 413).
    #[error("{0}")]
    TooLarge(String),
    /// Anything else (unreachable, timed out, an error answer).
    #[error("{0}")]
    Failed(String),
}

/// Where pushes go; the real one is HTTP ([`crate::peers::broker_client`]).
pub trait DeltaSink: Send + Sync + 'static {
    /// Delivers `push` to the broker at `url`; answers the broker's applied offset.
    fn push(
        &self,
        url: &str,
        push: &MetadataPush,
    ) -> impl Future<Output = Result<u64, PushError>> + Send;
}

/// What a push worker needs of this controller's Raft role (the real one is
/// [`WritePath`]; tests stand in for it).
pub trait Role: Send + Sync + 'static {
    fn is_leader(&self) -> bool;
    fn term(&self) -> u64;
    fn node_id(&self) -> u64;
}

impl Role for WritePath {
    fn is_leader(&self) -> bool {
        WritePath::is_leader(self)
    }
    fn term(&self) -> u64 {
        WritePath::term(self)
    }
    fn node_id(&self) -> u64 {
        WritePath::node_id(self)
    }
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
            workers.entry(id).or_insert_with(|| {
                let (role, view, sessions) =
                    (ctx.path.clone(), ctx.view.clone(), ctx.sessions.clone());
                tokio::spawn(push_worker(role, view, sessions, sink.clone(), id))
            });
        }
    }
    for (_, w) in workers.drain() {
        w.abort();
    }
}

/// Pushes to one broker while `role` leads.
async fn push_worker<S: DeltaSink, R: Role>(
    role: Arc<R>,
    view: Arc<StateView>,
    sessions: Arc<SessionTable>,
    sink: Arc<S>,
    id: BrokerId,
) {
    let mut applied_rx = view.subscribe();
    // Start from what the broker last reported; 0 makes it resync if needed.
    let mut acked = sessions.lock().contact(id).map_or(0, |c| c.metadata_offset);
    let term = role.term();
    // The broker refused our last push for its size: send the next without deltas.
    let mut refused_as_too_large = false;
    loop {
        if !role.is_leader() {
            return;
        }
        let Some(url) = view.read(|s| s.image.brokers.get(&id).map(|b| b.url.clone())) else {
            return;
        };
        let mut plan = view.plan_push(acked, MAX_DELTAS_PER_PUSH, MAX_PUSH_BYTES);
        if refused_as_too_large {
            // Even under our cap it is over this broker's limit: no deltas.
            plan.deltas.clear();
            plan.resync = Some(ResyncCause::TooLarge);
        }
        if let Some(cause) = plan.resync {
            tracing::info!(
                broker_id = id.0,
                metadata_offset = acked,
                ?cause,
                "telling the broker to resync from a snapshot"
            );
        }
        let push = MetadataPush {
            controller_id: role.node_id(),
            term,
            head_offset: plan.head,
            head_last_record_offset: plan.head_last_record_offset,
            deltas: plan.deltas.iter().map(|d| (**d).clone()).collect(),
            resync: plan.resync.is_some(),
        };
        if acked < plan.head {
            match sink.push(&url, &push).await {
                Ok(offset) => {
                    refused_as_too_large = false;
                    let unchanged = offset == acked;
                    acked = offset;
                    if acked < plan.head && (push.deltas.is_empty() || unchanged) {
                        // Nothing more to send, or the broker did not move
                        // (its snapshot pull failed): wait rather than spin.
                        wait_for_change(&mut applied_rx).await;
                    }
                    continue;
                }
                Err(PushError::TooLarge(e)) if !push.deltas.is_empty() => {
                    tracing::warn!(broker_id = id.0, error = %e, "metadata push refused as too large; the broker will resync");
                    refused_as_too_large = true;
                    continue;
                }
                Err(e) => {
                    tracing::debug!(broker_id = id.0, error = %e, "metadata push failed; will retry");
                    tokio::time::sleep(RETRY_BACKOFF).await;
                    // The broker may have restarted; take its latest report.
                    if let Some(c) = sessions.lock().contact(id) {
                        acked = acked.min(c.metadata_offset);
                    }
                    continue;
                }
            }
        }
        wait_for_change(&mut applied_rx).await;
        if let Some(c) = sessions.lock().contact(id) {
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

#[cfg(test)]
#[path = "metadata_push_tests.rs"]
mod tests;
