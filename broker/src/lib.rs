//! Ferry broker: stores partition replicas on disk and serves produce and fetch.
//!
//! Module map (calls go one way: api -> produce/fetch/groups/replication ->
//! replicas -> partition -> storage; everything may read `node`, `config`,
//! `error`, `metrics`, `clock`):
//! - [`api`]: axum only: routes, extractors, the one error mapping.
//! - [`authz`]: the one authorization point of the public API (ACLs).
//! - [`produce`]: the produce path (routing, forwarding, the local append).
//! - [`fetch`]: the fetch and offsets paths (reads below the HW).
//! - [`groups`]: consumer-group coordination and committed offsets.
//! - [`replication`]: leader side (serving replica fetches), follower side
//!   (fetch loops), the ISR change driver.
//! - [`replicas`]: the local replica set, leader lookup, HW checkpoints, retention.
//! - [`partition`]: one replica: log handle, producer state, role and HW/ISR rules.
//! - [`metadata`]: the pushed metadata image and the reconcile into local replicas.
//! - [`membership`]: identity, the controller client, register/heartbeat/shutdown.
//! - [`storage`]: append-only segmented partition logs (files, not sled).
//! - [`peer_client`]: broker-to-broker HTTP, one typed method per call.
//! - [`tasks`]: the one list of background loops.
//! - [`node`]: this broker's identity and lifecycle flags (the leaf context).
//! - [`config`], [`error`], [`metrics`], [`clock`].
//!
//! Produce path: `api/records.rs` -> `produce/service.rs` -> `produce/append.rs`
//! -> `partition/replica.rs` -> `storage/log.rs`; acks=all then waits on the
//! HW, which `replication/leader.rs` advances as followers fetch.
//! Create-topic path (broker half): `api/internal.rs` -> `metadata/cache.rs`
//! -> `metadata/reconcile.rs` -> `replicas/manager.rs` -> `replication/fetcher.rs`.

pub mod api;
pub mod authz;
pub mod clock;
pub mod config;
pub mod error;
pub mod fetch;
pub mod groups;
pub mod membership;
pub mod metadata;
pub mod metrics;
pub mod node;
pub mod partition;
pub mod peer_client;
pub mod produce;
pub mod replicas;
pub mod replication;
pub mod storage;
pub mod tasks;

use crate::config::BrokerConfig;
use crate::fetch::{FetchBudget, FetchService};
use crate::groups::routing::CoordinatorRouter;
use crate::groups::{GroupCoordinator, GroupOffsets};
use crate::membership::controller_client::ControllerClient;
use crate::membership::suspects::SuspectReporter;
use crate::membership::{lifecycle, Membership};
use crate::metadata::reconcile::Reconciler;
use crate::metadata::MetadataCache;
use crate::node::Node;
use crate::peer_client::PeerClient;
use crate::produce::{Appender, ProduceService};
use crate::replicas::{LeaderLookup, ReplicaManager};
use crate::replication::fetcher::ReplicaFetchers;
use crate::replication::isr::IsrDriver;
use crate::replication::leader::ReplicaFetchServer;
use ferry_http::auth::{ClusterAuth, NodeIdentity, Signer};
use ferry_http::client_auth::ClientAuth;
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

