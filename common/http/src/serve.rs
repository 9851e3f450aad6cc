//! Serving a router under per-server bounds: how many connections are open,
//! how long request headers may take, and how many requests run at once.
//!
//! `axum::serve` bounds none of these, so a few thousand idle or trickling
//! clients, or a burst of well-formed long requests, could hold every task and
//! descriptor a node has. Past [`ServerLimits::max_in_flight`] a request is
//! answered at once with 503, `THROTTLING_QUOTA_EXCEEDED` and `Retry-After`;
//! the ops probes (`/healthz`, `/readyz`, `/metrics`) are never refused, so an
//! overloaded node still says that it is alive.

use crate::error::respond;
use axum::extract::Request;
use axum::middleware::Next;
use axum::response::Response;
use axum::Router;
use ferry_common::{ErrorBody, ErrorCode};
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use serde::{Deserialize, Serialize};
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tower::Service;

/// The bounds one server enforces over all its clients.
#[derive(Debug, Clone, Copy)]
pub struct ServerLimits {
    /// Open connections at most; further clients wait in the listen backlog.
    pub max_connections: usize,
    /// A connection must deliver a request's headers within this long,
    /// counted from when the server starts waiting for them, so an idle
    /// keep-alive connection is closed after it too.
    pub header_read_timeout: Duration,
    /// Requests being handled at once, ops probes not counted.
    pub max_in_flight: usize,
}

impl Default for ServerLimits {
    fn default() -> Self {
        ServerLimits {
            max_connections: 10_000,
            // Longer than reqwest's 90 s pool idle timeout, so that a pooled
            // client never reuses a connection the server is closing.
            header_read_timeout: Duration::from_secs(120),
            max_in_flight: 2_048,
        }
    }
}

/// The `[server]` section of a service's config: [`ServerLimits`] and the
/// body read timeout, in config units.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ServerSettings {
    pub max_connections: usize,
    pub header_read_timeout_ms: u64,
    /// A request body must arrive whole within this long
    /// (`REQUEST_BODY_TIMED_OUT`, 408, past it).
    pub body_read_timeout_ms: u64,
    pub max_in_flight_requests: usize,
}

impl Default for ServerSettings {
    fn default() -> Self {
        let l = ServerLimits::default();
        ServerSettings {
            max_connections: l.max_connections,
            header_read_timeout_ms: l.header_read_timeout.as_millis() as u64,
            body_read_timeout_ms: crate::limit::DEFAULT_READ_TIMEOUT.as_millis() as u64,
            max_in_flight_requests: l.max_in_flight,
        }
    }
}

impl ServerSettings {
    /// The bounds [`serve`] enforces.
    pub fn limits(&self) -> ServerLimits {
        ServerLimits {
            max_connections: self.max_connections,
            header_read_timeout: Duration::from_millis(self.header_read_timeout_ms),
            max_in_flight: self.max_in_flight_requests,
        }
    }

    /// How long a body may take to arrive.
    pub fn body_read_timeout(&self) -> Duration {
        Duration::from_millis(self.body_read_timeout_ms)
    }

    /// Refuses settings that would stop the server answering at all.
    pub fn validate(&self) -> Result<(), String> {
        if self.max_connections == 0 || self.max_in_flight_requests == 0 {
            return Err(
                "server.max_connections and server.max_in_flight_requests must be at least 1"
                    .into(),
            );
        }
        if self.header_read_timeout_ms < 100 || self.body_read_timeout_ms < 100 {
            return Err("server.header_read_timeout_ms and server.body_read_timeout_ms must be at least 100".into());
        }
        Ok(())
    }
}

/// The client's socket address, in every request's extensions (ACL `host`
/// matching, logs); absent when a router is driven without [`serve`] (tests).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PeerAddr(pub SocketAddr);

/// Pause after a failed `accept` (e.g. out of descriptors) before the next,
/// so that the loop does not spin while connections close.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(50);

