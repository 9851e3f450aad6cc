//! What clients ask of the controller (the public `/v1` API): topics, producer
//! ids, the cluster and broker views.
//!
//! Requests are validated here so that bad input gets a precise code before
//! anything is proposed; the state machine checks again at apply time.

use super::broker_sessions::SessionTable;
use super::write_path::WritePath;
use crate::error::{parse_topic, ControllerError};
use crate::metadata::commands::{ClientRef, Command, Outcome};
use crate::metadata::controller_state::MAX_PARTITIONS;
use crate::metadata::state_view::StateView;
use crate::raft::peer_contacts::PeerContacts;
use ferry_common::api::{
    BrokerInfo, ClusterInfo, ControllerMember, CreateTopicRequest, TopicDescription, TopicList,
    TopicListing,
};
use ferry_common::{topic_config, TopicName};
use openraft::ServerState;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;

/// The client admin API of this controller.
pub struct AdminService {
    path: Arc<WritePath>,
    view: Arc<StateView>,
    sessions: Arc<SessionTable>,
    contacts: Arc<PeerContacts>,
    committed: Arc<AtomicU64>,
    replica_limit: u32,
}

impl AdminService {
    pub fn new(
        path: Arc<WritePath>,
        view: Arc<StateView>,
        sessions: Arc<SessionTable>,
        contacts: Arc<PeerContacts>,
        committed: Arc<AtomicU64>,
        replica_limit: u32,
    ) -> Self {
        AdminService {
            path,
            view,
            sessions,
            contacts,
            committed,
            replica_limit,
        }
    }

    /// The write path, for leadership queries and Raft metrics.
    pub fn write_path(&self) -> &WritePath {
        &self.path
    }

    /// The applied state this controller serves reads from.
    pub fn view(&self) -> &StateView {
        &self.view
    }

    /// A linearizable read point (`?consistent=true`).
    pub async fn linearizable(&self) -> Result<(), ControllerError> {
        self.path.linearizable().await
    }

    /// Validates and creates a topic; answers the created topic.
    pub async fn create_topic(
        &self,
        req: CreateTopicRequest,
        client: Option<ClientRef>,
    ) -> Result<TopicDescription, ControllerError> {
        let name = parse_topic(&req.name)?;
        check_partition_count("partitions", req.partitions)?;
        if req.replication_factor < 1 || req.replication_factor > i16::MAX as i64 {
            return Err(ControllerError::InvalidReplicationFactor {
                got: req.replication_factor,
            });
        }
        topic_config::validate(&req.configs)
            .map_err(|reason| ControllerError::InvalidTopicConfig { reason })?;
        let command = Command::CreateTopic {
            name: name.clone(),
            topic_id: uuid::Uuid::new_v4().to_string(),
            partitions: req.partitions as u32,
            replication_factor: req.replication_factor as u16,
            configs: req.configs,
            max_replicas_per_broker: Some(self.replica_limit),
        };
        self.path.write(client, command).await?;
        self.describe_topic(&name)
    }

    pub async fn delete_topic(
        &self,
        name: &str,
        client: Option<ClientRef>,
    ) -> Result<(), ControllerError> {
        let name = parse_topic(name)?;
        refuse_internal(&name, "delete")?;
        self.path
            .write(client, Command::DeleteTopic { name })
            .await
            .map(|_| ())
    }

    /// Grows a topic to `count` partitions in total.
    pub async fn add_partitions(
        &self,
        name: &str,
        count: i64,
        client: Option<ClientRef>,
    ) -> Result<TopicDescription, ControllerError> {
        let name = parse_topic(name)?;
        refuse_internal(&name, "add partitions to")?;
        check_partition_count("count", count)?;
        let command = Command::CreatePartitions {
            name: name.clone(),
            count: count as u32,
            max_replicas_per_broker: Some(self.replica_limit),
        };
        self.path.write(client, command).await?;
        self.describe_topic(&name)
    }

