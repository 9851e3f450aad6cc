//! HTTP layer (axum only): routes split by caller, extractors, the one error mapping.
//!
//! - [`clients`]: the public admin API (`/v1/...`).
//! - [`brokers`]: broker registration, heartbeats, AlterPartition, snapshots (`/internal/v1/...`).
//! - [`raft_peers`]: Raft RPCs between controllers (`/raft/v1/...`).
//! - [`ops`]: `/healthz`, `/readyz`, `/metrics`.
//! - [`extract`]: JSON, query and idempotency-header extractors with our error body.
//! - [`error`]: the one `IntoResponse` for [`crate::error::ControllerError`].

pub mod brokers;
pub mod clients;
pub mod error;
pub mod extract;
pub mod ops;
pub mod raft_peers;

use crate::metrics::Metrics;
use crate::raft::peer_contacts::PeerContacts;
use crate::raft::types::MetadataRaft;
use crate::service::admin::AdminService;
use crate::service::brokers::BrokerRegistry;
use axum::extract::{DefaultBodyLimit, MatchedPath, Request};
use axum::http::{header, HeaderValue, Method};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::Router;
use std::sync::Arc;
use std::time::Instant;
use tracing::Instrument;

/// Raft snapshot chunks are up to 1 MiB, sent as JSON arrays of numbers.
const RAFT_BODY_LIMIT: usize = 64 * 1024 * 1024;

/// Shared state of every handler: one handle per caller, plus metrics.
#[derive(Clone)]
pub struct AppState {
    /// For clients (`/v1`).
    pub admin: Arc<AdminService>,
    /// For brokers (`/internal/v1`).
    pub brokers: Arc<BrokerRegistry>,
    /// For Raft peers (`/raft/v1`), handed straight to openraft.
    pub raft: MetadataRaft,
    pub contacts: Arc<PeerContacts>,
    pub metrics: Arc<Metrics>,
}

/// The controller's complete router.
pub fn router(state: AppState, max_request_bytes: usize) -> Router {
    let public = Router::new()
        .merge(clients::routes())
        .merge(brokers::routes())
        .merge(ops::routes())
        .layer(DefaultBodyLimit::max(max_request_bytes));
    let raft = raft_peers::routes().layer(DefaultBodyLimit::max(RAFT_BODY_LIMIT));
    Router::new()
        .merge(public)
        .merge(raft)
        .fallback(fallback)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(middleware::from_fn_with_state(state.clone(), observe))
        .with_state(state)
}

async fn fallback(uri: axum::http::Uri) -> Response {
    crate::error::ControllerError::RouteNotFound {
        path: uri.path().to_string(),
    }
    .into_response()
}

async fn method_not_allowed(method: Method) -> Response {
    crate::error::ControllerError::MethodNotAllowed {
        method: method.to_string(),
    }
    .into_response()
}

/// Per request: a span with a request id, metrics by route and code, and the
/// `Location` header of a redirect to the active controller.
async fn observe(
    axum::extract::State(state): axum::extract::State<AppState>,
    req: Request,
    next: Next,
) -> Response {
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map_or("unmatched", |p| p.as_str())
        .to_string();
    let method = req.method().clone();
    let path_and_query = req
        .uri()
        .path_and_query()
        .map(|p| p.as_str().to_string())
        .unwrap_or_default();
    let request_id = uuid::Uuid::new_v4().simple().to_string();
    let span =
        tracing::debug_span!("request", request_id = %request_id, method = %method, route = %route);
    let started = Instant::now();
    let mut res = next.run(req).instrument(span).await;
    if let Some(error::LeaderRedirect(leader_url)) =
        res.extensions().get::<error::LeaderRedirect>().cloned()
    {
        if let Ok(v) = HeaderValue::from_str(&format!("{leader_url}{path_and_query}")) {
            res.headers_mut().insert(header::LOCATION, v);
        }
    }
    if !route.starts_with("/raft/") {
        state.metrics.observe_request(
            &route,
            method.as_str(),
            res.status().as_u16(),
            started.elapsed(),
        );
    }
    res
}
