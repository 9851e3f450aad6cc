//! Consumer groups: committed offsets and membership (join, heartbeat, leave,
//! describe, list). Any broker answers, forwarding to the group's coordinator.
//!
//! Authorization (Kafka's): join, heartbeat, leave and commit take Read on
//! the group, a commit also Read on every topic it names; fetching offsets
//! and describing take Describe on the group (offsets of topics the caller
//! may not Describe are left out); listing shows the groups the caller may
//! Describe. The relaying broker authorizes; the coordinator trusts its
//! signature.

use super::extract::{ApiJson, ApiQuery};
use super::AppState;
use crate::error::BrokerError;
use axum::extract::{Path, State};
use axum::routing::post;
use axum::{Json, Router};
use ferry_common::groups::{
    GroupDescription, GroupList, GroupListing, HeartbeatRequest, JoinGroupRequest,
    MemberAssignment, MemberLeft,
};
use ferry_common::records::{GroupOffsetsResponse, OffsetCommitRequest};
use ferry_common::security::{AclOperation, ResourceType};
use ferry_common::ErrorBody;
use ferry_http::Caller;
use serde::Deserialize;

pub fn routes() -> Router<AppState> {
    Router::new().route("/v1/groups/{group}/offsets", post(commit).get(fetch))
}

#[utoipa::path(post, path = "/v1/groups/{group}/offsets", tag = "groups",
    params(("group" = String, Path, description = "Group id")), request_body = OffsetCommitRequest,
    responses((status = 200, description = "The group's committed offsets after the commit", body = GroupOffsetsResponse),
        (status = 403, description = "GROUP_AUTHORIZATION_FAILED (Read on the group) or TOPIC_AUTHORIZATION_FAILED (Read on a topic)", body = ErrorBody),
        (status = 404, description = "UNKNOWN_MEMBER_ID or UNKNOWN_TOPIC_OR_PARTITION", body = ErrorBody),
        (status = 409, description = "ILLEGAL_GENERATION, STALE_MEMBER_EPOCH or FENCED_MEMBER_EPOCH", body = ErrorBody),
        (status = 503, description = "COORDINATOR_NOT_AVAILABLE, or the node is at its request bound", body = ErrorBody)))]
async fn commit(
    State(state): State<AppState>,
    caller: Caller,
    Path(group): Path<String>,
    ApiJson(req): ApiJson<OffsetCommitRequest>,
) -> Result<Json<GroupOffsetsResponse>, BrokerError> {
    let may = state.authz.decisions(&caller);
    may.group(&group, AclOperation::Read)?;
    for o in &req.offsets {
        may.topic(&o.topic, AclOperation::Read)?;
    }
    Ok(Json(state.groups.commit(&group, req).await?))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
struct FetchQuery {
    /// Only this topic's offsets.
    topic: Option<String>,
}

#[utoipa::path(get, path = "/v1/groups/{group}/offsets", tag = "groups",
    params(("group" = String, Path, description = "Group id"), FetchQuery),
    responses((status = 200, description = "The group's committed offsets and lag, for the topics the caller may Describe", body = GroupOffsetsResponse),
        (status = 403, description = "GROUP_AUTHORIZATION_FAILED: Describe on the group is needed", body = ErrorBody),
        (status = 503, description = "COORDINATOR_NOT_AVAILABLE, or the node is at its request bound", body = ErrorBody)))]
async fn fetch(
    State(state): State<AppState>,
    caller: Caller,
    Path(group): Path<String>,
    ApiQuery(q): ApiQuery<FetchQuery>,
) -> Result<Json<GroupOffsetsResponse>, BrokerError> {
    let may = state.authz.decisions(&caller);
    may.group(&group, AclOperation::Describe)?;
    let mut res = state
        .groups
        .offsets()
        .fetch(&group, q.topic.as_deref())
        .await?;
    res.offsets
        .retain(|o| may.allows(ResourceType::Topic, &o.topic, AclOperation::Describe));
    Ok(Json(res))
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

#[utoipa::path(post, path = "/v1/groups/{group}/members", tag = "groups",
    params(("group" = String, Path, description = "Group id")), request_body = JoinGroupRequest,
    responses((status = 200, description = "The new member and its assignment", body = MemberAssignment),
        (status = 403, description = "GROUP_AUTHORIZATION_FAILED: Read on the group is needed", body = ErrorBody),
        (status = 404, description = "UNKNOWN_MEMBER_ID: a rejoin with a member id the group no longer has", body = ErrorBody),
        (status = 503, description = "COORDINATOR_NOT_AVAILABLE, or the node is at its request bound", body = ErrorBody)))]
