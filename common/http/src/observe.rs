//! The per-request layer: a span with a request id, method, route and (once
//! authenticated) principal; the
//! request count and latency by route, method and status code; and the
//! `Location` of a redirect, which needs the request's path.

use crate::error::Redirect;
use axum::extract::{MatchedPath, Request, State};
use axum::http::{header, HeaderValue};
use axum::middleware::{from_fn_with_state, FromFnLayer, Next};
use axum::response::Response;
use prometheus::{HistogramOpts, HistogramVec, IntCounterVec, Opts, Registry};
use std::future::Future;
use std::pin::Pin;
use std::time::{Duration, Instant};
use tracing::Instrument;

/// Latency buckets in seconds, from sub-millisecond reads to long polls.
pub const LATENCY_BUCKETS: &[f64] = &[
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// Request count (labels `route`, `method`, `code`) and latency (labels
/// `route`, `method`) of one service.
#[derive(Clone)]
pub struct RequestMetrics {
    requests: IntCounterVec,
    latency: HistogramVec,
}

impl RequestMetrics {
    /// Registers the counter `requests_total` and the histogram
    /// `duration_seconds` (full metric names) in `registry`.
    pub fn register(
        registry: &Registry,
        requests_total: &str,
        duration_seconds: &str,
    ) -> Result<Self, prometheus::Error> {
        let requests = IntCounterVec::new(
            Opts::new(
                requests_total,
                "HTTP requests by route, method and status code",
            ),
            &["route", "method", "code"],
        )?;
        let latency = HistogramVec::new(
            HistogramOpts::new(duration_seconds, "HTTP request latency by route")
                .buckets(LATENCY_BUCKETS.to_vec()),
            &["route", "method"],
        )?;
        registry.register(Box::new(requests.clone()))?;
        registry.register(Box::new(latency.clone()))?;
        Ok(RequestMetrics { requests, latency })
    }

    /// Counts one finished request.
    pub fn record(&self, route: &str, method: &str, code: u16, elapsed: Duration) {
        self.requests
            .with_label_values(&[route, method, &code.to_string()])
            .inc();
        self.latency
            .with_label_values(&[route, method])
            .observe(elapsed.as_secs_f64());
    }
}

/// The request layer of one service's router (`router.layer(observe.layer())`).
#[derive(Clone)]
pub struct Observe {
    metrics: RequestMetrics,
    unrecorded_prefix: Option<&'static str>,
}

/// The tower layer [`Observe::layer`] makes.
pub type ObserveLayer = FromFnLayer<ObserveFn, Observe, (State<Observe>, Request)>;

#[doc(hidden)]
pub type ObserveFn =
    fn(State<Observe>, Request, Next) -> Pin<Box<dyn Future<Output = Response> + Send>>;

impl Observe {
    /// Spans every request and records it in `metrics`.
    pub fn new(metrics: RequestMetrics) -> Self {
        Observe {
            metrics,
            unrecorded_prefix: None,
        }
    }

    /// Leaves routes under `prefix` out of the metrics (they are still spanned).
    pub fn without_metrics_under(mut self, prefix: &'static str) -> Self {
        self.unrecorded_prefix = Some(prefix);
        self
    }

    /// The layer; put it outermost so that fallbacks are observed too.
    pub fn layer(self) -> ObserveLayer {
        from_fn_with_state(self, observe as ObserveFn)
    }
}

fn observe(
    State(observe): State<Observe>,
    req: Request,
    next: Next,
) -> Pin<Box<dyn Future<Output = Response> + Send>> {
    Box::pin(async move {
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
        let span = tracing::debug_span!(
            "request",
            request_id = %uuid::Uuid::new_v4().simple(),
            method = %method,
            route = %route,
            // Filled in by the client-auth layer (`User:alice`, `Node:broker:3`).
            principal = tracing::field::Empty,
        );
        let started = Instant::now();
        let mut res = next.run(req).instrument(span).await;
        if let Some(Redirect(base)) = res.extensions().get::<Redirect>().cloned() {
            if let Ok(v) = HeaderValue::from_str(&format!("{base}{path_and_query}")) {
                res.headers_mut().insert(header::LOCATION, v);
            }
        }
        if !observe
            .unrecorded_prefix
            .is_some_and(|p| route.starts_with(p))
        {
            observe.metrics.record(
                &route,
                method.as_str(),
                res.status().as_u16(),
                started.elapsed(),
            );
        }
        res
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{read, TestError};
    use axum::body::Body;
    use axum::routing::{get, post};
    use axum::Router;
    use prometheus::{Encoder, TextEncoder};
    use tower::ServiceExt;

    fn app(registry: &Registry) -> Router {
        let metrics =
            RequestMetrics::register(registry, "t_requests_total", "t_duration_seconds").unwrap();
        Router::new()
            .route("/v1/things/{id}", get(|| async { "ok" }))
            .route(
                "/v1/write",
                post(|| async {
                    Err::<(), _>(TestError::NotLeader {
                        url: Some("http://leader:9".into()),
                    })
                }),
            )
            .route(
                "/v1/busy",
                post(|| async { Err::<(), _>(TestError::NotLeader { url: None }) }),
            )
            .route("/raft/v1/vote", post(|| async { "voted" }))
            .layer(
                Observe::new(metrics)
                    .without_metrics_under("/raft/")
                    .layer(),
            )
    }

    fn scrape(registry: &Registry) -> String {
        let mut buf = Vec::new();
        TextEncoder::new()
            .encode(&registry.gather(), &mut buf)
            .unwrap();
        String::from_utf8(buf).unwrap()
    }

    async fn call(app: &Router, method: &str, uri: &str) -> (u16, axum::http::HeaderMap) {
        let req = Request::builder()
            .method(method)
            .uri(uri)
            .body(Body::empty())
            .unwrap();
        let (status, headers, _) = read(app.clone().oneshot(req).await.unwrap()).await;
        (status, headers)
    }

    #[tokio::test]
    async fn requests_are_counted_and_timed_by_route_method_and_code() {
        let registry = Registry::new();
        let app = app(&registry);
        call(&app, "GET", "/v1/things/1").await;
        call(&app, "GET", "/v1/things/2").await;
        call(&app, "POST", "/v1/write").await;
        let text = scrape(&registry);
        assert!(
            text.contains(r#"t_requests_total{code="200",method="GET",route="/v1/things/{id}"} 2"#),
            "{text}"
        );
        assert!(
            text.contains(r#"t_requests_total{code="307",method="POST",route="/v1/write"} 1"#),
            "{text}"
        );
        assert!(
            text.contains(r#"t_duration_seconds_count{method="GET",route="/v1/things/{id}"} 2"#),
            "{text}"
        );
    }

    #[tokio::test]
    async fn routes_under_the_unrecorded_prefix_are_not_counted() {
        let registry = Registry::new();
        let app = app(&registry);
        assert_eq!(call(&app, "POST", "/raft/v1/vote").await.0, 200);
        assert!(!scrape(&registry).contains("/raft/"));
    }

    /// A known leader means a 307 to the same path there; no leader means
    /// retry here later.
    #[tokio::test]
    async fn a_redirect_points_at_the_leader_and_otherwise_retry_after() {
        let app = app(&Registry::new());
        let (status, headers) = call(&app, "POST", "/v1/write?x=1").await;
        assert_eq!(status, 307);
        assert_eq!(headers[header::LOCATION], "http://leader:9/v1/write?x=1");
        assert!(headers.get(header::RETRY_AFTER).is_none());
        let (status, headers) = call(&app, "POST", "/v1/busy").await;
        assert_eq!(
            (status, &headers[header::RETRY_AFTER]),
            (503, &"1".parse().unwrap())
        );
        assert!(headers.get(header::LOCATION).is_none());
    }
}
