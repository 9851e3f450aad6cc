//! The applied metadata state in sled, one small value per entity.
//!
//! Each applied batch of entries is written with one atomic `apply_batch`
//! together with `last_applied`, so the stored state is always the state after
//! some prefix of the log. It is not fsynced per apply: the Raft log is durable
//! and openraft re-applies committed entries after `last_applied` on restart.
//! It *is* synced before a snapshot is taken, so the log is never purged past
//! what the stored state reflects.

use super::durable::DurableDb;
use super::StorageError;
use crate::metadata::client_sessions::ClientSession;
use crate::metadata::controller_state::Applied;
use crate::metadata::ControllerState;
use ferry_common::metadata::{BrokerRegistration, MetadataRecord, PartitionState, TopicImage};
use ferry_common::security::{AclBinding, ScramCredential};
use ferry_common::TopicName;
use openraft::{BasicNode, LogId, StoredMembership};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};

const HEADER: &[u8] = b"header";

/// Raft's view of the stored state plus the image's scalar fields.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct StateHeader {
    pub last_applied: Option<LogId<u64>>,
    pub membership: StoredMembership<u64, BasicNode>,
    pub cluster_id: Option<String>,
    pub offset: u64,
    pub last_record_offset: u64,
    #[serde(default)]
    pub next_producer_id: u64,
}

/// A topic without its partitions (those are stored one per key).
#[derive(Serialize, Deserialize)]
struct TopicHeader {
    name: TopicName,
    topic_id: String,
    replication_factor: u16,
    configs: BTreeMap<String, String>,
}

/// How much of one topic a batch changed.
enum Touched {
    /// Created or removed: rewrite it whole.
    Whole,
    /// Only these partitions changed.
    Partitions(BTreeSet<u32>),
}

/// sled tree `state` holding [`ControllerState`].
#[derive(Clone)]
pub struct StateStore {
    durable: DurableDb,
    tree: sled::Tree,
}

fn broker_key(id: u32) -> String {
    format!("broker/{id:010}")
}
fn topic_key(name: &TopicName) -> String {
    format!("topic/{name}")
}
fn part_prefix(name: &TopicName) -> String {
    format!("part/{name}/")
}
fn part_key(name: &TopicName, p: u32) -> String {
    format!("part/{name}/{p:010}")
}
fn session_key(id: &str) -> String {
    format!("session/{id}")
}
fn user_key(name: &str) -> String {
    format!("user/{name}")
}
/// ACLs have no name: the key is the binding's own JSON, so equal bindings
/// share a key and a removal finds the one it removes.
fn acl_key(b: &AclBinding) -> Result<Vec<u8>, StorageError> {
    let mut key = b"acl/".to_vec();
    key.extend(json(b)?);
    Ok(key)
}

fn topic_header(t: &TopicImage) -> TopicHeader {
    TopicHeader {
        name: t.name.clone(),
        topic_id: t.topic_id.clone(),
        replication_factor: t.replication_factor,
        configs: t.configs.clone(),
    }
}

fn json<T: Serialize>(v: &T) -> Result<Vec<u8>, StorageError> {
    serde_json::to_vec(v).map_err(|e| StorageError::Corrupt {
        what: "state value",
        detail: e.to_string(),
    })
}

impl StateStore {
    pub fn open(durable: DurableDb) -> Result<Self, StorageError> {
        let tree = durable
            .db
            .open_tree("state")
            .map_err(StorageError::sled("open state tree"))?;
        Ok(StateStore { durable, tree })
    }

