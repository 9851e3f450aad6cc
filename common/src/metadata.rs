//! The metadata log's records and the image they replay into.
//!
//! The active controller turns each committed command into records (Kafka's
//! `__cluster_metadata` model); controllers and brokers replay the same records
//! into a [`MetadataImage`], so both sides agree by construction.

use crate::security::{AclBinding, ScramCredential};
use crate::types::{
    BrokerEpoch, BrokerId, LeaderEpoch, MetadataOffset, PartitionEpoch, PartitionId, TopicName,
};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};

/// A broker as registered with the controller quorum.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BrokerRegistration {
    pub id: BrokerId,
    pub url: String,
    #[serde(default)]
    pub rack: Option<String>,
    pub incarnation_id: String,
    /// Metadata offset of the registration; a restart gets a new epoch.
    pub epoch: BrokerEpoch,
    /// Fenced brokers lead nothing and are in no ISR (except as the last member).
    pub fenced: bool,
    /// How many registrations of this broker id reported an unclean shutdown
    /// of the run before (no clean-shutdown marker); absent in older data.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub unclean_restarts: u64,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

/// The replicated state of one partition.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PartitionState {
    pub partition: PartitionId,
    /// `None` while no eligible replica can lead (all ISR members fenced).
    pub leader: Option<BrokerId>,
    pub leader_epoch: LeaderEpoch,
    pub replicas: Vec<BrokerId>,
    pub isr: Vec<BrokerId>,
    pub partition_epoch: PartitionEpoch,
    /// Eligible leader replicas (Kafka's KIP-966): replicas that left the ISR
    /// while it was below `min.insync.replicas` and so hold every committed
    /// record; a leader comes from here when no ISR member can lead. Empty while
    /// the ISR is at least `min.insync.replicas`, and absent in older data.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub elr: Vec<BrokerId>,
}

/// A topic and its partitions.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TopicImage {
    pub name: TopicName,
    pub topic_id: String,
    pub replication_factor: u16,
    pub configs: BTreeMap<String, String>,
    pub partitions: Vec<PartitionState>,
}

/// One record of the metadata log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum MetadataRecord {
    ClusterId {
        cluster_id: String,
    },
    RegisterBroker(BrokerRegistration),
    FenceBroker {
        broker_id: BrokerId,
        epoch: BrokerEpoch,
    },
    UnfenceBroker {
        broker_id: BrokerId,
        epoch: BrokerEpoch,
    },
    Topic {
        name: TopicName,
        topic_id: String,
        replication_factor: u16,
        configs: BTreeMap<String, String>,
    },
    /// A partition's full new state (creation or any change).
    Partition {
        topic: TopicName,
        state: PartitionState,
    },
    RemoveTopic {
        name: TopicName,
        topic_id: String,
    },
    /// Producer ids below `next` are taken (Kafka's ProducerIdsRecord).
    ProducerIds {
        next: u64,
    },
    /// A user's SCRAM credential, created or replaced (Kafka's
    /// `UserScramCredentialRecord`).
    UserScramCredential {
        user: String,
        credential: ScramCredential,
    },
    /// A user's credential removed.
    RemoveUserScramCredential {
        user: String,
    },
    /// An ACL added (Kafka's `AccessControlEntryRecord`); adding one that
    /// exists changes nothing.
    Acl {
        binding: AclBinding,
    },
    /// An ACL removed.
    RemoveAcl {
        binding: AclBinding,
    },
}

/// The records of one committed metadata-log entry, as pushed to brokers.
///
/// `prev_offset` is the offset of the previous delta that carried records, so a
/// broker at offset `o` may apply this delta iff `prev_offset <= o < offset`;
/// `o < prev_offset` means it missed something and must resync from a snapshot.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MetadataDelta {
    pub prev_offset: MetadataOffset,
    pub offset: MetadataOffset,
    pub records: Vec<MetadataRecord>,
}

