//! Broker-internal endpoints: metadata pushes from the active controller, and
//! followers' replica fetches.

use super::extract::ApiJson;
use super::AppState;
use crate::error::BrokerError;
use axum::extract::State;
use axum::routing::post;
use axum::{Json, Router};
use ferry_common::internal::{
    encode_replica_fetch, MetadataPush, MetadataPushResponse, ReplicaFetchRequest,
    REPLICA_FETCH_CONTENT_TYPE,
};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/internal/v1/metadata/deltas", post(push))
        .route("/internal/v1/replica/fetch", post(replica_fetch))
}

/// Applies deltas in order; when they cannot bring this broker to the head (a
/// gap, the controller says so, or nothing left to apply while behind), pulls
/// a snapshot (once per push) and applies the rest.
async fn push(
    State(state): State<AppState>,
    ApiJson(push): ApiJson<MetadataPush>,
) -> Result<Json<MetadataPushResponse>, BrokerError> {
    let mut outcome = state.metadata.apply_push(&push);
    if let Some(cause) = outcome.resync {
        tracing::info!(
            metadata_offset = outcome.applied_offset,
            head_offset = push.head_offset,
            ?cause,
            "metadata deltas cannot bring this broker to the head; resyncing from a snapshot"
        );
        if state.membership.resync().await {
            outcome = state.metadata.apply_push(&push);
        }
    }
    Ok(Json(MetadataPushResponse {
        applied_offset: outcome.applied_offset,
    }))
}

/// A follower's long-poll fetch (see `replication/leader.rs`); the answer is
/// binary (`ferry_common::internal::encode_replica_fetch`).
async fn replica_fetch(
    State(state): State<AppState>,
    ApiJson(req): ApiJson<ReplicaFetchRequest>,
) -> Result<axum::response::Response, BrokerError> {
    use axum::response::IntoResponse;
    let (header, batches) = state.replication.handle(req).await?;
    let body = encode_replica_fetch(&header, &batches)
        .map_err(|e| BrokerError::Internal(e.to_string()))?;
    Ok((
        [(axum::http::header::CONTENT_TYPE, REPLICA_FETCH_CONTENT_TYPE)],
        body,
    )
        .into_response())
}
