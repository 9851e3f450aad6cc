//! Liveness, readiness and Prometheus metrics.

use super::AppState;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use ferry_common::{ErrorBody, ErrorCode};
use serde_json::json;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
}

async fn healthz() -> Json<serde_json::Value> {
    Json(json!({ "status": "ok" }))
}

/// Ready once the quorum has a leader and the cluster id is committed.
async fn readyz(axum::extract::State(state): axum::extract::State<AppState>) -> Response {
    let info = state.admin.cluster_info();
    match (info.leader_id, &info.cluster_id) {
        (Some(leader), Some(cluster_id)) => Json(json!({
            "status": "ready",
            "leader_id": leader,
            "cluster_id": cluster_id,
            "metadata_offset": info.metadata_offset,
        }))
        .into_response(),
        _ => (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(ErrorBody::new(
                ErrorCode::LeaderNotAvailable,
                "the controller quorum has no leader or cluster id yet",
            )),
        )
            .into_response(),
    }
}

async fn metrics(axum::extract::State(state): axum::extract::State<AppState>) -> Response {
    let body = state.metrics.render(&state.admin);
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], body).into_response()
}