async fn join(
    State(state): State<AppState>,
    caller: Caller,
    Path(group): Path<String>,
    ApiJson(req): ApiJson<JoinGroupRequest>,
) -> Result<Json<MemberAssignment>, BrokerError> {
    state
        .authz
        .decisions(&caller)
        .group(&group, AclOperation::Read)?;
    Ok(Json(state.groups.join(&group, req).await?))
}

/// The body is optional: an empty one keeps the member alive and reports nothing.
#[utoipa::path(post, path = "/v1/groups/{group}/members/{member}/heartbeat", tag = "groups",
    params(("group" = String, Path, description = "Group id"), ("member" = String, Path, description = "Member id from the join answer")), request_body(content = HeartbeatRequest, description = "Optional: an empty body keeps the member alive and reports nothing"),
    responses((status = 200, description = "The member's current assignment", body = MemberAssignment),
        (status = 403, description = "GROUP_AUTHORIZATION_FAILED: Read on the group is needed", body = ErrorBody),
        (status = 404, description = "UNKNOWN_MEMBER_ID: rejoin", body = ErrorBody),
        (status = 409, description = "FENCED_MEMBER_EPOCH (rejoin) or STALE_MEMBER_EPOCH", body = ErrorBody),
        (status = 503, description = "COORDINATOR_NOT_AVAILABLE, or the node is at its request bound", body = ErrorBody)))]
async fn heartbeat(
    State(state): State<AppState>,
    caller: Caller,
    Path((group, member)): Path<(String, String)>,
    body: axum::body::Bytes,
) -> Result<Json<MemberAssignment>, BrokerError> {
    state
        .authz
        .decisions(&caller)
        .group(&group, AclOperation::Read)?;
    let req: HeartbeatRequest = if body.iter().all(u8::is_ascii_whitespace) {
        HeartbeatRequest::default()
    } else {
        serde_json::from_slice(&body)
            .map_err(|e| BrokerError::InvalidRequest(format!("bad heartbeat body: {e}")))?
    };
    Ok(Json(state.groups.heartbeat(&group, &member, req).await?))
}

#[utoipa::path(delete, path = "/v1/groups/{group}/members/{member}", tag = "groups",
    params(("group" = String, Path, description = "Group id"), ("member" = String, Path, description = "Member id from the join answer")),
    responses((status = 200, description = "The member left", body = MemberLeft),
        (status = 403, description = "GROUP_AUTHORIZATION_FAILED: Read on the group is needed", body = ErrorBody),
        (status = 404, description = "UNKNOWN_MEMBER_ID", body = ErrorBody),
        (status = 503, description = "COORDINATOR_NOT_AVAILABLE, or the node is at its request bound", body = ErrorBody)))]
async fn leave(
    State(state): State<AppState>,
    caller: Caller,
    Path((group, member)): Path<(String, String)>,
) -> Result<Json<MemberLeft>, BrokerError> {
    state
        .authz
        .decisions(&caller)
        .group(&group, AclOperation::Read)?;
    state.groups.leave(&group, &member).await?;
    Ok(Json(MemberLeft {
        group,
        member_id: member,
        left: true,
    }))
}

#[utoipa::path(get, path = "/v1/groups/{group}", tag = "groups", params(("group" = String, Path, description = "Group id")),
    responses((status = 200, description = "Members, assignments and committed offsets", body = GroupDescription),
        (status = 403, description = "GROUP_AUTHORIZATION_FAILED: Describe on the group is needed", body = ErrorBody),
        (status = 503, description = "COORDINATOR_NOT_AVAILABLE, or the node is at its request bound", body = ErrorBody)))]
async fn describe(
    State(state): State<AppState>,
    caller: Caller,
    Path(group): Path<String>,
) -> Result<Json<GroupDescription>, BrokerError> {
    let may = state.authz.decisions(&caller);
    may.group(&group, AclOperation::Describe)?;
    let mut res = state.groups.describe(&group).await?;
    res.offsets
        .retain(|o| may.allows(ResourceType::Topic, &o.topic, AclOperation::Describe));
    Ok(Json(res))
}

#[utoipa::path(get, path = "/v1/groups", tag = "groups",
    responses((status = 200, description = "Every group the caller may Describe, gathered from every broker", body = GroupList)))]
async fn list(State(state): State<AppState>, caller: Caller) -> Json<GroupList> {
    let mut groups = state.groups.list().await;
    let may = state.authz.decisions(&caller);
    // Kafka's ListGroups: Describe on the cluster shows all.
    if may.cluster(AclOperation::Describe).is_err() {
        groups.retain(|g| may.allows(ResourceType::Group, &g.group, AclOperation::Describe));
    }
    Json(GroupList { groups })
}

/// Groups coordinated by this broker (for `GET /v1/groups` on any broker).
async fn list_local(State(state): State<AppState>) -> Json<Vec<GroupListing>> {
    Json(state.groups.list_local())
}
