//! The broker's one error type; `code()` is the single place errors map to Kafka codes.

use ferry_common::ErrorCode;

/// Everything a broker request can fail with.
#[derive(Debug, thiserror::Error)]
pub enum BrokerError {
    #[error("{0}")]
    InvalidRequest(String),
    #[error("{0}")]
    BodyTooLarge(String),
    #[error("{0}")]
    UnsupportedMediaType(String),
    /// The request body did not arrive within the server's body read timeout.
    #[error("{0}")]
    BodyTimedOut(String),
    /// A server-wide bound (long polls, fetch memory) is reached; retry later.
    #[error("this broker is at its bound of {limit} {what}; retry after a moment")]
    Overloaded { what: &'static str, limit: u64 },
    /// This broker's metadata does not know the topic or partition (may be stale).
    #[error("{0}")]
    UnknownTopicOrPartition(String),
    /// This broker is not the partition leader.
    #[error("broker {me} is not the leader of {topic}-{partition}{}", .leader_id.map(|l| format!("; the leader is broker {l}")).unwrap_or_else(|| "; the partition has no leader right now".into()))]
    NotLeader {
        me: u32,
        topic: String,
        partition: u32,
        leader_id: Option<u32>,
        leader_url: Option<String>,
    },
    #[error("{0}")]
    LeaderNotAvailable(String),
    #[error("{0}")]
    CoordinatorNotAvailable(String),
    /// An authenticated cluster member asked for what only another may do
    /// (fetch as another replica, push metadata without being a controller).
    #[error("{0}")]
    ClusterAuthorizationFailed(String),
    /// The ACLs do not allow the caller this operation on this resource.
    #[error("{0}")]
    Unauthorized(#[from] ferry_authz::Denied),
    /// Clients may not write to an internal topic.
    #[error("topic '{topic}' is internal: only the cluster writes to it")]
    InternalTopic { topic: String },
    /// The request names an older leader epoch than this replica's.
    #[error("leader epoch {requested} of {topic}-{partition} is stale; the current epoch is {current}; refresh metadata")]
    FencedLeaderEpoch {
        topic: String,
        partition: u32,
        requested: u32,
        current: u32,
    },
    /// An idempotent batch skipped sequence numbers: one is missing.
    #[error("{topic}-{partition}: the producer's next sequence number is {expected}; a batch is missing")]
    OutOfOrderSequence {
        topic: String,
        partition: u32,
        expected: i32,
    },
    /// An idempotent batch from a fenced (older) producer epoch.
    #[error("{topic}-{partition}: producer epoch is older than the current {current}; this producer was fenced")]
    InvalidProducerEpoch {
        topic: String,
        partition: u32,
        current: i16,
    },
    /// The request names a newer leader epoch than this replica knows yet.
    #[error("leader epoch {requested} of {topic}-{partition} is newer than this broker's {current}; retry")]
    UnknownLeaderEpoch {
        topic: String,
        partition: u32,
        requested: u32,
        current: u32,
    },
    /// The group coordinator does not know this member (its session expired).
    #[error("member '{member}' is not in group '{group}' (session expired?); join again without member_id")]
    UnknownMemberId { group: String, member: String },
    /// A commit without a member id while the group has members.
    #[error("group '{group}' has active members; commit as a member (member_id and member_epoch)")]
    GroupHasMembers { group: String },
    /// A member's epoch newer than the coordinator's (its state was lost).
    #[error("member '{member}' of group '{group}' sent epoch {epoch}, newer than its epoch {current}; join again")]
    FencedMemberEpoch {
        group: String,
        member: String,
        epoch: u32,
        current: u32,
    },
    /// A member's epoch older than the coordinator's: its view is out of date.
    #[error("member '{member}' of group '{group}' sent epoch {epoch}, but its epoch is {current}; heartbeat, then retry")]
    StaleMemberEpoch {
        group: String,
        member: String,
        epoch: u32,
        current: u32,
    },
    /// A member committing a partition it does not own (any more).
    #[error("member '{member}' of group '{group}' does not own {topic}-{partition}; heartbeat, then retry")]
    PartitionNotOwned {
        group: String,
        member: String,
        topic: String,
        partition: u32,
    },
    #[error("{0}")]
    MessageTooLarge(String),
    #[error("offset {requested} is out of range [{log_start_offset}, {log_end_offset}]")]
    OffsetOutOfRange {
        requested: u64,
        log_start_offset: u64,
        log_end_offset: u64,
        high_watermark: u64,
    },
    /// acks=all with an ISR smaller than `min.insync.replicas`; nothing was written.
    #[error("{topic}-{partition} has {isr} in-sync replicas, min.insync.replicas is {min_insync}; nothing was written")]
    NotEnoughReplicas {
        topic: String,
        partition: u32,
        isr: usize,
        min_insync: usize,
    },
    #[error("{0}")]
    TimedOut(String),
    /// Disk trouble under a partition log.
    #[error("storage error: {0}")]
    Storage(String),
    #[error("{0}")]
    NotReady(String),
    /// Another broker could not be reached (a transport failure, no answer).
    #[error("{0}")]
    Unreachable(String),
    /// Another node's error answer, passed on with its code.
    #[error("{message}")]
    Relayed { code: ErrorCode, message: String },
    #[error("internal error: {0}")]
    Internal(String),
}

impl BrokerError {
    /// The Kafka-style code for this error.
    pub fn code(&self) -> ErrorCode {
        match self {
            BrokerError::InvalidRequest(_) => ErrorCode::InvalidRequest,
            BrokerError::BodyTooLarge(_) => ErrorCode::RequestTooLarge,
            BrokerError::UnsupportedMediaType(_) => ErrorCode::UnsupportedMediaType,
            BrokerError::BodyTimedOut(_) => ErrorCode::RequestBodyTimedOut,
            BrokerError::Overloaded { .. } => ErrorCode::ThrottlingQuotaExceeded,
            BrokerError::UnknownTopicOrPartition(_) => ErrorCode::UnknownTopicOrPartition,
            BrokerError::NotLeader { .. } => ErrorCode::NotLeaderOrFollower,
            BrokerError::LeaderNotAvailable(_) | BrokerError::NotReady(_) => {
                ErrorCode::LeaderNotAvailable
            }
            BrokerError::MessageTooLarge(_) => ErrorCode::MessageTooLarge,
            BrokerError::CoordinatorNotAvailable(_) => ErrorCode::CoordinatorNotAvailable,
            BrokerError::ClusterAuthorizationFailed(_) => ErrorCode::ClusterAuthorizationFailed,
            BrokerError::Unauthorized(d) => d.code,
            BrokerError::InternalTopic { .. } => ErrorCode::InvalidTopicException,
            BrokerError::FencedLeaderEpoch { .. } => ErrorCode::FencedLeaderEpoch,
            BrokerError::OutOfOrderSequence { .. } => ErrorCode::OutOfOrderSequenceNumber,
            BrokerError::InvalidProducerEpoch { .. } => ErrorCode::InvalidProducerEpoch,
            BrokerError::UnknownLeaderEpoch { .. } => ErrorCode::UnknownLeaderEpoch,
            BrokerError::UnknownMemberId { .. } | BrokerError::GroupHasMembers { .. } => {
                ErrorCode::UnknownMemberId
            }
            BrokerError::FencedMemberEpoch { .. } => ErrorCode::FencedMemberEpoch,
            BrokerError::StaleMemberEpoch { .. } | BrokerError::PartitionNotOwned { .. } => {
                ErrorCode::StaleMemberEpoch
            }
            BrokerError::OffsetOutOfRange { .. } => ErrorCode::OffsetOutOfRange,
            BrokerError::NotEnoughReplicas { .. } => ErrorCode::NotEnoughReplicas,
            BrokerError::TimedOut(_) => ErrorCode::RequestTimedOut,
            BrokerError::Storage(_) => ErrorCode::KafkaStorageError,
            BrokerError::Relayed { code, .. } => *code,
            BrokerError::Unreachable(_) | BrokerError::Internal(_) => ErrorCode::UnknownServerError,
        }
    }
}

impl From<crate::storage::LogError> for BrokerError {
    fn from(e: crate::storage::LogError) -> Self {
        match e {
            crate::storage::LogError::OffsetOutOfRange {
                requested,
                log_start,
                log_end,
            } => BrokerError::OffsetOutOfRange {
                requested,
                log_start_offset: log_start,
                log_end_offset: log_end,
                high_watermark: log_end,
            },
            crate::storage::LogError::MessageTooLarge { size, max } => {
                BrokerError::MessageTooLarge(format!(
                    "record batch of {size} bytes exceeds max.message.bytes {max}"
                ))
            }
            other => BrokerError::Storage(other.to_string()),
        }
    }
}
