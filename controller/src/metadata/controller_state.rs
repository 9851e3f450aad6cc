//! [`ControllerState`]: the replicated metadata state machine, commands in,
//! records and answers out.
//!
//! Pure and deterministic: every controller applies the same log and reaches the
//! same state. Raft and storage live elsewhere and call [`ControllerState::apply`].

use super::acl_change;
use super::client_sessions::{self, ClientSession};
use super::commands::{Command, CommandRequest, CommandResult, Outcome, Rejection};
use super::partition_change::{alter_isr, Rules};
use super::placement::{self, Candidate, PlacementStart};
use super::users;
use ferry_common::internal::{PreviousShutdown, RegisterBrokerRequest};
use ferry_common::metadata::{
    BrokerRegistration, MetadataDelta, MetadataImage, MetadataRecord, PartitionState,
};
use ferry_common::types::{BrokerEpoch, MetadataOffset};
use ferry_common::{topic_config, BrokerId, ErrorCode, TopicName};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Upper bound on partitions per topic: beyond it one create would stall the quorum.
pub const MAX_PARTITIONS: u32 = 10_000;

/// Everything the state machine holds.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ControllerState {
    pub image: MetadataImage,
    pub sessions: BTreeMap<String, ClientSession>,
}

/// What applying one entry did, for persistence and metadata push.
#[derive(Debug, Clone, PartialEq)]
pub struct Applied {
    pub result: CommandResult,
    /// `None` when the entry produced no records (rejections, no-ops, retries).
    pub delta: Option<MetadataDelta>,
    /// Session written by this entry, for persistence.
    pub session: Option<String>,
    /// Sessions evicted by this entry.
    pub evicted: Vec<String>,
}

impl ControllerState {
    /// Applies the entry at `offset` (its Raft log index).
    pub fn apply(&mut self, offset: MetadataOffset, req: &CommandRequest) -> Applied {
        if let Some(result) = req
            .client
            .as_ref()
            .and_then(|c| client_sessions::earlier_answer(&self.sessions, c))
        {
            self.image.replay(offset, &[]);
            return Applied {
                result,
                delta: None,
                session: None,
                evicted: vec![],
            };
        }
        let prev_offset = self.image.last_record_offset;
        let (records, result) = match self.decide(offset, &req.command) {
            Ok((records, outcome)) => (records, Ok(outcome)),
            Err(r) => (Vec::new(), Err(r)),
        };
        self.image.replay(offset, &records);
        let delta = (!records.is_empty()).then_some(MetadataDelta {
            prev_offset,
            offset,
            records,
        });
        let mut applied = Applied {
            result,
            delta,
            session: None,
            evicted: vec![],
        };
        if let Some(client) = &req.client {
            applied.evicted =
                client_sessions::remember(&mut self.sessions, client, offset, &applied.result);
            applied.session = Some(client.id.clone());
        }
        applied
    }

