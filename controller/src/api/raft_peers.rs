//! Raft RPCs from other controllers. Bodies are openraft's own types as JSON;
//! answers are `Result<_, RaftError>` as JSON, decoded by `raft::network`.

use super::extract::parse_json;
use super::AppState;
use crate::error::ControllerError;
use axum::body::Bytes;
use axum::extract::State;
use axum::routing::post;
use axum::{Json, Router};
use openraft::raft::{AppendEntriesRequest, InstallSnapshotRequest, VoteRequest};
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

async fn append(
    State(state): State<AppState>,
    body: Bytes,
) -> Result<Json<Value>, ControllerError> {
    let req: AppendEntriesRequest<TypeConfig> = parse_json(&body)?;
    let leader = req.vote.leader_id().voted_for();
    let res = state.raft.append_entries(req).await;
    if res.is_ok() {
        if let Some(l) = leader {
            state.contacts.touch(l);
        }
    }
    to_json(&res)
}

async fn vote(State(state): State<AppState>, body: Bytes) -> Result<Json<Value>, ControllerError> {
    let req: VoteRequest<u64> = parse_json(&body)?;
    to_json(&state.raft.vote(req).await)
}

async fn snapshot(
    State(state): State<AppState>,
    body: Bytes,
) -> Result<Json<Value>, ControllerError> {
    let req: InstallSnapshotRequest<TypeConfig> = parse_json(&body)?;
    to_json(&state.raft.install_snapshot(req).await)
}
