use super::*;
use crate::auth::{with_cluster_auth, ClusterAuth, ClusterKey, NodeIdentity, Signer};
use crate::testing::read;
use axum::body::Body;
use axum::extract::Extension;
use axum::routing::get;
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;
use tower::ServiceExt;

#[derive(Default)]
struct Users(Mutex<HashMap<String, ScramCredential>>);

impl Users {
    fn set(&self, user: &str, password: &str) {
        let c = scram::new_credential(password, 4096).unwrap();
        self.0.lock().unwrap().insert(user.into(), c);
    }
    fn remove(&self, user: &str) {
        self.0.lock().unwrap().remove(user);
    }
}

impl CredentialStore for Users {
    fn credential(&self, user: &str) -> Option<ScramCredential> {
        self.0.lock().unwrap().get(user).cloned()
    }
}

fn key() -> ClusterKey {
    ClusterKey::new(&[7u8; 32]).unwrap()
}

fn app(auth: ClientAuth) -> Router {
    let who = |p: Option<Extension<Principal>>| async move {
        p.map_or("none".to_string(), |Extension(p)| p.to_string())
    };
    let routes = Router::new()
        .route("/v1/who", get(who).post(who))
        .route("/internal/v1/who", get(who))
        .route("/healthz", get(who))
        .route("/metrics", get(who))
        .route("/openapi.json", get(who));
    with_cluster_auth(with_client_auth(routes, auth), ClusterAuth::new(key()))
}

fn basic(user: &str, password: &str) -> String {
    format!("Basic {}", B64.encode(format!("{user}:{password}")))
}

async fn get_as(app: &Router, path: &str, auth: Option<&str>) -> (u16, HeaderMap, String) {
    let mut req = Request::builder().uri(path);
    if let Some(a) = auth {
        req = req.header(header::AUTHORIZATION, a);
    }
    let res = app
        .clone()
        .oneshot(req.body(Body::empty()).unwrap())
        .await
        .unwrap();
    let status = res.status().as_u16();
    let headers = res.headers().clone();
    let bytes = axum::body::to_bytes(res.into_body(), usize::MAX)
        .await
        .unwrap();
    (
        status,
        headers,
        String::from_utf8_lossy(&bytes).into_owned(),
    )
}

fn basic_auth() -> (Arc<Users>, ClientAuth, Router) {
    let users = Arc::new(Users::default());
    users.set("alice", "wonderland");
    let auth = ClientAuth::new(ClientAuthMode::Basic, users.clone());
    let router = app(auth.clone());
    (users, auth, router)
}

#[tokio::test]
async fn missing_wrong_and_malformed_credentials_get_401_with_the_challenge() {
    let (_, _, app) = basic_auth();
    for auth in [
        None,
        Some(basic("alice", "wrong")),
        Some(basic("mallory", "wonderland")),
        Some(basic("ANONYMOUS", "x")),
        Some("Basic !!!".to_string()),
        Some(format!("Basic {}", B64.encode("no-colon"))),
        Some("Bearer abc".to_string()),
    ] {
        let (status, headers, body) = get_as(&app, "/v1/who", auth.as_deref()).await;
        assert_eq!(status, 401, "{auth:?}: {body}");
        assert_eq!(headers[header::WWW_AUTHENTICATE], CHALLENGE);
        let json: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(json["error_code"], "SASL_AUTHENTICATION_FAILED");
    }
}

/// Paused time: the clock moves only through timers, so the elapsed virtual
/// time is exactly the delays the layer waited.
#[tokio::test(start_paused = true)]
async fn failed_authentication_waits_the_delay_and_missing_or_good_credentials_do_not() {
    let users = Arc::new(Users::default());
    users.set("alice", "wonderland");
    let delay = Duration::from_millis(250);
    let app = app(ClientAuth::new(ClientAuthMode::Basic, users).with_failed_delay(delay));
    let timed = |auth: Option<String>| {
        let app = app.clone();
        async move {
            let start = tokio::time::Instant::now();
            let status = get_as(&app, "/v1/who", auth.as_deref()).await.0;
            (status, start.elapsed())
        }
    };
    for bad in [
        basic("alice", "wrong"),
        basic("mallory", "wonderland"),
        "Basic !!!".to_string(),
    ] {
        let (status, waited) = timed(Some(bad.clone())).await;
        assert_eq!(status, 401, "{bad}");
        assert!(waited >= delay, "{bad}: answered after {waited:?}");
    }
    let (status, waited) = timed(None).await;
    assert_eq!(status, 401);
    assert!(waited < delay, "the Basic challenge waited {waited:?}");
    let (status, waited) = timed(Some(basic("alice", "wonderland"))).await;
    assert_eq!(status, 200);
    assert!(waited < delay, "a good password waited {waited:?}");
}

