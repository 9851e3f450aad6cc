//! The one list of the broker's background loops, spawned by [`crate::run`]
//! once the broker has registered and installed its first snapshot. (The
//! follower fetch loops are not here: the reconcile loop starts and stops
//! them per leader broker, see `replication/fetcher.rs`.)

use crate::groups::GroupCoordinator;
use crate::membership::Membership;
use crate::metadata::reconcile::Reconciler;
use crate::replicas::{checkpoint, retention, ReplicaManager};
use crate::replication::isr::IsrDriver;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// What the background loops run on.
pub struct Background {
    pub membership: Membership,
    pub reconciler: Reconciler,
    pub replicas: Arc<ReplicaManager>,
    pub coordinator: Arc<GroupCoordinator>,
    pub isr: IsrDriver,
}

/// Spawns every background loop; each ends when `stop` changes.
pub fn spawn(bg: Background, stop: &watch::Receiver<bool>) -> Vec<JoinHandle<()>> {
    let config = &bg.membership.node.config;
    let retention_every = Duration::from_millis(config.retention_check_interval_ms);
    vec![
        // Heartbeats (and re-registration when the controller forgot us).
        tokio::spawn(bg.membership.heartbeat_loop(stop.clone())),
        // Metadata -> local replicas -> follower fetch loops.
        tokio::spawn(bg.reconciler.run(stop.clone())),
        tokio::spawn(retention::retention_loop(
            bg.replicas.clone(),
            retention_every,
            stop.clone(),
        )),
        // Consumer-group member sessions.
        tokio::spawn(bg.coordinator.expiry_loop(stop.clone())),
        // ISR shrink of laggards on partitions led here.
        tokio::spawn(bg.isr.shrink_loop(bg.replicas.clone(), stop.clone())),
        tokio::spawn(checkpoint::checkpoint_loop(bg.replicas, stop.clone())),
    ]
}
