//! Produce, fetch and offsets endpoints. Produce takes Write on the topic
//! (idempotent producers too, as Kafka since KIP-679), fetch Read, offsets
//! Describe.

use super::extract::{partition_param, ApiJson, ApiQuery};
use super::AppState;
use crate::error::BrokerError;
use crate::fetch::FetchParams;
use axum::extract::{Path, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use ferry_common::records::{
    FetchResponse, OffsetsResponse, ProduceRequest, ProduceResponse, ProduceResult,
};
use ferry_common::security::AclOperation;
use ferry_common::ErrorBody;
use ferry_http::Caller;
use serde::Deserialize;
use std::time::Duration;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/v1/topics/{topic}/records", post(produce_topic))
        .route(
            "/v1/topics/{topic}/partitions/{partition}/records",
            post(produce_partition).get(fetch_records),
        )
        .route(
            "/v1/topics/{topic}/partitions/{partition}/offsets",
            get(offsets),
        )
}

/// 200 when every record was written; otherwise the first failure's status with
/// the per-record results (207 when some records did succeed).
fn produce_answer(res: ProduceResponse) -> (StatusCode, Json<serde_json::Value>) {
    let first_err = res.offsets.iter().find_map(|r| match r {
        ProduceResult::Err {
            error_code,
            message,
            ..
        } => Some((*error_code, message.clone())),
        ProduceResult::Ok { .. } => None,
    });
    let body = serde_json::to_value(&res).unwrap_or_default();
    match first_err {
        None => (StatusCode::OK, Json(body)),
        Some((code, message)) => {
            let any_ok = res
                .offsets
                .iter()
                .any(|r| matches!(r, ProduceResult::Ok { .. }));
            let status = if any_ok {
                StatusCode::MULTI_STATUS
            } else {
                StatusCode::from_u16(code.http_status())
                    .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
            };
            let mut body = body;
            let first = serde_json::to_value(ErrorBody::new(code, message));
            if let (Some(obj), Ok(serde_json::Value::Object(fields))) =
                (body.as_object_mut(), first)
            {
                obj.extend(fields);
            }
            (status, Json(body))
        }
    }
}

/// Records are spread over partitions by key (Kafka's murmur2) or round robin.
#[utoipa::path(post, path = "/v1/topics/{topic}/records", tag = "records",
    params(("topic" = String, Path, description = "Topic name")), request_body = ProduceRequest,
    responses((status = 200, description = "Every record was written", body = ProduceResponse),
        (status = 207, description = "Some records were written, some not: per-record results, plus the first failure's error fields", body = ProduceResponse),
        (status = 400, description = "INVALID_REQUEST: a record, acks or the producer fields are malformed (offsets with per-record results may accompany it)", body = ErrorBody),
        (status = 403, description = "TOPIC_AUTHORIZATION_FAILED: Write on the topic is needed", body = ErrorBody),
        (status = 404, description = "UNKNOWN_TOPIC_OR_PARTITION", body = ErrorBody),
        (status = 413, description = "REQUEST_TOO_LARGE (body) or MESSAGE_TOO_LARGE (a record exceeds max.message.bytes)", body = ErrorBody),
        (status = 503, description = "NOT_LEADER_OR_FOLLOWER (leader_id, leader_url hint the leader), LEADER_NOT_AVAILABLE, NOT_ENOUGH_REPLICAS, THROTTLING_QUOTA_EXCEEDED, or the node is at its request bound", body = ErrorBody),
        (status = 504, description = "REQUEST_TIMED_OUT: acks=all did not complete within timeout_ms", body = ErrorBody)))]
async fn produce_topic(
    State(state): State<AppState>,
    caller: Caller,
    Path(topic): Path<String>,
    ApiJson(req): ApiJson<ProduceRequest>,
) -> Result<(StatusCode, Json<serde_json::Value>), BrokerError> {
    state
        .authz
        .decisions(&caller)
        .topic(&topic, AclOperation::Write)?;
    Ok(produce_answer(
        state.produce.produce(&topic, req, None).await?,
    ))
}

/// Strict variant: one partition, optional leader epoch and idempotent producer fields.
#[utoipa::path(post, path = "/v1/topics/{topic}/partitions/{partition}/records", tag = "records",
    params(("topic" = String, Path, description = "Topic name"), ("partition" = u32, Path, description = "Partition index")), request_body = ProduceRequest,
    responses((status = 200, description = "Every record was written", body = ProduceResponse),
        (status = 207, description = "Some records were written, some not: per-record results, plus the first failure's error fields", body = ProduceResponse),
        (status = 400, description = "INVALID_REQUEST: a record, acks or the producer fields are malformed (offsets with per-record results may accompany it)", body = ErrorBody),
        (status = 403, description = "TOPIC_AUTHORIZATION_FAILED: Write on the topic is needed", body = ErrorBody),
        (status = 404, description = "UNKNOWN_TOPIC_OR_PARTITION", body = ErrorBody),
        (status = 413, description = "REQUEST_TOO_LARGE (body) or MESSAGE_TOO_LARGE (a record exceeds max.message.bytes)", body = ErrorBody),
        (status = 503, description = "NOT_LEADER_OR_FOLLOWER (leader_id, leader_url hint the leader), LEADER_NOT_AVAILABLE, NOT_ENOUGH_REPLICAS, THROTTLING_QUOTA_EXCEEDED, or the node is at its request bound", body = ErrorBody),
        (status = 504, description = "REQUEST_TIMED_OUT: acks=all did not complete within timeout_ms", body = ErrorBody),
        (status = 409, description = "FENCED_LEADER_EPOCH, UNKNOWN_LEADER_EPOCH, OUT_OF_ORDER_SEQUENCE_NUMBER or INVALID_PRODUCER_EPOCH", body = ErrorBody)))]