/// Creates `data_dir/logs` (where the replica manager keeps partition dirs)
/// and fsyncs the dirs that name it: partition dirs are made durable in
/// `logs/`, but without this a power cut drops `logs/` itself, and with it
/// every partition, however often their segments were fsynced.
fn durable_layout(data_dir: &std::path::Path) -> std::io::Result<()> {
    let logs = data_dir.join("logs");
    std::fs::create_dir_all(&logs)?;
    for dir in [logs.as_path(), data_dir] {
        std::fs::File::open(dir)?.sync_all()?;
    }
    if let Some(parent) = data_dir.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::File::open(parent)?.sync_all()?;
    }
    Ok(())
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
    durable_layout(&cfg.data_dir)?;
    let fd_limit = descriptor_budget(&cfg.storage);
    let key = cfg.cluster_key()?;
    let tls = cfg.load_tls()?;
    let advertised = cfg.advertised(listener.local_addr()?);
    let node = Arc::new(Node::new(cfg, advertised));
    let signer = {
        let node = node.clone();
        Signer::new(key.clone(), move || {
            node.id()
                .map_or(NodeIdentity::NewBroker, |id| NodeIdentity::Broker(id.0))
        })
    };
    let controller = Arc::new(ControllerClient::with_tls(
        controllers,
        signer.clone(),
        &tls.client,
    ));
    let (app, background, fetchers, replicas) = wire(
        node.clone(),
        controller,
        signer,
        Arc::new(metrics::Metrics::new()?),
        &tls.client,
        fd_limit,
    );
    let client_auth = ClientAuth::new(
        node.config.security.client_auth,
        Arc::new(metadata::PushedUsers(app.metadata.clone())),
    )
    .with_failed_delay(
        node.config
            .security
            .failed_authentication_delay_ms
            .duration(),
    );
    ferry_http::client_auth::warn_at_start(
        node.config.security.client_auth,
        node.config.tls.enabled(),
    );
    let app = api::router(app, ClusterAuth::new(key), client_auth);
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let mut server_stop = stop_rx.clone();
    // Serve first: the controller pushes metadata to this URL right after registration.
    let limits = node.config.server.limits();
    let server = tokio::spawn(async move {
        let stop = async move {
            let _ = server_stop.changed().await;
        };
        ferry_http::serve_tls(listener, app, limits, tls.server, stop).await
    });
    tracing::info!(url = %node.advertised_url, "broker listening");
    let membership = background.membership.clone();
    let joining = {
        let membership = membership.clone();
        async move {
            membership.register().await?;
            while !membership.resync().await {
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
            Ok::<(), RunError>(())
        }
    };
    tokio::pin!(shutdown);
    let started = tokio::select! {
        r = joining => Some(r),
        _ = &mut shutdown => None,
    };
    let mut loops = Vec::new();
    match started {
        Some(Ok(())) => {
            loops = tasks::spawn(background, &stop_rx);
            shutdown.await;
            membership.controlled_shutdown().await;
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
    fetchers.stop();
    for t in loops {
        let _ = t.await;
    }
    // In-flight requests may append until the server is done; flush after,
    // and only then say the shutdown was clean.
    let served = server.await;
    let flushed = flush_all(
        &replicas.all(),
        node.config.storage.replica_open_concurrency,
    );
    membership::clean_shutdown::leave(&node, flushed);
    match served {
        Ok(r) => r.map_err(RunError::Io),
        Err(e) => Err(RunError::Io(std::io::Error::other(e))),
    }
}

/// Clean shutdown: fsyncs every replica and snapshots its producer state
/// (so the next start reads none of the log for it), on `workers` threads;
/// answers whether every flush succeeded (a failed snapshot costs only a
/// longer next start).
fn flush_all(parts: &[Arc<partition::Partition>], workers: usize) -> bool {
    let next = std::sync::atomic::AtomicUsize::new(0);
    let flushed = std::sync::atomic::AtomicBool::new(true);
    std::thread::scope(|s| {
        for _ in 0..workers.max(1) {
            s.spawn(|| {
                while let Some(p) = parts.get(next.fetch_add(1, std::sync::atomic::Ordering::Relaxed)) {
                    if let Err(e) = p.log.flush() {
                        flushed.store(false, std::sync::atomic::Ordering::Relaxed);
                        tracing::warn!(topic = %p.topic, partition = p.partition, error = %e, "flush on shutdown failed");
                        continue;
                    }
                    if let Err(e) = p.snapshot_producer_state() {
                        tracing::warn!(topic = %p.topic, partition = p.partition, error = %e, "producer-state snapshot on shutdown failed");
                    }
                }
            });
        }
    });
    flushed.into_inner()
}

/// Raises the soft descriptor limit to the hard one and sizes the segment
/// handle cache to fit under it with `fd_reserve` to spare; answers the
/// limit in force (for the replica manager's budget), if known.
fn descriptor_budget(s: &config::StorageSettings) -> Option<usize> {
    let limit = match storage::raise_fd_limit() {
        Ok((before, soft, hard)) => {
            tracing::info!(
                soft_before = before,
                soft,
                hard,
                "descriptor limit (RLIMIT_NOFILE)"
            );
            Some(usize::try_from(soft).unwrap_or(usize::MAX))
        }
        Err(e) => {
            tracing::warn!(error = %e, "could not read or raise RLIMIT_NOFILE");
            None
        }
    };
    let room = limit.map_or(usize::MAX, |l| l.saturating_sub(s.fd_reserve));
    let handles = s.open_segment_handles_max.min(room).max(16);
    storage::HandleCache::shared().set_capacity(handles);
    tracing::info!(
        open_segment_handles_max = handles,
        fd_reserve = s.fd_reserve,
        "segment handle cache"
    );
    limit
}

/// Builds every subsystem handle from the leaf context up: the HTTP state,
/// the background loops' inputs, and what shutdown needs.
fn wire(
    node: Arc<Node>,
    controller: Arc<ControllerClient>,
    signer: Signer,
    metrics: Arc<metrics::Metrics>,
    tls: &ferry_http::tls::ClientTls,
    fd_limit: Option<usize>,
) -> (
    api::AppState,
    tasks::Background,
    Arc<ReplicaFetchers>,
    Arc<ReplicaManager>,
) {
    let metadata = Arc::new(MetadataCache::default());
    let storage = &node.config.storage;
    let mut manager = ReplicaManager::new(&node.config.data_dir, node.config.write_caching_default)
        .force_durable(node.config.flush_on_append)
        .open_concurrency(storage.replica_open_concurrency);
    if let Some(limit) = fd_limit {
        manager = manager.fd_budget(limit, storage.fd_reserve);
    }
    let replicas = Arc::new(manager);
    let suspects = Arc::new(SuspectReporter::new(
        node.clone(),
        metadata.clone(),
        controller.clone(),
    ));
    let peers = Arc::new(PeerClient::with_tls(signer, tls).with_refusal_sink(suspects));
    let leaders = LeaderLookup::new(node.clone(), metadata.clone(), replicas.clone());
    let appender = Appender::new(node.clone(), replicas.clone(), metrics.clone());
    let isr = IsrDriver::new(node.clone(), controller.clone());
    let fetchers = Arc::new(ReplicaFetchers::new(
        node.clone(),
        metadata.clone(),
        replicas.clone(),
        peers.clone(),
    ));
    let router = Arc::new(CoordinatorRouter {
        metadata: metadata.clone(),
        leaders: leaders.clone(),
        controller: controller.clone(),
        offsets_rf: node.config.offsets_topic_replication_factor,
    });
    let offsets = Arc::new(GroupOffsets::new(
        node.clone(),
        replicas.clone(),
        router.clone(),
        appender.clone(),
        peers.clone(),
    ));
    let coordinator = Arc::new(GroupCoordinator::new(
        node.clone(),
        metadata.clone(),
        router,
        offsets,
        peers.clone(),
    ));
    let membership = Membership {
        node: node.clone(),
        metadata: metadata.clone(),
        controller,
    };
    let authorizer = node.config.security.authorizer();
    log_authorizer(&authorizer);
    let app = api::AppState {
        authz: Arc::new(authz::Authz::new(authorizer, metadata.clone())),
        node: node.clone(),
        metadata: metadata.clone(),
        replicas: replicas.clone(),
        membership: membership.clone(),
        produce: Arc::new(ProduceService {
            node: node.clone(),
            metadata: metadata.clone(),
            leaders: leaders.clone(),
            appender,
            peers,
            sticky: Default::default(),
        }),
        fetch: Arc::new(FetchService {
            leaders: leaders.clone(),
            budget: FetchBudget::new(node.config.max_long_polls, node.config.fetch_memory_bytes),
            metrics: metrics.clone(),
        }),
        replication: Arc::new(ReplicaFetchServer {
            node: node.clone(),
            leaders,
            replicas: replicas.clone(),
            isr: isr.clone(),
        }),
        groups: coordinator.clone(),
        metrics,
    };
    let background = tasks::Background {
        membership,
        reconciler: Reconciler {
            node,
            metadata,
            replicas: replicas.clone(),
            after: {
                let fetchers = fetchers.clone();
                Box::new(move || fetchers.sync())
            },
        },
        replicas: replicas.clone(),
        coordinator,
        isr,
    };
    (app, background, fetchers, replicas)
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
