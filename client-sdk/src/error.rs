//! The SDK's error type: API answers, transport failures, and writes whose
//! outcome is unknown are kept apart so callers can decide what to retry.

use ferry_common::{ErrorBody, ErrorCode};

/// Everything an SDK call can fail with.
#[derive(Debug, Clone, thiserror::Error)]
pub enum FerryError {
    /// The cluster answered with an error.
    #[error("{code}: {message}")]
    Api {
        code: ErrorCode,
        message: String,
        /// Leader hint for `NOT_CONTROLLER` / `NOT_LEADER_OR_FOLLOWER`.
        leader_url: Option<String>,
    },
    /// No node could be reached, or the connection failed before an answer.
    #[error("transport: {0}")]
    Transport(String),
    /// A write was sent but no answer came back: it may or may not have been applied.
    #[error("outcome unknown: {0}")]
    OutcomeUnknown(String),
    /// The client was used wrongly (bad configuration or arguments).
    #[error("{0}")]
    Config(String),
}

impl FerryError {
    /// Whether retrying (after refreshing metadata) may succeed.
    pub fn is_retriable(&self) -> bool {
        match self {
            FerryError::Api { code, .. } => code.is_retriable(),
            FerryError::Transport(_) | FerryError::OutcomeUnknown(_) => true,
            FerryError::Config(_) => false,
        }
    }

    /// The Kafka-style code, when the cluster answered.
    pub fn code(&self) -> Option<ErrorCode> {
        match self {
            FerryError::Api { code, .. } => Some(*code),
            _ => None,
        }
    }
}

impl From<ErrorBody> for FerryError {
    fn from(b: ErrorBody) -> Self {
        FerryError::Api {
            code: b.error_code,
            message: b.message,
            leader_url: b.leader_url,
        }
    }
}
