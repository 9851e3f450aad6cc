//! The one place a [`ControllerError`] becomes an HTTP response.

use crate::error::ControllerError;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use ferry_common::ErrorBody;

/// Marks a `NOT_CONTROLLER` answer whose `Location` should point at this leader
/// URL (filled in by the middleware, which knows the request path).
#[derive(Debug, Clone)]
pub struct LeaderRedirect(pub String);

impl IntoResponse for ControllerError {
    fn into_response(self) -> Response {
        let code = self.code();
        let mut body = ErrorBody::new(code, self.to_string());
        let mut status =
            StatusCode::from_u16(code.http_status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let mut redirect = None;
        match &self {
            ControllerError::NotController {
                leader_id,
                leader_url,
            } => {
                body.leader_id = *leader_id;
                body.leader_url = leader_url.clone();
                if let Some(url) = leader_url {
                    // 307 keeps method and body, so `curl -L` replays the write on the leader.
                    status = StatusCode::TEMPORARY_REDIRECT;
                    redirect = Some(LeaderRedirect(url.clone()));
                }
            }
            ControllerError::Internal(msg) => tracing::error!(error = %msg, "internal error"),
            _ => {}
        }
        let mut res = (status, Json(body)).into_response();
        if code.is_retriable() && redirect.is_none() {
            res.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
        }
        if let Some(r) = redirect {
            res.extensions_mut().insert(r);
        }
        res
    }
}
