//! What keeps a broker in the cluster: register (once the HTTP server is up,
//! so pushes can reach it), pull a snapshot (at start, or when pushed deltas
//! cannot bring it to the controller's head), heartbeat on its own task (disk work never delays it), and the
//! controlled shutdown on SIGTERM.

use super::clean_shutdown;
use super::controller_client::{ControllerCallError, ControllerClient};
use super::identity::{self, Identity};
use crate::metadata::MetadataCache;
use crate::node::Node;
use ferry_common::internal::{HeartbeatRequest, RegisterBrokerRequest};
use ferry_common::{BrokerId, ErrorCode};
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

/// This broker's membership: its identity, the metadata it reports, and the
/// controller it talks to.
#[derive(Clone)]
pub struct Membership {
    pub node: Arc<Node>,
    pub metadata: Arc<MetadataCache>,
    pub controller: Arc<ControllerClient>,
}

impl Membership {
    /// Registers with the controller quorum (retrying until it answers) and records
    /// the identity. Fatal only when the controller refuses this broker for good.
    pub async fn register(&self) -> Result<(), MembershipError> {
        let (node, controller) = (&self.node, &self.controller);
        let stored = identity::load(&node.config.data_dir).map_err(MembershipError::Identity)?;
        if let (Some(s), Some(cfg)) = (&stored, node.config.broker_id) {
            if s.broker_id != cfg {
                return Err(MembershipError::Identity(format!(
                    "data dir {} belongs to broker {}, but broker_id is configured as {cfg}",
                    node.config.data_dir.display(),
                    s.broker_id
                )));
            }
        }
        let req = RegisterBrokerRequest {
            broker_id: node
                .config
                .broker_id
                .or(stored.as_ref().map(|s| s.broker_id))
                .map(BrokerId),
            url: node.advertised_url.clone(),
            rack: node.config.rack.clone(),
            incarnation_id: uuid::Uuid::new_v4().to_string(),
            cluster_id: stored.as_ref().map(|s| s.cluster_id.clone()),
            previous_shutdown: clean_shutdown::for_registration(node)
                .map_err(MembershipError::Identity)?,
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
            identity::store(&node.config.data_dir, &id).map_err(MembershipError::Identity)?;
        }
        node.registered(res.broker_id, res.broker_epoch, res.cluster_id);
        tracing::info!(
            broker_id = res.broker_id.0,
            broker_epoch = res.broker_epoch,
            "registered with the controller quorum"
        );
        Ok(())
    }

    /// Pulls a full snapshot and installs it (start, or when pushed deltas
    /// cannot bring this broker to the head: see `metadata::cache::Resync`).
    pub async fn resync(&self) -> bool {
        match self.controller.snapshot().await {
            Ok(img) => {
                let offset = self.metadata.install_snapshot(img);
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
    pub async fn heartbeat_loop(self, mut shutdown: watch::Receiver<bool>) {
        let node = &self.node;
        let interval = Duration::from_millis(node.config.heartbeat_interval_ms);
        loop {
            if node.is_shutting_down() {
                return;
            }
            if let Some(id) = node.id() {
                let req = HeartbeatRequest {
                    broker_epoch: node.broker_epoch(),
                    // Not unfenced (nor electable) before the replicas are open.
                    metadata_offset: node.reported_metadata_offset(self.metadata.offset()),
                };
                match self.controller.heartbeat(id, &req).await {
                    Ok(r) => {
                        let was = node.set_fenced(r.fenced);
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
                        node.set_fenced(true);
                        if let Err(e) = self.register().await {
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

    /// On SIGTERM: stop heartbeating (so the controller does not unfence us
    /// again), ask the controller to move leadership away, and wait until this
    /// broker leads nothing or the timeout passes.
    pub async fn controlled_shutdown(&self) {
        let node = &self.node;
        let Some(id) = node.id() else { return };
        node.begin_shutdown();
        let req = ferry_common::internal::ControlledShutdownRequest {
            broker_epoch: node.broker_epoch(),
        };
        if let Err(e) = self.controller.controlled_shutdown(id, &req).await {
            tracing::warn!(error = %e, "controlled shutdown request failed; exiting anyway");
            return;
        }
        let timeout = Duration::from_millis(node.config.controlled_shutdown_timeout_ms);
        let leads_nothing = wait_until(timeout, || {
            !self.metadata.read(|img| {
                img.topics
                    .values()
                    .any(|t| t.partitions.iter().any(|p| p.leader == Some(id)))
            })
        })
        .await;
        tracing::info!(broker_id = id.0, leads_nothing, "controlled shutdown done");
    }
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
