//! The broker's shared state, handed to every handler and background task.

use super::metadata_cache::MetadataCache;
use super::partition::Partition;
use super::partitioner::StickyPartitioner;
use super::replica_manager::ReplicaManager;
use crate::config::BrokerConfig;
use crate::error::BrokerError;
use crate::membership::controller_client::ControllerClient;
use crate::metrics::Metrics;
use crate::peer_client::PeerClient;
use crate::replication::fetcher::ReplicaFetchers;
use ferry_common::{BrokerId, TopicName};
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::Arc;

/// Everything the broker knows and owns.
pub struct Broker {
    pub config: BrokerConfig,
    pub advertised_url: String,
    /// 0 until registered.
    id: AtomicU32,
    pub epoch: AtomicU64,
    pub fenced: AtomicBool,
    /// Set on SIGTERM: heartbeats stop so the controller keeps this broker fenced.
    pub shutting_down: AtomicBool,
    pub cluster_id: std::sync::RwLock<Option<String>>,
    pub metadata: MetadataCache,
    pub replicas: ReplicaManager,
    pub peers: PeerClient,
    pub controller: Arc<ControllerClient>,
    pub metrics: Arc<Metrics>,
    /// Bumped on every local append: wakes replica fetches waiting for data.
    pub appended: tokio::sync::watch::Sender<u64>,
    pub sticky: StickyPartitioner,
    pub fetchers: ReplicaFetchers,
    pub group_offsets: super::group_offsets::GroupOffsets,
    pub coordinator: super::group_coordinator::GroupCoordinator,
    /// Counts produce requests for `fault_lose_produce_ack_every`.
    pub produce_requests: AtomicU64,
}

impl Broker {
    pub fn new(
        config: BrokerConfig,
        advertised_url: String,
        controller: Arc<ControllerClient>,
        metrics: Arc<Metrics>,
    ) -> Arc<Self> {
        let replicas = ReplicaManager::new(&config.data_dir, config.flush_on_append);
        Arc::new(Broker {
            advertised_url,
            id: AtomicU32::new(0),
            epoch: AtomicU64::new(0),
            fenced: AtomicBool::new(true),
            shutting_down: AtomicBool::new(false),
            cluster_id: std::sync::RwLock::new(None),
            metadata: MetadataCache::default(),
            replicas,
            peers: PeerClient::new(),
            controller,
            metrics,
            appended: tokio::sync::watch::channel(0).0,
            sticky: StickyPartitioner::default(),
            fetchers: ReplicaFetchers::default(),
            group_offsets: Default::default(),
            coordinator: Default::default(),
            produce_requests: AtomicU64::new(0),
            config,
        })
    }

    /// This broker's id once registered.
    pub fn id(&self) -> Option<BrokerId> {
        match self.id.load(Ordering::Acquire) {
            0 => None,
            id => Some(BrokerId(id)),
        }
    }

    pub fn set_id(&self, id: BrokerId) {
        self.id.store(id.0, Ordering::Release);
    }

    /// Registered, unfenced and caught up with metadata up to its registration.
    pub fn is_ready(&self) -> bool {
        self.id().is_some()
            && !self.fenced.load(Ordering::Acquire)
            && self.metadata.offset() >= self.epoch.load(Ordering::Acquire)
    }

    pub fn require_id(&self) -> Result<BrokerId, BrokerError> {
        self.id().ok_or_else(|| {
            BrokerError::NotReady(
                "this broker has not registered with the controller yet; retry".into(),
            )
        })
    }

    /// Tells waiting replica fetches that some local log grew.
    pub fn notify_appended(&self) {
        self.appended.send_modify(|n| *n = n.wrapping_add(1));
    }

    /// Parses a topic name from a path; illegal names cannot exist.
    pub fn topic_name(name: &str) -> Result<TopicName, BrokerError> {
        TopicName::new(name).map_err(|e| {
            BrokerError::UnknownTopicOrPartition(format!("topic '{name}' does not exist ({})", e.0))
        })
    }

    /// The local replica of `topic`/`partition` if this broker leads it, else the
    /// error a client should see (with the leader hint).
    pub fn leader_replica(
        &self,
        topic: &TopicName,
        partition: u32,
    ) -> Result<Arc<Partition>, BrokerError> {
        let me = self.require_id()?;
        let Some(state) = self.metadata.partition(topic, partition) else {
            return Err(self.unknown(topic, partition));
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
            BrokerError::LeaderNotAvailable(format!(
                "the replica of {topic}-{partition} is still being opened here; retry"
            ))
        })
    }

    /// Refuses a request made for another leader epoch than the current one.
    pub fn check_leader_epoch(part: &Partition, requested: Option<u32>) -> Result<(), BrokerError> {
        let Some(req) = requested else { return Ok(()) };
        let cur = part.state().leader_epoch;
        if req < cur {
            return Err(BrokerError::FencedLeaderEpoch(format!(
                "leader epoch {req} of {}-{} is stale; the current epoch is {cur}; refresh metadata",
                part.topic, part.partition
            )));
        }
        if req > cur {
            return Err(BrokerError::UnknownLeaderEpoch(format!(
                "leader epoch {req} of {}-{} is newer than this broker's {cur}; retry",
                part.topic, part.partition
            )));
        }
        Ok(())
    }

    pub fn unknown(&self, topic: &TopicName, partition: u32) -> BrokerError {
        match self.metadata.topic(topic) {
            None => BrokerError::UnknownTopicOrPartition(format!(
                "topic '{topic}' does not exist (as of metadata offset {})",
                self.metadata.offset()
            )),
            Some(t) => BrokerError::UnknownTopicOrPartition(format!(
                "topic '{topic}' has {} partitions; partition {partition} does not exist",
                t.partitions.len()
            )),
        }
    }
}