#[tokio::test]
async fn a_good_password_acts_as_the_user_and_is_verified_once() {
    let (_, auth, app) = basic_auth();
    let good = basic("alice", "wonderland");
    for _ in 0..3 {
        let (status, _, body) = get_as(&app, "/v1/who", Some(&good)).await;
        assert_eq!((status, body.as_str()), (200, "User:alice"));
    }
    assert_eq!(auth.cached(), 1);
}

#[tokio::test]
async fn a_removed_or_changed_user_is_refused_despite_the_cache() {
    let (users, _, app) = basic_auth();
    let good = basic("alice", "wonderland");
    assert_eq!(get_as(&app, "/v1/who", Some(&good)).await.0, 200);
    users.set("alice", "wonderland"); // same password, new salt
    assert_eq!(get_as(&app, "/v1/who", Some(&good)).await.0, 200);
    users.set("alice", "looking-glass");
    assert_eq!(get_as(&app, "/v1/who", Some(&good)).await.0, 401);
    users.remove("alice");
    let now = basic("alice", "looking-glass");
    assert_eq!(get_as(&app, "/v1/who", Some(&now)).await.0, 401);
}

#[tokio::test]
async fn ops_and_internal_paths_are_not_client_authenticated() {
    let (_, _, app) = basic_auth();
    for path in ["/healthz", "/metrics", "/openapi.json"] {
        let (status, _, body) = get_as(&app, path, None).await;
        assert_eq!((status, body.as_str()), (200, "none"), "{path}");
    }
    // Internal paths answer to the cluster layer alone.
    let (status, headers, _) = get_as(&app, "/internal/v1/who", None).await;
    assert_eq!(status, 401);
    assert!(headers.get(header::WWW_AUTHENTICATE).is_none());
}

#[tokio::test]
async fn a_request_signed_with_the_cluster_secret_acts_as_its_node() {
    let (_, _, app) = basic_auth();
    let signer = Signer::fixed(key(), NodeIdentity::Broker(3));
    let headers = signer.headers(&axum::http::Method::GET, "/v1/who", b"");
    let mut req = Request::builder().uri("/v1/who");
    for (k, v) in &headers {
        req = req.header(k, v);
    }
    let res = app.oneshot(req.body(Body::empty()).unwrap()).await.unwrap();
    let status = res.status().as_u16();
    let bytes = axum::body::to_bytes(res.into_body(), usize::MAX)
        .await
        .unwrap();
    assert_eq!((status, &bytes[..]), (200, &b"Node:broker:3"[..]));
}

#[tokio::test]
async fn with_client_auth_off_everyone_is_anonymous() {
    let app = app(ClientAuth::new(
        ClientAuthMode::None,
        Arc::new(Users::default()),
    ));
    let (status, _, body) = get_as(&app, "/v1/who", Some(&basic("alice", "x"))).await;
    assert_eq!((status, body.as_str()), (200, "User:ANONYMOUS"));
}

/// A body that never arrives.
struct Never;

impl http_body::Body for Never {
    type Data = axum::body::Bytes;
    type Error = std::io::Error;
    fn poll_frame(
        self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<http_body::Frame<Self::Data>, Self::Error>>> {
        std::task::Poll::Pending
    }
}

/// The refusal comes from the headers: a body that never arrives is not waited for.
#[tokio::test]
async fn the_refusal_is_decided_before_the_body_is_read() {
    let (_, _, app) = basic_auth();
    let req = Request::builder()
        .method("POST")
        .uri("/v1/who")
        .body(Body::new(Never))
        .unwrap();
    let res = tokio::time::timeout(Duration::from_secs(10), app.oneshot(req))
        .await
        .expect("answered without the body")
        .unwrap();
    let (status, _, _) = read(res).await;
    assert_eq!(status, 401);
}

/// A log sink the test can read.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Events inside a request carry its principal from the request span, and
/// the password appears nowhere in the log.
#[tokio::test]
async fn the_principal_is_on_the_request_span() {
    let captured = Captured::default();
    let sink = captured.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::DEBUG)
        .with_ansi(false)
        .with_writer(move || sink.clone())
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);
    let (_, auth, _) = basic_auth();
    let registry = prometheus::Registry::new();
    let metrics =
        crate::RequestMetrics::register(&registry, "t_requests_total", "t_seconds").unwrap();
    let routes = Router::new().route(
        "/v1/who",
        get(|| async {
            tracing::info!("handling");
            "ok"
        }),
    );
    let app = with_cluster_auth(with_client_auth(routes, auth), ClusterAuth::new(key()))
        .layer(crate::Observe::new(metrics).layer());
    let (status, _, _) = get_as(&app, "/v1/who", Some(&basic("alice", "wonderland"))).await;
    assert_eq!(status, 200);
    let (status, _, _) = get_as(&app, "/v1/who", Some(&basic("alice", "not-it"))).await;
    assert_eq!(status, 401);
    let log = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
    assert!(log.contains("principal=User:alice"), "{log}");
    assert!(log.contains("handling"), "{log}");
    assert!(
        !log.contains("wonderland") && !log.contains("not-it"),
        "{log}"
    );
}
