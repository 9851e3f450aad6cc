//! Produce, fetch and offsets endpoints.

use super::extract::{partition_param, ApiJson, ApiQuery};
use super::AppState;
use crate::error::BrokerError;
use crate::fetch::FetchParams;
use axum::extract::{Path, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use ferry_common::records::{OffsetsResponse, ProduceRequest, ProduceResponse, ProduceResult};
use ferry_common::ErrorBody;
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

async fn produce_topic(
    State(state): State<AppState>,
    Path(topic): Path<String>,
    ApiJson(req): ApiJson<ProduceRequest>,
) -> Result<(StatusCode, Json<serde_json::Value>), BrokerError> {
    refuse_internal(&topic)?;
    Ok(produce_answer(
        state.produce.produce(&topic, req, None).await?,
    ))
}

async fn produce_partition(
    State(state): State<AppState>,
    Path((topic, partition)): Path<(String, String)>,
    ApiJson(req): ApiJson<ProduceRequest>,
) -> Result<(StatusCode, Json<serde_json::Value>), BrokerError> {
    let p = partition_param(&partition)?;
    refuse_internal(&topic)?;
    Ok(produce_answer(
        state.produce.produce(&topic, req, Some(p)).await?,
    ))
}

/// Only the cluster writes to internal topics (group commits go through the
/// coordinator, not this endpoint).
fn refuse_internal(topic: &str) -> Result<(), BrokerError> {
    if ferry_common::types::is_internal_topic(topic) {
        return Err(BrokerError::InternalTopic {
            topic: topic.to_string(),
        });
    }
    Ok(())
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct FetchQuery {
    offset: Option<u64>,
    max_records: Option<usize>,
    max_bytes: Option<usize>,
    max_wait_ms: Option<u64>,
    leader_epoch: Option<u32>,
}

async fn fetch_records(
    State(state): State<AppState>,
    Path((topic, partition)): Path<(String, String)>,
    ApiQuery(q): ApiQuery<FetchQuery>,
) -> Result<Response, BrokerError> {
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

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct OffsetsQuery {
    timestamp: Option<i64>,
}

async fn offsets(
    State(state): State<AppState>,
    Path((topic, partition)): Path<(String, String)>,
    ApiQuery(q): ApiQuery<OffsetsQuery>,
) -> Result<Json<OffsetsResponse>, BrokerError> {
    let p = partition_param(&partition)?;
    Ok(Json(state.fetch.offsets(&topic, p, q.timestamp).await?))
}
