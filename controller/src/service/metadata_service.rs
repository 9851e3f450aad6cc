//! The controller's service layer: admin writes through Raft, reads from the
//! applied state, and the broker-facing registry (register, heartbeat, ISR changes).

use super::broker_sessions::{BrokerSessions, Contact};
use crate::config::Voter;
use crate::error::ControllerError;
use crate::metadata::commands::{ClientRef, Command, CommandRequest, Outcome, Rejection};
use crate::metadata::controller_state::MAX_PARTITIONS;
use crate::metadata::state_view::StateView;
use crate::raft::peer_contacts::PeerContacts;
use crate::raft::types::MetadataRaft;
use ferry_common::api::{
    BrokerInfo, ClusterInfo, ControllerMember, CreateTopicRequest, TopicDescription, TopicList,
    TopicListing,
};
use ferry_common::internal::{
    AlterPartitionRequest, HeartbeatRequest, HeartbeatResponse, RegisterBrokerRequest,
    RegisterBrokerResponse,
};
use ferry_common::metadata::{MetadataImage, PartitionState};
use ferry_common::{topic_config, BrokerId, ErrorCode, TopicName};
use openraft::error::{ClientWriteError, RaftError};
use openraft::ServerState;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Everything a handler or background task needs from this controller.
pub struct MetadataService {
    node_id: u64,
    voters: Vec<Voter>,
    raft: MetadataRaft,
    view: Arc<StateView>,
    sessions: Mutex<BrokerSessions>,
    contacts: Arc<PeerContacts>,
    committed: Arc<AtomicU64>,
    session_timeout: Duration,
    write_timeout: Duration,
    rebalance_interval: Option<Duration>,
}

/// Construction parameters for [`MetadataService`].
pub struct ServiceParts {
    pub node_id: u64,
    pub voters: Vec<Voter>,
    pub raft: MetadataRaft,
    pub view: Arc<StateView>,
    pub contacts: Arc<PeerContacts>,
    pub committed: Arc<AtomicU64>,
    pub session_timeout: Duration,
    pub write_timeout: Duration,
    /// `None` disables preferred-leader rebalancing.
    pub rebalance_interval: Option<Duration>,
}

impl MetadataService {
    pub fn new(p: ServiceParts) -> Arc<Self> {
        Arc::new(MetadataService {
            node_id: p.node_id,
            voters: p.voters,
            raft: p.raft,
            view: p.view,
            sessions: Mutex::new(BrokerSessions::default()),
            contacts: p.contacts,
            committed: p.committed,
            session_timeout: p.session_timeout,
            write_timeout: p.write_timeout,
            rebalance_interval: p.rebalance_interval,
        })
    }

    pub fn node_id(&self) -> u64 {
        self.node_id
    }

    pub fn view(&self) -> &Arc<StateView> {
        &self.view
    }

    pub fn raft(&self) -> &MetadataRaft {
        &self.raft
    }

    pub fn contacts(&self) -> &PeerContacts {
        &self.contacts
    }

    pub fn session_timeout(&self) -> Duration {
        self.session_timeout
    }

    pub fn rebalance_interval(&self) -> Option<Duration> {
        self.rebalance_interval
    }

    pub(crate) fn sessions(&self) -> std::sync::MutexGuard<'_, BrokerSessions> {
        self.sessions.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The current leader's id and URL, as far as this node knows.
    pub fn leader(&self) -> (Option<u64>, Option<String>) {
        let id = self.raft.metrics().borrow().current_leader;
        (id, id.and_then(|id| self.url_of(id)))
    }

    fn url_of(&self, id: u64) -> Option<String> {
        self.voters
            .iter()
            .find(|v| v.id == id)
            .map(|v| v.url.clone())
    }

    /// Whether this node is the active controller right now.
    pub fn is_leader(&self) -> bool {
        let m = self.raft.metrics().borrow().clone();
        m.state == ServerState::Leader && m.current_leader == Some(self.node_id)
    }

    fn not_controller(&self) -> ControllerError {
        let (leader_id, leader_url) = self.leader();
        let leader_id = leader_id.filter(|id| *id != self.node_id);
        ControllerError::NotController {
            leader_url: leader_id.and(leader_url),
            leader_id,
        }
    }

