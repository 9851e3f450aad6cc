//! The ISR change driver: proposes the ISR changes the partition state
//! decides (expansion on a follower's fetch, shrink of laggards) to the
//! controller as AlterPartition requests, one in flight per partition.

use crate::membership::controller_client::ControllerClient;
use crate::node::Node;
use crate::partition::Partition;
use crate::replicas::ReplicaManager;
use ferry_common::internal::AlterPartitionRequest;
use ferry_common::BrokerId;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;

/// Sends ISR proposals to the controller.
#[derive(Clone)]
pub struct IsrDriver {
    node: Arc<Node>,
    controller: Arc<ControllerClient>,
}

impl IsrDriver {
    pub fn new(node: Arc<Node>, controller: Arc<ControllerClient>) -> Self {
        IsrDriver { node, controller }
    }

    /// Sends `new_isr` for `part` to the controller in the background; the answer
    /// (or its failure) ends the in-flight change.
    pub fn propose(&self, part: Arc<Partition>, new_isr: Vec<BrokerId>) {
        let this = self.clone();
        tokio::spawn(async move {
            let Some(me) = this.node.id() else {
                part.clear_pending_isr();
                return;
            };
            let state = part.state();
            let req = AlterPartitionRequest {
                broker_id: me,
                broker_epoch: this.node.broker_epoch(),
                topic: part.topic.to_string(),
                partition: part.partition,
                leader_epoch: state.leader_epoch,
                partition_epoch: state.partition_epoch,
                new_isr: new_isr.clone(),
            };
            match this.controller.alter_partition(&req).await {
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

    /// Every half lag time, drops ISR members of the partitions led here that
    /// have not caught up within `replica_lag_time_max_ms`.
    pub async fn shrink_loop(
        self,
        replicas: Arc<ReplicaManager>,
        mut shutdown: watch::Receiver<bool>,
    ) {
        let max_lag = Duration::from_millis(self.node.config.replica_lag_time_max_ms);
        let tick = (max_lag / 2).max(Duration::from_millis(50));
        loop {
            tokio::select! {
                _ = tokio::time::sleep(tick) => {}
                _ = shutdown.changed() => return,
            }
            let Some(me) = self.node.id() else { continue };
            for part in replicas.all() {
                if let Some(isr) = part.isr_shrink(me, max_lag) {
                    tracing::warn!(topic = %part.topic, partition = part.partition, "follower fell behind; shrinking the ISR");
                    self.propose(part, isr);
                }
            }
        }
    }
}
