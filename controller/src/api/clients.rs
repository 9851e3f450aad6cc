//! Public admin API: cluster, brokers, topics (README, section "API").
//!
//! Reads are served from this controller's applied state (possibly a little
//! behind on a follower); `?consistent=true` makes them linearizable, served by
//! the active controller only. Writes go to the active controller.
//!
//! Every handler asks `state.authz` first (README, "Security", the endpoint
//! table); `/v1/cluster` and `/v1/brokers` are open like Kafka's broker list,
//! since clients bootstrap from them.

use super::extract::{ApiJson, ApiQuery, ClientIdentity, IdempotencyHeaders, ReadOptions};
use super::AppState;
use crate::error::ControllerError;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use ferry_common::api::{
    AddPartitionsRequest, BrokerList, ClusterInfo, CreateTopicRequest, ProducerIdGrant,
    TopicDeleted, TopicDescription, TopicList,
};
use ferry_common::security::{AclOperation, ResourceType};
use ferry_common::ErrorBody;
use ferry_http::auth::AuthenticatedNode;
use ferry_http::Caller;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/v1/cluster", get(cluster))
        .route("/v1/brokers", get(brokers))
        .route("/v1/topics", get(list_topics).post(create_topic))
        .route(
            "/v1/topics/{name}",
            get(describe_topic).delete(delete_topic),
        )
        .route("/v1/topics/{name}/partitions", post(add_partitions))
        .route("/v1/producer-ids", post(allocate_producer_id))
}

async fn read_point(state: &AppState, opts: &ReadOptions) -> Result<(), ControllerError> {
    if opts.consistent {
        state.admin.linearizable().await?;
    }
    Ok(())
}

/// This controller's view of the quorum.
#[utoipa::path(get, path = "/v1/cluster", tag = "cluster",
    responses((status = 200, description = "The quorum as this controller sees it", body = ClusterInfo)))]
async fn cluster(State(state): State<AppState>) -> Json<ClusterInfo> {
    Json(state.admin.cluster_info())
}

#[utoipa::path(get, path = "/v1/brokers", tag = "cluster", params(ReadOptions),
    responses((status = 200, description = "Registered brokers", body = BrokerList),
        (status = 307, description = "NOT_CONTROLLER: a consistent read goes to the active controller (Location)", body = ErrorBody),
        (status = 504, description = "REQUEST_TIMED_OUT: the read point was not reached in time", body = ErrorBody)))]
async fn brokers(
    State(state): State<AppState>,
    ApiQuery(opts): ApiQuery<ReadOptions>,
) -> Result<Json<BrokerList>, ControllerError> {
    read_point(&state, &opts).await?;
    Ok(Json(BrokerList {
        brokers: state.admin.brokers(),
    }))
}

#[utoipa::path(get, path = "/v1/topics", tag = "topics", params(ReadOptions),
    responses((status = 200, description = "Every topic the caller may Describe", body = TopicList),
        (status = 307, description = "NOT_CONTROLLER: a consistent read goes to the active controller (Location)", body = ErrorBody),
        (status = 504, description = "REQUEST_TIMED_OUT: the read point was not reached in time", body = ErrorBody)))]
async fn list_topics(
    State(state): State<AppState>,
    caller: Caller,
    ApiQuery(opts): ApiQuery<ReadOptions>,
) -> Result<Json<TopicList>, ControllerError> {
    read_point(&state, &opts).await?;
    let mut list = state.admin.list_topics();
    let may = state.authz.decisions(&caller);
    list.topics
        .retain(|t| may.allows(ResourceType::Topic, &t.topic, AclOperation::Describe));
    Ok(Json(list))
}

#[utoipa::path(post, path = "/v1/topics", tag = "topics", params(IdempotencyHeaders),
    request_body = CreateTopicRequest,
    responses((status = 201, description = "The topic as created", body = TopicDescription),
        (status = 307, description = "NOT_CONTROLLER: writes go to the active controller (Location)", body = ErrorBody),
        (status = 400, description = "INVALID_REQUEST, INVALID_TOPIC_EXCEPTION, INVALID_PARTITIONS, INVALID_REPLICATION_FACTOR, INVALID_CONFIG or POLICY_VIOLATION", body = ErrorBody),
        (status = 403, description = "TOPIC_AUTHORIZATION_FAILED: Create on the cluster or the topic is needed", body = ErrorBody),
        (status = 409, description = "TOPIC_ALREADY_EXISTS", body = ErrorBody),
        (status = 504, description = "REQUEST_TIMED_OUT: the outcome of the write is unknown", body = ErrorBody)))]
async fn create_topic(
    State(state): State<AppState>,
    who: Caller,
    caller: Option<AuthenticatedNode>,
    ClientIdentity(client): ClientIdentity,
    ApiJson(req): ApiJson<CreateTopicRequest>,
) -> Result<(StatusCode, Json<TopicDescription>), ControllerError> {
    // Only a broker, with its configured RF, creates an internal topic.
    let by_broker = caller.is_some_and(|AuthenticatedNode(n)| n.broker_id().is_some());
    if ferry_common::types::is_internal_topic(&req.name) && !by_broker {
        return Err(ControllerError::InternalTopic {
            topic: req.name,
            action: "create",
        });
    }
    // Kafka: Create on the cluster, or else on the topic itself.
    let may = state.authz.decisions(&who);
    if may.cluster(AclOperation::Create).is_err() {
        may.check(ResourceType::Topic, &req.name, AclOperation::Create)?;
    }
    let topic = state.admin.create_topic(req, client).await?;
    tracing::info!(topic = %topic.topic, partitions = topic.partitions.len(), "topic created");
    Ok((StatusCode::CREATED, Json(topic)))
}

