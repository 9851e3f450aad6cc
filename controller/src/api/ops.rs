//! Liveness, readiness and Prometheus metrics ([`ferry_http::ops`]); what
//! "ready" means for a controller is decided here.

use super::AppState;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::{Json, Router};
use serde_json::json;

pub fn routes() -> Router<AppState> {
    ferry_http::ops::routes(readyz, metrics)
}

/// Ready once the quorum has a leader and the cluster id is committed.
#[utoipa::path(get, path = "/readyz", tag = "ops",
    responses((status = 200, description = "Ready: `status`, `leader_id`, `cluster_id`, `metadata_offset`", body = Object),
        (status = 503, description = "LEADER_NOT_AVAILABLE: no leader or cluster id yet", body = ferry_common::ErrorBody)))]
pub(crate) async fn readyz(State(state): State<AppState>) -> Response {
    let info = state.admin.cluster_info();
    match (info.leader_id, &info.cluster_id) {
        (Some(leader), Some(cluster_id)) => Json(json!({
            "status": "ready",
            "leader_id": leader,
            "cluster_id": cluster_id,
            "metadata_offset": info.metadata_offset,
        }))
        .into_response(),
        _ => ferry_http::ops::not_ready("the controller quorum has no leader or cluster id yet"),
    }
}

/// Prometheus text format.
#[utoipa::path(get, path = "/metrics", tag = "ops",
    responses((status = 200, description = "Prometheus metrics", body = String, content_type = "text/plain")))]
pub(crate) async fn metrics(State(state): State<AppState>) -> Response {
    ferry_http::ops::metrics_response(state.metrics.render(&state.admin))
}