    /// Proposes `command`, waits until it is committed and applied here, and
    /// returns what applying it answered.
    pub async fn write(
        &self,
        client: Option<ClientRef>,
        command: Command,
    ) -> Result<Outcome, ControllerError> {
        if !self.is_leader() {
            return Err(self.not_controller());
        }
        let req = CommandRequest { client, command };
        let res = tokio::time::timeout(self.write_timeout, self.raft.client_write(req)).await;
        match res {
            Err(_) => Err(ControllerError::TimedOut(format!(
                "the write was not committed within {} ms (no quorum?); its outcome is unknown. \
                 Retry with the same Ferry-Client-Id and Ferry-Request-Seq headers to apply it at most once",
                self.write_timeout.as_millis()
            ))),
            Ok(Ok(resp)) => resp.data.map_err(ControllerError::Rejected),
            Ok(Err(RaftError::APIError(ClientWriteError::ForwardToLeader(f)))) => {
                Err(ControllerError::NotController {
                    leader_url: f.leader_node.map(|n| n.addr).or_else(|| f.leader_id.and_then(|id| self.url_of(id))),
                    leader_id: f.leader_id,
                })
            }
            Ok(Err(e)) => Err(ControllerError::Internal(format!("raft write failed: {e}"))),
        }
    }

    /// Waits until this node has applied everything committed before the call
    /// and is still the leader (a linearizable read point).
    pub async fn linearizable(&self) -> Result<(), ControllerError> {
        if !self.is_leader() {
            return Err(self.not_controller());
        }
        match tokio::time::timeout(self.write_timeout, self.raft.ensure_linearizable()).await {
            Err(_) => Err(ControllerError::TimedOut(
                "could not confirm leadership with a quorum in time".into(),
            )),
            Ok(Ok(_)) => Ok(()),
            Ok(Err(RaftError::APIError(_))) => Err(self.not_controller()),
            Ok(Err(e)) => Err(ControllerError::Internal(e.to_string())),
        }
    }

    // ---- admin: topics ----

    /// Validates and creates a topic; answers the created topic.
    pub async fn create_topic(
        &self,
        req: CreateTopicRequest,
        client: Option<ClientRef>,
    ) -> Result<TopicDescription, ControllerError> {
        let name = parse_topic(&req.name)?;
        if req.partitions < 1 || req.partitions > MAX_PARTITIONS as i64 {
            return Err(Rejection::new(
                ErrorCode::InvalidPartitions,
                format!(
                    "partitions must be between 1 and {MAX_PARTITIONS}, got {}",
                    req.partitions
                ),
            )
            .into());
        }
        if req.replication_factor < 1 || req.replication_factor > i16::MAX as i64 {
            return Err(Rejection::new(
                ErrorCode::InvalidReplicationFactor,
                format!(
                    "replication_factor must be at least 1, got {}",
                    req.replication_factor
                ),
            )
            .into());
        }
        topic_config::validate(&req.configs)
            .map_err(|m| Rejection::new(ErrorCode::InvalidConfig, m))?;
        let command = Command::CreateTopic {
            name: name.clone(),
            topic_id: uuid::Uuid::new_v4().to_string(),
            partitions: req.partitions as u32,
            replication_factor: req.replication_factor as u16,
            configs: req.configs,
        };
        self.write(client, command).await?;
        self.describe_topic(&name)
    }

    pub async fn delete_topic(
        &self,
        name: &str,
        client: Option<ClientRef>,
    ) -> Result<(), ControllerError> {
        let name = parse_topic(name)?;
        self.write(client, Command::DeleteTopic { name })
            .await
            .map(|_| ())
    }

    pub async fn add_partitions(
        &self,
        name: &str,
        count: i64,
        client: Option<ClientRef>,
    ) -> Result<TopicDescription, ControllerError> {
        let name = parse_topic(name)?;
        if count < 1 || count > MAX_PARTITIONS as i64 {
            return Err(Rejection::new(
                ErrorCode::InvalidPartitions,
                format!("count must be between 1 and {MAX_PARTITIONS}, got {count}"),
            )
            .into());
        }
        self.write(
            client,
            Command::CreatePartitions {
                name: name.clone(),
                count: count as u32,
            },
        )
        .await?;
        self.describe_topic(&name)
    }