    fn decide(
        &self,
        offset: MetadataOffset,
        cmd: &Command,
    ) -> Result<(Vec<MetadataRecord>, Outcome), Rejection> {
        match cmd {
            Command::InitCluster { cluster_id } => {
                if self.image.cluster_id.is_some() {
                    return Ok((vec![], Outcome::Done));
                }
                Ok((
                    vec![MetadataRecord::ClusterId {
                        cluster_id: cluster_id.clone(),
                    }],
                    Outcome::Done,
                ))
            }
            Command::CreateTopic {
                name,
                topic_id,
                partitions,
                replication_factor,
                configs,
                max_replicas_per_broker,
            } => self.create_topic(
                name,
                topic_id,
                (*partitions, *replication_factor),
                configs,
                *max_replicas_per_broker,
            ),
            Command::DeleteTopic { name } => {
                let t = self.topic(name)?;
                let rec = MetadataRecord::RemoveTopic {
                    name: name.clone(),
                    topic_id: t.topic_id.clone(),
                };
                Ok((vec![rec], Outcome::Done))
            }
            Command::CreatePartitions {
                name,
                count,
                max_replicas_per_broker,
            } => self.create_partitions(name, *count, *max_replicas_per_broker),
            Command::RegisterBroker(req) => self.register_broker(offset, req),
            Command::ElectPreferredLeaders => Ok((self.preferred_elections(), Outcome::Done)),
            Command::AllocateProducerId => {
                let producer_id = self.image.next_producer_id;
                let next = producer_id.checked_add(1).ok_or_else(|| {
                    Rejection::new(ErrorCode::UnknownServerError, "producer ids are exhausted")
                })?;
                Ok((
                    vec![MetadataRecord::ProducerIds { next }],
                    Outcome::ProducerId { producer_id },
                ))
            }
            Command::FenceBroker { broker_id, epoch } => {
                Ok((self.fence(*broker_id, *epoch), Outcome::Done))
            }
            Command::UnfenceBroker { broker_id, epoch } => {
                Ok((self.unfence(*broker_id, *epoch), Outcome::Done))
            }
            Command::CreateAcls { acls } => {
                Ok((acl_change::create(&self.image, acls)?, Outcome::Done))
            }
            Command::DeleteAcls { filters } => {
                let (records, acls) = acl_change::delete(&self.image, filters);
                Ok((records, Outcome::AclsDeleted { acls }))
            }
            Command::AlterPartition {
                broker_id,
                broker_epoch,
                topic,
                partition,
                leader_epoch,
                partition_epoch,
                new_isr,
            } => {
                self.check_broker_epoch(*broker_id, *broker_epoch)?;
                let t = self.topic(topic)?;
                let p = t.partitions.get(*partition as usize).ok_or_else(|| {
                    Rejection::new(
                        ErrorCode::UnknownTopicOrPartition,
                        format!("topic '{topic}' has no partition {partition}"),
                    )
                })?;
                let next = alter_isr(
                    p,
                    Rules::of(&t.configs),
                    *broker_id,
                    *leader_epoch,
                    *partition_epoch,
                    new_isr,
                    |b| self.image.brokers.get(&b).is_some_and(|r| !r.fenced),
                )?;
                let outcome = Outcome::Partition {
                    topic: topic.clone(),
                    partition: *partition,
                };
                match next {
                    Some(state) => Ok((
                        vec![MetadataRecord::Partition {
                            topic: topic.clone(),
                            state,
                        }],
                        outcome,
                    )),
                    None => Ok((vec![], outcome)),
                }
            }
            Command::UpsertUser { user, credential } => users::upsert(user, credential),
            Command::DeleteUser { user } => users::delete(&self.image, user),
            Command::BootstrapUser { user, credential } => {
                users::bootstrap(&self.image, user, credential)
            }
        }
    }

    fn topic(&self, name: &TopicName) -> Result<&ferry_common::metadata::TopicImage, Rejection> {
        self.image.topics.get(name).ok_or_else(|| {
            Rejection::new(
                ErrorCode::UnknownTopicOrPartition,
                format!("topic '{name}' does not exist"),
            )
        })
    }

    fn candidates(&self) -> Vec<Candidate> {
        self.image
            .unfenced_brokers()
            .map(|b| Candidate {
                id: b.id,
                rack: b.rack.clone(),
            })
            .collect()
    }

    fn preferred_leader_counts(&self) -> BTreeMap<BrokerId, usize> {
        let mut counts = BTreeMap::new();
        for t in self.image.topics.values() {
            for p in &t.partitions {
                if let Some(first) = p.replicas.first() {
                    *counts.entry(*first).or_insert(0) += 1;
                }
            }
        }
        counts
    }

