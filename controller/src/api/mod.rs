//! HTTP layer (axum only): routes split by caller, extractors, the one error
//! mapping; the shared request layer (span, metrics, redirect `Location`), error
//! response and ops helpers are [`ferry_http`].
//!
//! - [`clients`]: the public admin API (`/v1/...`).
//! - [`acls`]: ACL administration (`/v1/acls`).
//! - [`users`]: client users (`/v1/users`).
//! - [`brokers`]: broker registration, heartbeats, AlterPartition, snapshots (`/internal/v1/...`).
//! - [`raft_peers`]: Raft RPCs between controllers (`/raft/v1/...`).
//! - [`ops`]: `/healthz`, `/readyz`, `/metrics`.
//! - [`openapi`]: the public API's OpenAPI document (`/openapi.json`).
//! - [`extract`]: JSON, query and idempotency-header extractors with our error body.
//! - [`error`]: the one `IntoResponse` for [`crate::error::ControllerError`].

pub mod acls;
pub mod brokers;
pub mod clients;
pub mod error;
pub mod extract;
pub mod openapi;
pub mod ops;
pub mod raft_peers;
pub mod users;

use crate::metrics::Metrics;
use crate::raft::peer_contacts::PeerContacts;
use crate::raft::types::MetadataRaft;
use crate::service::acls::AclAdmin;
use crate::service::admin::AdminService;
use crate::service::authz::Authz;
use crate::service::brokers::BrokerRegistry;
use axum::Router;
use ferry_http::auth::ClusterAuth;
use ferry_http::client_auth::ClientAuth;
use ferry_http::Observe;
use std::sync::Arc;
use std::time::Duration;

/// Raft snapshot chunks are up to 1 MiB, sent as JSON arrays of numbers.
const RAFT_BODY_LIMIT: usize = 64 * 1024 * 1024;

/// Shared state of every handler: one handle per caller, plus metrics.
#[derive(Clone)]
pub struct AppState {
    /// For clients (`/v1`).
    pub admin: Arc<AdminService>,
    /// ACL administration (`/v1/acls`).
    pub acls: Arc<AclAdmin>,
    /// The one authorization point of every public handler.
    pub authz: Arc<Authz>,
    /// For brokers (`/internal/v1`).
    pub brokers: Arc<BrokerRegistry>,
    /// For Raft peers (`/raft/v1`), handed straight to openraft.
    pub raft: MetadataRaft,
    pub contacts: Arc<PeerContacts>,
    pub metrics: Arc<Metrics>,
}

/// The controller's complete router; `auth` guards every `/internal/` and
/// `/raft/` route, `client_auth` every `/v1/` route.
pub fn router(
    state: AppState,
    max_request_bytes: usize,
    body_read_timeout: Duration,
    auth: ClusterAuth,
    client_auth: ClientAuth,
) -> Router {
    let public = Router::new()
        .merge(clients::routes())
        .merge(acls::routes())
        .merge(users::routes())
        .merge(brokers::routes())
        .merge(ops::routes())
        .merge(openapi::routes());
    let limit = |max| ferry_http::BodyLimit::max(max).read_timeout(body_read_timeout);
    let public = ferry_http::with_body_limits(public, limit(max_request_bytes));
    let raft = ferry_http::with_body_limits(raft_peers::routes(), limit(RAFT_BODY_LIMIT));
    // Raft heartbeats would swamp the request metrics; they stay spanned.
    let observe = Observe::new(state.metrics.http().clone()).without_metrics_under("/raft/");
    let routes = ferry_http::ops::with_fallbacks(Router::new().merge(public).merge(raft));
    // Cluster auth runs first, so client auth knows signed requests.
    let routes = ferry_http::client_auth::with_client_auth(routes, client_auth);
    ferry_http::auth::with_cluster_auth(routes, auth)
        .layer(observe.layer())
        .with_state(state)
}
