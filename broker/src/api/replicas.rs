//! `GET /v1/replicas`: this broker's local replicas with their offsets and,
//! for partitions it leads, each follower's position and lag — what an
//! operator looks at to find under-replicated partitions — plus the offline
//! ones (directories kept on disk that failed to open) with the reason.

use super::extract::ApiQuery;
use super::AppState;
use crate::error::BrokerError;
use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};
use ferry_common::security::AclOperation;
use ferry_common::BrokerId;
use ferry_common::ErrorBody;
use ferry_http::Caller;
use serde::{Deserialize, Serialize};
use std::time::Instant;

pub fn routes() -> Router<AppState> {
    Router::new().route("/v1/replicas", get(replicas))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
struct ReplicasQuery {
    /// Only this topic's replicas.
    topic: Option<String>,
}

/// A follower as its leader sees it.
#[derive(Debug, Serialize, utoipa::ToSchema)]
struct FollowerStatus {
    broker_id: u32,
    log_end_offset: u64,
    lag: u64,
    in_isr: bool,
    caught_up_ms_ago: u64,
}

/// One local replica.
#[derive(Debug, Serialize, utoipa::ToSchema)]
struct ReplicaStatus {
    topic: String,
    partition: u32,
    /// `leader` or `follower`.
    #[schema(value_type = String)]
    role: &'static str,
    leader: Option<u32>,
    leader_epoch: u32,
    replicas: Vec<u32>,
    isr: Vec<u32>,
    under_replicated: bool,
    log_start_offset: u64,
    log_end_offset: u64,
    high_watermark: u64,
    size_bytes: u64,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    followers: Vec<FollowerStatus>,
}

/// A partition directory kept on disk but not served.
#[derive(Debug, Serialize, utoipa::ToSchema)]
struct OfflineStatus {
    /// Absent when the directory could not be tied to a partition.
    topic: Option<String>,
    partition: Option<u32>,
    dir: String,
    error: String,
}

/// `GET /v1/replicas`.
#[derive(Debug, Serialize, utoipa::ToSchema)]
struct ReplicasResponse {
    /// `null` until the broker has registered.
    broker_id: Option<BrokerId>,
    replicas: Vec<ReplicaStatus>,
    offline_replicas: Vec<OfflineStatus>,
}

#[utoipa::path(get, path = "/v1/replicas", tag = "metadata", params(ReplicasQuery),
    responses((status = 200, description = "Local replicas, followers' lag, offline replicas", body = ReplicasResponse),
        (status = 403, description = "CLUSTER_AUTHORIZATION_FAILED: Describe on the cluster is needed", body = ErrorBody)))]
async fn replicas(
    State(state): State<AppState>,
    caller: Caller,
    ApiQuery(q): ApiQuery<ReplicasQuery>,
) -> Result<Json<ReplicasResponse>, BrokerError> {
    // An operator's view of the whole broker, as Kafka's DescribeLogDirs.
    state
        .authz
        .decisions(&caller)
        .cluster(AclOperation::Describe)?;
    let me = state.node.id();
    let now = Instant::now();
    let mut out: Vec<ReplicaStatus> = state
        .replicas
        .all()
        .into_iter()
        .filter(|p| q.topic.as_deref().is_none_or(|t| t == p.topic.as_str()))
        .map(|p| {
            let s = p.state();
            let leo = p.log.log_end_offset();
            let leading = s.leader.is_some() && s.leader == me;
            let followers = p
                .leader_context()
                .filter(|_| leading)
                .map(|ctx| {
                    ctx.followers
                        .iter()
                        .map(|(id, f)| FollowerStatus {
                            broker_id: id.0,
                            log_end_offset: f.leo,
                            lag: leo.saturating_sub(f.leo),
                            in_isr: s.isr.contains(id),
                            caught_up_ms_ago: now
                                .saturating_duration_since(f.caught_up_at)
                                .as_millis() as u64,
                        })
                        .collect()
                })
                .unwrap_or_default();
            ReplicaStatus {
                topic: p.topic.to_string(),
                partition: p.partition,
                role: if leading { "leader" } else { "follower" },
                leader: s.leader.map(|b| b.0),
                leader_epoch: s.leader_epoch,
                replicas: s.replicas.iter().map(|b| b.0).collect(),
                isr: s.isr.iter().map(|b| b.0).collect(),
                under_replicated: s.isr.len() < s.replicas.len(),
                log_start_offset: p.log.log_start_offset(),
                log_end_offset: leo,
                high_watermark: p.high_watermark(),
                size_bytes: p.log.size_bytes(),
                followers,
            }
        })
        .collect();
    out.sort_by(|a, b| (&a.topic, a.partition).cmp(&(&b.topic, b.partition)));
    let offline: Vec<OfflineStatus> = state
        .replicas
        .offline()
        .into_iter()
        .filter(|o| {
            q.topic
                .as_deref()
                .is_none_or(|t| o.topic.as_ref().is_some_and(|n| n.as_str() == t))
        })
        .map(|o| OfflineStatus {
            topic: o.topic.map(|t| t.to_string()),
            partition: o.partition,
            dir: o.dir.display().to_string(),
            error: o.error,
        })
        .collect();
    Ok(Json(ReplicasResponse {
        broker_id: me,
        replicas: out,
        offline_replicas: offline,
    }))
}
