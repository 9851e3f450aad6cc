//! Ferry broker: stores partition replicas on disk and serves produce and fetch.
//!
//! Module map (calls go one way, api -> service -> storage):
//! - [`api`]: axum routes for produce/fetch/offsets, metadata, pushes, ops.
//! - [`service`]: metadata cache, local replicas and high watermarks, the
//!   produce and fetch paths, Kafka's partitioners.
//! - [`storage`]: append-only segmented partition logs (files, not sled).
//! - [`membership`]: identity, the controller client, register/heartbeat/reconcile tasks.
//! - [`replication`]: follower fetch loops and ISR changes.
//! - [`peer_client`]: broker-to-broker HTTP (forwarding produce, replica fetches).
//! - [`config`], [`error`], [`metrics`].

pub mod api;
pub mod config;
pub mod error;
pub mod membership;
pub mod metrics;
pub mod peer_client;
pub mod replication;
pub mod service;
pub mod storage;

use crate::config::BrokerConfig;
use crate::membership::controller_client::ControllerClient;
use crate::membership::lifecycle;
use crate::service::broker::Broker;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

/// Why the broker could not run.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error(transparent)]
    Config(#[from] config::ConfigInvalid),
    #[error(transparent)]
    Membership(#[from] lifecycle::MembershipError),
    #[error("metrics: {0}")]
    Metrics(#[from] prometheus::Error),
    #[error("io: {0}")]
    Io(#[from] std::io::Error),
}

/// Runs a broker on an already bound `listener` until `shutdown` completes.
pub async fn run(
    cfg: BrokerConfig,
    listener: tokio::net::TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), RunError> {
    let mut cfg = cfg;
    let controllers = cfg.validate()?;
    std::fs::create_dir_all(&cfg.data_dir)?;
    // Held until the process exits: the slot's exclusive lock.
    let _slot_lock = if cfg.claim_data_slot {
        let (dir, lock) = config::claim_slot(&cfg.data_dir)?;
        tracing::info!(data_dir = %dir.display(), "claimed data slot");
        cfg.data_dir = dir;
        Some(lock)
    } else {
        None
    };
    let advertised = cfg.advertised(listener.local_addr()?);
    let controller = Arc::new(ControllerClient::new(controllers));
    let broker = Broker::new(
        cfg,
        advertised,
        controller.clone(),
        Arc::new(metrics::Metrics::new()?),
    );
    let app = api::router(api::AppState {
        broker: broker.clone(),
        controller: controller.clone(),
    });
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let mut server_stop = stop_rx.clone();
    // Serve first: the controller pushes metadata to this URL right after registration.
    let server = tokio::spawn(async move {
        axum::serve(listener, app)
            .with_graceful_shutdown(async move {
                let _ = server_stop.changed().await;
            })
            .await
    });
    tracing::info!(url = %broker.advertised_url, "broker listening");
    let membership = {
        let (broker, controller) = (broker.clone(), controller.clone());
        async move {
            lifecycle::register(&broker, &controller).await?;
            while !lifecycle::resync(&broker, &controller).await {
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
            Ok::<(), RunError>(())
        }
    };
    tokio::pin!(shutdown);
    let started = tokio::select! {
        r = membership => Some(r),
        _ = &mut shutdown => None,
    };
    let mut tasks = Vec::new();
    match started {
        Some(Ok(())) => {
            tasks.push(tokio::spawn(lifecycle::heartbeat_loop(
                broker.clone(),
                controller.clone(),
                stop_rx.clone(),
            )));
            tasks.push(tokio::spawn(lifecycle::reconcile_loop(
                broker.clone(),
                stop_rx.clone(),
            )));
            tasks.push(tokio::spawn(lifecycle::retention_loop(
                broker.clone(),
                stop_rx.clone(),
            )));
            tasks.push(tokio::spawn(service::group_coordinator::expiry_loop(
                broker.clone(),
                stop_rx.clone(),
            )));
            tasks.push(tokio::spawn(replication::isr::shrink_loop(
                broker.clone(),
                stop_rx.clone(),
            )));
            tasks.push(tokio::spawn(replication::isr::checkpoint_loop(
                broker.clone(),
                stop_rx.clone(),
            )));
            shutdown.await;
            lifecycle::controlled_shutdown(&broker).await;
        }
        Some(Err(e)) => {
            let _ = stop_tx.send(true);
            let _ = server.await;
            return Err(e);
        }
        None => {}
    }
    tracing::info!("broker shutting down");
    let _ = stop_tx.send(true);
    broker.fetchers.stop();
    for t in tasks {
        let _ = t.await;
    }
    for p in broker.replicas.all() {
        if let Err(e) = p.log.flush() {
            tracing::warn!(topic = %p.topic, partition = p.partition, error = %e, "flush on shutdown failed");
        }
    }
    match server.await {
        Ok(r) => r.map_err(RunError::Io),
        Err(e) => Err(RunError::Io(std::io::Error::other(e))),
    }
}
