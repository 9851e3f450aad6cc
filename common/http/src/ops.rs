//! The operational endpoints every service has (`/healthz`, `/readyz`,
//! `/metrics`) and the answers for requests no route takes. What "ready"
//! means stays with each service.

use crate::error::respond;
use axum::handler::Handler;
use axum::http::{header, Method, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use ferry_common::{ErrorBody, ErrorCode};
use prometheus::{Encoder, Registry, TextEncoder};

/// `/healthz`, `/readyz` and `/metrics`; liveness is the same everywhere.
pub fn routes<S, R, RT, M, MT>(readyz: R, metrics: M) -> Router<S>
where
    S: Clone + Send + Sync + 'static,
    R: Handler<RT, S>,
    RT: 'static,
    M: Handler<MT, S>,
    MT: 'static,
{
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
}

/// Liveness: the process serves HTTP.
pub async fn healthz() -> Json<serde_json::Value> {
    Json(serde_json::json!({ "status": "ok" }))
}

/// The `/readyz` answer of a node that is not ready yet, saying `why`
/// (503 `LEADER_NOT_AVAILABLE`).
pub fn not_ready(why: impl Into<String>) -> Response {
    respond(ErrorBody::new(ErrorCode::LeaderNotAvailable, why), None)
}

/// Encodes everything in `registry` in the Prometheus text format.
pub fn encode_text(registry: &Registry) -> String {
    let mut buf = Vec::new();
    if let Err(e) = TextEncoder::new().encode(&registry.gather(), &mut buf) {
        tracing::warn!(error = %e, "metrics encoding failed");
    }
    String::from_utf8_lossy(&buf).into_owned()
}

/// The `/metrics` answer for text made by [`encode_text`].
pub fn metrics_response(text: String) -> Response {
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], text).into_response()
}

/// Answers unknown paths (`NOT_FOUND`) and unsupported methods
/// (`METHOD_NOT_ALLOWED`) with the error body.
pub fn with_fallbacks<S: Clone + Send + Sync + 'static>(router: Router<S>) -> Router<S> {
    router
        .fallback(route_not_found)
        .method_not_allowed_fallback(method_not_allowed)
}

async fn route_not_found(uri: Uri) -> Response {
    let message = format!("no such endpoint: {}", uri.path());
    respond(ErrorBody::new(ErrorCode::NotFound, message), None)
}

async fn method_not_allowed(method: Method) -> Response {
    let message = format!("method {method} is not allowed here");
    respond(ErrorBody::new(ErrorCode::MethodNotAllowed, message), None)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::read;
    use axum::body::Body;
    use axum::http::Request;
    use tower::ServiceExt;

    fn app(ready: bool) -> Router {
        let readyz = move || async move {
            if ready {
                Json(serde_json::json!({"status": "ready"})).into_response()
            } else {
                not_ready("no leader yet")
            }
        };
        let metrics = || async {
            let registry = Registry::new();
            let g = prometheus::IntGauge::new("t_up", "Up").unwrap();
            registry.register(Box::new(g.clone())).unwrap();
            g.set(1);
            metrics_response(encode_text(&registry))
        };
        with_fallbacks(routes(readyz, metrics))
    }

    async fn call(
        app: Router,
        method: Method,
        uri: &str,
    ) -> (u16, axum::http::HeaderMap, serde_json::Value) {
        let req = Request::builder()
            .method(method)
            .uri(uri)
            .body(Body::empty())
            .unwrap();
        read(app.oneshot(req).await.unwrap()).await
    }

    #[tokio::test]
    async fn healthz_and_readyz() {
        let (s, _, v) = call(app(true), Method::GET, "/healthz").await;
        assert_eq!((s, v), (200, serde_json::json!({"status": "ok"})));
        let (s, _, v) = call(app(true), Method::GET, "/readyz").await;
        assert_eq!((s, v["status"].clone()), (200, "ready".into()));
        let (s, h, v) = call(app(false), Method::GET, "/readyz").await;
        assert_eq!(s, 503);
        assert_eq!(v["error_code"], "LEADER_NOT_AVAILABLE");
        assert_eq!(v["message"], "no leader yet");
        assert_eq!(h[header::RETRY_AFTER], "1");
    }

    #[tokio::test]
    async fn metrics_are_prometheus_text() {
        let req = Request::get("/metrics").body(Body::empty()).unwrap();
        let res = app(true).oneshot(req).await.unwrap();
        assert_eq!(
            res.headers()[header::CONTENT_TYPE],
            "text/plain; version=0.0.4"
        );
        let bytes = axum::body::to_bytes(res.into_body(), usize::MAX)
            .await
            .unwrap();
        assert!(String::from_utf8_lossy(&bytes).contains("t_up 1"));
    }

    #[tokio::test]
    async fn unknown_routes_and_methods_get_the_error_body() {
        let (s, _, v) = call(app(true), Method::GET, "/nope").await;
        assert_eq!((s, v["error_code"].clone()), (404, "NOT_FOUND".into()));
        assert_eq!(v["message"], "no such endpoint: /nope");
        let (s, _, v) = call(app(true), Method::DELETE, "/healthz").await;
        assert_eq!(
            (s, v["error_code"].clone()),
            (405, "METHOD_NOT_ALLOWED".into())
        );
        assert_eq!(v["message"], "method DELETE is not allowed here");
    }
}
