//! Public admin API: cluster, brokers, topics (README, section "API").
//!
//! Reads are served from this controller's applied state (possibly a little
//! behind on a follower); `?consistent=true` makes them linearizable, served by
//! the active controller only. Writes go to the active controller.

use super::extract::{ApiJson, ApiQuery, ClientIdentity, ReadOptions};
use super::AppState;
use crate::error::ControllerError;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use ferry_common::api::{
    AddPartitionsRequest, BrokerList, ClusterInfo, CreateTopicRequest, TopicDescription, TopicList,
};
use ferry_http::auth::AuthenticatedNode;
use serde_json::{json, Value};

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

async fn cluster(State(state): State<AppState>) -> Json<ClusterInfo> {
    Json(state.admin.cluster_info())
}

async fn brokers(
    State(state): State<AppState>,
    ApiQuery(opts): ApiQuery<ReadOptions>,
) -> Result<Json<BrokerList>, ControllerError> {
    read_point(&state, &opts).await?;
    Ok(Json(BrokerList {
        brokers: state.admin.brokers(),
    }))
}

async fn list_topics(
    State(state): State<AppState>,
    ApiQuery(opts): ApiQuery<ReadOptions>,
) -> Result<Json<TopicList>, ControllerError> {
    read_point(&state, &opts).await?;
    Ok(Json(state.admin.list_topics()))
}

async fn create_topic(
    State(state): State<AppState>,
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
    let topic = state.admin.create_topic(req, client).await?;
    tracing::info!(topic = %topic.topic, partitions = topic.partitions.len(), "topic created");
    Ok((StatusCode::CREATED, Json(topic)))
}

async fn describe_topic(
    State(state): State<AppState>,
    Path(name): Path<String>,
    ApiQuery(opts): ApiQuery<ReadOptions>,
) -> Result<Json<TopicDescription>, ControllerError> {
    read_point(&state, &opts).await?;
    Ok(Json(state.admin.describe_topic_str(&name)?))
}

async fn delete_topic(
    State(state): State<AppState>,
    ClientIdentity(client): ClientIdentity,
    Path(name): Path<String>,
) -> Result<Json<Value>, ControllerError> {
    state.admin.delete_topic(&name, client).await?;
    tracing::info!(topic = %name, "topic deleted");
    Ok(Json(json!({ "topic": name, "deleted": true })))
}

async fn add_partitions(
    State(state): State<AppState>,
    ClientIdentity(client): ClientIdentity,
    Path(name): Path<String>,
    ApiJson(req): ApiJson<AddPartitionsRequest>,
) -> Result<Json<TopicDescription>, ControllerError> {
    Ok(Json(
        state.admin.add_partitions(&name, req.count, client).await?,
    ))
}

/// `POST /v1/producer-ids`: a new producer id for an idempotent producer
/// (epoch 0; brokers fence older epochs of the same id).
async fn allocate_producer_id(
    State(state): State<AppState>,
    ClientIdentity(client): ClientIdentity,
) -> Result<Json<Value>, ControllerError> {
    let producer_id = state.admin.allocate_producer_id(client).await?;
    Ok(Json(
        json!({ "producer_id": producer_id, "producer_epoch": 0 }),
    ))
}
