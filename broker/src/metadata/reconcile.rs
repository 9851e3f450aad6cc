//! Keeps the local replicas in line with the metadata image: whenever the
//! image changes (and every 5 s), creates replicas for partitions assigned
//! here, deletes those (and orphaned directories) whose topic id an image at
//! least as new as this broker's registration proves gone, then runs the
//! `after` hook (wired in `lib.rs` to
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
        loop {
            if let Some(me) = self.node.id() {
                if self.metadata.offset() > 0 {
                    let (metadata, replicas) = (self.metadata.clone(), self.replicas.clone());
                    // The registration's offset: older metadata may not delete data.
                    let registered_at = self.node.broker_epoch();
                    let res = tokio::task::spawn_blocking(move || {
                        let image = metadata.read(|i| i.clone());
                        let r = replicas.reconcile(&image, me, registered_at);
                        replicas.remove_orphans(&image, me, registered_at);
                        (r, image.offset)
                    })
                    .await;
                    if let Ok((_, offset)) = &res {
                        // Every replica the registration's metadata assigns
                        // here is open (or offline): the broker may serve.
                        if *offset >= registered_at {
                            self.node.set_replicas_open();
                        }
                    }
                    match res.map(|(r, _)| r) {
                        Ok((c, d)) if c + d > 0 => {
                            tracing::info!(created = c, deleted = d, "local replicas reconciled")
                        }
                        Ok(_) => {}
                        Err(e) => tracing::error!(error = %e, "reconcile task failed"),
                    }
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
