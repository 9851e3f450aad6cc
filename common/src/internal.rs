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

/// `POST /internal/v1/replica/fetch` on a partition leader: a follower's
/// long-poll fetch for every partition it follows from that leader.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReplicaFetchRequest {
    pub replica_id: BrokerId,
    pub max_wait_ms: u64,
    pub max_bytes: usize,
    pub partitions: Vec<ReplicaFetchPartition>,
}

/// One partition of a replica fetch.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReplicaFetchPartition {
    pub topic: String,
    pub partition: PartitionId,
    /// The leader epoch the follower believes current (fencing).
    pub current_leader_epoch: LeaderEpoch,
    /// The follower's log end offset: where to read from, and its LEO for the leader.
    pub fetch_offset: u64,
    /// Epoch of the follower's last batch, for divergence detection.
    pub last_fetched_epoch: Option<LeaderEpoch>,
}

/// Where the leader's log for `epoch` ends (Kafka's DivergingEpoch).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct EpochEndOffset {
    pub epoch: LeaderEpoch,
    pub end_offset: u64,
}

/// The leader's answer for one partition.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ReplicaFetchPartitionResult {
    pub topic: String,
    pub partition: PartitionId,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_code: Option<crate::ErrorCode>,
    pub high_watermark: u64,
    pub log_start_offset: u64,
    pub log_end_offset: u64,
    /// Set when the follower's log diverged: truncate, then fetch again.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub diverging_epoch: Option<EpochEndOffset>,
    /// Encoded record batches, base64.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub records_b64: String,
}

/// Answer to a replica fetch.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ReplicaFetchResponse {
    pub partitions: Vec<ReplicaFetchPartitionResult>,
}

/// `POST /internal/v1/brokers/{id}/shutdown`: a broker asks to be moved out of
/// leadership before it exits (controlled shutdown).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ControlledShutdownRequest {
    pub broker_epoch: BrokerEpoch,
}
