//! A stand-in service error and helpers for the crate's unit tests.

use crate::{ApiError, ExtractError};
use axum::response::{IntoResponse, Response};
use ferry_common::{ErrorBody, ErrorCode};

/// A service error with the shapes the real ones have: a caller mistake, a
/// leader hint that may redirect, and an internal fault.
#[derive(Debug)]
pub enum TestError {
    Invalid(String),
    TooLarge(String),
    Media(String),
    Slow(String),
    NotLeader { url: Option<String> },
    Broken,
}

impl std::fmt::Display for TestError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            TestError::Invalid(m)
            | TestError::TooLarge(m)
            | TestError::Media(m)
            | TestError::Slow(m) => f.write_str(m),
            TestError::NotLeader { .. } => f.write_str("not the leader"),
            TestError::Broken => f.write_str("disk on fire"),
        }
    }
}

impl ApiError for TestError {
    fn code(&self) -> ErrorCode {
        match self {
            TestError::Invalid(_) => ErrorCode::InvalidRequest,
            TestError::TooLarge(_) => ErrorCode::RequestTooLarge,
            TestError::Media(_) => ErrorCode::UnsupportedMediaType,
            TestError::Slow(_) => ErrorCode::RequestBodyTimedOut,
            TestError::NotLeader { .. } => ErrorCode::NotController,
            TestError::Broken => ErrorCode::UnknownServerError,
        }
    }

    fn add_hints(&self, body: &mut ErrorBody) {
        if let TestError::NotLeader { url } = self {
            body.leader_id = Some(2);
            body.leader_url = url.clone();
        }
    }

    fn redirect_to(&self) -> Option<&str> {
        match self {
            TestError::NotLeader { url } => url.as_deref(),
            _ => None,
        }
    }

    fn is_internal(&self) -> bool {
        matches!(self, TestError::Broken)
    }
}

impl ExtractError for TestError {
    const INVALID_REQUEST: fn(String) -> Self = TestError::Invalid;
    const BODY_TOO_LARGE: fn(String) -> Self = TestError::TooLarge;
    const UNSUPPORTED_MEDIA_TYPE: fn(String) -> Self = TestError::Media;
    const BODY_TIMED_OUT: fn(String) -> Self = TestError::Slow;
}

impl IntoResponse for TestError {
    fn into_response(self) -> Response {
        crate::error_response(&self)
    }
}

/// The status, headers and JSON body of an answer.
pub async fn read(res: Response) -> (u16, axum::http::HeaderMap, serde_json::Value) {
    let status = res.status().as_u16();
    let headers = res.headers().clone();
    let bytes = axum::body::to_bytes(res.into_body(), usize::MAX)
        .await
        .unwrap_or_default();
    let json = serde_json::from_slice(&bytes).unwrap_or(serde_json::Value::Null);
    (status, headers, json)
}
