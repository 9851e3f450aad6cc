//! Where a group's requests go: a group's coordinator is the leader of
//! partition `murmur2(group) % N` of `__consumer_offsets` (Kafka's rule, with
//! Kafka's hash). Creates that topic on first use, and maps a relayed
//! coordinator's failures to our errors.

use crate::error::BrokerError;
use crate::membership::controller_client::ControllerClient;
use crate::metadata::MetadataCache;
use crate::partition::Partition;
use crate::peer_client::PeerError;
use crate::replicas::LeaderLookup;
use ferry_common::api::CreateTopicRequest;
use ferry_common::partitioner::partition_for_key;
use ferry_common::TopicName;
use std::collections::BTreeMap;
use std::sync::Arc;

/// The internal topic holding committed offsets.
pub const OFFSETS_TOPIC: &str = ferry_common::types::CONSUMER_OFFSETS_TOPIC;
/// Its partition count when this broker creates it.
const OFFSETS_PARTITIONS: u32 = 10;

/// Where a group's requests must go.
pub enum Route {
    /// This broker coordinates the group: its `__consumer_offsets` partition.
    Local(Arc<Partition>),
    /// The coordinator's URL.
    Remote(String),
}

/// Finds group coordinators.
pub struct CoordinatorRouter {
    pub metadata: Arc<MetadataCache>,
    pub leaders: LeaderLookup,
    pub controller: Arc<ControllerClient>,
    /// The replication factor `__consumer_offsets` is created with, never less.
    pub offsets_rf: u16,
}

impl CoordinatorRouter {
    /// The coordinator of `group`.
    pub async fn route(&self, group: &str) -> Result<Route, BrokerError> {
        let topic = TopicName::new(OFFSETS_TOPIC).map_err(|e| BrokerError::Internal(e.0))?;
        let Some(t) = self.metadata.topic(&topic) else {
            self.ensure_offsets_topic().await?;
            return Err(BrokerError::CoordinatorNotAvailable(
                "the __consumer_offsets topic is being created; retry".into(),
            ));
        };
        let p = partition_for_key(group.as_bytes(), t.partitions.len() as u32);
        match self.leaders.leader_replica(&topic, p) {
            Ok(part) => Ok(Route::Local(part)),
            Err(BrokerError::NotLeader {
                leader_url: Some(url),
                ..
            }) => Ok(Route::Remote(url)),
            Err(e) => Err(BrokerError::CoordinatorNotAvailable(format!(
                "the coordinator of group '{group}' is not available: {e}"
            ))),
        }
    }

    /// Asks the controller for `__consumer_offsets` with the configured RF,
    /// or refuses (retriable) while fewer brokers are up: a topic created
    /// smaller would stay under-replicated forever. "Already exists" is fine.
    async fn ensure_offsets_topic(&self) -> Result<(), BrokerError> {
        let brokers = self.metadata.read(|i| i.unfenced_brokers().count());
        let rf = self.offsets_rf;
        if brokers < usize::from(rf) {
            return Err(BrokerError::CoordinatorNotAvailable(format!(
                "__consumer_offsets needs {rf} brokers (offsets_topic_replication_factor) \
                 but {brokers} are up; retry once enough brokers have registered"
            )));
        }
        let mut configs = BTreeMap::new();
        configs.insert("retention.ms".to_string(), "-1".to_string());
        configs.insert(
            "min.insync.replicas".to_string(),
            if rf >= 3 { "2" } else { "1" }.to_string(),
        );
        let req = CreateTopicRequest {
            name: OFFSETS_TOPIC.into(),
            partitions: i64::from(OFFSETS_PARTITIONS),
            replication_factor: i64::from(rf),
            configs,
        };
        if let Err(e) = self.controller.create_topic(&req).await {
            tracing::debug!(error = %e, "creating __consumer_offsets");
        }
        Ok(())
    }
}

/// Group ids follow topic-name rules so they are safe in URLs and keys.
pub fn check_group(group: &str) -> Result<(), BrokerError> {
    TopicName::new(group).map(|_| ()).map_err(|e| {
        BrokerError::InvalidRequest(format!("group id '{group}' is not valid: {}", e.0))
    })
}

/// A relayed coordinator call's failure: its errors keep their codes.
pub fn relayed(e: PeerError) -> BrokerError {
    match e {
        PeerError::Api(b) => BrokerError::Relayed {
            code: b.error_code,
            message: b.message,
        },
        PeerError::Transport(m) => {
            BrokerError::CoordinatorNotAvailable(format!("coordinator unreachable: {m}"))
        }
    }
}
