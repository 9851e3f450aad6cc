//! Kafka-style error codes and the one JSON error body every endpoint returns.

use serde::{Deserialize, Serialize};

/// Error codes, named as in Kafka so operators recognise them.
///
/// Append-only: a code is never renamed or removed once released.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ErrorCode {
    UnknownServerError,
    InvalidRequest,
    UnsupportedMediaType,
    RequestTooLarge,
    NotFound,
    MethodNotAllowed,
    NotController,
    RequestTimedOut,
    TopicAlreadyExists,
    InvalidTopicException,
    InvalidPartitions,
    InvalidReplicationFactor,
    InvalidConfig,
    UnknownTopicOrPartition,
    NotLeaderOrFollower,
    StaleBrokerEpoch,
    BrokerIdNotRegistered,
    DuplicateBrokerRegistration,
    InconsistentClusterId,
    FencedLeaderEpoch,
    UnknownLeaderEpoch,
    InvalidUpdateVersion,
    IneligibleReplica,
    NotEnoughReplicas,
    OffsetOutOfRange,
    MessageTooLarge,
    KafkaStorageError,
    LeaderNotAvailable,
    CoordinatorNotAvailable,
    OutOfOrderSequenceNumber,
    InvalidProducerEpoch,
    UnknownMemberId,
    IllegalGeneration,
    /// A group member's epoch is newer than the coordinator's (state lost): rejoin.
    FencedMemberEpoch,
    /// A group member's epoch is older than the coordinator's: heartbeat, then retry.
    StaleMemberEpoch,
    PolicyViolation,
    ThrottlingQuotaExceeded,
    RequestBodyTimedOut,
    SaslAuthenticationFailed,
    ClusterAuthorizationFailed,
    /// The principal may not do this to the topic (ACLs).
    TopicAuthorizationFailed,
    /// The principal may not do this to the group (ACLs).
    GroupAuthorizationFailed,
    /// The principal may not use the transactional id (ACLs).
    TransactionalIdAuthorizationFailed,
    /// The credential names a mechanism the cluster does not support.
    UnsupportedSaslMechanism,
    /// No SCRAM credential for the named user (user deletion, description).
    ResourceNotFound,
}

