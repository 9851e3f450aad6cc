//! The ISR change driver: proposes the ISR changes the partition state
//! decides (expansion on a follower's fetch, shrink of laggards) to the
//! controller as AlterPartition requests, one in flight per partition, and
//! keeps a proposal in flight until its outcome is known.

use crate::membership::controller_client::{ControllerCallError, ControllerClient};
use crate::node::Node;
use crate::partition::role::{IsrAnswer, IsrProposal};
use crate::partition::Partition;
use crate::replicas::ReplicaManager;
use ferry_common::internal::AlterPartitionRequest;
use ferry_common::ErrorCode;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;

/// Pause between attempts at a proposal whose outcome is unknown.
const RETRY_BACKOFF: Duration = Duration::from_millis(500);

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

    /// Sends `proposal` for `part` to the controller in the background until
    /// its outcome is known: a commit or a definite rejection settles it; a
    /// refusal from a stale view waits for the metadata that settles it; no
    /// answer (timeout, controller failover) sends the same proposal again,
    /// since the controller may have committed it.
    pub fn propose(&self, part: Arc<Partition>, proposal: IsrProposal) {
        let this = self.clone();
        tokio::spawn(async move {
            while part.isr_in_flight(&proposal) {
                let answer = this.send(&part, &proposal).await;
                part.on_isr_answer(&proposal, answer);
                if answer != IsrAnswer::Unknown {
                    return;
                }
                tokio::time::sleep(RETRY_BACKOFF).await;
            }
        });
    }

    /// One AlterPartition attempt; takes the committed state it answers.
    async fn send(&self, part: &Partition, proposal: &IsrProposal) -> IsrAnswer {
        let Some(me) = self.node.id() else {
            // Nothing was sent, so nothing can have been applied.
            return IsrAnswer::Rejected;
        };
        let req = AlterPartitionRequest {
            broker_id: me,
            broker_epoch: self.node.broker_epoch(),
            topic: part.topic.to_string(),
            partition: part.partition,
            leader_epoch: proposal.leader_epoch,
            partition_epoch: proposal.partition_epoch,
            new_isr: proposal.isr.clone(),
        };
        let (topic, partition) = (&part.topic, part.partition);
        match self.controller.alter_partition(&req).await {
            Ok(committed) => {
                tracing::info!(%topic, partition, isr = ?committed.isr.iter().map(|b| b.0).collect::<Vec<_>>(), "ISR changed");
                part.update(committed, part.settings(), me);
                IsrAnswer::Committed
            }
            Err(e) => {
                let answer = classify(&e);
                tracing::warn!(%topic, partition, error = %e, ?answer, "ISR change not committed");
                answer
            }
        }
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
                if let Some(proposal) = part.isr_shrink(me, max_lag) {
                    tracing::warn!(topic = %part.topic, partition = part.partition, "follower fell behind; shrinking the ISR");
                    self.propose(part, proposal);
                }
            }
        }
    }
}

/// What a failed AlterPartition says about the proposal (Kafka's rules).
fn classify(e: &ControllerCallError) -> IsrAnswer {
    match e.code() {
        // Checked against the current partition epoch: neither this attempt
        // nor an earlier one (which would have moved that epoch) was applied.
        Some(ErrorCode::IneligibleReplica | ErrorCode::InvalidRequest) => IsrAnswer::Rejected,
        // This leader's view is behind; newer metadata settles the proposal.
        Some(
            ErrorCode::FencedLeaderEpoch
            | ErrorCode::UnknownLeaderEpoch
            | ErrorCode::InvalidUpdateVersion
            | ErrorCode::UnknownTopicOrPartition,
        ) => IsrAnswer::Stale,
        // No controller reached, timeouts, server errors, a stale broker epoch
        // (re-registered: the retry carries the new one): try again.
        _ => IsrAnswer::Unknown,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ferry_common::ErrorBody;

    fn api(code: ErrorCode) -> ControllerCallError {
        ControllerCallError::Api(ErrorBody {
            error_code: code,
            message: String::new(),
            leader_id: None,
            leader_url: None,
            retriable: false,
            extra: Default::default(),
        })
    }

    #[test]
    fn only_refusals_at_the_current_partition_epoch_are_definite() {
        let unavailable = ControllerCallError::Unavailable("timed out".into());
        assert_eq!(classify(&unavailable), IsrAnswer::Unknown);
        assert_eq!(
            classify(&api(ErrorCode::UnknownServerError)),
            IsrAnswer::Unknown
        );
        assert_eq!(
            classify(&api(ErrorCode::StaleBrokerEpoch)),
            IsrAnswer::Unknown
        );
        assert_eq!(
            classify(&api(ErrorCode::InvalidUpdateVersion)),
            IsrAnswer::Stale
        );
        assert_eq!(
            classify(&api(ErrorCode::FencedLeaderEpoch)),
            IsrAnswer::Stale
        );
        assert_eq!(
            classify(&api(ErrorCode::IneligibleReplica)),
            IsrAnswer::Rejected
        );
        assert_eq!(
            classify(&api(ErrorCode::InvalidRequest)),
            IsrAnswer::Rejected
        );
    }
}
