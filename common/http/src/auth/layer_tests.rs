use super::*;
use crate::auth::Signer;
use axum::http::{HeaderMap, Method};
use axum::routing::post;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

const PATIENCE: Duration = Duration::from_secs(10);

fn key() -> ClusterKey {
    ClusterKey::new(&[5u8; 32]).unwrap()
}

/// A server whose handlers count their calls and echo the signer and body.
async fn serve(calls: Arc<AtomicUsize>) -> SocketAddr {
    let echo = move |node: Option<AuthenticatedNode>,
                     body: Result<Bytes, axum::extract::rejection::BytesRejection>| {
        let calls = calls.clone();
        async move {
            calls.fetch_add(1, Ordering::SeqCst);
            let who = node
                .map(|n| n.0.to_string())
                .unwrap_or_else(|| "anonymous".into());
            match body {
                Ok(b) => format!("{who} {}", String::from_utf8_lossy(&b)),
                Err(e) => format!("{who} unreadable: {}", e.body_text()),
            }
        }
    };
    let app = Router::new()
        .route("/internal/v1/echo", post(echo.clone()))
        .route("/v1/echo", post(echo));
    let app = with_cluster_auth(app, ClusterAuth::new(key()));
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    addr
}

fn raw_head(path: &str, headers: &HeaderMap, len: usize) -> Vec<u8> {
    let mut h = format!(
        "POST {path} HTTP/1.1\r\nhost: t\r\nconnection: close\r\ncontent-length: {len}\r\n"
    );
    for (k, v) in headers {
        h.push_str(&format!("{k}: {}\r\n", v.to_str().unwrap()));
    }
    h.push_str("\r\n");
    h.into_bytes()
}

/// Sends `request` and reads the answer, without ever sending more.
async fn exchange(addr: SocketAddr, request: &[u8]) -> String {
    let mut s = TcpStream::connect(addr).await.unwrap();
    s.write_all(request).await.unwrap();
    let mut out = Vec::new();
    let read = tokio::time::timeout(PATIENCE, s.read_to_end(&mut out)).await;
    assert!(read.is_ok(), "no answer within {PATIENCE:?}");
    String::from_utf8_lossy(&out).into_owned()
}

#[tokio::test]
async fn an_unsigned_internal_request_is_refused_without_reading_its_body() {
    let calls = Arc::new(AtomicUsize::new(0));
    let addr = serve(calls.clone()).await;
    // A gigabyte declared, a few bytes sent, the rest never comes: only an
    // answer that does not wait for the body arrives.
    let mut req = raw_head("/internal/v1/echo", &HeaderMap::new(), 1 << 30);
    req.extend_from_slice(b"{\"x\":");
    let answer = exchange(addr, &req).await;
    assert!(answer.starts_with("HTTP/1.1 401"), "{answer}");
    assert!(answer.contains("SASL_AUTHENTICATION_FAILED"), "{answer}");
    // Signed with another key: the same.
    let other = Signer::fixed(
        ClusterKey::new(&[6u8; 32]).unwrap(),
        NodeIdentity::Broker(1),
    );
    let h = other.headers(&Method::POST, "/internal/v1/echo", b"{}");
    let answer = exchange(addr, &raw_head("/internal/v1/echo", &h, 1 << 30)).await;
    assert!(answer.starts_with("HTTP/1.1 401"), "{answer}");
    assert_eq!(calls.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn a_signed_request_reaches_the_handler_with_its_signer_once() {
    let calls = Arc::new(AtomicUsize::new(0));
    let addr = serve(calls.clone()).await;
    let signer = Signer::fixed(key(), NodeIdentity::Controller(2));
    let body = b"{\"x\":1}";
    let h = signer.headers(&Method::POST, "/internal/v1/echo", body);
    let req = [raw_head("/internal/v1/echo", &h, body.len()), body.to_vec()].concat();
    let answer = exchange(addr, &req).await;
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(answer.ends_with("controller:2 {\"x\":1}"), "{answer}");
    // The same bytes again: a replay.
    let answer = exchange(addr, &req).await;
    assert!(answer.starts_with("HTTP/1.1 401"), "{answer}");
    assert!(answer.contains("already received"), "{answer}");
    assert_eq!(calls.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn a_body_other_than_the_signed_one_never_reaches_the_handler_whole() {
    let calls = Arc::new(AtomicUsize::new(0));
    let addr = serve(calls.clone()).await;
    let signer = Signer::fixed(key(), NodeIdentity::Broker(1));
    let h = signer.headers(&Method::POST, "/internal/v1/echo", b"{\"x\":1}");
    let req = [raw_head("/internal/v1/echo", &h, 7), b"{\"x\":2}".to_vec()].concat();
    let answer = exchange(addr, &req).await;
    assert!(answer.contains("broker:1 unreadable"), "{answer}");
    assert!(!answer.contains("{\"x\":2}"), "{answer}");
}

#[tokio::test]
async fn public_paths_pass_unsigned_but_not_with_a_bad_signature() {
    let calls = Arc::new(AtomicUsize::new(0));
    let addr = serve(calls.clone()).await;
    let answer = exchange(
        addr,
        &[raw_head("/v1/echo", &HeaderMap::new(), 2), b"{}".to_vec()].concat(),
    )
    .await;
    assert!(answer.ends_with("anonymous {}"), "{answer}");
    let other = Signer::fixed(
        ClusterKey::new(&[6u8; 32]).unwrap(),
        NodeIdentity::Broker(1),
    );
    let h = other.headers(&Method::POST, "/v1/echo", b"{}");
    let answer = exchange(
        addr,
        &[raw_head("/v1/echo", &h, 2), b"{}".to_vec()].concat(),
    )
    .await;
    assert!(answer.starts_with("HTTP/1.1 401"), "{answer}");
    let h = Signer::fixed(key(), NodeIdentity::Broker(4)).headers(&Method::POST, "/v1/echo", b"{}");
    let answer = exchange(
        addr,
        &[raw_head("/v1/echo", &h, 2), b"{}".to_vec()].concat(),
    )
    .await;
    assert!(answer.ends_with("broker:4 {}"), "{answer}");
}
