//! Liveness, readiness and Prometheus metrics.

use super::AppState;
use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use ferry_common::{ErrorBody, ErrorCode};
use serde_json::json;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/healthz", get(|| async { Json(json!({"status": "ok"})) }))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
}

/// Ready when registered, unfenced and caught up with metadata.
async fn readyz(State(state): State<AppState>) -> Response {
    let (b, metadata) = (&state.node, &state.metadata);
    if b.is_ready(metadata.offset()) {
        Json(json!({"status": "ready", "broker_id": b.id(), "metadata_offset": metadata.offset()}))
            .into_response()
    } else {
        let why = match b.id() {
            None => "not registered with the controller quorum yet".to_string(),
            Some(id) => format!(
                "broker {id} is fenced or still catching up with metadata (offset {})",
                metadata.offset()
            ),
        };
        (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(ErrorBody::new(ErrorCode::LeaderNotAvailable, why)),
        )
            .into_response()
    }
}

async fn metrics(State(state): State<AppState>) -> Response {
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        state.metrics.render(&state.metrics_sample()),
    )
        .into_response()
}
