//! Consumer-group membership bodies (`/v1/groups/...`).
//!
//! Ferry assigns partitions on the coordinator (server-side, like Kafka's
//! KIP-848 protocol) so a REST client needs no leader election among members:
//! join, then heartbeat; every answer carries the member's epoch, the
//! partitions it owns and those it must give up. A partition moves from one
//! member to another only after its owner reported (in a heartbeat's `owned`)
//! that it let go, having committed its position, or its session expired.

use crate::records::CommittedOffset;
use serde::{Deserialize, Serialize};

/// A topic partition.
#[derive(
    Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, utoipa::ToSchema,
)]
pub struct TopicPartition {
    pub topic: String,
    pub partition: u32,
}

/// `POST /v1/groups/{group}/members`: join (or rejoin with `member_id`).
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct JoinGroupRequest {
    #[serde(default)]
    pub member_id: Option<String>,
    #[serde(default)]
    pub client_id: Option<String>,
    pub topics: Vec<String>,
    /// Missing heartbeats for this long removes the member (default 10 s).
    #[serde(default)]
    pub session_timeout_ms: Option<u64>,
    /// `range` (default) or `roundrobin`; the group keeps its first member's choice.
    #[serde(default)]
    pub assignor: Option<String>,
}

/// `POST /v1/groups/{group}/members/{member}/heartbeat` (body optional).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct HeartbeatRequest {
    /// The member epoch the member last saw.
    #[serde(default)]
    pub member_epoch: Option<u32>,
    /// The partitions the member still holds; those pending revocation that
    /// are missing here are released to their next owner. `None`: no change.
    #[serde(default)]
    pub owned: Option<Vec<TopicPartition>>,
}

/// A member's view after join or heartbeat.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct MemberAssignment {
    pub group: String,
    pub member_id: String,
    /// The group epoch: bumped whenever membership or subscriptions change.
    pub generation: u32,
    /// Partitions the member owns and keeps: fetch and commit these.
    pub assignment: Vec<TopicPartition>,
    /// The member's epoch, to send with commits; bumped when its partitions change.
    #[serde(default)]
    pub member_epoch: u32,
    /// Partitions the member still owns but must give up: commit their
    /// positions, stop fetching them, then heartbeat without them.
    #[serde(default)]
    pub pending_revocation: Vec<TopicPartition>,
}

/// One member in a group description.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct MemberDescription {
    pub member_id: String,
    pub client_id: Option<String>,
    pub topics: Vec<String>,
    pub assignment: Vec<TopicPartition>,
    pub last_heartbeat_ms: u64,
    #[serde(default)]
    pub member_epoch: u32,
    /// Owned partitions the member has been asked to give up.
    #[serde(default)]
    pub pending_revocation: Vec<TopicPartition>,
}

/// `GET /v1/groups/{group}`.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct GroupDescription {
    pub group: String,
    pub state: String,
    pub generation: u32,
    pub assignor: String,
    pub members: Vec<MemberDescription>,
    pub offsets: Vec<CommittedOffset>,
}

/// One row of `GET /v1/groups`.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct GroupListing {
    pub group: String,
    pub members: usize,
    pub generation: u32,
}

/// `GET /v1/groups`.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct GroupList {
    pub groups: Vec<GroupListing>,
}

/// `DELETE /v1/groups/{group}/members/{member}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct MemberLeft {
    pub group: String,
    pub member_id: String,
    pub left: bool,
}
