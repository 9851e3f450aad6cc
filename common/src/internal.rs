//! Controller <-> broker bodies: registration, heartbeats, ISR changes, metadata push.
//!
//! Internal endpoints live under `/internal/v1/` on both services; they are
//! versioned with the binaries, not part of the public contract.

use crate::metadata::{MetadataDelta, PartitionState};
use crate::types::{
    BrokerEpoch, BrokerId, LeaderEpoch, MetadataOffset, PartitionEpoch, PartitionId,
};
use serde::{Deserialize, Serialize};

/// `POST /internal/v1/brokers/register` on the active controller.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RegisterBrokerRequest {
    /// `None` asks the controller to allocate an id.
    #[serde(default)]
    pub broker_id: Option<BrokerId>,
    pub url: String,
    #[serde(default)]
    pub rack: Option<String>,
    /// Unique per process start; tells a restart from a retried request.
    pub incarnation_id: String,
    /// The cluster the broker's data dir belongs to, if it has one.
    #[serde(default)]
    pub cluster_id: Option<String>,
}

/// Answer to a registration.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RegisterBrokerResponse {
    pub broker_id: BrokerId,
    pub broker_epoch: BrokerEpoch,
    pub cluster_id: String,
}

/// `POST /internal/v1/brokers/{id}/heartbeat`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HeartbeatRequest {
    pub broker_epoch: BrokerEpoch,
    /// The metadata offset the broker has applied.
    pub metadata_offset: MetadataOffset,
}

/// Answer to a heartbeat.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HeartbeatResponse {
    pub fenced: bool,
    /// The metadata offset the broker must reach before it is unfenced.
    pub unfence_at_offset: MetadataOffset,
    pub controller_id: u64,
}

/// `POST /internal/v1/alter-partition`: a partition leader asks to change the ISR.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AlterPartitionRequest {
    pub broker_id: BrokerId,
    pub broker_epoch: BrokerEpoch,
    pub topic: String,
    pub partition: PartitionId,
    pub leader_epoch: LeaderEpoch,
    pub partition_epoch: PartitionEpoch,
    pub new_isr: Vec<BrokerId>,
}

/// Answer to AlterPartition: the partition's committed state.
pub type AlterPartitionResponse = PartitionState;

/// `POST /internal/v1/metadata/deltas` on a broker, sent by the active controller.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct MetadataPush {
    pub controller_id: u64,
    pub term: u64,
    /// The controller's applied offset; a broker whose image has every record up
    /// to `head_last_record_offset` may advance its offset to it.
    pub head_offset: MetadataOffset,
    pub head_last_record_offset: MetadataOffset,
    pub deltas: Vec<MetadataDelta>,
}

/// A broker's answer to a push: where its image now is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MetadataPushResponse {
    pub applied_offset: MetadataOffset,
}
