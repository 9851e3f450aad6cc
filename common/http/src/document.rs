//! A fixed JSON document served as is (each service's `/openapi.json`):
//! serialized once when the router is built, answered from memory.

use axum::body::Bytes;
use axum::http::header;
use axum::routing::get;
use axum::Router;
use serde::Serialize;

/// A router answering `GET path` with `doc` as `application/json`.
pub fn routes<S: Clone + Send + Sync + 'static>(path: &str, doc: &impl Serialize) -> Router<S> {
    let body = Bytes::from(serde_json::to_vec(doc).unwrap_or_default());
    Router::new().route(
        path,
        get(move || async move { ([(header::CONTENT_TYPE, "application/json")], body) }),
    )
}
