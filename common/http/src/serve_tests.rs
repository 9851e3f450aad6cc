//! [`serve`] on real sockets: clients that trickle headers or bodies are cut
//! off, requests past the cap are refused at once while probes still answer,
//! and connections past the bound wait.

use super::{serve, ServerLimits};
use crate::extract::json_body;
use crate::limit::{with_body_limits, BodyLimit};
use crate::testing::TestError;
use axum::body::Body;
use axum::http::Request;
use axum::routing::{get, post};
use axum::Router;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;

/// No exchange in these tests may take longer, whatever the server does.
const PATIENCE: Duration = Duration::from_secs(10);
const SHORT: Duration = Duration::from_millis(300);

/// Routes: `/echo` parses a JSON body, `/hold` adds a permit to `entered`
/// and then waits for one of `gate`, `/healthz` answers at once.
fn routes(gate: Arc<Semaphore>, entered: Arc<Semaphore>) -> Router {
    let app = Router::new()
        .route(
            "/echo",
            post(|req: Request<Body>| async move {
                let v = json_body::<serde_json::Value, TestError>(req).await?;
                Ok::<_, TestError>(v.to_string())
            }),
        )
        .route(
            "/hold",
            get(move || {
                let (gate, entered) = (gate.clone(), entered.clone());
                async move {
                    entered.add_permits(1);
                    let _held = gate.acquire().await;
                    "released"
                }
            }),
        )
        .route("/healthz", get(|| async { "ok" }));
    with_body_limits(app, BodyLimit::max(1024).read_timeout(SHORT))
}

async fn start(limits: ServerLimits, gate: Arc<Semaphore>) -> SocketAddr {
    start_counting(limits, gate, Arc::new(Semaphore::new(0))).await
}

async fn start_counting(
    limits: ServerLimits,
    gate: Arc<Semaphore>,
    entered: Arc<Semaphore>,
) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(serve(
        listener,
        routes(gate, entered),
        limits,
        std::future::pending(),
    ));
    addr
}

fn limits() -> ServerLimits {
    ServerLimits {
        max_connections: 100,
        header_read_timeout: SHORT,
        max_in_flight: 100,
    }
}

/// Everything the server sends until it closes the connection.
async fn read_to_close(stream: &mut TcpStream) -> String {
    let mut out = Vec::new();
    tokio::time::timeout(PATIENCE, stream.read_to_end(&mut out))
        .await
        .expect("the server closed the connection in time")
        .ok();
    String::from_utf8_lossy(&out).into_owned()
}

#[tokio::test]
async fn a_client_trickling_its_headers_is_cut_off() {
    let addr = start(limits(), Arc::new(Semaphore::new(0))).await;
    let mut s = TcpStream::connect(addr).await.unwrap();
    s.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
        .await
        .unwrap();
    // The header block never ends: the server must hang up on its own.
    let answer = read_to_close(&mut s).await;
    assert!(!answer.contains("200 OK"), "{answer}");
}

#[tokio::test]
async fn an_idle_keep_alive_connection_is_closed_after_the_header_timeout() {
    let addr = start(limits(), Arc::new(Semaphore::new(0))).await;
    let mut s = TcpStream::connect(addr).await.unwrap();
    s.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let answer = read_to_close(&mut s).await;
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
}

#[tokio::test]
async fn a_client_trickling_its_body_gets_request_body_timed_out() {
    let addr = start(limits(), Arc::new(Semaphore::new(0))).await;
    let mut s = TcpStream::connect(addr).await.unwrap();
    s.write_all(
        b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"a\":",
    )
    .await
    .unwrap();
    let mut buf = vec![0u8; 4096];
    let n = tokio::time::timeout(PATIENCE, s.read(&mut buf))
        .await
        .expect("answered in time")
        .unwrap();
    let answer = String::from_utf8_lossy(&buf[..n]);
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(answer.contains("REQUEST_BODY_TIMED_OUT"), "{answer}");
}

#[tokio::test]
async fn requests_past_the_cap_are_refused_at_once_and_probes_still_answer() {
    let gate = Arc::new(Semaphore::new(0));
    let capped = ServerLimits {
        max_in_flight: 2,
        ..limits()
    };
    let entered = Arc::new(Semaphore::new(0));
    let addr = start_counting(capped, gate.clone(), entered.clone()).await;
    let http = reqwest::Client::builder()
        .timeout(PATIENCE)
        .build()
        .unwrap();
    let url = |p: &str| format!("http://{addr}{p}");
    let held: Vec<_> = (0..2)
        .map(|_| tokio::spawn(http.get(url("/hold")).send()))
        .collect();
    // Both handlers run, so both hold a slot: the third is refused.
    let _both = tokio::time::timeout(PATIENCE, entered.acquire_many(2))
        .await
        .unwrap();
    let refused = http.get(url("/hold")).send().await.unwrap();
    assert_eq!(refused.status(), 503);
    assert_eq!(
        refused.headers().get("retry-after").map(|v| v.as_bytes()),
        Some(&b"1"[..])
    );
    let body: serde_json::Value = refused.json().await.unwrap();
    assert_eq!(body["error_code"], "THROTTLING_QUOTA_EXCEEDED", "{body}");
    assert_eq!(body["retriable"], true);
    let probe = http.get(url("/healthz")).send().await.unwrap();
    assert_eq!(probe.status(), 200, "probes are never refused");
    gate.add_permits(2);
    for h in held {
        assert_eq!(h.await.unwrap().unwrap().status(), 200);
    }
    gate.add_permits(1);
    let after = http.get(url("/hold")).send().await.unwrap();
    assert_eq!(after.status(), 200, "slots come back when requests finish");
}

#[tokio::test]
async fn connections_past_the_bound_wait_until_one_closes() {
    let one = ServerLimits {
        max_connections: 1,
        header_read_timeout: PATIENCE,
        ..limits()
    };
    let addr = start(one, Arc::new(Semaphore::new(0))).await;
    let first = TcpStream::connect(addr).await.unwrap();
    let mut second = TcpStream::connect(addr).await.unwrap();
    second
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut buf = [0u8; 1];
    let early = tokio::time::timeout(SHORT, second.read(&mut buf)).await;
    assert!(
        early.is_err(),
        "served while the first connection held the only slot"
    );
    drop(first);
    let answer = read_to_close(&mut second).await;
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
}

#[tokio::test]
async fn every_request_carries_the_clients_address() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let app =
        Router::new().route(
            "/peer",
            get(
                |axum::Extension(peer): axum::Extension<super::PeerAddr>| async move {
                    peer.0.to_string()
                },
            ),
        );
    tokio::spawn(serve(listener, app, limits(), std::future::pending()));
    let mut s = TcpStream::connect(addr).await.unwrap();
    let local = s.local_addr().unwrap();
    s.write_all(b"GET /peer HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let answer = read_to_close(&mut s).await;
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(answer.ends_with(&local.to_string()), "{answer}");
}
