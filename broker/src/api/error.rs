//! How a [`BrokerError`] is answered over HTTP: its hints and which errors are
//! this node's fault; the response itself is built by [`ferry_http::error`].

use crate::error::BrokerError;
use axum::response::{IntoResponse, Response};
use ferry_common::{ErrorBody, ErrorCode};
use ferry_http::{ApiError, ExtractError};
use serde_json::json;

impl IntoResponse for BrokerError {
    fn into_response(self) -> Response {
        ferry_http::error_response(&self)
    }
}

impl ApiError for BrokerError {
    fn code(&self) -> ErrorCode {
        BrokerError::code(self)
    }

    fn add_hints(&self, body: &mut ErrorBody) {
        match self {
            BrokerError::NotLeader {
                leader_id,
                leader_url,
                ..
            } => {
                body.leader_id = leader_id.map(u64::from);
                body.leader_url = leader_url.clone();
            }
            BrokerError::OffsetOutOfRange {
                log_start_offset,
                log_end_offset,
                high_watermark,
                ..
            } => {
                for (key, value) in [
                    ("log_start_offset", log_start_offset),
                    ("log_end_offset", log_end_offset),
                    ("high_watermark", high_watermark),
                ] {
                    body.extra.insert(key.into(), json!(value));
                }
            }
            _ => {}
        }
    }

    fn is_internal(&self) -> bool {
        matches!(self, BrokerError::Internal(_) | BrokerError::Storage(_))
    }
}

impl ExtractError for BrokerError {
    const INVALID_REQUEST: fn(String) -> Self = BrokerError::InvalidRequest;
    const BODY_TOO_LARGE: fn(String) -> Self = BrokerError::BodyTooLarge;
    const UNSUPPORTED_MEDIA_TYPE: fn(String) -> Self = BrokerError::UnsupportedMediaType;
    const BODY_TIMED_OUT: fn(String) -> Self = BrokerError::BodyTimedOut;
}
