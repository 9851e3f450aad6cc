//! Ferry controller: the Raft quorum that owns cluster metadata.
//!
//! Module map. Dependencies go one way, api -> service -> raft -> storage ->
//! metadata (the leaf); the background tasks use the service like the api does.
//! - [`api`]: axum routes split by caller (clients, brokers, Raft peers); the error mapping.
//! - [`service`]: the write path through Raft, the admin API, the broker registry
//!   and broker sessions.
//! - [`tasks`]: the background loops (active-controller duties, metadata push).
//! - [`metadata`]: the pure, deterministic metadata core ([`metadata::ControllerState`]).
//! - [`raft`]: openraft wiring: types, the sled log store and state-machine
//!   adapters, the HTTP network to other controllers, start-up.
//! - [`storage`]: sled (applied state), snapshot files, real `fdatasync`.
//! - [`peers`]: calls to brokers (metadata push, the TCP liveness probe).
//! - [`config`], [`error`], [`metrics`].
//!
//! Creating a topic, in call order: `api/clients.rs` (`POST /v1/topics`) ->
//! `service/admin.rs` (validate) -> `service/write_path.rs` (propose, wait) ->
//! openraft commits -> `raft/state_machine_adapter.rs` (apply) ->
//! `metadata/state_view.rs` -> `metadata/controller_state.rs` (placement in
//! `metadata/placement.rs`, records out) -> `storage/state_store.rs` (persist);
//! then `tasks/metadata_push.rs` -> `peers/broker_client.rs` pushes the delta
//! to every broker.

pub mod api;
pub mod config;
pub mod error;
pub mod metadata;
pub mod metrics;
pub mod peers;
pub mod raft;
pub mod service;
pub mod storage;
pub mod tasks;

use crate::config::ControllerConfig;
use crate::service::admin::AdminService;
use crate::service::broker_sessions::SessionTable;
use crate::service::brokers::BrokerRegistry;
use crate::service::write_path::WritePath;
use ferry_http::auth::{ClusterAuth, NodeIdentity, Signer};
use ferry_http::client_auth::ClientAuth;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

/// Why the controller could not run.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error(transparent)]
    Config(#[from] config::ConfigInvalid),
    #[error(transparent)]
    Start(#[from] raft::StartError),
    #[error("metrics: {0}")]
    Metrics(#[from] prometheus::Error),
    #[error("http server: {0}")]
    Serve(#[from] std::io::Error),
}

/// Runs a controller on an already bound `listener` until `shutdown` completes.
pub async fn run(
    cfg: ControllerConfig,
    listener: tokio::net::TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), RunError> {
    let voters = cfg.validate()?;
    let key = cfg.cluster_key()?;
    let tls = cfg.load_tls()?;
    let bootstrap_user = cfg.security.bootstrap_credential()?;
    let signer = Signer::fixed(key.clone(), NodeIdentity::Controller(cfg.node_id));
    let node = raft::start(&cfg, &voters, signer.clone(), tls.client.clone()).await?;
    let path = Arc::new(WritePath::new(
        cfg.node_id,
        voters,
        node.raft.clone(),
        Duration::from_millis(cfg.write_timeout_ms),
    ));
    let sessions = Arc::new(SessionTable::default());
    let session_timeout = Duration::from_millis(cfg.broker_session_timeout_ms);
    let admin = Arc::new(AdminService::new(
        path.clone(),
        node.view.clone(),
        sessions.clone(),
        node.contacts.clone(),
        node.committed,
        cfg.max_replicas_per_broker,
    ));
    let brokers = Arc::new(BrokerRegistry::new(
        path.clone(),
        node.view.clone(),
        sessions.clone(),
        session_timeout,
    ));
    let authorizer = cfg.security.authorizer();
    log_authorizer(&authorizer);
    let authz = Arc::new(service::authz::Authz::new(authorizer, node.view.clone()));
    let acls = Arc::new(service::acls::AclAdmin::new(
        path.clone(),
        node.view.clone(),
    ));
    let metrics = Arc::new(metrics::Metrics::new()?);
    let background = tasks::spawn(
        tasks::leadership::Leadership {
            path: path.clone(),
            view: node.view.clone(),
            sessions: sessions.clone(),
            session_timeout,
            rebalance_interval: cfg
                .auto_leader_rebalance_enable
                .then(|| Duration::from_millis(cfg.leader_rebalance_interval_ms.max(100))),
            bootstrap_user,
        },
        tasks::metadata_push::Pusher {
            path,
            view: node.view.clone(),
            sessions,
        },
        Arc::new(peers::broker_client::HttpDeltaSink::with_tls(
            signer,
            &tls.client,
        )),
    );
    let client_auth = ClientAuth::new(
        cfg.security.client_auth,
        Arc::new(service::users::AppliedUsers(node.view.clone())),
    )
    .with_failed_delay(cfg.security.failed_authentication_delay_ms.duration());
    ferry_http::client_auth::warn_at_start(cfg.security.client_auth, cfg.tls.enabled());
    let app = api::router(
        api::AppState {
            admin,
            acls,
            authz,
            brokers,
            raft: node.raft.clone(),
            contacts: node.contacts,
            metrics,
        },
        cfg.max_request_bytes,
        cfg.server.body_read_timeout(),
        ClusterAuth::new(key),
        client_auth,
    );
    tracing::info!(node_id = cfg.node_id, addr = ?listener.local_addr().ok(), tls = cfg.tls.enabled(), "controller listening");
    let served =
        ferry_http::serve_tls(listener, app, cfg.server.limits(), tls.server, shutdown).await;
    background.stop().await;
    if let Err(e) = node.raft.shutdown().await {
        tracing::warn!(error = %e, "raft shutdown");
    }
    served?;
    Ok(())
}

/// Says loudly when nothing is authorized, so it is not left off by mistake.
fn log_authorizer(s: &ferry_authz::AuthorizerSettings) {
    match s.kind {
        ferry_authz::AuthorizerKind::None => tracing::warn!(
            "security.authorizer = \"none\": ACLs are NOT enforced, every client may do everything (set authorizer = \"acl\" to enforce them)"
        ),
        ferry_authz::AuthorizerKind::Acl => tracing::info!(
            super_users = ?s.super_users,
            allow_everyone_if_no_acl_found = s.allow_everyone_if_no_acl_found,
            "ACLs enforced"
        ),
    }
}
