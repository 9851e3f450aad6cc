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
async fn readyz(State(state): State<AppState>) -> Response {
    let (b, metadata) = (&state.node, &state.metadata);
    if b.is_ready(metadata.offset()) {
        Json(json!({"status": "ready", "broker_id": b.id(), "metadata_offset": metadata.offset()}))
            .into_response()
    } else {
        ferry_http::ops::not_ready(match b.id() {
            None => "not registered with the controller quorum yet".to_string(),
            Some(id) => format!(
                "broker {id} is fenced or still catching up with metadata (offset {})",
                metadata.offset()
            ),
        })
    }
}

async fn metrics(State(state): State<AppState>) -> Response {
    ferry_http::ops::metrics_response(state.metrics.render(&state.metrics_sample()))
}
