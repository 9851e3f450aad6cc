//! HTTP layer (axum only): routes, extractors, the one error mapping; the
//! shared request layer, error response and ops helpers are [`ferry_http`].
//!
//! - [`records`]: produce, fetch, offsets (`/v1/topics/...`).
//! - [`metadata`]: this broker's cached metadata (`/v1/metadata`).
//! - [`groups`]: consumer-group committed offsets (`/v1/groups/...`).
//! - [`replicas`]: local replica status, follower lag (`/v1/replicas`).
//! - [`internal`]: metadata pushes from the controller (`/internal/v1/...`).
//! - [`ops`]: `/healthz`, `/readyz`, `/metrics`.

pub mod error;
pub mod extract;
pub mod groups;
pub mod internal;
pub mod metadata;
pub mod ops;
pub mod records;
pub mod replicas;

use crate::membership::controller_client::ControllerClient;
use crate::service::broker::Broker;
use axum::extract::DefaultBodyLimit;
use axum::Router;
use ferry_http::Observe;
use std::sync::Arc;

/// Shared state of every handler.
#[derive(Clone)]
pub struct AppState {
    pub broker: Arc<Broker>,
    pub controller: Arc<ControllerClient>,
}

/// The broker's complete router.
pub fn router(state: AppState) -> Router {
    let limit = state.broker.config.max_request_bytes;
    let observe = Observe::new(state.broker.metrics.http().clone());
    let routes = Router::new()
        .merge(records::routes())
        .merge(metadata::routes())
        .merge(replicas::routes())
        .merge(groups::routes())
        .merge(groups::membership_routes())
        .merge(internal::routes())
        .merge(ops::routes());
    ferry_http::ops::with_fallbacks(routes)
        .layer(DefaultBodyLimit::max(limit))
        .layer(observe.layer())
        .with_state(state)
}