/// Serves `app` on `listener` under `limits` until `shutdown` resolves, then
/// stops accepting and waits for open connections to finish their requests.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    limits: ServerLimits,
    shutdown: impl Future<Output = ()> + Send,
) -> std::io::Result<()> {
    serve_tls(listener, app, limits, None, shutdown).await
}

/// [`serve`], over TLS when `tls` is given: each accepted connection does its
/// handshake in its own task, within [`ServerLimits::header_read_timeout`];
/// one that fails or takes longer (a plain-HTTP client, a client that does
/// not trust the certificate) closes only that connection.
pub async fn serve_tls(
    listener: TcpListener,
    app: Router,
    limits: ServerLimits,
    tls: Option<Arc<rustls::ServerConfig>>,
    shutdown: impl Future<Output = ()> + Send,
) -> std::io::Result<()> {
    let app = with_request_cap(app, limits.max_in_flight);
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout);
    let tls = tls.map(tokio_rustls::TlsAcceptor::from);
    let connections = Arc::new(Semaphore::new(limits.max_connections.max(1)));
    let graceful = GracefulShutdown::new();
    tokio::pin!(shutdown);
    loop {
        let permit = tokio::select! {
            p = connections.clone().acquire_owned() => match p {
                Ok(p) => p,
                Err(_) => break,
            },
            _ = &mut shutdown => break,
        };
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(ACCEPT_BACKOFF).await;
                    continue;
                }
            },
            _ = &mut shutdown => break,
        };
        let _ = stream.set_nodelay(true);
        let app = app.clone();
        let service = TowerToHyperService::new(tower::service_fn(
            move |mut req: axum::http::Request<hyper::body::Incoming>| {
                req.extensions_mut().insert(PeerAddr(peer));
                app.clone().call(req)
            },
        ));
        let builder = builder.clone();
        let watcher = graceful.watcher();
        let tls = tls.clone();
        let handshake_timeout = limits.header_read_timeout;
        tokio::spawn(async move {
            // A client that goes away or breaks the protocol ends only its
            // own connection; there is nothing to tell anyone.
            match tls {
                None => {
                    let conn =
                        builder.serve_connection_with_upgrades(TokioIo::new(stream), service);
                    let _ = watcher.watch(conn.into_owned()).await;
                }
                Some(acceptor) => {
                    match tokio::time::timeout(handshake_timeout, acceptor.accept(stream)).await {
                        Ok(Ok(stream)) => {
                            let conn = builder
                                .serve_connection_with_upgrades(TokioIo::new(stream), service);
                            let _ = watcher.watch(conn.into_owned()).await;
                        }
                        Ok(Err(e)) => tracing::debug!(%peer, error = %e, "TLS handshake failed"),
                        Err(_) => tracing::debug!(%peer, "TLS handshake timed out"),
                    }
                }
            }
            drop(permit);
        });
    }
    drop(listener);
    graceful.shutdown().await;
    Ok(())
}

/// Refuses requests past `cap` at once (503 + `Retry-After`), except the ops
/// probes.
pub fn with_request_cap(app: Router, cap: usize) -> Router {
    let slots = Arc::new(Semaphore::new(cap.max(1)));
    app.layer(axum::middleware::from_fn(
        move |req: Request, next: Next| {
            let slots = slots.clone();
            async move { capped(slots, cap, req, next).await }
        },
    ))
}

async fn capped(slots: Arc<Semaphore>, cap: usize, req: Request, next: Next) -> Response {
    if is_ops_probe(req.uri().path()) {
        return next.run(req).await;
    }
    match slots.try_acquire_owned() {
        Ok(_slot) => next.run(req).await,
        Err(_) => respond(
            ErrorBody::new(
                ErrorCode::ThrottlingQuotaExceeded,
                format!("this node is handling its bound of {cap} requests; retry after a moment"),
            ),
            None,
        ),
    }
}

fn is_ops_probe(path: &str) -> bool {
    matches!(path, "/healthz" | "/readyz" | "/metrics")
}

#[cfg(test)]
#[path = "serve_tests.rs"]
mod tests;
