//! Client users (`/v1/users`): create or change a password, delete, list.
//! Answers never carry a password, salt or key. Listing takes Describe on
//! the cluster, changes Alter (Kafka's Describe/AlterUserScramCredentials).

use super::extract::{ApiJson, ApiQuery, ClientIdentity, IdempotencyHeaders, ReadOptions};
use super::AppState;
use crate::error::ControllerError;
use crate::service::users;
use axum::extract::{Path, State};
use axum::routing::{get, put};
use axum::{Json, Router};
use ferry_common::security::AclOperation;
use ferry_common::users::{UpsertUserRequest, UserDeleted, UserDescription, UserList};
use ferry_common::ErrorBody;
use ferry_http::Caller;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/v1/users", get(list_users))
        .route("/v1/users/{name}", put(upsert_user).delete(delete_user))
}

#[utoipa::path(get, path = "/v1/users", tag = "users", params(ReadOptions),
    responses((status = 200, description = "Every user: name, mechanism and iterations, never keys", body = UserList),
        (status = 307, description = "NOT_CONTROLLER: a consistent read goes to the active controller (Location)", body = ErrorBody),
        (status = 401, description = "SASL_AUTHENTICATION_FAILED: client authentication is on and the credentials are missing or wrong", body = ErrorBody),
        (status = 403, description = "CLUSTER_AUTHORIZATION_FAILED: Describe on the cluster is needed", body = ErrorBody),
        (status = 504, description = "REQUEST_TIMED_OUT: the read point was not reached in time", body = ErrorBody)))]
async fn list_users(
    State(state): State<AppState>,
    caller: Caller,
    ApiQuery(opts): ApiQuery<ReadOptions>,
) -> Result<Json<UserList>, ControllerError> {
    state
        .authz
        .decisions(&caller)
        .cluster(AclOperation::Describe)?;
    if opts.consistent {
        state.admin.linearizable().await?;
    }
    Ok(Json(users::list(state.admin.view())))
}

/// Creates the user or replaces its password; the controller hashes it
/// (SCRAM-SHA-256, fresh random salt) and stores only the credential.
#[utoipa::path(put, path = "/v1/users/{name}", tag = "users",
    params(("name" = String, Path, description = "User name: 1-128 ASCII letters, digits and . _ - @"), IdempotencyHeaders),
    request_body = UpsertUserRequest,
    responses((status = 200, description = "The user as stored", body = UserDescription),
        (status = 307, description = "NOT_CONTROLLER: writes go to the active controller (Location)", body = ErrorBody),
        (status = 400, description = "INVALID_REQUEST: bad name, password length or iterations", body = ErrorBody),
        (status = 401, description = "SASL_AUTHENTICATION_FAILED: client authentication is on and the credentials are missing or wrong", body = ErrorBody),
        (status = 403, description = "CLUSTER_AUTHORIZATION_FAILED: Alter on the cluster is needed", body = ErrorBody),
        (status = 504, description = "REQUEST_TIMED_OUT: the outcome of the write is unknown", body = ErrorBody)))]
async fn upsert_user(
    State(state): State<AppState>,
    caller: Caller,
    ClientIdentity(client): ClientIdentity,
    Path(name): Path<String>,
    ApiJson(req): ApiJson<UpsertUserRequest>,
) -> Result<Json<UserDescription>, ControllerError> {
    state
        .authz
        .decisions(&caller)
        .cluster(AclOperation::Alter)?;
    let admin = &state.admin;
    let user = users::upsert(admin.write_path(), admin.view(), &name, req, client).await?;
    tracing::info!(user = %user.name, iterations = user.iterations, "user credential set");
    Ok(Json(user))
}

#[utoipa::path(delete, path = "/v1/users/{name}", tag = "users",
    params(("name" = String, Path, description = "User name"), IdempotencyHeaders),
    responses((status = 200, description = "The user is deleted", body = UserDeleted),
        (status = 307, description = "NOT_CONTROLLER: writes go to the active controller (Location)", body = ErrorBody),
        (status = 400, description = "INVALID_REQUEST: bad name", body = ErrorBody),
        (status = 401, description = "SASL_AUTHENTICATION_FAILED: client authentication is on and the credentials are missing or wrong", body = ErrorBody),
        (status = 404, description = "RESOURCE_NOT_FOUND: no such user", body = ErrorBody),
        (status = 403, description = "CLUSTER_AUTHORIZATION_FAILED: Alter on the cluster is needed", body = ErrorBody),
        (status = 504, description = "REQUEST_TIMED_OUT: the outcome of the write is unknown", body = ErrorBody)))]
async fn delete_user(
    State(state): State<AppState>,
    caller: Caller,
    ClientIdentity(client): ClientIdentity,
    Path(name): Path<String>,
) -> Result<Json<UserDeleted>, ControllerError> {
    state
        .authz
        .decisions(&caller)
        .cluster(AclOperation::Alter)?;
    users::delete(state.admin.write_path(), &name, client).await?;
    tracing::info!(user = %name, "user deleted");
    Ok(Json(UserDeleted {
        name,
        deleted: true,
    }))
}