#[utoipa::path(get, path = "/v1/topics/{name}", tag = "topics",
    params(("name" = String, Path, description = "Topic name"), ReadOptions),
    responses((status = 200, description = "The topic and its partitions", body = TopicDescription),
        (status = 307, description = "NOT_CONTROLLER: a consistent read goes to the active controller (Location)", body = ErrorBody),
        (status = 400, description = "INVALID_REQUEST or INVALID_TOPIC_EXCEPTION", body = ErrorBody),
        (status = 403, description = "TOPIC_AUTHORIZATION_FAILED: Describe on the topic is needed", body = ErrorBody),
        (status = 404, description = "UNKNOWN_TOPIC_OR_PARTITION", body = ErrorBody),
        (status = 504, description = "REQUEST_TIMED_OUT: the read point was not reached in time", body = ErrorBody)))]
async fn describe_topic(
    State(state): State<AppState>,
    caller: Caller,
    Path(name): Path<String>,
    ApiQuery(opts): ApiQuery<ReadOptions>,
) -> Result<Json<TopicDescription>, ControllerError> {
    state
        .authz
        .decisions(&caller)
        .topic(&name, AclOperation::Describe)?;
    read_point(&state, &opts).await?;
    Ok(Json(state.admin.describe_topic_str(&name)?))
}

#[utoipa::path(delete, path = "/v1/topics/{name}", tag = "topics",
    params(("name" = String, Path, description = "Topic name"), IdempotencyHeaders),
    responses((status = 200, description = "The topic is deleted", body = TopicDeleted),
        (status = 307, description = "NOT_CONTROLLER: writes go to the active controller (Location)", body = ErrorBody),
        (status = 400, description = "INVALID_REQUEST or INVALID_TOPIC_EXCEPTION", body = ErrorBody),
        (status = 403, description = "TOPIC_AUTHORIZATION_FAILED: Delete on the topic is needed", body = ErrorBody),
        (status = 404, description = "UNKNOWN_TOPIC_OR_PARTITION", body = ErrorBody),
        (status = 504, description = "REQUEST_TIMED_OUT: the outcome of the write is unknown", body = ErrorBody)))]
async fn delete_topic(
    State(state): State<AppState>,
    caller: Caller,
    ClientIdentity(client): ClientIdentity,
    Path(name): Path<String>,
) -> Result<Json<TopicDeleted>, ControllerError> {
    state
        .authz
        .decisions(&caller)
        .topic(&name, AclOperation::Delete)?;
    state.admin.delete_topic(&name, client).await?;
    tracing::info!(topic = %name, "topic deleted");
    Ok(Json(TopicDeleted {
        topic: name,
        deleted: true,
    }))
}

#[utoipa::path(post, path = "/v1/topics/{name}/partitions", tag = "topics",
    params(("name" = String, Path, description = "Topic name"), IdempotencyHeaders),
    request_body = AddPartitionsRequest,
    responses((status = 200, description = "The topic with its new partitions", body = TopicDescription),
        (status = 307, description = "NOT_CONTROLLER: writes go to the active controller (Location)", body = ErrorBody),
        (status = 400, description = "INVALID_REQUEST, INVALID_TOPIC_EXCEPTION, INVALID_PARTITIONS or POLICY_VIOLATION", body = ErrorBody),
        (status = 403, description = "TOPIC_AUTHORIZATION_FAILED: Alter on the topic is needed", body = ErrorBody),
        (status = 404, description = "UNKNOWN_TOPIC_OR_PARTITION", body = ErrorBody),
        (status = 504, description = "REQUEST_TIMED_OUT: the outcome of the write is unknown", body = ErrorBody)))]
async fn add_partitions(
    State(state): State<AppState>,
    caller: Caller,
    ClientIdentity(client): ClientIdentity,
    Path(name): Path<String>,
    ApiJson(req): ApiJson<AddPartitionsRequest>,
) -> Result<Json<TopicDescription>, ControllerError> {
    state
        .authz
        .decisions(&caller)
        .topic(&name, AclOperation::Alter)?;
    Ok(Json(
        state.admin.add_partitions(&name, req.count, client).await?,
    ))
}

/// `POST /v1/producer-ids`: a new producer id for an idempotent producer
/// (epoch 0; brokers fence older epochs of the same id).
#[utoipa::path(post, path = "/v1/producer-ids", tag = "producers", params(IdempotencyHeaders),
    responses((status = 200, description = "A new producer id", body = ProducerIdGrant),
        (status = 307, description = "NOT_CONTROLLER: writes go to the active controller (Location)", body = ErrorBody),
        (status = 403, description = "CLUSTER_AUTHORIZATION_FAILED: IdempotentWrite on the cluster, or Write on some topic, is needed", body = ErrorBody),
        (status = 504, description = "REQUEST_TIMED_OUT: the outcome of the write is unknown", body = ErrorBody)))]
async fn allocate_producer_id(
    State(state): State<AppState>,
    caller: Caller,
    ClientIdentity(client): ClientIdentity,
) -> Result<Json<ProducerIdGrant>, ControllerError> {
    // Kafka (KIP-679): Write on any topic stands for IdempotentWrite.
    let may = state.authz.decisions(&caller);
    if !may.allows_any(ResourceType::Topic, AclOperation::Write) {
        may.cluster(AclOperation::IdempotentWrite)?;
    }
    let producer_id = state.admin.allocate_producer_id(client).await?;
    Ok(Json(ProducerIdGrant {
        producer_id,
        producer_epoch: 0,
    }))
}
