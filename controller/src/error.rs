//! The controller's one error type; `code()` is the single place errors map to Kafka codes.

use crate::metadata::commands::Rejection;
use ferry_common::ErrorCode;

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
    #[error("no such endpoint: {0}")]
    RouteNotFound(String),
    #[error("method {0} is not allowed here")]
    MethodNotAllowed(String),
    /// This controller is not the active one; writes go to `leader_url`.
    #[error("this controller is not the active controller{}", leader_hint(.leader_id, .leader_url))]
    NotController {
        leader_id: Option<u64>,
        leader_url: Option<String>,
    },
    /// The write was proposed but not known to be committed in time; it may still apply.
    #[error("{0}")]
    TimedOut(String),
    /// The metadata state machine refused the command (validation, CAS, epochs).
    #[error("{}", .0.message)]
    Rejected(Rejection),
    #[error("topic '{0}' does not exist")]
    UnknownTopic(String),
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
            ControllerError::InvalidRequest(_) => ErrorCode::InvalidRequest,
            ControllerError::BodyTooLarge(_) => ErrorCode::RequestTooLarge,
            ControllerError::UnsupportedMediaType(_) => ErrorCode::UnsupportedMediaType,
            ControllerError::RouteNotFound(_) => ErrorCode::NotFound,
            ControllerError::MethodNotAllowed(_) => ErrorCode::MethodNotAllowed,
            ControllerError::NotController { .. } => ErrorCode::NotController,
            ControllerError::TimedOut(_) => ErrorCode::RequestTimedOut,
            ControllerError::Rejected(r) => r.code,
            ControllerError::UnknownTopic(_) => ErrorCode::UnknownTopicOrPartition,
            ControllerError::Internal(_) => ErrorCode::UnknownServerError,
        }
    }
}

impl From<Rejection> for ControllerError {
    fn from(r: Rejection) -> Self {
        ControllerError::Rejected(r)
    }
}
