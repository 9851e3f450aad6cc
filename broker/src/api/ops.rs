//! Liveness, readiness and Prometheus metrics ([`ferry_http::ops`]); what
//! "ready" means for a broker is decided here.

use super::AppState;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::{Json, Router};
use serde_json::json;

pub fn routes() -> Router<AppState> {
    ferry_http::ops::routes(readyz, metrics)
}

/// Ready when registered, unfenced and caught up with metadata.
#[utoipa::path(get, path = "/readyz", tag = "ops",
    responses((status = 200, description = "Ready: `status`, `broker_id`, `metadata_offset`", body = Object),
        (status = 503, description = "LEADER_NOT_AVAILABLE: not registered, fenced or behind on metadata", body = ferry_common::ErrorBody)))]
pub(crate) async fn readyz(State(state): State<AppState>) -> Response {
    let (b, metadata) = (&state.node, &state.metadata);
    if b.is_ready(metadata.offset()) {
        Json(json!({"status": "ready", "broker_id": b.id(), "metadata_offset": metadata.offset()}))
            .into_response()
    } else {
        ferry_http::ops::not_ready(match b.id() {
            None => "not registered with the controller quorum yet".to_string(),
            Some(id) if !b.replicas_open() => {
                format!("broker {id} is still opening its replicas")
            }
            Some(id) => format!(
                "broker {id} is fenced or still catching up with metadata (offset {})",
                metadata.offset()
            ),
        })
    }
}

/// Prometheus text format.
#[utoipa::path(get, path = "/metrics", tag = "ops",
    responses((status = 200, description = "Prometheus metrics", body = String, content_type = "text/plain")))]
pub(crate) async fn metrics(State(state): State<AppState>) -> Response {
    ferry_http::ops::metrics_response(state.metrics.render(&state.metrics_sample()))
}
