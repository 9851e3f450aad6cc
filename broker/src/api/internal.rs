//! Broker-internal endpoints: metadata pushes from the active controller, and
//! followers' replica fetches. The router's cluster-auth layer has verified the
//! caller before these run; here its identity is bound to what it asks for.

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
use ferry_http::auth::AuthenticatedNode;

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
    AuthenticatedNode(caller): AuthenticatedNode,
    ApiJson(push): ApiJson<MetadataPush>,
) -> Result<Json<MetadataPushResponse>, BrokerError> {
    if caller.controller_id() != Some(push.controller_id) {
        return Err(BrokerError::ClusterAuthorizationFailed(format!(
            "{caller} may not push metadata as controller {}",
            push.controller_id
        )));
    }
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
    AuthenticatedNode(caller): AuthenticatedNode,
    ApiJson(req): ApiJson<ReplicaFetchRequest>,
) -> Result<axum::response::Response, BrokerError> {
    use axum::response::IntoResponse;
    // The fetch moves the HW on the replica's behalf: only that replica may send it.
    if caller.broker_id() != Some(req.replica_id.0) {
        return Err(BrokerError::ClusterAuthorizationFailed(format!(
            "{caller} may not fetch as replica {}",
            req.replica_id
        )));
    }
    let (header, batches) = state.replication.handle(req).await?;
    let body = encode_replica_fetch(&header, &batches)
        .map_err(|e| BrokerError::Internal(e.to_string()))?;
    Ok((
        [(axum::http::header::CONTENT_TYPE, REPLICA_FETCH_CONTENT_TYPE)],
        body,
    )
        .into_response())
}