/// What a delta means to a replica of the image at some offset.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeltaFit {
    /// Already reflected; skip.
    Stale,
    /// Apply it next.
    Next,
    /// Something between is missing; resync from a snapshot.
    Gap,
}

impl MetadataDelta {
    /// How this delta relates to an image at `offset`.
    pub fn fit(&self, offset: MetadataOffset) -> DeltaFit {
        if offset >= self.offset {
            DeltaFit::Stale
        } else if offset >= self.prev_offset {
            DeltaFit::Next
        } else {
            DeltaFit::Gap
        }
    }
}

/// Cluster metadata as of one metadata offset.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MetadataImage {
    pub cluster_id: Option<String>,
    /// Offset of the last entry reflected (records or not).
    pub offset: MetadataOffset,
    /// Offset of the last entry that carried records (the next delta's `prev_offset`).
    pub last_record_offset: MetadataOffset,
    pub brokers: BTreeMap<BrokerId, BrokerRegistration>,
    pub topics: BTreeMap<TopicName, TopicImage>,
    /// The next producer id to hand out (idempotent producers).
    #[serde(default)]
    pub next_producer_id: u64,
    /// SCRAM credentials by user name.
    #[serde(default)]
    pub users: BTreeMap<String, ScramCredential>,
    /// Every ACL of the cluster.
    #[serde(default)]
    pub acls: BTreeSet<AclBinding>,
}

impl MetadataImage {
    /// Replays the records of the entry at `offset`.
    pub fn replay(&mut self, offset: MetadataOffset, records: &[MetadataRecord]) {
        for record in records {
            self.replay_one(record);
        }
        self.offset = self.offset.max(offset);
        if !records.is_empty() {
            self.last_record_offset = offset;
        }
    }

    /// Applies a pushed delta if it fits; returns how it fitted.
    pub fn apply_delta(&mut self, delta: &MetadataDelta) -> DeltaFit {
        let fit = delta.fit(self.offset);
        if fit == DeltaFit::Next {
            self.replay(delta.offset, &delta.records);
        }
        fit
    }

    fn replay_one(&mut self, record: &MetadataRecord) {
        match record {
            MetadataRecord::ClusterId { cluster_id } => {
                self.cluster_id = Some(cluster_id.clone());
            }
            MetadataRecord::RegisterBroker(reg) => {
                self.brokers.insert(reg.id, reg.clone());
            }
            MetadataRecord::FenceBroker { broker_id, epoch } => {
                if let Some(b) = self.brokers.get_mut(broker_id) {
                    if b.epoch == *epoch {
                        b.fenced = true;
                    }
                }
            }
            MetadataRecord::UnfenceBroker { broker_id, epoch } => {
                if let Some(b) = self.brokers.get_mut(broker_id) {
                    if b.epoch == *epoch {
                        b.fenced = false;
                    }
                }
            }
            MetadataRecord::Topic {
                name,
                topic_id,
                replication_factor,
                configs,
            } => {
                let topic = self
                    .topics
                    .entry(name.clone())
                    .or_insert_with(|| TopicImage {
                        name: name.clone(),
                        topic_id: topic_id.clone(),
                        replication_factor: *replication_factor,
                        configs: BTreeMap::new(),
                        partitions: Vec::new(),
                    });
                topic.topic_id = topic_id.clone();
                topic.replication_factor = *replication_factor;
                topic.configs = configs.clone();
            }
            MetadataRecord::Partition { topic, state } => {
                if let Some(t) = self.topics.get_mut(topic) {
                    let idx = state.partition as usize;
                    if idx < t.partitions.len() {
                        t.partitions[idx] = state.clone();
                    } else if idx == t.partitions.len() {
                        t.partitions.push(state.clone());
                    }
                }
            }
            MetadataRecord::ProducerIds { next } => {
                self.next_producer_id = self.next_producer_id.max(*next);
            }
            MetadataRecord::RemoveTopic { name, topic_id } => {
                if self
                    .topics
                    .get(name)
                    .is_some_and(|t| &t.topic_id == topic_id)
                {
                    self.topics.remove(name);
                }
            }
            MetadataRecord::UserScramCredential { user, credential } => {
                self.users.insert(user.clone(), credential.clone());
            }
            MetadataRecord::RemoveUserScramCredential { user } => {
                self.users.remove(user);
            }
            MetadataRecord::Acl { binding } => {
                self.acls.insert(binding.clone());
            }
            MetadataRecord::RemoveAcl { binding } => {
                self.acls.remove(binding);
            }
        }
    }

