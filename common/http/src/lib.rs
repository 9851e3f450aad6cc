//! Ferry's shared HTTP layer (axum), used by the controller and the broker so
//! that both answer bad input, errors and ops probes the same way.
//!
//! - [`auth`]: cluster-internal authentication: the [`auth::Signer`] of
//!   internal clients and the layer that verifies it ([`auth::with_cluster_auth`]).
//! - [`client_auth`]: client authentication on the public API: SCRAM-SHA-256
//!   credentials, HTTP Basic, the verification cache, the layer
//!   ([`client_auth::with_client_auth`]) that gives each request its principal.
//! - [`error`]: [`ApiError`], the one function that turns a service error into
//!   the JSON error response (status, hints, `Retry-After`, redirect, ERROR log).
//! - [`extract`]: JSON-body and query-string extractors over the service's error
//!   type ([`extractors!`], [`ExtractError`]).
//! - [`limit`]: the request-body size limit ([`with_body_limit`]) and the
//!   bounded draining of an oversized body, so that the 413 reaches the client.
//! - [`observe`]: the per-request span, request count and latency, and the
//!   `Location` of a redirect ([`Observe`], [`RequestMetrics`]).
//! - [`serve`]: serving under per-server bounds (open connections, header
//!   read timeout, requests in flight), [`ServerLimits`]; over TLS with [`serve_tls`].
//! - [`tls`]: the `[tls]` config section, the listener's rustls config from
//!   PEM files, and the CA trust of internal clients ([`tls::ClientTls`]).
//! - [`caller`]: [`Caller`], the principal, address and signing member of a request.
//! - [`document`]: a fixed JSON document (`/openapi.json`).
//! - [`ops`]: `/healthz`, the "not ready" answer for `/readyz`, the Prometheus
//!   text response, and the route / method fallbacks.
//!
//! Each service keeps its own error enum and code mapping; it implements
//! [`ApiError`] and [`ExtractError`] for it and nothing else.

pub mod auth;
pub mod caller;
pub mod client_auth;
pub mod document;
pub mod error;
pub mod extract;
pub mod limit;
pub mod observe;
pub mod ops;
pub mod serve;
pub mod tls;

pub use caller::Caller;
pub use error::{error_body, error_response, ApiError};
pub use extract::ExtractError;
pub use limit::{with_body_limit, with_body_limits, BodyLimit};
pub use observe::{Observe, RequestMetrics};
pub use serve::{serve, serve_tls, with_request_cap, PeerAddr, ServerLimits, ServerSettings};

/// What [`extractors!`] expands to refers to these, so that a service needs no
/// extra imports.
#[doc(hidden)]
pub mod __macro_support {
    pub use axum;
    pub use serde;
}

#[cfg(test)]
mod testing;
