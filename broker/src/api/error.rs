//! The one place a [`BrokerError`] becomes an HTTP response.

use crate::error::BrokerError;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use ferry_common::ErrorBody;
use serde_json::json;

impl IntoResponse for BrokerError {
    fn into_response(self) -> Response {
        let code = self.code();
        let mut body = ErrorBody::new(code, self.to_string());
        match &self {
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
                body.extra
                    .insert("log_start_offset".into(), json!(log_start_offset));
                body.extra
                    .insert("log_end_offset".into(), json!(log_end_offset));
                body.extra
                    .insert("high_watermark".into(), json!(high_watermark));
            }
            BrokerError::Internal(m) | BrokerError::Storage(m) => {
                tracing::error!(error = %m, "request failed")
            }
            _ => {}
        }
        let status =
            StatusCode::from_u16(code.http_status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let mut res = (status, Json(body)).into_response();
        if code.is_retriable() {
            res.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
        }
        res
    }
}