async fn produce_partition(
    State(state): State<AppState>,
    caller: Caller,
    Path((topic, partition)): Path<(String, String)>,
    ApiJson(req): ApiJson<ProduceRequest>,
) -> Result<(StatusCode, Json<serde_json::Value>), BrokerError> {
    state
        .authz
        .decisions(&caller)
        .topic(&topic, AclOperation::Write)?;
    let p = partition_param(&partition)?;
    Ok(produce_answer(
        state.produce.produce(&topic, req, Some(p)).await?,
    ))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
struct FetchQuery {
    /// First offset to read; default the log start.
    offset: Option<u64>,
    /// 1..=100000, default 500.
    max_records: Option<usize>,
    /// 1..=64 MiB, default 1 MiB.
    max_bytes: Option<usize>,
    /// Long-poll up to this long (capped by the broker) when nothing is there yet.
    max_wait_ms: Option<u64>,
    /// The leader epoch the client expects.
    leader_epoch: Option<u32>,
}

#[utoipa::path(get, path = "/v1/topics/{topic}/partitions/{partition}/records", tag = "records",
    params(("topic" = String, Path, description = "Topic name"), ("partition" = u32, Path, description = "Partition index"), FetchQuery),
    responses((status = 200, description = "Records from the offset, up to the high watermark", body = FetchResponse),
        (status = 403, description = "TOPIC_AUTHORIZATION_FAILED: Read on the topic is needed", body = ErrorBody),
        (status = 404, description = "UNKNOWN_TOPIC_OR_PARTITION", body = ErrorBody),
        (status = 409, description = "FENCED_LEADER_EPOCH or UNKNOWN_LEADER_EPOCH", body = ErrorBody),
        (status = 416, description = "OFFSET_OUT_OF_RANGE, with log_start_offset, log_end_offset and high_watermark", body = ErrorBody),
        (status = 503, description = "NOT_LEADER_OR_FOLLOWER (leader_id, leader_url hint the leader), LEADER_NOT_AVAILABLE, NOT_ENOUGH_REPLICAS, THROTTLING_QUOTA_EXCEEDED, or the node is at its request bound", body = ErrorBody)))]
async fn fetch_records(
    State(state): State<AppState>,
    caller: Caller,
    Path((topic, partition)): Path<(String, String)>,
    ApiQuery(q): ApiQuery<FetchQuery>,
) -> Result<Response, BrokerError> {
    state
        .authz
        .decisions(&caller)
        .topic(&topic, AclOperation::Read)?;
    let p = partition_param(&partition)?;
    let params = FetchParams {
        offset: q.offset,
        max_records: q.max_records.unwrap_or(500).clamp(1, 100_000),
        max_bytes: q
            .max_bytes
            .unwrap_or(1024 * 1024)
            .clamp(1, 64 * 1024 * 1024),
        max_wait: Duration::from_millis(
            q.max_wait_ms
                .unwrap_or(0)
                .min(state.node.config.fetch_max_wait_ms),
        ),
        leader_epoch: q.leader_epoch,
    };
    let fetched = state.fetch.fetch(&topic, p, params).await?;
    // Serialized while the fetch still holds its memory grant: the JSON is
    // the larger part of what a fetch allocates.
    let body = serde_json::to_vec(&fetched.response)
        .map_err(|e| BrokerError::Internal(format!("fetch answer: {e}")))?;
    drop(fetched);
    Ok(([(header::CONTENT_TYPE, "application/json")], body).into_response())
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
struct OffsetsQuery {
    /// Milliseconds since the epoch: also answer the first offset at or after it.
    timestamp: Option<i64>,
}

#[utoipa::path(get, path = "/v1/topics/{topic}/partitions/{partition}/offsets", tag = "records",
    params(("topic" = String, Path, description = "Topic name"), ("partition" = u32, Path, description = "Partition index"), OffsetsQuery),
    responses((status = 200, description = "Log start, high watermark, log end", body = OffsetsResponse),
        (status = 403, description = "TOPIC_AUTHORIZATION_FAILED: Describe on the topic is needed", body = ErrorBody),
        (status = 404, description = "UNKNOWN_TOPIC_OR_PARTITION", body = ErrorBody),
        (status = 503, description = "NOT_LEADER_OR_FOLLOWER (leader_id, leader_url hint the leader), LEADER_NOT_AVAILABLE, NOT_ENOUGH_REPLICAS, THROTTLING_QUOTA_EXCEEDED, or the node is at its request bound", body = ErrorBody)))]
async fn offsets(
    State(state): State<AppState>,
    caller: Caller,
    Path((topic, partition)): Path<(String, String)>,
    ApiQuery(q): ApiQuery<OffsetsQuery>,
) -> Result<Json<OffsetsResponse>, BrokerError> {
    state
        .authz
        .decisions(&caller)
        .topic(&topic, AclOperation::Describe)?;
    let p = partition_param(&partition)?;
    Ok(Json(state.fetch.offsets(&topic, p, q.timestamp).await?))
}