    /// The topic as applied on this node.
    pub fn describe_topic(&self, name: &TopicName) -> Result<TopicDescription, ControllerError> {
        self.view
            .read(|s| s.image.topics.get(name).map(TopicDescription::from))
            .ok_or_else(|| ControllerError::UnknownTopic {
                topic: name.clone(),
            })
    }

    /// Parses the name first so an illegal one gets `INVALID_TOPIC_EXCEPTION`.
    pub fn describe_topic_str(&self, name: &str) -> Result<TopicDescription, ControllerError> {
        self.describe_topic(&parse_topic(name)?)
    }

    pub fn list_topics(&self) -> TopicList {
        let topics = self.view.read(|s| {
            s.image
                .topics
                .values()
                .map(|t| TopicListing {
                    topic: t.name.to_string(),
                    partitions: t.partitions.len() as u32,
                    replication_factor: t.replication_factor,
                })
                .collect()
        });
        TopicList { topics }
    }

    /// A fresh producer id, committed through the metadata log.
    pub async fn allocate_producer_id(
        &self,
        client: Option<ClientRef>,
    ) -> Result<u64, ControllerError> {
        match self.path.write(client, Command::AllocateProducerId).await? {
            Outcome::ProducerId { producer_id } => Ok(producer_id),
            other => Err(ControllerError::Internal(format!(
                "producer id allocation answered {other:?}"
            ))),
        }
    }

    /// The quorum as this node sees it.
    pub fn cluster_info(&self) -> ClusterInfo {
        let m = self.path.raft_metrics();
        let leader = m.current_leader;
        let node_id = self.path.node_id();
        let members = self
            .path
            .voters()
            .iter()
            .map(|v| {
                let role = if Some(v.id) == leader {
                    "leader"
                } else if leader.is_some() {
                    "follower"
                } else {
                    "unknown"
                };
                let last_contact_ms = if v.id == node_id {
                    Some(0)
                } else if m.state == ServerState::Leader || Some(v.id) == leader {
                    self.contacts.millis_since(v.id)
                } else {
                    None
                };
                ControllerMember {
                    id: v.id,
                    url: v.url.clone(),
                    role: role.into(),
                    last_contact_ms,
                }
            })
            .collect();
        let (cluster_id, offset) = self
            .view
            .read(|s| (s.image.cluster_id.clone(), s.image.offset));
        ClusterInfo {
            cluster_id,
            controller_id: node_id,
            leader_id: leader,
            term: m.current_term,
            commit_index: self
                .committed
                .load(Ordering::Relaxed)
                .max(m.last_applied.map_or(0, |l| l.index)),
            metadata_offset: offset,
            members,
        }
    }

    /// Registered brokers, with the last heartbeat the active controller saw.
    pub fn brokers(&self) -> Vec<BrokerInfo> {
        let now = Instant::now();
        let sessions = self.sessions.lock();
        self.view.read(|s| {
            s.image
                .brokers
                .values()
                .map(|b| BrokerInfo {
                    id: b.id,
                    url: b.url.clone(),
                    rack: b.rack.clone(),
                    fenced: b.fenced,
                    epoch: b.epoch,
                    last_heartbeat_ms: sessions
                        .contact(b.id)
                        .filter(|c| c.epoch == b.epoch)
                        .map(|c| now.saturating_duration_since(c.at).as_millis() as u64),
                })
                .collect()
        })
    }
}

fn check_partition_count(field: &'static str, got: i64) -> Result<(), ControllerError> {
    if got < 1 || got > MAX_PARTITIONS as i64 {
        return Err(ControllerError::PartitionCountOutOfRange {
            field,
            max: MAX_PARTITIONS,
            got,
        });
    }
    Ok(())
}

/// Internal topics are sized by the cluster: no client deletes or grows them.
fn refuse_internal(name: &TopicName, action: &'static str) -> Result<(), ControllerError> {
    if name.is_internal() {
        return Err(ControllerError::InternalTopic {
            topic: name.to_string(),
            action,
        });
    }
    Ok(())
}
