//! Background tasks that keep a broker in the cluster: register (once the HTTP
//! server is up, so pushes can reach it), pull the first snapshot, heartbeat on
//! its own task (disk work never delays it), reconcile replicas with metadata,
//! and enforce retention.

use super::controller_client::{ControllerCallError, ControllerClient};
use super::identity::{self, Identity};
use crate::service::broker::Broker;
use ferry_common::internal::{HeartbeatRequest, RegisterBrokerRequest};
use ferry_common::{BrokerId, ErrorCode};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;

/// Why the broker must stop.
#[derive(Debug, thiserror::Error)]
pub enum MembershipError {
    #[error("{0}")]
    Identity(String),
    #[error("the controller refused this broker: {0}")]
    Refused(String),
}

/// Registers with the controller quorum (retrying until it answers) and records
/// the identity. Fatal only when the controller refuses this broker for good.
pub async fn register(
    broker: &Arc<Broker>,
    controller: &ControllerClient,
) -> Result<(), MembershipError> {
    let stored = identity::load(&broker.config.data_dir).map_err(MembershipError::Identity)?;
    if let (Some(s), Some(cfg)) = (&stored, broker.config.broker_id) {
        if s.broker_id != cfg {
            return Err(MembershipError::Identity(format!(
                "data dir {} belongs to broker {}, but broker_id is configured as {cfg}",
                broker.config.data_dir.display(),
                s.broker_id
            )));
        }
    }
    let req = RegisterBrokerRequest {
        broker_id: broker
            .config
            .broker_id
            .or(stored.as_ref().map(|s| s.broker_id))
            .map(BrokerId),
        url: broker.advertised_url.clone(),
        rack: broker.config.rack.clone(),
        incarnation_id: uuid::Uuid::new_v4().to_string(),
        cluster_id: stored.as_ref().map(|s| s.cluster_id.clone()),
    };
    let res = loop {
        match controller.register(&req).await {
            Ok(r) => break r,
            Err(ControllerCallError::Api(e))
                if matches!(
                    e.error_code,
                    ErrorCode::InconsistentClusterId | ErrorCode::InvalidRequest
                ) =>
            {
                return Err(MembershipError::Refused(e.message));
            }
            Err(e) => {
                tracing::warn!(error = %e, "registration failed; retrying");
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        }
    };
    let id = Identity {
        broker_id: res.broker_id.0,
        cluster_id: res.cluster_id.clone(),
    };
    if stored.as_ref() != Some(&id) {
        identity::store(&broker.config.data_dir, &id).map_err(MembershipError::Identity)?;
    }
    broker.set_id(res.broker_id);
    broker.epoch.store(res.broker_epoch, Ordering::Release);
    *broker.cluster_id.write().unwrap_or_else(|p| p.into_inner()) = Some(res.cluster_id);
    tracing::info!(
        broker_id = res.broker_id.0,
        broker_epoch = res.broker_epoch,
        "registered with the controller quorum"
    );
    Ok(())
}

/// Pulls a full snapshot and installs it (start, or a gap in pushed deltas).
pub async fn resync(broker: &Arc<Broker>, controller: &ControllerClient) -> bool {
    match controller.snapshot().await {
        Ok(img) => {
            let offset = broker.metadata.install_snapshot(img);
            tracing::info!(metadata_offset = offset, "installed metadata snapshot");
            true
        }
        Err(e) => {
            tracing::warn!(error = %e, "metadata snapshot failed");
            false
        }
    }
}

/// Heartbeats until shutdown; re-registers if the controller no longer knows this incarnation.
pub async fn heartbeat_loop(
    broker: Arc<Broker>,
    controller: Arc<ControllerClient>,
    mut shutdown: watch::Receiver<bool>,
) {
    let interval = Duration::from_millis(broker.config.heartbeat_interval_ms);
    loop {
        if broker.shutting_down.load(Ordering::Acquire) {
            return;
        }
        if let Some(id) = broker.id() {
            let req = HeartbeatRequest {
                broker_epoch: broker.epoch.load(Ordering::Acquire),
                metadata_offset: broker.metadata.offset(),
            };
            match controller.heartbeat(id, &req).await {
                Ok(r) => {
                    let was = broker.fenced.swap(r.fenced, Ordering::AcqRel);
                    if was != r.fenced {
                        tracing::info!(
                            broker_id = id.0,
                            fenced = r.fenced,
                            "fencing state changed"
                        );
                    }
                }
                Err(ControllerCallError::Api(e))
                    if matches!(
                        e.error_code,
                        ErrorCode::StaleBrokerEpoch | ErrorCode::BrokerIdNotRegistered
                    ) =>
                {
                    tracing::warn!(error = %e.message, "registration lost; registering again");
                    broker.fenced.store(true, Ordering::Release);
                    if let Err(e) = register(&broker, &controller).await {
                        tracing::error!(error = %e, "re-registration refused");
                    }
                }
                Err(e) => tracing::warn!(error = %e, "heartbeat failed"),
            }
        }
        tokio::select! {
            _ = tokio::time::sleep(interval) => {}
            _ = shutdown.changed() => return,
        }
    }
}

/// Creates and deletes local replicas whenever the metadata image changes.
pub async fn reconcile_loop(broker: Arc<Broker>, mut shutdown: watch::Receiver<bool>) {
    let mut changed = broker.metadata.subscribe();
    let mut first = true;
    loop {
        if let Some(me) = broker.id() {
            if broker.metadata.offset() > 0 {
                let b = broker.clone();
                let res = tokio::task::spawn_blocking(move || {
                    let image = b.metadata.read(|i| i.clone());
                    let r = b.replicas.reconcile(&image, me);
                    if first {
                        b.replicas.remove_orphans();
                    }
                    r
                })
                .await;
                match res {
                    Ok((c, d)) if c + d > 0 => {
                        tracing::info!(created = c, deleted = d, "local replicas reconciled")
                    }
                    Ok(_) => {}
                    Err(e) => tracing::error!(error = %e, "reconcile task failed"),
                }
                first = false;
                broker.fetchers.sync(&broker);
            }
        }
        tokio::select! {
            r = changed.changed() => if r.is_err() { return },
            _ = tokio::time::sleep(Duration::from_secs(5)) => {}
            _ = shutdown.changed() => return,
        }
    }
}

/// On SIGTERM: stop heartbeating (so the controller does not unfence us
/// again), ask the controller to move leadership away, and wait until this
/// broker leads nothing or the timeout passes.
pub async fn controlled_shutdown(broker: &Arc<Broker>) {
    let Some(id) = broker.id() else { return };
    broker.shutting_down.store(true, Ordering::Release);
    broker.fenced.store(true, Ordering::Release);
    let req = ferry_common::internal::ControlledShutdownRequest {
        broker_epoch: broker.epoch.load(Ordering::Acquire),
    };
    if let Err(e) = broker.controller.controlled_shutdown(id, &req).await {
        tracing::warn!(error = %e, "controlled shutdown request failed; exiting anyway");
        return;
    }
    let timeout = Duration::from_millis(broker.config.controlled_shutdown_timeout_ms);
    let leads_nothing = wait_until(timeout, || {
        !broker.metadata.read(|img| {
            img.topics
                .values()
                .any(|t| t.partitions.iter().any(|p| p.leader == Some(id)))
        })
    })
    .await;
    tracing::info!(broker_id = id.0, leads_nothing, "controlled shutdown done");
}

/// Polls `cond` every 50 ms until true or `timeout`; whether it became true.
async fn wait_until(timeout: Duration, cond: impl Fn() -> bool) -> bool {
    let deadline = tokio::time::Instant::now() + timeout;
    while tokio::time::Instant::now() < deadline {
        if cond() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    cond()
}

/// Deletes old segments per `retention.ms`/`retention.bytes`.
pub async fn retention_loop(broker: Arc<Broker>, mut shutdown: watch::Receiver<bool>) {
    let interval = Duration::from_millis(broker.config.retention_check_interval_ms);
    loop {
        tokio::select! {
            _ = tokio::time::sleep(interval) => {}
            _ = shutdown.changed() => return,
        }
        let b = broker.clone();
        let _ = tokio::task::spawn_blocking(move || {
            let now = crate::service::produce::now_ms();
            for p in b.replicas.all() {
                match p.log.apply_retention(now) {
                    Ok(0) => {}
                    Ok(n) => tracing::info!(topic = %p.topic, partition = p.partition, segments = n, "retention deleted segments"),
                    Err(e) => tracing::warn!(topic = %p.topic, partition = p.partition, error = %e, "retention failed"),
                }
            }
        })
        .await;
    }
}