    /// Rebuilds the state and header from sled.
    pub fn load(&self) -> Result<(ControllerState, StateHeader), StorageError> {
        let mut state = ControllerState::default();
        let mut header = StateHeader::default();
        let mut partitions: BTreeMap<TopicName, Vec<PartitionState>> = BTreeMap::new();
        for kv in self.tree.iter() {
            let (k, v) = kv.map_err(StorageError::sled("scan state"))?;
            let key = String::from_utf8_lossy(&k);
            if *k == *HEADER {
                header =
                    serde_json::from_slice(&v).map_err(StorageError::corrupt("state header"))?;
            } else if key.starts_with("broker/") {
                let b: BrokerRegistration =
                    serde_json::from_slice(&v).map_err(StorageError::corrupt("broker"))?;
                state.image.brokers.insert(b.id, b);
            } else if key.starts_with("topic/") {
                let t: TopicHeader =
                    serde_json::from_slice(&v).map_err(StorageError::corrupt("topic"))?;
                state.image.topics.insert(
                    t.name.clone(),
                    TopicImage {
                        name: t.name,
                        topic_id: t.topic_id,
                        replication_factor: t.replication_factor,
                        configs: t.configs,
                        partitions: Vec::new(),
                    },
                );
            } else if let Some(rest) = key.strip_prefix("part/") {
                let name = rest.split('/').next().unwrap_or_default();
                let name = TopicName::new(name).map_err(|e| StorageError::Corrupt {
                    what: "partition key",
                    detail: e.0,
                })?;
                let p: PartitionState =
                    serde_json::from_slice(&v).map_err(StorageError::corrupt("partition"))?;
                partitions.entry(name).or_default().push(p);
            } else if let Some(name) = key.strip_prefix("user/") {
                let c: ScramCredential =
                    serde_json::from_slice(&v).map_err(StorageError::corrupt("user"))?;
                state.image.users.insert(name.to_string(), c);
            } else if key.starts_with("acl/") {
                let b: AclBinding =
                    serde_json::from_slice(&v).map_err(StorageError::corrupt("acl"))?;
                state.image.acls.insert(b);
            } else if let Some(id) = key.strip_prefix("session/") {
                let s: ClientSession =
                    serde_json::from_slice(&v).map_err(StorageError::corrupt("session"))?;
                state.sessions.insert(id.to_string(), s);
            }
        }
        for (name, parts) in partitions {
            if let Some(t) = state.image.topics.get_mut(&name) {
                t.partitions = parts;
            }
        }
        state.image.cluster_id = header.cluster_id.clone();
        state.image.offset = header.offset;
        state.image.last_record_offset = header.last_record_offset;
        state.image.next_producer_id = header.next_producer_id;
        Ok((state, header))
    }

    /// Writes what `applied` changed, plus the new header, atomically.
    ///
    /// Each entity a record touched is written once, as it stands in `state`
    /// after the whole batch. A topic created or removed in the batch is
    /// rewritten whole (its partition prefix cleared first): writing per record
    /// kept the old partition keys of a topic deleted and re-created with fewer
    /// partitions in one batch, and a restart then loaded phantom partitions.
    /// Partition changes alone write just those partitions (ISR changes are
    /// frequent, topics can be large).
    pub fn persist(
        &self,
        state: &ControllerState,
        applied: &[Applied],
        header: &StateHeader,
    ) -> Result<(), StorageError> {
        let mut brokers = BTreeSet::new();
        let mut topics: BTreeMap<&TopicName, Touched> = BTreeMap::new();
        let mut sessions = BTreeSet::new();
        let mut users = BTreeSet::new();
        let mut acls = BTreeSet::new();
        for a in applied {
            for r in a.delta.iter().flat_map(|d| &d.records) {
                match r {
                    MetadataRecord::ClusterId { .. } | MetadataRecord::ProducerIds { .. } => {}
                    MetadataRecord::RegisterBroker(BrokerRegistration { id, .. })
                    | MetadataRecord::FenceBroker { broker_id: id, .. }
                    | MetadataRecord::UnfenceBroker { broker_id: id, .. } => {
                        brokers.insert(*id);
                    }
                    MetadataRecord::Topic { name, .. }
                    | MetadataRecord::RemoveTopic { name, .. } => {
                        topics.insert(name, Touched::Whole);
                    }
                    MetadataRecord::Partition { topic, state: p } => {
                        if let Touched::Partitions(ps) = topics
                            .entry(topic)
                            .or_insert_with(|| Touched::Partitions(BTreeSet::new()))
                        {
                            ps.insert(p.partition);
                        }
                    }
                    MetadataRecord::UserScramCredential { user, .. }
                    | MetadataRecord::RemoveUserScramCredential { user } => {
                        users.insert(user.as_str());
                    }
                    MetadataRecord::Acl { binding } | MetadataRecord::RemoveAcl { binding } => {
                        acls.insert(binding);
                    }
                }
            }
            sessions.extend(a.session.iter());
            sessions.extend(a.evicted.iter());
        }
        let mut batch = sled::Batch::default();
        for id in brokers {
            match state.image.brokers.get(&id) {
                Some(b) => batch.insert(broker_key(id.0).as_bytes(), json(b)?),
                None => batch.remove(broker_key(id.0).as_bytes()),
            }
        }
        for (name, touched) in topics {
            let topic = state.image.topics.get(name);
            match touched {
                Touched::Whole => self.stage_topic(&mut batch, name, topic)?,
                Touched::Partitions(ps) => {
                    let current = ps.iter().filter_map(|p| topic?.partitions.get(*p as usize));
                    for p in current {
                        batch.insert(part_key(name, p.partition).as_bytes(), json(p)?);
                    }
                }
            }
        }
        for id in sessions {
            match state.sessions.get(id) {
                Some(s) => batch.insert(session_key(id).as_bytes(), json(s)?),
                None => batch.remove(session_key(id).as_bytes()),
            }
        }
        for name in users {
            match state.image.users.get(name) {
                Some(c) => batch.insert(user_key(name).as_bytes(), json(c)?),
                None => batch.remove(user_key(name).as_bytes()),
            }
        }
        for b in acls {
            if state.image.acls.contains(b) {
                batch.insert(acl_key(b)?, json(b)?);
            } else {
                batch.remove(acl_key(b)?);
            }
        }
        batch.insert(HEADER, json(header)?);
        self.tree
            .apply_batch(batch)
            .map_err(StorageError::sled("persist applied state"))
    }

