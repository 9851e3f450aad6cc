//! How a [`ControllerError`] is answered over HTTP: its leader hint and
//! redirect, and which errors are this node's fault; the response itself is
//! built by [`ferry_http::error`].

use crate::error::ControllerError;
use axum::response::{IntoResponse, Response};
use ferry_common::{ErrorBody, ErrorCode};
use ferry_http::{ApiError, ExtractError};

impl ApiError for ControllerError {
    fn code(&self) -> ErrorCode {
        ControllerError::code(self)
    }

    fn add_hints(&self, body: &mut ErrorBody) {
        if let ControllerError::NotController {
            leader_id,
            leader_url,
        } = self
        {
            body.leader_id = *leader_id;
            body.leader_url = leader_url.clone();
        }
    }

    /// A `NOT_CONTROLLER` answer with a known leader is a 307 to it.
    fn redirect_to(&self) -> Option<&str> {
        match self {
            ControllerError::NotController {
                leader_url: Some(url),
                ..
            } => Some(url),
            _ => None,
        }
    }

    fn is_internal(&self) -> bool {
        matches!(self, ControllerError::Internal(_))
    }
}

impl IntoResponse for ControllerError {
    fn into_response(self) -> Response {
        ferry_http::error_response(&self)
    }
}

impl ExtractError for ControllerError {
    const INVALID_REQUEST: fn(String) -> Self = ControllerError::InvalidRequest;
    const BODY_TOO_LARGE: fn(String) -> Self = ControllerError::BodyTooLarge;
    const UNSUPPORTED_MEDIA_TYPE: fn(String) -> Self = ControllerError::UnsupportedMediaType;
    const BODY_TIMED_OUT: fn(String) -> Self = ControllerError::BodyTimedOut;
}
