//! HTTP layer (axum only): routes, extractors, the one error mapping; the
//! shared request layer, error response and ops helpers are [`ferry_http`].
//!
//! - [`records`]: produce, fetch, offsets (`/v1/topics/...`).
//! - [`metadata`]: this broker's cached metadata (`/v1/metadata`).
//! - [`groups`]: consumer groups: offsets and membership (`/v1/groups/...`).
//! - [`replicas`]: local replica status, follower lag (`/v1/replicas`).
//! - [`internal`]: metadata pushes from the controller and replica fetches
//!   from followers (`/internal/v1/...`).
//! - [`ops`]: `/healthz`, `/readyz`, `/metrics`.
//! - [`openapi`]: the public API's OpenAPI document (`/openapi.json`).
//! - [`extract`]: JSON and query extractors answering with our error body.
//! - [`error`]: the one `IntoResponse` for [`crate::error::BrokerError`].

pub mod error;
pub mod extract;
pub mod groups;
pub mod internal;
pub mod metadata;
pub mod openapi;
pub mod ops;
pub mod records;
pub mod replicas;

use crate::fetch::FetchService;
use crate::groups::GroupCoordinator;
use crate::membership::Membership;
use crate::metadata::MetadataCache;
use crate::metrics::{Metrics, NodeSample};
use crate::node::Node;
use crate::produce::ProduceService;
use crate::replicas::ReplicaManager;
use crate::replication::leader::ReplicaFetchServer;
use axum::Router;
use ferry_http::auth::ClusterAuth;
use ferry_http::client_auth::ClientAuth;
use ferry_http::Observe;
use std::sync::Arc;

/// The subsystem handles the handlers call.
#[derive(Clone)]
pub struct AppState {
    /// The one authorization point of every public handler.
    pub authz: Arc<crate::authz::Authz>,
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
            offline_replicas: self.replicas.offline().len(),
            fsyncs: self.replicas.sync_stats().totals(),
        }
    }
}

/// The broker's complete router; `auth` guards every `/internal/` route,
/// `client_auth` every `/v1/` route.
pub fn router(state: AppState, auth: ClusterAuth, client_auth: ClientAuth) -> Router {
    let cfg = &state.node.config;
    let limit = ferry_http::BodyLimit::max(cfg.max_request_bytes)
        .read_timeout(cfg.server.body_read_timeout());
    let observe = Observe::new(state.metrics.http().clone());
    let routes = Router::new()
        .merge(records::routes())
        .merge(metadata::routes())
        .merge(replicas::routes())
        .merge(groups::routes())
        .merge(groups::membership_routes())
        .merge(internal::routes())
        .merge(ops::routes())
        .merge(openapi::routes());
    let routes = ferry_http::with_body_limits(ferry_http::ops::with_fallbacks(routes), limit);
    // Cluster auth runs first, so client auth knows signed requests.
    let routes = ferry_http::client_auth::with_client_auth(routes, client_auth);
    ferry_http::auth::with_cluster_auth(routes, auth)
        .layer(observe.layer())
        .with_state(state)
}