    /// The topic as applied on this node.
    pub fn describe_topic(&self, name: &TopicName) -> Result<TopicDescription, ControllerError> {
        self.view
            .read(|s| s.image.topics.get(name).map(TopicDescription::from))
            .ok_or_else(|| ControllerError::UnknownTopic(name.to_string()))
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

    // ---- cluster views ----

    pub fn cluster_info(&self) -> ClusterInfo {
        let m = self.raft.metrics().borrow().clone();
        let leader = m.current_leader;
        let members = self
            .voters
            .iter()
            .map(|v| {
                let role = if Some(v.id) == leader {
                    "leader"
                } else if leader.is_some() {
                    "follower"
                } else {
                    "unknown"
                };
                let last_contact_ms = if v.id == self.node_id {
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
            controller_id: self.node_id,
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

    pub fn brokers(&self) -> Vec<BrokerInfo> {
        let now = Instant::now();
        let sessions = self.sessions();
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

    /// The whole applied image, for brokers resyncing after a gap.
    pub fn snapshot(&self) -> MetadataImage {
        self.view.read(|s| s.image.clone())
    }

    // ---- broker registry ----

    pub async fn register_broker(
        &self,
        req: RegisterBrokerRequest,
    ) -> Result<RegisterBrokerResponse, ControllerError> {
        if !self.is_leader() {
            return Err(self.not_controller());
        }
        if req.url.is_empty()
            || !(req.url.starts_with("http://") || req.url.starts_with("https://"))
        {
            return Err(ControllerError::InvalidRequest(format!(
                "broker url '{}' must be an http(s) URL",
                req.url
            )));
        }
        if let Some(id) = req.broker_id {
            let now = Instant::now();
            let live_other = self.view.read(|s| {
                s.image
                    .brokers
                    .get(&id)
                    .filter(|b| !b.fenced && b.incarnation_id != req.incarnation_id)
                    .map(|b| b.epoch)
            });
            if let Some(epoch) = live_other {
                if self
                    .sessions()
                    .is_live(id, epoch, now, self.session_timeout)
                {
                    return Err(Rejection::new(
                        ErrorCode::DuplicateBrokerRegistration,
                        format!("broker {id} is registered by another live process; wait for its session to expire"),
                    )
                    .into());
                }
            }
        }
        match self.write(None, Command::RegisterBroker(req)).await? {
            Outcome::Broker {
                broker_id,
                broker_epoch,
                cluster_id,
            } => {
                let contact = Contact {
                    at: Instant::now(),
                    epoch: broker_epoch,
                    metadata_offset: 0,
                };
                self.sessions().record(broker_id, contact);
                tracing::info!(broker_id = broker_id.0, broker_epoch, "broker registered");
                Ok(RegisterBrokerResponse {
                    broker_id,
                    broker_epoch,
                    cluster_id,
                })
            }
            other => Err(ControllerError::Internal(format!(
                "registration answered {other:?}"
            ))),
        }
    }

    /// Records a heartbeat; unfences the broker once it has caught up with the
    /// metadata log up to its own registration.
    pub async fn heartbeat(
        &self,
        id: BrokerId,
        req: HeartbeatRequest,
    ) -> Result<HeartbeatResponse, ControllerError> {
        if !self.is_leader() {
            return Err(self.not_controller());
        }
        let current = self
            .view
            .read(|s| s.image.brokers.get(&id).map(|b| (b.epoch, b.fenced)));
        let (epoch, fenced) = check_epoch(id, req.broker_epoch, current)?;
        self.sessions().record(
            id,
            Contact {
                at: Instant::now(),
                epoch,
                metadata_offset: req.metadata_offset,
            },
        );
        let mut now_fenced = fenced;
        if fenced && req.metadata_offset >= epoch {
            self.write(
                None,
                Command::UnfenceBroker {
                    broker_id: id,
                    epoch,
                },
            )
            .await?;
            now_fenced = self
                .view
                .read(|s| s.image.brokers.get(&id).is_none_or(|b| b.fenced));
            if !now_fenced {
                tracing::info!(
                    broker_id = id.0,
                    broker_epoch = epoch,
                    "broker caught up; unfenced"
                );
            }
        }
        Ok(HeartbeatResponse {
            fenced: now_fenced,
            unfence_at_offset: epoch,
            controller_id: self.node_id,
        })
    }

    /// A fresh producer id, committed through the metadata log.
    pub async fn allocate_producer_id(
        &self,
        client: Option<ClientRef>,
    ) -> Result<u64, ControllerError> {
        match self.write(client, Command::AllocateProducerId).await? {
            Outcome::ProducerId { producer_id } => Ok(producer_id),
            other => Err(ControllerError::Internal(format!(
                "producer id allocation answered {other:?}"
            ))),
        }
    }

    /// Controlled shutdown: fences the broker now (moving its leaderships and
    /// ISR seats) instead of waiting for its session to expire.
    pub async fn controlled_shutdown(
        &self,
        id: BrokerId,
        broker_epoch: u64,
    ) -> Result<(), ControllerError> {
        if !self.is_leader() {
            return Err(self.not_controller());
        }
        let current = self
            .view
            .read(|s| s.image.brokers.get(&id).map(|b| (b.epoch, b.fenced)));
        let (epoch, _) = check_epoch(id, broker_epoch, current)?;
        self.write(
            None,
            Command::FenceBroker {
                broker_id: id,
                epoch,
            },
        )
        .await?;
        tracing::info!(
            broker_id = id.0,
            broker_epoch = epoch,
            "controlled shutdown: broker fenced, leadership moved"
        );
        Ok(())
    }

    /// Proposes preferred-leader elections when some partition qualifies.
    pub async fn rebalance_leaders(&self) -> Result<usize, ControllerError> {
        let n = self.view.read(|s| s.preferred_elections().len());
        if n > 0 {
            self.write(None, Command::ElectPreferredLeaders).await?;
        }
        Ok(n)
    }

    pub async fn alter_partition(
        &self,
        req: AlterPartitionRequest,
    ) -> Result<PartitionState, ControllerError> {
        let topic = parse_topic(&req.topic)?;
        let command = Command::AlterPartition {
            broker_id: req.broker_id,
            broker_epoch: req.broker_epoch,
            topic: topic.clone(),
            partition: req.partition,
            leader_epoch: req.leader_epoch,
            partition_epoch: req.partition_epoch,
            new_isr: req.new_isr,
        };
        self.write(None, command).await?;
        self.view
            .read(|s| {
                s.image
                    .topics
                    .get(&topic)
                    .and_then(|t| t.partitions.get(req.partition as usize).cloned())
            })
            .ok_or_else(|| ControllerError::UnknownTopic(topic.to_string()))
    }

    /// Proposes the cluster id if none is set yet (first leader after bootstrap).
    pub async fn ensure_cluster_id(&self) -> Result<(), ControllerError> {
        if self.view.read(|s| s.image.cluster_id.is_some()) {
            return Ok(());
        }
        let cluster_id = uuid::Uuid::new_v4().to_string();
        self.write(None, Command::InitCluster { cluster_id })
            .await
            .map(|_| ())
    }
}

fn parse_topic(name: &str) -> Result<TopicName, ControllerError> {
    TopicName::new(name).map_err(|e| Rejection::new(ErrorCode::InvalidTopicException, e.0).into())
}

/// `(epoch, fenced)` of a heartbeating broker, or why its heartbeat is refused.
fn check_epoch(
    id: BrokerId,
    theirs: u64,
    current: Option<(u64, bool)>,
) -> Result<(u64, bool), ControllerError> {
    match current {
        None => Err(Rejection::new(ErrorCode::BrokerIdNotRegistered, format!("broker {id} is not registered; register first")).into()),
        Some((epoch, _)) if epoch != theirs => Err(Rejection::new(
            ErrorCode::StaleBrokerEpoch,
            format!("broker {id} epoch {theirs} is stale; the current registration has epoch {epoch}; re-register"),
        )
        .into()),
        Some(cur) => Ok(cur),
    }
}
