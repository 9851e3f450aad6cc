//! Consumer-group membership bodies (`/v1/groups/...`).
//!
//! Ferry assigns partitions on the coordinator (server-side, like Kafka's
//! KIP-848 protocol) so a REST client needs no leader election among members:
//! join, then heartbeat; every answer carries the member's current generation
//! and assignment, which changes whenever a member joins, leaves or times out.

use crate::records::CommittedOffset;
use serde::{Deserialize, Serialize};

/// A topic partition.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct TopicPartition {
    pub topic: String,
    pub partition: u32,
}

/// `POST /v1/groups/{group}/members`: join (or rejoin with `member_id`).
#[derive(Debug, Clone, Serialize, Deserialize)]
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

/// A member's view after join or heartbeat.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MemberAssignment {
    pub group: String,
    pub member_id: String,
    pub generation: u32,
    pub assignment: Vec<TopicPartition>,
}

/// One member in a group description.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct MemberDescription {
    pub member_id: String,
    pub client_id: Option<String>,
    pub topics: Vec<String>,
    pub assignment: Vec<TopicPartition>,
    pub last_heartbeat_ms: u64,
}

/// `GET /v1/groups/{group}`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct GroupDescription {
    pub group: String,
    pub state: String,
    pub generation: u32,
    pub assignor: String,
    pub members: Vec<MemberDescription>,
    pub offsets: Vec<CommittedOffset>,
}

/// One row of `GET /v1/groups`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct GroupListing {
    pub group: String,
    pub members: usize,
    pub generation: u32,
}

/// `GET /v1/groups`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct GroupList {
    pub groups: Vec<GroupListing>,
}
