//! The controller's one error type; `code()` is the single place errors map to Kafka codes.

use crate::metadata::commands::Rejection;
use ferry_common::types::BrokerEpoch;
use ferry_common::{BrokerId, ErrorCode, TopicName};

/// Everything a controller request can fail with.
#[derive(Debug, thiserror::Error)]
pub enum ControllerError {
    /// The body or query could not be understood.
    #[error("{0}")]
    InvalidRequest(String),
    #[error("{0}")]
    BodyTooLarge(String),
    #[error("{0}")]
    UnsupportedMediaType(String),
    /// The request body did not arrive within the server's body read timeout.
    #[error("{0}")]
    BodyTimedOut(String),
    /// This controller is not the active one; writes go to `leader_url`.
    #[error("this controller is not the active controller{}", leader_hint(.leader_id, .leader_url))]
    NotController {
        leader_id: Option<u64>,
        leader_url: Option<String>,
    },
    /// The write was proposed but not known to be committed in time; it may still apply.
    #[error(
        "the write was not committed within {timeout_ms} ms (no quorum?); its outcome is unknown. \
         Retry with the same Ferry-Client-Id and Ferry-Request-Seq headers to apply it at most once"
    )]
    WriteOutcomeUnknown { timeout_ms: u64 },
    /// A linearizable read could not confirm this node's leadership in time.
    #[error("could not confirm leadership with a quorum in time")]
    ReadPointTimedOut { timeout_ms: u64 },
    /// The metadata state machine refused the command (validation, CAS, epochs);
    /// its code is the replicated answer's.
    #[error("{}", .0.message)]
    Rejected(Rejection),
    #[error("topic '{topic}' does not exist")]
    UnknownTopic { topic: TopicName },
    #[error("{reason}")]
    InvalidTopicName { name: String, reason: String },
    /// A partition count (`field` names the request field) outside `1..=max`.
    #[error("{field} must be between 1 and {max}, got {got}")]
    PartitionCountOutOfRange {
        field: &'static str,
        max: u32,
        got: i64,
    },
    #[error("replication_factor must be at least 1, got {got}")]
    InvalidReplicationFactor { got: i64 },
    #[error("{reason}")]
    InvalidTopicConfig { reason: String },
    /// An authenticated cluster member asked for what only another may do
    /// (heartbeat as another broker, a Raft RPC from a broker).
    #[error("{0}")]
    ClusterAuthorizationFailed(String),
    /// The ACLs do not allow the caller this operation on this resource.
    #[error("{0}")]
    Unauthorized(#[from] ferry_authz::Denied),
    /// Clients may not delete, grow or create an internal topic.
    #[error("topic '{topic}' is internal: clients cannot {action} it")]
    InternalTopic { topic: String, action: &'static str },
    #[error("broker url '{url}' must be an http(s) URL")]
    InvalidBrokerUrl { url: String },
    #[error("broker id '{raw}' is not a number")]
    InvalidBrokerId { raw: String },
    #[error("broker {broker_id} is not registered; register first")]
    BrokerNotRegistered { broker_id: BrokerId },
    #[error(
        "broker {broker_id} epoch {requested} is stale; the current registration has epoch {current}; re-register"
    )]
    StaleBrokerEpoch {
        broker_id: BrokerId,
        requested: BrokerEpoch,
        current: BrokerEpoch,
    },
    #[error(
        "broker {broker_id} is registered by another live process; wait for its session to expire"
    )]
    DuplicateBrokerRegistration { broker_id: BrokerId },
    /// Raft or storage failed underneath; a person should look at the logs.
    #[error("internal error: {0}")]
    Internal(String),
}

fn leader_hint(id: &Option<u64>, url: &Option<String>) -> String {
    match (id, url) {
        (Some(id), Some(url)) => format!("; the active controller is {id} at {url}"),
        _ => "; a controller election is in progress, retry shortly".to_string(),
    }
}

impl ControllerError {
    /// The Kafka-style code for this error.
    pub fn code(&self) -> ErrorCode {
        match self {
            ControllerError::InvalidRequest(_)
            | ControllerError::InvalidBrokerUrl { .. }
            | ControllerError::InvalidBrokerId { .. } => ErrorCode::InvalidRequest,
            ControllerError::BodyTooLarge(_) => ErrorCode::RequestTooLarge,
            ControllerError::UnsupportedMediaType(_) => ErrorCode::UnsupportedMediaType,
            ControllerError::BodyTimedOut(_) => ErrorCode::RequestBodyTimedOut,
            ControllerError::NotController { .. } => ErrorCode::NotController,
            ControllerError::WriteOutcomeUnknown { .. }
            | ControllerError::ReadPointTimedOut { .. } => ErrorCode::RequestTimedOut,
            ControllerError::Rejected(r) => r.code,
            ControllerError::UnknownTopic { .. } => ErrorCode::UnknownTopicOrPartition,
            ControllerError::InvalidTopicName { .. } => ErrorCode::InvalidTopicException,
            ControllerError::PartitionCountOutOfRange { .. } => ErrorCode::InvalidPartitions,
            ControllerError::InvalidReplicationFactor { .. } => ErrorCode::InvalidReplicationFactor,
            ControllerError::InvalidTopicConfig { .. } => ErrorCode::InvalidConfig,
            ControllerError::ClusterAuthorizationFailed(_) => ErrorCode::ClusterAuthorizationFailed,
            ControllerError::Unauthorized(d) => d.code,
            ControllerError::InternalTopic { .. } => ErrorCode::InvalidTopicException,
            ControllerError::BrokerNotRegistered { .. } => ErrorCode::BrokerIdNotRegistered,
            ControllerError::StaleBrokerEpoch { .. } => ErrorCode::StaleBrokerEpoch,
            ControllerError::DuplicateBrokerRegistration { .. } => {
                ErrorCode::DuplicateBrokerRegistration
            }
            ControllerError::Internal(_) => ErrorCode::UnknownServerError,
        }
    }
}

impl From<Rejection> for ControllerError {
    fn from(r: Rejection) -> Self {
        ControllerError::Rejected(r)
    }
}

/// Parses a topic name; an illegal one is `INVALID_TOPIC_EXCEPTION`.
pub fn parse_topic(name: &str) -> Result<TopicName, ControllerError> {
    TopicName::new(name).map_err(|e| ControllerError::InvalidTopicName {
        name: name.to_string(),
        reason: e.0,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn typed_variants_keep_their_wire_codes_and_messages() {
        let stale = ControllerError::StaleBrokerEpoch {
            broker_id: BrokerId(3),
            requested: 7,
            current: 9,
        };
        assert_eq!(stale.code(), ErrorCode::StaleBrokerEpoch);
        assert_eq!(
            stale.to_string(),
            "broker 3 epoch 7 is stale; the current registration has epoch 9; re-register"
        );
        let range = ControllerError::PartitionCountOutOfRange {
            field: "partitions",
            max: 10_000,
            got: 0,
        };
        assert_eq!(range.code(), ErrorCode::InvalidPartitions);
        assert_eq!(
            range.to_string(),
            "partitions must be between 1 and 10000, got 0"
        );
        let bad = parse_topic("a/b").unwrap_err();
        assert_eq!(bad.code(), ErrorCode::InvalidTopicException);
    }
}
