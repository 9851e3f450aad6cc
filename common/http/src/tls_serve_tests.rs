//! [`crate::serve_tls`] on real sockets: a client trusting the CA is served
//! over HTTP/1.1 with its address tagged, ALPN picks h2 or http/1.1; one without the CA, a
//! plain-HTTP client and a client that never finishes its handshake each lose
//! only their own connection.

use super::*;
use crate::serve::{serve_tls, PeerAddr, ServerLimits};
use axum::routing::get;
use axum::{Extension, Router};
use std::net::SocketAddr;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

const PATIENCE: Duration = Duration::from_secs(10);
const HEADER_BUDGET: Duration = Duration::from_millis(300);

struct Served {
    addr: SocketAddr,
    ca: PathBuf,
    _dir: tempfile::TempDir,
}

async fn start() -> Served {
    let dir = tempfile::tempdir().unwrap();
    let key = rcgen::KeyPair::generate().unwrap();
    let cert = rcgen::CertificateParams::new(vec!["127.0.0.1".into(), "localhost".into()])
        .unwrap()
        .self_signed(&key)
        .unwrap();
    let (cert_path, key_path) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
    std::fs::write(&cert_path, cert.pem()).unwrap();
    std::fs::write(&key_path, key.serialize_pem()).unwrap();
    let config = server_config(&cert_path, &key_path).unwrap();
    let app = Router::new().route(
        "/peer",
        get(|Extension(PeerAddr(peer)): Extension<PeerAddr>| async move { peer.ip().to_string() }),
    );
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let limits = ServerLimits {
        max_connections: 100,
        header_read_timeout: HEADER_BUDGET,
        max_in_flight: 100,
    };
    tokio::spawn(serve_tls(
        listener,
        app,
        limits,
        Some(config),
        std::future::pending(),
    ));
    Served {
        addr,
        ca: cert_path,
        _dir: dir,
    }
}

fn trusting(ca: &Path) -> reqwest::Client {
    ClientTls::from_ca_file(ca)
        .unwrap()
        .apply(reqwest::Client::builder().timeout(PATIENCE))
        .build()
        .unwrap()
}

#[tokio::test]
async fn a_client_with_the_ca_is_served_and_tagged() {
    let s = start().await;
    let res = trusting(&s.ca)
        .get(format!("https://127.0.0.1:{}/peer", s.addr.port()))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(res.version(), reqwest::Version::HTTP_11);
    assert_eq!(res.text().await.unwrap(), "127.0.0.1");
}

#[tokio::test]
async fn clients_without_the_ca_or_over_plain_http_get_no_answer() {
    let s = start().await;
    let url = format!("https://localhost:{}/peer", s.addr.port());
    let untrusting = reqwest::Client::builder()
        .timeout(PATIENCE)
        .build()
        .unwrap();
    let e = untrusting.get(&url).send().await.unwrap_err();
    assert!(e.is_connect(), "{e:?}");
    assert!(format!("{e:?}").contains("UnknownIssuer"), "{e:?}");
    // Plain-text client cannot use plain http on the TLS port either.
    let plain = ClientTls::from_ca_file(&s.ca).unwrap();
    let client = plain.apply(reqwest::Client::builder()).build().unwrap();
    let e = client
        .get(format!("http://127.0.0.1:{}/peer", s.addr.port()))
        .send()
        .await
        .unwrap_err();
    assert!(e.is_builder(), "https_only refuses http:// {e:?}");
    // Raw plain HTTP on the TLS port: whatever comes back is not HTTP.
    let mut raw = TcpStream::connect(s.addr).await.unwrap();
    raw.write_all(b"GET /peer HTTP/1.1\r\nhost: x\r\n\r\n")
        .await
        .unwrap();
    let mut out = Vec::new();
    tokio::time::timeout(PATIENCE, raw.read_to_end(&mut out))
        .await
        .expect("the server closes the connection")
        .ok();
    assert!(
        !out.starts_with(b"HTTP/"),
        "{:?}",
        String::from_utf8_lossy(&out)
    );
    // The server still serves.
    let res = trusting(&s.ca).get(&url).send().await.unwrap();
    assert_eq!(res.status(), 200);
}

#[tokio::test]
async fn a_stalled_handshake_is_cut_off_within_the_header_budget() {
    let s = start().await;
    let mut idle = TcpStream::connect(s.addr).await.unwrap();
    let started = std::time::Instant::now();
    let mut buf = [0u8; 16];
    let n = tokio::time::timeout(PATIENCE, idle.read(&mut buf))
        .await
        .expect("the server closes a connection that never says hello");
    assert!(matches!(n, Ok(0) | Err(_)), "{n:?}");
    assert!(started.elapsed() >= HEADER_BUDGET);
}

#[tokio::test]
async fn alpn_offers_h2_and_http11() {
    let s = start().await;
    let mut roots = rustls::RootCertStore::empty();
    for cert in read_certificates(&s.ca).unwrap() {
        roots.add(cert).unwrap();
    }
    for (offer, want) in [(&b"h2"[..], &b"h2"[..]), (b"http/1.1", b"http/1.1")] {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut config = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots.clone())
            .with_no_client_auth();
        config.alpn_protocols = vec![offer.to_vec()];
        let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
        let tcp = TcpStream::connect(s.addr).await.unwrap();
        let name = rustls_pki_types::ServerName::try_from("localhost").unwrap();
        let tls = tokio::time::timeout(PATIENCE, connector.connect(name, tcp))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(tls.get_ref().1.alpn_protocol(), Some(want));
    }
}
