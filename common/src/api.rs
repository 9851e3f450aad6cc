//! Public REST bodies (README, section "API": controller).

use crate::metadata::{PartitionState, TopicImage};
use crate::types::{BrokerId, LeaderEpoch, PartitionEpoch, PartitionId};
use serde::{Deserialize, Deserializer, Serialize};
use std::collections::BTreeMap;

/// `POST /v1/topics`.
///
/// Numbers arrive as `i64` and the name as a plain string so that range and
/// naming mistakes get their own Kafka codes instead of a generic parse error.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateTopicRequest {
    pub name: String,
    pub partitions: i64,
    pub replication_factor: i64,
    #[serde(default, deserialize_with = "config_map")]
    pub configs: BTreeMap<String, String>,
}

/// `POST /v1/topics/{name}/partitions`: the new total partition count.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AddPartitionsRequest {
    pub count: i64,
}

/// One partition as described to clients.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct PartitionDescription {
    #[schema(value_type = u32)]
    pub partition: PartitionId,
    pub leader: Option<BrokerId>,
    #[schema(value_type = u32)]
    pub leader_epoch: LeaderEpoch,
    pub replicas: Vec<BrokerId>,
    pub isr: Vec<BrokerId>,
    #[schema(value_type = u32)]
    pub partition_epoch: PartitionEpoch,
    /// Eligible leader replicas (KIP-966): out of the ISR but holding every
    /// committed record; omitted when empty.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub elr: Vec<BrokerId>,
}

impl From<&PartitionState> for PartitionDescription {
    fn from(p: &PartitionState) -> Self {
        PartitionDescription {
            partition: p.partition,
            leader: p.leader,
            leader_epoch: p.leader_epoch,
            replicas: p.replicas.clone(),
            isr: p.isr.clone(),
            partition_epoch: p.partition_epoch,
            elr: p.elr.clone(),
        }
    }
}

/// A topic as `GET /v1/topics/{name}` and `POST /v1/topics` return it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct TopicDescription {
    pub topic: String,
    pub topic_id: String,
    pub replication_factor: u16,
    pub configs: BTreeMap<String, String>,
    pub partitions: Vec<PartitionDescription>,
}

impl From<&TopicImage> for TopicDescription {
    fn from(t: &TopicImage) -> Self {
        TopicDescription {
            topic: t.name.to_string(),
            topic_id: t.topic_id.clone(),
            replication_factor: t.replication_factor,
            configs: t.configs.clone(),
            partitions: t
                .partitions
                .iter()
                .map(PartitionDescription::from)
                .collect(),
        }
    }
}

/// One row of `GET /v1/topics`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct TopicListing {
    pub topic: String,
    pub partitions: u32,
    pub replication_factor: u16,
}

/// `GET /v1/topics`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct TopicList {
    pub topics: Vec<TopicListing>,
}

/// A quorum member as one controller sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ControllerMember {
    pub id: u64,
    pub url: String,
    /// `leader`, `follower`, or `unknown` (this node cannot tell).
    pub role: String,
    /// Milliseconds since the leader last heard from it (leader's view only).
    pub last_contact_ms: Option<u64>,
}

/// `GET /v1/cluster`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ClusterInfo {
    pub cluster_id: Option<String>,
    pub controller_id: u64,
    pub leader_id: Option<u64>,
    pub term: u64,
    pub commit_index: u64,
    pub metadata_offset: u64,
    pub members: Vec<ControllerMember>,
}

/// One row of `GET /v1/brokers`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct BrokerInfo {
    pub id: BrokerId,
    pub url: String,
    pub rack: Option<String>,
    pub fenced: bool,
    pub epoch: u64,
    /// Milliseconds since the active controller heard from it (`null` elsewhere).
    pub last_heartbeat_ms: Option<u64>,
}

/// `GET /v1/brokers`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct BrokerList {
    pub brokers: Vec<BrokerInfo>,
}

/// `DELETE /v1/topics/{name}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct TopicDeleted {
    pub topic: String,
    pub deleted: bool,
}

/// `POST /v1/producer-ids`: a new idempotent producer (epoch 0).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ProducerIdGrant {
    pub producer_id: u64,
    pub producer_epoch: u16,
}

/// Config values may be sent as JSON strings, numbers or booleans; all are kept as text.
fn config_map<'de, D: Deserializer<'de>>(d: D) -> Result<BTreeMap<String, String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Value {
        Text(String),
        Int(i64),
        Bool(bool),
    }
    let raw: Option<BTreeMap<String, Value>> = Option::deserialize(d)?;
    Ok(raw
        .unwrap_or_default()
        .into_iter()
        .map(|(k, v)| {
            let v = match v {
                Value::Text(s) => s,
                Value::Int(i) => i.to_string(),
                Value::Bool(b) => b.to_string(),
            };
            (k, v)
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn configs_accept_numbers_and_strings() {
        let r: CreateTopicRequest = serde_json::from_str(
            r#"{"name":"t","partitions":1,"replication_factor":1,
                "configs":{"retention.ms":1000,"cleanup.policy":"delete","x":true}}"#,
        )
        .unwrap();
        assert_eq!(r.configs["retention.ms"], "1000");
        assert_eq!(r.configs["x"], "true");
    }

    #[test]
    fn unknown_fields_are_refused() {
        let r = serde_json::from_str::<CreateTopicRequest>(
            r#"{"name":"t","partitions":1,"replication_factor":1,"replicas":3}"#,
        );
        assert!(r.is_err());
    }
}
