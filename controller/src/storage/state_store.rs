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
use ferry_common::TopicName;
use openraft::{BasicNode, LogId, StoredMembership};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

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
    pub fn persist(
        &self,
        state: &ControllerState,
        applied: &[Applied],
        header: &StateHeader,
    ) -> Result<(), StorageError> {
        let mut batch = sled::Batch::default();
        for a in applied {
            if let Some(delta) = &a.delta {
                for r in &delta.records {
                    self.stage_record(&mut batch, state, r)?;
                }
            }
            if let Some(id) = &a.session {
                if let Some(s) = state.sessions.get(id) {
                    batch.insert(session_key(id).as_bytes(), json(s)?);
                }
            }
            for id in &a.evicted {
                batch.remove(session_key(id).as_bytes());
            }
        }
        batch.insert(HEADER, json(header)?);
        self.tree
            .apply_batch(batch)
            .map_err(StorageError::sled("persist applied state"))
    }

    fn stage_record(
        &self,
        batch: &mut sled::Batch,
        state: &ControllerState,
        r: &MetadataRecord,
    ) -> Result<(), StorageError> {
        match r {
            MetadataRecord::ClusterId { .. } | MetadataRecord::ProducerIds { .. } => {}
            MetadataRecord::RegisterBroker(BrokerRegistration { id, .. })
            | MetadataRecord::FenceBroker { broker_id: id, .. }
            | MetadataRecord::UnfenceBroker { broker_id: id, .. } => {
                if let Some(b) = state.image.brokers.get(id) {
                    batch.insert(broker_key(id.0).as_bytes(), json(b)?);
                }
            }
            MetadataRecord::Topic { name, .. } => {
                if let Some(t) = state.image.topics.get(name) {
                    let h = TopicHeader {
                        name: t.name.clone(),
                        topic_id: t.topic_id.clone(),
                        replication_factor: t.replication_factor,
                        configs: t.configs.clone(),
                    };
                    batch.insert(topic_key(name).as_bytes(), json(&h)?);
                }
            }
            MetadataRecord::Partition { topic, state: p } => {
                if state.image.topics.contains_key(topic) {
                    let current = state.image.topics[topic]
                        .partitions
                        .get(p.partition as usize)
                        .unwrap_or(p);
                    batch.insert(part_key(topic, p.partition).as_bytes(), json(current)?);
                }
            }
            MetadataRecord::RemoveTopic { name, .. } => {
                if !state.image.topics.contains_key(name) {
                    batch.remove(topic_key(name).as_bytes());
                    for kv in self.tree.scan_prefix(part_prefix(name).as_bytes()) {
                        let (k, _) = kv.map_err(StorageError::sled("scan partitions"))?;
                        batch.remove(k);
                    }
                }
            }
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
            let h = TopicHeader {
                name: t.name.clone(),
                topic_id: t.topic_id.clone(),
                replication_factor: t.replication_factor,
                configs: t.configs.clone(),
            };
            batch.insert(topic_key(&t.name).as_bytes(), json(&h)?);
            for p in &t.partitions {
                batch.insert(part_key(&t.name, p.partition).as_bytes(), json(p)?);
            }
        }
        for (id, s) in &state.sessions {
            batch.insert(session_key(id).as_bytes(), json(s)?);
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
mod tests {
    use super::*;
    use crate::metadata::commands::{ClientRef, Command, CommandRequest};
    use ferry_common::internal::RegisterBrokerRequest;

    fn apply(
        state: &mut ControllerState,
        off: u64,
        command: Command,
        client: Option<ClientRef>,
    ) -> Applied {
        state.apply(off, &CommandRequest { client, command })
    }

    #[test]
    fn persisted_state_reloads_identically() {
        let dir = tempfile::tempdir().unwrap();
        let db = DurableDb::open(dir.path(), 1).unwrap();
        let store = StateStore::open(db).unwrap();
        let mut s = ControllerState::default();
        let mut applied = vec![apply(
            &mut s,
            1,
            Command::InitCluster {
                cluster_id: "c".into(),
            },
            None,
        )];
        for i in 0..3u64 {
            let reg = RegisterBrokerRequest {
                broker_id: None,
                url: format!("http://b{i}"),
                rack: None,
                incarnation_id: format!("i{i}"),
                cluster_id: None,
            };
            let a = apply(&mut s, 2 + 2 * i, Command::RegisterBroker(reg), None);
            let epoch = 2 + 2 * i;
            applied.push(a);
            let id = ferry_common::BrokerId(i as u32 + 1);
            applied.push(apply(
                &mut s,
                3 + 2 * i,
                Command::UnfenceBroker {
                    broker_id: id,
                    epoch,
                },
                None,
            ));
        }
        for (off, name) in [(10, "a"), (11, "b")] {
            let cmd = Command::CreateTopic {
                name: TopicName::new(name).unwrap(),
                topic_id: name.into(),
                partitions: 4,
                replication_factor: 2,
                configs: BTreeMap::new(),
            };
            applied.push(apply(
                &mut s,
                off,
                cmd,
                Some(ClientRef {
                    id: "cli".into(),
                    seq: off,
                }),
            ));
        }
        applied.push(apply(
            &mut s,
            12,
            Command::DeleteTopic {
                name: TopicName::new("a").unwrap(),
            },
            None,
        ));
        let header = StateHeader {
            cluster_id: s.image.cluster_id.clone(),
            offset: s.image.offset,
            last_record_offset: s.image.last_record_offset,
            next_producer_id: s.image.next_producer_id,
            ..Default::default()
        };
        store.persist(&s, &applied, &header).unwrap();
        let (loaded, h) = store.load().unwrap();
        assert_eq!(loaded, s);
        assert_eq!(h, header);

        let mut other = s.clone();
        other.image.topics.clear();
        store.replace_all(&other, &header).unwrap();
        assert_eq!(store.load().unwrap().0, other);
    }
}