    fn create_topic(
        &self,
        name: &TopicName,
        topic_id: &str,
        (partitions, rf): (u32, u16),
        configs: &BTreeMap<String, String>,
        replica_limit: Option<u32>,
    ) -> Result<(Vec<MetadataRecord>, Outcome), Rejection> {
        if self.image.topics.contains_key(name) {
            return Err(Rejection::new(
                ErrorCode::TopicAlreadyExists,
                format!("topic '{name}' already exists"),
            ));
        }
        check_partition_count(partitions)?;
        topic_config::validate(configs).map_err(|m| Rejection::new(ErrorCode::InvalidConfig, m))?;
        check_min_isr(configs, rf)?;
        let candidates = self.candidates();
        let start = PlacementStart {
            start_index: placement::balanced_start(&candidates, &self.preferred_leader_counts()),
            first_partition: 0,
        };
        let assignment = placement::assign(&candidates, partitions, rf, start)
            .map_err(|e| Rejection::new(ErrorCode::InvalidReplicationFactor, e.0))?;
        self.check_replica_limit(&assignment, replica_limit)?;
        let mut records = vec![MetadataRecord::Topic {
            name: name.clone(),
            topic_id: topic_id.to_string(),
            replication_factor: rf,
            configs: configs.clone(),
        }];
        records.extend(assignment.into_iter().enumerate().map(|(i, replicas)| {
            MetadataRecord::Partition {
                topic: name.clone(),
                state: new_partition(i as u32, replicas),
            }
        }));
        Ok((records, Outcome::Topic { name: name.clone() }))
    }

    fn create_partitions(
        &self,
        name: &TopicName,
        count: u32,
        replica_limit: Option<u32>,
    ) -> Result<(Vec<MetadataRecord>, Outcome), Rejection> {
        let t = self.topic(name)?;
        let current = t.partitions.len() as u32;
        if count <= current {
            return Err(Rejection::new(
                ErrorCode::InvalidPartitions,
                format!("topic '{name}' has {current} partitions; the new count must be larger, got {count}"),
            ));
        }
        check_partition_count(count)?;
        let candidates = self.candidates();
        let first_leader = t
            .partitions
            .first()
            .and_then(|p| p.replicas.first())
            .copied();
        let start_index = {
            let mut sorted: Vec<BrokerId> = candidates.iter().map(|c| c.id).collect();
            sorted.sort();
            first_leader
                .and_then(|l| sorted.iter().position(|b| *b == l))
                .unwrap_or(0)
        };
        let assignment = placement::assign(
            &candidates,
            count - current,
            t.replication_factor,
            PlacementStart {
                start_index,
                first_partition: current,
            },
        )
        .map_err(|e| Rejection::new(ErrorCode::InvalidReplicationFactor, e.0))?;
        self.check_replica_limit(&assignment, replica_limit)?;
        let records = assignment
            .into_iter()
            .enumerate()
            .map(|(i, replicas)| MetadataRecord::Partition {
                topic: name.clone(),
                state: new_partition(current + i as u32, replicas),
            })
            .collect();
        Ok((records, Outcome::Topic { name: name.clone() }))
    }

    /// Refuses a placement that would put more than `limit` replicas on any
    /// broker: each replica costs a broker descriptors and memory for life, and
    /// one oversized create could exhaust every broker at once.
    fn check_replica_limit(
        &self,
        assignment: &[Vec<BrokerId>],
        limit: Option<u32>,
    ) -> Result<(), Rejection> {
        let Some(limit) = limit else {
            return Ok(());
        };
        let mut added: BTreeMap<BrokerId, u64> = BTreeMap::new();
        for replica in assignment.iter().flatten() {
            *added.entry(*replica).or_insert(0) += 1;
        }
        if added.is_empty() {
            return Ok(());
        }
        let mut held: BTreeMap<BrokerId, u64> = BTreeMap::new();
        for p in self.image.topics.values().flat_map(|t| t.partitions.iter()) {
            for r in &p.replicas {
                if added.contains_key(r) {
                    *held.entry(*r).or_insert(0) += 1;
                }
            }
        }
        for (broker, new) in added {
            let now = held.get(&broker).copied().unwrap_or(0);
            if now + new > u64::from(limit) {
                return Err(Rejection::new(
                    ErrorCode::PolicyViolation,
                    format!(
                        "this would place {} replicas on broker {broker} ({now} held + {new} new); \
                         the limit is max_replicas_per_broker = {limit}: add brokers or use fewer partitions",
                        now + new
                    ),
                ));
            }
        }
        Ok(())
    }

