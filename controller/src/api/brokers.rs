//! Endpoints brokers call: registration, heartbeats, controlled shutdown,
//! reports of unreachable peers, AlterPartition, metadata snapshot.
//! The cluster-auth layer has verified the caller; a broker acts only for
//! itself (`authorize_broker`), whatever the body or path says.

use super::extract::ApiJson;
use super::AppState;
use crate::error::ControllerError;
use axum::extract::{Path, State};
use axum::routing::{get, post};
use axum::{Json, Router};
use ferry_common::internal::{
    AlterPartitionRequest, AlterPartitionResponse, ControlledShutdownRequest, HeartbeatRequest,
    HeartbeatResponse, RegisterBrokerRequest, RegisterBrokerResponse, UnreachableReport,
    UnreachableVerdict,
};
use ferry_common::metadata::MetadataImage;
use ferry_common::BrokerId;
use ferry_http::auth::{AuthenticatedNode, NodeIdentity};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/internal/v1/brokers/register", post(register))
        .route("/internal/v1/brokers/{id}/heartbeat", post(heartbeat))
        .route("/internal/v1/brokers/{id}/shutdown", post(shutdown))
        .route("/internal/v1/brokers/{id}/unreachable", post(unreachable))
        .route("/internal/v1/alter-partition", post(alter_partition))
        .route("/internal/v1/metadata/snapshot", get(snapshot))
}

/// Refuses `caller` unless it is broker `id` (`None`: a broker without an id yet).
fn authorize_broker(caller: NodeIdentity, id: Option<BrokerId>) -> Result<(), ControllerError> {
    let own = match id {
        Some(id) => NodeIdentity::Broker(id.0),
        None => NodeIdentity::NewBroker,
    };
    if caller == own {
        return Ok(());
    }
    Err(ControllerError::ClusterAuthorizationFailed(format!(
        "{caller} may not act as {own}"
    )))
}

async fn register(
    State(state): State<AppState>,
    AuthenticatedNode(caller): AuthenticatedNode,
    ApiJson(req): ApiJson<RegisterBrokerRequest>,
) -> Result<Json<RegisterBrokerResponse>, ControllerError> {
    authorize_broker(caller, req.broker_id)?;
    Ok(Json(state.brokers.register_broker(req).await?))
}

async fn heartbeat(
    State(state): State<AppState>,
    AuthenticatedNode(caller): AuthenticatedNode,
    Path(id): Path<String>,
    ApiJson(req): ApiJson<HeartbeatRequest>,
) -> Result<Json<HeartbeatResponse>, ControllerError> {
    let id = parse_broker_id(&id)?;
    authorize_broker(caller, Some(id))?;
    Ok(Json(state.brokers.heartbeat(id, req).await?))
}

async fn shutdown(
    State(state): State<AppState>,
    AuthenticatedNode(caller): AuthenticatedNode,
    Path(id): Path<String>,
    ApiJson(req): ApiJson<ControlledShutdownRequest>,
) -> Result<Json<serde_json::Value>, ControllerError> {
    let id = parse_broker_id(&id)?;
    authorize_broker(caller, Some(id))?;
    state
        .brokers
        .controlled_shutdown(id, req.broker_epoch)
        .await?;
    Ok(Json(serde_json::json!({ "broker_id": id, "fenced": true })))
}

/// A broker reports that broker `id` refused its connection; it reports
/// only as itself.
async fn unreachable(
    State(state): State<AppState>,
    AuthenticatedNode(caller): AuthenticatedNode,
    Path(id): Path<String>,
    ApiJson(req): ApiJson<UnreachableReport>,
) -> Result<Json<UnreachableVerdict>, ControllerError> {
    let id = parse_broker_id(&id)?;
    authorize_broker(caller, Some(req.reporter_id))?;
    Ok(Json(state.brokers.report_unreachable(id, req).await?))
}

fn parse_broker_id(raw: &str) -> Result<BrokerId, ControllerError> {
    raw.parse()
        .map(BrokerId)
        .map_err(|_| ControllerError::InvalidBrokerId {
            raw: raw.to_string(),
        })
}

async fn alter_partition(
    State(state): State<AppState>,
    AuthenticatedNode(caller): AuthenticatedNode,
    ApiJson(req): ApiJson<AlterPartitionRequest>,
) -> Result<Json<AlterPartitionResponse>, ControllerError> {
    // The leader's own ISR change: the state machine checks it leads the partition.
    authorize_broker(caller, Some(req.broker_id))?;
    Ok(Json(state.brokers.alter_partition(req).await?))
}

/// `NOT_CONTROLLER` (a redirect to the leader) unless this is the active controller.
async fn snapshot(State(state): State<AppState>) -> Result<Json<MetadataImage>, ControllerError> {
    Ok(Json(state.brokers.snapshot().await?))
}
