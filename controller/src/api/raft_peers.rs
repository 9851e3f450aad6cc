//! Raft RPCs from other controllers. Bodies are openraft's own types as JSON;
//! answers are `Result<_, RaftError>` as JSON, decoded by `raft::network`.
//! The cluster-auth layer has verified the caller; each RPC must come from a
//! controller and speak for that controller only (its vote's node id).

use super::extract::parse_json;
use super::AppState;
use crate::error::ControllerError;
use axum::body::Bytes;
use axum::extract::State;
use axum::routing::post;
use axum::{Json, Router};
use ferry_http::auth::{AuthenticatedNode, NodeIdentity};
use openraft::raft::{AppendEntriesRequest, InstallSnapshotRequest, VoteRequest};
use openraft::Vote;
use serde_json::Value;

use crate::raft::types::TypeConfig;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/raft/v1/append", post(append))
        .route("/raft/v1/vote", post(vote))
        .route("/raft/v1/snapshot", post(snapshot))
}

fn to_json<T: serde::Serialize>(v: &T) -> Result<Json<Value>, ControllerError> {
    serde_json::to_value(v)
        .map(Json)
        .map_err(|e| ControllerError::Internal(e.to_string()))
}

/// Refuses an RPC whose vote names another node than the controller that sent it.
fn check_sender(caller: NodeIdentity, vote: &Vote<u64>) -> Result<(), ControllerError> {
    match (caller.controller_id(), vote.leader_id().voted_for()) {
        (Some(me), Some(named)) if me == named => Ok(()),
        _ => Err(ControllerError::ClusterAuthorizationFailed(format!(
            "{caller} may not send a Raft RPC for node {:?}",
            vote.leader_id().voted_for()
        ))),
    }
}

async fn append(
    State(state): State<AppState>,
    AuthenticatedNode(caller): AuthenticatedNode,
    body: Bytes,
) -> Result<Json<Value>, ControllerError> {
    let req: AppendEntriesRequest<TypeConfig> = parse_json(&body)?;
    check_sender(caller, &req.vote)?;
    let leader = req.vote.leader_id().voted_for();
    let res = state.raft.append_entries(req).await;
    if res.is_ok() {
        if let Some(l) = leader {
            state.contacts.touch(l);
        }
    }
    to_json(&res)
}

async fn vote(
    State(state): State<AppState>,
    AuthenticatedNode(caller): AuthenticatedNode,
    body: Bytes,
) -> Result<Json<Value>, ControllerError> {
    let req: VoteRequest<u64> = parse_json(&body)?;
    check_sender(caller, &req.vote)?;
    to_json(&state.raft.vote(req).await)
}

async fn snapshot(
    State(state): State<AppState>,
    AuthenticatedNode(caller): AuthenticatedNode,
    body: Bytes,
) -> Result<Json<Value>, ControllerError> {
    let req: InstallSnapshotRequest<TypeConfig> = parse_json(&body)?;
    check_sender(caller, &req.vote)?;
    to_json(&state.raft.install_snapshot(req).await)
}
