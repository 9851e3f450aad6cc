//! `/v1/acls`: create, list and delete ACL bindings (README, "Security").
//! Managing ACLs takes Alter on the cluster, listing them Describe.

use super::extract::{ApiJson, ApiQuery, ClientIdentity, IdempotencyHeaders};
use super::AppState;
use crate::error::ControllerError;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;
use axum::{Json, Router};
use ferry_common::acls::{
    AclBindingFilter, AclList, AclsCreated, AclsDeleted, CreateAclsRequest, DeleteAclsRequest,
    PatternTypeFilter,
};
use ferry_common::security::{AclOperation, AclPermission, ResourceType};
use ferry_common::ErrorBody;
use ferry_http::Caller;
use serde::Deserialize;

pub fn routes() -> Router<AppState> {
    Router::new().route("/v1/acls", get(list).post(create).delete(delete))
}

/// `GET /v1/acls` filter: an absent field matches anything.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
struct ListQuery {
    /// `Topic`, `Group`, `Cluster` or `TransactionalId`.
    #[param(value_type = Option<String>)]
    resource_type: Option<ResourceType>,
    resource_name: Option<String>,
    /// `LITERAL`, `PREFIXED`, `ANY` (default: either, exact name) or `MATCH`
    /// (every binding that applies to `resource_name`).
    #[param(value_type = Option<String>)]
    pattern_type: Option<PatternTypeFilter>,
    /// `User:alice`, `User:*`.
    principal: Option<String>,
    host: Option<String>,
    /// `Read`, `Write`, ... `All` (matches only bindings of All).
    #[param(value_type = Option<String>)]
    operation: Option<AclOperation>,
    /// `Allow` or `Deny`.
    #[param(value_type = Option<String>)]
    permission: Option<AclPermission>,
    /// Linearizable read, answered by the active controller only.
    #[serde(default)]
    consistent: bool,
}

#[utoipa::path(post, path = "/v1/acls", tag = "acls", params(IdempotencyHeaders),
    request_body = CreateAclsRequest,
    responses((status = 201, description = "The bindings are stored; brokers enforce them once their metadata offset reaches metadata_offset", body = AclsCreated),
        (status = 307, description = "NOT_CONTROLLER: writes go to the active controller (Location)", body = ErrorBody),
        (status = 400, description = "INVALID_REQUEST: a binding is malformed (the message names it)", body = ErrorBody),
        (status = 403, description = "CLUSTER_AUTHORIZATION_FAILED: Alter on the cluster is needed", body = ErrorBody),
        (status = 504, description = "REQUEST_TIMED_OUT: the outcome of the write is unknown", body = ErrorBody)))]
async fn create(
    State(state): State<AppState>,
    caller: Caller,
    ClientIdentity(client): ClientIdentity,
    ApiJson(req): ApiJson<CreateAclsRequest>,
) -> Result<(StatusCode, Json<AclsCreated>), ControllerError> {
    state
        .authz
        .decisions(&caller)
        .cluster(AclOperation::Alter)?;
    let created = state.acls.create(req.acls, client).await?;
    tracing::info!(principal = %caller.principal, count = created.acls.len(), offset = created.metadata_offset, "ACLs created");
    Ok((StatusCode::CREATED, Json(created)))
}

#[utoipa::path(get, path = "/v1/acls", tag = "acls", params(ListQuery),
    responses((status = 200, description = "The bindings the filter selects", body = AclList),
        (status = 307, description = "NOT_CONTROLLER: a consistent read goes to the active controller (Location)", body = ErrorBody),
        (status = 400, description = "INVALID_REQUEST: an unknown field or value", body = ErrorBody),
        (status = 403, description = "CLUSTER_AUTHORIZATION_FAILED: Describe on the cluster is needed", body = ErrorBody),
        (status = 504, description = "REQUEST_TIMED_OUT: the read point was not reached in time", body = ErrorBody)))]
async fn list(
    State(state): State<AppState>,
    caller: Caller,
    ApiQuery(q): ApiQuery<ListQuery>,
) -> Result<Json<AclList>, ControllerError> {
    state
        .authz
        .decisions(&caller)
        .cluster(AclOperation::Describe)?;
    if q.consistent {
        state.admin.linearizable().await?;
    }
    let filter = AclBindingFilter {
        resource_type: q.resource_type,
        resource_name: q.resource_name,
        pattern_type: q.pattern_type,
        principal: q.principal,
        host: q.host,
        operation: q.operation,
        permission: q.permission,
    };
    Ok(Json(state.acls.list(&filter)?))
}

#[utoipa::path(delete, path = "/v1/acls", tag = "acls", params(IdempotencyHeaders),
    request_body = DeleteAclsRequest,
    responses((status = 200, description = "What was deleted (possibly nothing)", body = AclsDeleted),
        (status = 307, description = "NOT_CONTROLLER: writes go to the active controller (Location)", body = ErrorBody),
        (status = 400, description = "INVALID_REQUEST: no filter, too many, or a malformed one", body = ErrorBody),
        (status = 403, description = "CLUSTER_AUTHORIZATION_FAILED: Alter on the cluster is needed", body = ErrorBody),
        (status = 504, description = "REQUEST_TIMED_OUT: the outcome of the write is unknown", body = ErrorBody)))]
async fn delete(
    State(state): State<AppState>,
    caller: Caller,
    ClientIdentity(client): ClientIdentity,
    ApiJson(req): ApiJson<DeleteAclsRequest>,
) -> Result<Json<AclsDeleted>, ControllerError> {
    state
        .authz
        .decisions(&caller)
        .cluster(AclOperation::Alter)?;
    let deleted = state.acls.delete(req.filters, client).await?;
    tracing::info!(principal = %caller.principal, count = deleted.deleted.len(), offset = deleted.metadata_offset, "ACLs deleted");
    Ok(Json(deleted))
}
