//! `GET /v1/metadata`: this broker's cached view of the cluster. As Kafka's
//! Metadata, it lists only the topics the caller may Describe.

use super::extract::ApiQuery;
use super::AppState;
use crate::error::BrokerError;
use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};
use ferry_common::records::{MetadataBroker, MetadataPartition, MetadataResponse, MetadataTopic};
use ferry_common::security::{AclOperation, ResourceType};
use ferry_http::Caller;
use serde::Deserialize;

pub fn routes() -> Router<AppState> {
    Router::new().route("/v1/metadata", get(metadata))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
struct MetadataQuery {
    /// Comma-separated topic names; all topics when absent.
    topics: Option<String>,
}

#[utoipa::path(get, path = "/v1/metadata", tag = "metadata", params(MetadataQuery),
    responses((status = 200, description = "This broker's cached view of brokers and the topics the caller may Describe", body = MetadataResponse)))]
async fn metadata(
    State(state): State<AppState>,
    caller: Caller,
    ApiQuery(q): ApiQuery<MetadataQuery>,
) -> Result<Json<MetadataResponse>, BrokerError> {
    let may = state.authz.decisions(&caller);
    let wanted: Option<Vec<String>> = q.topics.map(|t| {
        t.split(',')
            .map(|s| s.trim().to_string())
            .filter(|s| !s.is_empty())
            .collect()
    });
    let res = state.metadata.read(|img| {
        let url = |id: ferry_common::BrokerId| img.brokers.get(&id).map(|b| b.url.clone());
        MetadataResponse {
            cluster_id: img.cluster_id.clone(),
            broker_id: state.node.id(),
            metadata_offset: img.offset,
            brokers: img
                .brokers
                .values()
                .map(|b| MetadataBroker {
                    id: b.id,
                    url: b.url.clone(),
                    rack: b.rack.clone(),
                    fenced: b.fenced,
                })
                .collect(),
            topics: img
                .topics
                .values()
                .filter(|t| {
                    wanted
                        .as_ref()
                        .is_none_or(|w| w.iter().any(|n| n == t.name.as_str()))
                })
                .filter(|t| {
                    may.allows(ResourceType::Topic, t.name.as_str(), AclOperation::Describe)
                })
                .map(|t| MetadataTopic {
                    topic: t.name.to_string(),
                    topic_id: t.topic_id.clone(),
                    configs: t.configs.clone(),
                    partitions: t
                        .partitions
                        .iter()
                        .map(|p| MetadataPartition {
                            partition: p.partition,
                            leader: p.leader,
                            leader_url: p.leader.and_then(url),
                            leader_epoch: p.leader_epoch,
                            replicas: p.replicas.clone(),
                            isr: p.isr.clone(),
                        })
                        .collect(),
                })
                .collect(),
        }
    });
    Ok(Json(res))
}