    /// Stages `name` exactly as `topic` (absent: removed): every stored
    /// partition key of the name goes, the current ones are written back.
    fn stage_topic(
        &self,
        batch: &mut sled::Batch,
        name: &TopicName,
        topic: Option<&TopicImage>,
    ) -> Result<(), StorageError> {
        // A later insert of the same key in one batch wins over this remove.
        for kv in self.tree.scan_prefix(part_prefix(name).as_bytes()) {
            let (k, _) = kv.map_err(StorageError::sled("scan partitions"))?;
            batch.remove(k);
        }
        let Some(t) = topic else {
            batch.remove(topic_key(name).as_bytes());
            return Ok(());
        };
        batch.insert(topic_key(name).as_bytes(), json(&topic_header(t))?);
        for p in &t.partitions {
            batch.insert(part_key(name, p.partition).as_bytes(), json(p)?);
        }
        Ok(())
    }

    /// Replaces the whole stored state (snapshot install) and syncs it.
    pub fn replace_all(
        &self,
        state: &ControllerState,
        header: &StateHeader,
    ) -> Result<(), StorageError> {
        let mut batch = sled::Batch::default();
        for kv in self.tree.iter() {
            let (k, _) = kv.map_err(StorageError::sled("scan state"))?;
            batch.remove(k);
        }
        for b in state.image.brokers.values() {
            batch.insert(broker_key(b.id.0).as_bytes(), json(b)?);
        }
        for t in state.image.topics.values() {
            batch.insert(topic_key(&t.name).as_bytes(), json(&topic_header(t))?);
            for p in &t.partitions {
                batch.insert(part_key(&t.name, p.partition).as_bytes(), json(p)?);
            }
        }
        for (id, s) in &state.sessions {
            batch.insert(session_key(id).as_bytes(), json(s)?);
        }
        for (name, c) in &state.image.users {
            batch.insert(user_key(name).as_bytes(), json(c)?);
        }
        for b in &state.image.acls {
            batch.insert(acl_key(b)?, json(b)?);
        }
        batch.insert(HEADER, json(header)?);
        self.tree
            .apply_batch(batch)
            .map_err(StorageError::sled("replace state"))?;
        self.durable.sync()
    }

    /// Makes the stored state durable (before a snapshot allows purging the log).
    pub async fn sync(&self) -> Result<(), StorageError> {
        self.durable.sync_async().await
    }
}

#[cfg(test)]
#[path = "state_store_tests.rs"]
mod tests;
