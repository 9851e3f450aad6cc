//! Consumer-group committed offsets (`/v1/groups/{group}/offsets`); any broker
//! answers, forwarding to the group's coordinator.

use super::extract::{ApiJson, ApiQuery};
use super::AppState;
use crate::error::BrokerError;
use crate::service::group_offsets;
use axum::extract::{Path, State};
use axum::routing::post;
use axum::{Json, Router};
use ferry_common::records::{GroupOffsetsResponse, OffsetCommitRequest};
use serde::Deserialize;

pub fn routes() -> Router<AppState> {
    Router::new().route("/v1/groups/{group}/offsets", post(commit).get(fetch))
}

async fn commit(
    State(state): State<AppState>,
    Path(group): Path<String>,
    ApiJson(req): ApiJson<OffsetCommitRequest>,
) -> Result<Json<GroupOffsetsResponse>, BrokerError> {
    Ok(Json(
        group_offsets::commit(&state.broker, &group, req).await?,
    ))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct FetchQuery {
    topic: Option<String>,
}

async fn fetch(
    State(state): State<AppState>,
    Path(group): Path<String>,
    ApiQuery(q): ApiQuery<FetchQuery>,
) -> Result<Json<GroupOffsetsResponse>, BrokerError> {
    Ok(Json(
        group_offsets::fetch(&state.broker, &group, q.topic.as_deref()).await?,
    ))
}