    fn register_broker(
        &self,
        offset: MetadataOffset,
        req: &RegisterBrokerRequest,
    ) -> Result<(Vec<MetadataRecord>, Outcome), Rejection> {
        let cluster_id = self.image.cluster_id.clone().ok_or_else(|| {
            Rejection::new(
                ErrorCode::NotController,
                "the cluster id is not initialised yet; retry",
            )
        })?;
        if let Some(theirs) = &req.cluster_id {
            if *theirs != cluster_id {
                return Err(Rejection::new(
                    ErrorCode::InconsistentClusterId,
                    format!(
                        "broker data belongs to cluster {theirs}, this is cluster {cluster_id}"
                    ),
                ));
            }
        }
        // A retried registration of the same incarnation gets the same answer.
        let same_incarnation = self.image.brokers.values().find(|b| {
            b.incarnation_id == req.incarnation_id && req.broker_id.is_none_or(|id| id == b.id)
        });
        if let Some(b) = same_incarnation {
            if b.url == req.url && b.rack == req.rack {
                let outcome = Outcome::Broker {
                    broker_id: b.id,
                    broker_epoch: b.epoch,
                    cluster_id,
                };
                return Ok((vec![], outcome));
            }
        }
        let id = match req.broker_id {
            Some(id) => id,
            None => BrokerId(
                self.image
                    .brokers
                    .keys()
                    .last()
                    .map_or(1, |b| b.0.saturating_add(1)),
            ),
        };
        let old = self.image.brokers.get(&id);
        let unclean = match req.previous_shutdown {
            PreviousShutdown::Unknown => false,
            PreviousShutdown::Unclean => true,
            // A marker from another registration than the last one is stale.
            PreviousShutdown::Clean { broker_epoch } => {
                old.is_some_and(|o| o.epoch != broker_epoch)
            }
        };
        let mut records = self.replace_incarnation(id, unclean);
        records.push(MetadataRecord::RegisterBroker(BrokerRegistration {
            id,
            url: req.url.clone(),
            rack: req.rack.clone(),
            incarnation_id: req.incarnation_id.clone(),
            epoch: offset,
            fenced: true,
            unclean_restarts: old.map_or(0, |o| o.unclean_restarts + u64::from(unclean)),
        }));
        Ok((
            records,
            Outcome::Broker {
                broker_id: id,
                broker_epoch: offset,
                cluster_id,
            },
        ))
    }

    fn check_broker_epoch(&self, id: BrokerId, epoch: BrokerEpoch) -> Result<(), Rejection> {
        match self.image.brokers.get(&id) {
            None => Err(Rejection::new(
                ErrorCode::BrokerIdNotRegistered,
                format!("broker {id} is not registered"),
            )),
            Some(b) if b.epoch != epoch => Err(Rejection::new(
                ErrorCode::StaleBrokerEpoch,
                format!(
                    "broker {id} epoch {epoch} is stale; the current registration has epoch {}",
                    b.epoch
                ),
            )),
            Some(_) => Ok(()),
        }
    }
}

fn new_partition(partition: u32, replicas: Vec<BrokerId>) -> PartitionState {
    PartitionState {
        partition,
        leader: replicas.first().copied(),
        leader_epoch: 0,
        isr: replicas.clone(),
        replicas,
        partition_epoch: 0,
        elr: vec![],
    }
}

fn check_partition_count(n: u32) -> Result<(), Rejection> {
    if n == 0 || n > MAX_PARTITIONS {
        return Err(Rejection::new(
            ErrorCode::InvalidPartitions,
            format!("partitions must be between 1 and {MAX_PARTITIONS}, got {n}"),
        ));
    }
    Ok(())
}

fn check_min_isr(configs: &BTreeMap<String, String>, rf: u16) -> Result<(), Rejection> {
    let min_isr: u64 = topic_config::effective(configs, "min.insync.replicas")
        .and_then(|v| v.parse().ok())
        .unwrap_or(1);
    if min_isr > rf as u64 {
        return Err(Rejection::new(
            ErrorCode::InvalidConfig,
            format!("min.insync.replicas={min_isr} exceeds the replication factor {rf}; acks=all could never succeed"),
        ));
    }
    Ok(())
}

#[cfg(test)]
#[path = "controller_state_tests.rs"]
mod tests;