impl ErrorCode {
    /// The wire name, e.g. `NOT_CONTROLLER`.
    pub fn as_str(self) -> &'static str {
        use ErrorCode::*;
        match self {
            UnknownServerError => "UNKNOWN_SERVER_ERROR",
            InvalidRequest => "INVALID_REQUEST",
            UnsupportedMediaType => "UNSUPPORTED_MEDIA_TYPE",
            RequestTooLarge => "REQUEST_TOO_LARGE",
            NotFound => "NOT_FOUND",
            MethodNotAllowed => "METHOD_NOT_ALLOWED",
            NotController => "NOT_CONTROLLER",
            RequestTimedOut => "REQUEST_TIMED_OUT",
            TopicAlreadyExists => "TOPIC_ALREADY_EXISTS",
            InvalidTopicException => "INVALID_TOPIC_EXCEPTION",
            InvalidPartitions => "INVALID_PARTITIONS",
            InvalidReplicationFactor => "INVALID_REPLICATION_FACTOR",
            InvalidConfig => "INVALID_CONFIG",
            UnknownTopicOrPartition => "UNKNOWN_TOPIC_OR_PARTITION",
            NotLeaderOrFollower => "NOT_LEADER_OR_FOLLOWER",
            StaleBrokerEpoch => "STALE_BROKER_EPOCH",
            BrokerIdNotRegistered => "BROKER_ID_NOT_REGISTERED",
            DuplicateBrokerRegistration => "DUPLICATE_BROKER_REGISTRATION",
            InconsistentClusterId => "INCONSISTENT_CLUSTER_ID",
            FencedLeaderEpoch => "FENCED_LEADER_EPOCH",
            UnknownLeaderEpoch => "UNKNOWN_LEADER_EPOCH",
            InvalidUpdateVersion => "INVALID_UPDATE_VERSION",
            IneligibleReplica => "INELIGIBLE_REPLICA",
            NotEnoughReplicas => "NOT_ENOUGH_REPLICAS",
            OffsetOutOfRange => "OFFSET_OUT_OF_RANGE",
            MessageTooLarge => "MESSAGE_TOO_LARGE",
            KafkaStorageError => "KAFKA_STORAGE_ERROR",
            LeaderNotAvailable => "LEADER_NOT_AVAILABLE",
            CoordinatorNotAvailable => "COORDINATOR_NOT_AVAILABLE",
            OutOfOrderSequenceNumber => "OUT_OF_ORDER_SEQUENCE_NUMBER",
            InvalidProducerEpoch => "INVALID_PRODUCER_EPOCH",
            UnknownMemberId => "UNKNOWN_MEMBER_ID",
            IllegalGeneration => "ILLEGAL_GENERATION",
            FencedMemberEpoch => "FENCED_MEMBER_EPOCH",
            StaleMemberEpoch => "STALE_MEMBER_EPOCH",
            PolicyViolation => "POLICY_VIOLATION",
            ThrottlingQuotaExceeded => "THROTTLING_QUOTA_EXCEEDED",
            RequestBodyTimedOut => "REQUEST_BODY_TIMED_OUT",
            SaslAuthenticationFailed => "SASL_AUTHENTICATION_FAILED",
            ClusterAuthorizationFailed => "CLUSTER_AUTHORIZATION_FAILED",
            TopicAuthorizationFailed => "TOPIC_AUTHORIZATION_FAILED",
            GroupAuthorizationFailed => "GROUP_AUTHORIZATION_FAILED",
            TransactionalIdAuthorizationFailed => "TRANSACTIONAL_ID_AUTHORIZATION_FAILED",
            UnsupportedSaslMechanism => "UNSUPPORTED_SASL_MECHANISM",
            ResourceNotFound => "RESOURCE_NOT_FOUND",
        }
    }

    /// The HTTP status that goes with the code: 4xx for the caller's mistake,
    /// 5xx/503 for the cluster's state.
    pub fn http_status(self) -> u16 {
        use ErrorCode::*;
        match self {
            InvalidRequest
            | InvalidTopicException
            | InvalidPartitions
            | InvalidReplicationFactor
            | InvalidConfig
            | IneligibleReplica
            | PolicyViolation => 400,
            NotFound | UnknownTopicOrPartition | BrokerIdNotRegistered => 404,
            MethodNotAllowed => 405,
            TopicAlreadyExists
            | DuplicateBrokerRegistration
            | InvalidUpdateVersion
            | StaleBrokerEpoch
            | InconsistentClusterId
            | FencedLeaderEpoch
            | UnknownLeaderEpoch
            | OutOfOrderSequenceNumber
            | InvalidProducerEpoch
            | IllegalGeneration
            | FencedMemberEpoch
            | StaleMemberEpoch => 409,
            UnknownMemberId => 404,
            RequestBodyTimedOut => 408,
            SaslAuthenticationFailed => 401,
            ClusterAuthorizationFailed
            | TopicAuthorizationFailed
            | GroupAuthorizationFailed
            | TransactionalIdAuthorizationFailed => 403,
            UnsupportedSaslMechanism => 400,
            ResourceNotFound => 404,
            OffsetOutOfRange => 416,
            RequestTooLarge | MessageTooLarge => 413,
            UnsupportedMediaType => 415,
            NotController
            | NotLeaderOrFollower
            | LeaderNotAvailable
            | CoordinatorNotAvailable
            | NotEnoughReplicas
            | ThrottlingQuotaExceeded => 503,
            RequestTimedOut => 504,
            UnknownServerError | KafkaStorageError => 500,
        }
    }

    /// Whether a client may retry the same request (after refreshing metadata).
    pub fn is_retriable(self) -> bool {
        use ErrorCode::*;
        matches!(
            self,
            NotController
                | RequestTimedOut
                | NotLeaderOrFollower
                | LeaderNotAvailable
                | CoordinatorNotAvailable
                | NotEnoughReplicas
                | UnknownTopicOrPartition
                | FencedLeaderEpoch
                | UnknownLeaderEpoch
                | KafkaStorageError
                | ThrottlingQuotaExceeded
        )
    }
}

impl std::fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The JSON body of every failed request.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ErrorBody {
    pub error_code: ErrorCode,
    pub message: String,
    /// Leader hint for `NOT_CONTROLLER` / `NOT_LEADER_OR_FOLLOWER`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub leader_id: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub leader_url: Option<String>,
    /// Whether retrying the same request may succeed.
    #[serde(default)]
    pub retriable: bool,
    /// Code-specific context, e.g. `log_start_offset` and `high_watermark` for
    /// `OFFSET_OUT_OF_RANGE`.
    /// (Documented per service: the broker adds its `OFFSET_OUT_OF_RANGE` fields.)
    #[serde(flatten, default, skip_serializing_if = "serde_json::Map::is_empty")]
    #[schema(ignore)]
    pub extra: serde_json::Map<String, serde_json::Value>,
}

impl ErrorBody {
    /// A body for `code` with a human message and no hints.
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        ErrorBody {
            error_code: code,
            message: message.into(),
            leader_id: None,
            leader_url: None,
            retriable: code.is_retriable(),
            extra: serde_json::Map::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wire_names_match_serde() {
        for code in [
            ErrorCode::NotController,
            ErrorCode::InvalidTopicException,
            ErrorCode::UnknownTopicOrPartition,
            ErrorCode::StaleBrokerEpoch,
            ErrorCode::FencedMemberEpoch,
            ErrorCode::StaleMemberEpoch,
        ] {
            let json = serde_json::to_string(&code).unwrap();
            assert_eq!(json, format!("\"{}\"", code.as_str()));
        }
    }

    #[test]
    fn client_mistakes_are_4xx_cluster_state_is_5xx() {
        assert_eq!(ErrorCode::InvalidConfig.http_status(), 400);
        assert_eq!(ErrorCode::NotController.http_status(), 503);
        assert!(ErrorCode::NotController.is_retriable());
        assert!(!ErrorCode::TopicAlreadyExists.is_retriable());
    }
}
