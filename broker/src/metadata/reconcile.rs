//! Keeps the local replicas in line with the metadata image: whenever the
//! image changes (and every 5 s), creates replicas for partitions assigned
//! here, deletes the others, then runs the `after` hook (wired in `lib.rs` to
//! `replication/fetcher.rs`, which restarts the follower fetch loops; a hook
//! so that metadata does not depend on replication).

use super::cache::MetadataCache;
use crate::node::Node;
use crate::replicas::ReplicaManager;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;

/// What the reconcile loop reads and drives.
pub struct Reconciler {
    pub node: Arc<Node>,
    pub metadata: Arc<MetadataCache>,
    pub replicas: Arc<ReplicaManager>,
    /// Runs after every reconcile (the follower fetch loops follow the new replicas).
    pub after: Box<dyn Fn() + Send + Sync>,
}

impl Reconciler {
    /// Creates and deletes local replicas whenever the metadata image changes.
    pub async fn run(self, mut shutdown: watch::Receiver<bool>) {
        let mut changed = self.metadata.subscribe();
        let mut first = true;
        loop {
            if let Some(me) = self.node.id() {
                if self.metadata.offset() > 0 {
                    let (metadata, replicas) = (self.metadata.clone(), self.replicas.clone());
                    let res = tokio::task::spawn_blocking(move || {
                        let image = metadata.read(|i| i.clone());
                        let r = replicas.reconcile(&image, me);
                        if first {
                            replicas.remove_orphans();
                        }
                        r
                    })
                    .await;
                    match res {
                        Ok((c, d)) if c + d > 0 => {
                            tracing::info!(created = c, deleted = d, "local replicas reconciled")
                        }
                        Ok(_) => {}
                        Err(e) => tracing::error!(error = %e, "reconcile task failed"),
                    }
                    first = false;
                    (self.after)();
                }
            }
            tokio::select! {
                r = changed.changed() => if r.is_err() { return },
                _ = tokio::time::sleep(Duration::from_secs(5)) => {}
                _ = shutdown.changed() => return,
            }
        }
    }
}