    /// Brokers that may host new replicas and lead partitions.
    pub fn unfenced_brokers(&self) -> impl Iterator<Item = &BrokerRegistration> {
        self.brokers.values().filter(|b| !b.fenced)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn topic(name: &str) -> TopicName {
        TopicName::new(name).unwrap()
    }

    #[test]
    fn delta_fit_detects_stale_next_and_gap() {
        let d = MetadataDelta {
            prev_offset: 5,
            offset: 9,
            records: vec![],
        };
        assert_eq!(d.fit(9), DeltaFit::Stale);
        assert_eq!(d.fit(12), DeltaFit::Stale);
        assert_eq!(d.fit(5), DeltaFit::Next);
        assert_eq!(d.fit(7), DeltaFit::Next);
        assert_eq!(d.fit(4), DeltaFit::Gap);
    }

    #[test]
    fn partitions_and_brokers_stored_before_elr_load_with_defaults() {
        let old = r#"{"partition":0,"leader":null,"leader_epoch":3,"replicas":[1,2],"isr":[1],"partition_epoch":4}"#;
        let p: PartitionState = serde_json::from_str(old).unwrap();
        assert!(p.elr.is_empty());
        assert!(!serde_json::to_string(&p).unwrap().contains("elr"));
        let mut with = p.clone();
        with.elr = vec![BrokerId(2)];
        let back: PartitionState =
            serde_json::from_str(&serde_json::to_string(&with).unwrap()).unwrap();
        assert_eq!(back, with);
        let old = r#"{"id":1,"url":"http://b","incarnation_id":"i","epoch":9,"fenced":true}"#;
        let b: BrokerRegistration = serde_json::from_str(old).unwrap();
        assert_eq!(b.unclean_restarts, 0);
    }

    #[test]
    fn replay_builds_topics_and_removes_them() {
        let mut img = MetadataImage::default();
        img.replay(
            3,
            &[
                MetadataRecord::Topic {
                    name: topic("t"),
                    topic_id: "id1".into(),
                    replication_factor: 1,
                    configs: BTreeMap::new(),
                },
                MetadataRecord::Partition {
                    topic: topic("t"),
                    state: PartitionState {
                        partition: 0,
                        leader: Some(BrokerId(1)),
                        leader_epoch: 0,
                        replicas: vec![BrokerId(1)],
                        isr: vec![BrokerId(1)],
                        partition_epoch: 0,
                        elr: vec![],
                    },
                },
            ],
        );
        assert_eq!(img.offset, 3);
        assert_eq!(img.last_record_offset, 3);
        assert_eq!(img.topics[&topic("t")].partitions.len(), 1);
        img.replay(4, &[]);
        assert_eq!((img.offset, img.last_record_offset), (4, 3));
        // A removal for another incarnation of the name is ignored.
        img.replay(
            5,
            &[MetadataRecord::RemoveTopic {
                name: topic("t"),
                topic_id: "other".into(),
            }],
        );
        assert!(img.topics.contains_key(&topic("t")));
        img.replay(
            6,
            &[MetadataRecord::RemoveTopic {
                name: topic("t"),
                topic_id: "id1".into(),
            }],
        );
        assert!(img.topics.is_empty());
    }
}
