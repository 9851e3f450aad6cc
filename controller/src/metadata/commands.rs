//! What goes into the Raft log (commands) and what applying one answers.
//!
//! Commands are validated and turned into metadata records when they are
//! *applied*, against the state at their log position, so two racing creates of
//! one topic cannot both succeed. Anything non-deterministic (topic ids, the
//! cluster id) is chosen by the proposer and carried in the command.

use ferry_common::acls::AclBindingFilter;
use ferry_common::internal::RegisterBrokerRequest;
use ferry_common::security::AclBinding;
use ferry_common::security::ScramCredential;
use ferry_common::types::{BrokerEpoch, BrokerId, LeaderEpoch, PartitionEpoch, PartitionId};
use ferry_common::{ErrorCode, TopicName};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;

/// A command plus the identity that makes retries idempotent.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CommandRequest {
    /// `(client_id, sequence)`: a repeated pair is answered from the session
    /// table instead of being applied twice.
    pub client: Option<ClientRef>,
    pub command: Command,
}

impl fmt::Display for CommandRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", self.command)
    }
}

/// A client's identity and the sequence number of one of its writes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClientRef {
    pub id: String,
    pub seq: u64,
}

/// A metadata change request, as proposed by the active controller.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Command {
    /// Sets the cluster id once; later ones are no-ops.
    InitCluster {
        cluster_id: String,
    },
    CreateTopic {
        name: TopicName,
        topic_id: String,
        partitions: u32,
        replication_factor: u16,
        configs: BTreeMap<String, String>,
        /// The proposer's replica bound, carried in the command so that every
        /// controller applies the same decision (absent in older logs: no bound).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        max_replicas_per_broker: Option<u32>,
    },
    DeleteTopic {
        name: TopicName,
    },
    /// Grows a topic to `count` partitions in total.
    CreatePartitions {
        name: TopicName,
        count: u32,
        /// As for [`Command::CreateTopic`].
        #[serde(default, skip_serializing_if = "Option::is_none")]
        max_replicas_per_broker: Option<u32>,
    },
    RegisterBroker(RegisterBrokerRequest),
    FenceBroker {
        broker_id: BrokerId,
        epoch: BrokerEpoch,
    },
    UnfenceBroker {
        broker_id: BrokerId,
        epoch: BrokerEpoch,
    },
    /// Moves leadership back to preferred replicas that are in sync.
    ElectPreferredLeaders,
    /// Hands out a new producer id (Kafka's InitProducerId, no transactions).
    AllocateProducerId,
    AlterPartition {
        broker_id: BrokerId,
        broker_epoch: BrokerEpoch,
        topic: TopicName,
        partition: PartitionId,
        leader_epoch: LeaderEpoch,
        partition_epoch: PartitionEpoch,
        new_isr: Vec<BrokerId>,
    },
    /// Adds ACL bindings (Kafka's CreateAcls); ones that exist are kept.
    CreateAcls {
        acls: Vec<AclBinding>,
    },
    /// Removes every binding any filter selects (Kafka's DeleteAcls).
    DeleteAcls {
        filters: Vec<AclBindingFilter>,
    },
    /// Creates a client user or replaces its credential (hashed by the
    /// proposer; the password is never in the log).
    UpsertUser {
        user: String,
        credential: ScramCredential,
    },
    /// Removes a client user.
    DeleteUser {
        user: String,
    },
    /// The configured bootstrap user, created only while no user exists.
    BootstrapUser {
        user: String,
        credential: ScramCredential,
    },
}

/// What a successfully applied command produced. Kept small: it is stored in
/// the session table; callers read details from the applied state.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Outcome {
    Done,
    Topic {
        name: TopicName,
    },
    Broker {
        broker_id: BrokerId,
        broker_epoch: BrokerEpoch,
        cluster_id: String,
    },
    Partition {
        topic: TopicName,
        partition: PartitionId,
    },
    ProducerId {
        producer_id: u64,
    },
    /// The bindings a [`Command::DeleteAcls`] removed.
    AclsDeleted {
        acls: Vec<AclBinding>,
    },
}

/// Why the state machine refused a command; deterministic on every replica.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rejection {
    pub code: ErrorCode,
    pub message: String,
}

impl Rejection {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Rejection {
            code,
            message: message.into(),
        }
    }
}

/// The Raft response type: what applying one log entry answered.
pub type CommandResult = Result<Outcome, Rejection>;
