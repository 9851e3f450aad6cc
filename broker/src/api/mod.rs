//! HTTP layer (axum only): routes, extractors, the one error mapping.
//!
//! - [`records`]: produce, fetch, offsets (`/v1/topics/...`).
//! - [`metadata`]: this broker's cached metadata (`/v1/metadata`).
//! - [`groups`]: consumer groups: offsets and membership (`/v1/groups/...`).
//! - [`replicas`]: local replica status, follower lag (`/v1/replicas`).
//! - [`internal`]: metadata pushes from the controller and replica fetches
//!   from followers (`/internal/v1/...`).
//! - [`ops`]: `/healthz`, `/readyz`, `/metrics`.
//! - [`extract`]: JSON and query extractors answering with our error body.
//! - [`error`]: the one `IntoResponse` for [`crate::error::BrokerError`].

pub mod error;
pub mod extract;
pub mod groups;
pub mod internal;
pub mod metadata;
pub mod ops;
pub mod records;
pub mod replicas;

use crate::error::BrokerError;
use crate::fetch::FetchService;
use crate::groups::GroupCoordinator;
use crate::membership::Membership;
use crate::metadata::MetadataCache;
use crate::metrics::{Metrics, NodeSample};
use crate::node::Node;
use crate::produce::ProduceService;
use crate::replicas::ReplicaManager;
use crate::replication::leader::ReplicaFetchServer;
use axum::extract::{DefaultBodyLimit, MatchedPath, Request, State};
use axum::http::Method;
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::Router;
use std::sync::Arc;
use tracing::Instrument;

/// The subsystem handles the handlers call.
#[derive(Clone)]
pub struct AppState {
    pub node: Arc<Node>,
    pub metadata: Arc<MetadataCache>,
    pub replicas: Arc<ReplicaManager>,
    pub membership: Membership,
    pub produce: Arc<ProduceService>,
    pub fetch: Arc<FetchService>,
    pub replication: Arc<ReplicaFetchServer>,
    pub groups: Arc<GroupCoordinator>,
    pub metrics: Arc<Metrics>,
}

impl AppState {
    /// What `/metrics` shows besides the counters, sampled at scrape time.
    pub fn metrics_sample(&self) -> NodeSample {
        NodeSample {
            metadata_offset: self.metadata.offset(),
            fenced: self.node.is_fenced(),
            partitions: self.replicas.metrics_sample(self.node.id()),
        }
    }
}

/// The broker's complete router.
pub fn router(state: AppState) -> Router {
    let limit = state.node.config.max_request_bytes;
    Router::new()
        .merge(records::routes())
        .merge(metadata::routes())
        .merge(replicas::routes())
        .merge(groups::routes())
        .merge(groups::membership_routes())
        .merge(internal::routes())
        .merge(ops::routes())
        .fallback(|uri: axum::http::Uri| async move {
            BrokerError::RouteNotFound(uri.path().to_string()).into_response()
        })
        .method_not_allowed_fallback(|m: Method| async move {
            BrokerError::MethodNotAllowed(m.to_string()).into_response()
        })
        .layer(DefaultBodyLimit::max(limit))
        .layer(middleware::from_fn_with_state(state.clone(), observe))
        .with_state(state)
}

/// A span with a request id per request, and request counts by route and code.
async fn observe(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map_or("unmatched", |p| p.as_str())
        .to_string();
    let method = req.method().clone();
    let span = tracing::debug_span!("request", request_id = %uuid::Uuid::new_v4().simple(), method = %method, route = %route);
    let res = next.run(req).instrument(span).await;
    state
        .metrics
        .observe_request(&route, method.as_str(), res.status().as_u16());
    res
}
