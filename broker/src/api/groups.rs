//! Consumer groups: committed offsets and membership (join, heartbeat, leave,
//! describe, list). Any broker answers, forwarding to the group's coordinator.

use super::extract::{ApiJson, ApiQuery};
use super::AppState;
use crate::error::BrokerError;
use axum::extract::{Path, State};
use axum::routing::post;
use axum::{Json, Router};
use ferry_common::groups::{
    GroupDescription, GroupList, GroupListing, HeartbeatRequest, JoinGroupRequest, MemberAssignment,
};
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
    Ok(Json(state.groups.commit(&group, req).await?))
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
        state
            .groups
            .offsets()
            .fetch(&group, q.topic.as_deref())
            .await?,
    ))
}

pub fn membership_routes() -> Router<AppState> {
    Router::new()
        .route("/v1/groups", axum::routing::get(list))
        .route("/v1/groups/{group}", axum::routing::get(describe))
        .route("/v1/groups/{group}/members", post(join))
        .route(
            "/v1/groups/{group}/members/{member}",
            axum::routing::delete(leave),
        )
        .route(
            "/v1/groups/{group}/members/{member}/heartbeat",
            post(heartbeat),
        )
        .route("/internal/v1/groups", axum::routing::get(list_local))
}

async fn join(
    State(state): State<AppState>,
    Path(group): Path<String>,
    ApiJson(req): ApiJson<JoinGroupRequest>,
) -> Result<Json<MemberAssignment>, BrokerError> {
    Ok(Json(state.groups.join(&group, req).await?))
}

/// The body is optional: an empty one keeps the member alive and reports nothing.
async fn heartbeat(
    State(state): State<AppState>,
    Path((group, member)): Path<(String, String)>,
    body: axum::body::Bytes,
) -> Result<Json<MemberAssignment>, BrokerError> {
    let req: HeartbeatRequest = if body.iter().all(u8::is_ascii_whitespace) {
        HeartbeatRequest::default()
    } else {
        serde_json::from_slice(&body)
            .map_err(|e| BrokerError::InvalidRequest(format!("bad heartbeat body: {e}")))?
    };
    Ok(Json(state.groups.heartbeat(&group, &member, req).await?))
}

async fn leave(
    State(state): State<AppState>,
    Path((group, member)): Path<(String, String)>,
) -> Result<Json<serde_json::Value>, BrokerError> {
    state.groups.leave(&group, &member).await?;
    Ok(Json(
        serde_json::json!({ "group": group, "member_id": member, "left": true }),
    ))
}

async fn describe(
    State(state): State<AppState>,
    Path(group): Path<String>,
) -> Result<Json<GroupDescription>, BrokerError> {
    Ok(Json(state.groups.describe(&group).await?))
}

async fn list(State(state): State<AppState>) -> Json<GroupList> {
    Json(GroupList {
        groups: state.groups.list().await,
    })
}

/// Groups coordinated by this broker (for `GET /v1/groups` on any broker).
async fn list_local(State(state): State<AppState>) -> Json<Vec<GroupListing>> {
    Json(state.groups.list_local())
}
