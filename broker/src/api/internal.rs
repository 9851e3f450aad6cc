//! Metadata pushes from the active controller.

use super::extract::ApiJson;
use super::AppState;
use crate::error::BrokerError;
use crate::membership::lifecycle;
use axum::extract::State;
use axum::routing::post;
use axum::{Json, Router};
use ferry_common::internal::{MetadataPush, MetadataPushResponse};

pub fn routes() -> Router<AppState> {
    Router::new().route("/internal/v1/metadata/deltas", post(push))
}

/// Applies deltas in order; on a gap, pulls a snapshot and applies the rest.
async fn push(
    State(state): State<AppState>,
    ApiJson(push): ApiJson<MetadataPush>,
) -> Result<Json<MetadataPushResponse>, BrokerError> {
    let mut outcome = state.broker.metadata.apply_push(&push);
    if outcome.gap {
        tracing::info!(
            metadata_offset = outcome.applied_offset,
            "gap in metadata deltas; resyncing from a snapshot"
        );
        if lifecycle::resync(&state.broker, &state.controller).await {
            outcome = state.broker.metadata.apply_push(&push);
        }
    }
    Ok(Json(MetadataPushResponse {
        applied_offset: outcome.applied_offset,
    }))
}
