//! Finds the local replica a leader-only request (produce, fetch, replica
//! fetch, group coordination) must be served by.

use super::manager::ReplicaManager;
use crate::error::BrokerError;
use crate::metadata::MetadataCache;
use crate::node::Node;
use crate::partition::Partition;
use ferry_common::TopicName;
use std::sync::Arc;

/// Metadata plus local replicas, answering "is this broker the leader here?".
#[derive(Clone)]
pub struct LeaderLookup {
    node: Arc<Node>,
    metadata: Arc<MetadataCache>,
    replicas: Arc<ReplicaManager>,
}

impl LeaderLookup {
    pub fn new(
        node: Arc<Node>,
        metadata: Arc<MetadataCache>,
        replicas: Arc<ReplicaManager>,
    ) -> Self {
        LeaderLookup {
            node,
            metadata,
            replicas,
        }
    }

    /// The local replica of `topic`/`partition` if the metadata cache says this
    /// broker leads it, else the error a client should see (with the leader
    /// hint). Only routing: the replica's own role decides whether an append
    /// happens (`Partition::append` refuses it under the role change lock),
    /// since the cache moves before the replica takes a change.
    pub fn leader_replica(
        &self,
        topic: &TopicName,
        partition: u32,
    ) -> Result<Arc<Partition>, BrokerError> {
        let me = self.node.require_id()?;
        let Some(state) = self.metadata.partition(topic, partition) else {
            return Err(self.metadata.unknown(topic, partition));
        };
        if state.leader != Some(me) {
            let leader_id = state.leader.map(|l| l.0);
            return Err(BrokerError::NotLeader {
                me: me.0,
                topic: topic.to_string(),
                partition,
                leader_url: state.leader.and_then(|l| self.metadata.broker_url(l)),
                leader_id,
            });
        }
        self.replicas.get(topic, partition).ok_or_else(|| {
            match self.replicas.offline_error(topic, partition) {
                Some(e) => BrokerError::Storage(format!(
                    "the replica of {topic}-{partition} is offline on this broker: {e}"
                )),
                None => BrokerError::LeaderNotAvailable(format!(
                    "the replica of {topic}-{partition} is still being opened here; retry"
                )),
            }
        })
    }
}
