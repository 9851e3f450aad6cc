//! Duties of the active controller that run in the background: initialising the
//! cluster id once, creating the bootstrap user while there is no user, fencing brokers whose sessions expired, and moving
//! leadership back to preferred replicas.

use crate::error::ControllerError;
use crate::metadata::commands::Command;
use crate::metadata::state_view::StateView;
use crate::service::broker_sessions::SessionTable;
use crate::service::write_path::WritePath;
use ferry_common::security::ScramCredential;
use std::sync::Arc;
use std::time::{Duration, Instant};

const CHECK_INTERVAL: Duration = Duration::from_millis(250);

/// What the leadership duties need.
pub struct Leadership {
    pub path: Arc<WritePath>,
    pub view: Arc<StateView>,
    pub sessions: Arc<SessionTable>,
    pub session_timeout: Duration,
    /// `None` disables preferred-leader rebalancing.
    pub rebalance_interval: Option<Duration>,
    /// The configured bootstrap user and its credential, created while the
    /// cluster has no user.
    pub bootstrap_user: Option<(String, ScramCredential)>,
}

/// Runs until `shutdown` fires.
pub async fn run(duties: Leadership, mut shutdown: tokio::sync::watch::Receiver<bool>) {
    let mut tick = tokio::time::interval(CHECK_INTERVAL);
    let mut was_leader = false;
    let mut last_rebalance = Instant::now();
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = shutdown.changed() => return,
        }
        let leader = duties.path.is_leader();
        if leader != was_leader {
            duties.sessions.lock().set_active(leader.then(Instant::now));
            if leader {
                tracing::info!(term = duties.path.term(), "became the active controller");
            } else {
                tracing::info!("no longer the active controller");
            }
            was_leader = leader;
        }
        if !leader {
            continue;
        }
        if let Err(e) = duties.ensure_cluster_id().await {
            tracing::warn!(error = %e, "could not initialise the cluster id yet");
            continue;
        }
        duties.ensure_bootstrap_user().await;
        duties.fence_expired().await;
        if let Some(every) = duties.rebalance_interval {
            if last_rebalance.elapsed() >= every {
                last_rebalance = Instant::now();
                match duties.rebalance_leaders().await {
                    Ok(0) => {}
                    Ok(n) => tracing::info!(
                        partitions = n,
                        "moved leadership back to preferred replicas"
                    ),
                    Err(e) => tracing::warn!(error = %e, "preferred leader election failed"),
                }
            }
        }
    }
}

impl Leadership {
    /// Proposes the bootstrap user while no user exists (applied only then,
    /// so a racing proposal from another controller changes nothing).
    async fn ensure_bootstrap_user(&self) {
        let Some((user, credential)) = &self.bootstrap_user else {
            return;
        };
        if !self.view.read(|s| s.image.users.is_empty()) {
            return;
        }
        let command = Command::BootstrapUser {
            user: user.clone(),
            credential: credential.clone(),
        };
        match self.path.write(None, command).await {
            Ok(_) => {
                tracing::info!(user = %user, "created the bootstrap user (the cluster had no user)")
            }
            Err(e) => tracing::warn!(error = %e, "could not create the bootstrap user yet"),
        }
    }

    /// Proposes the cluster id if none is set yet (first leader after bootstrap).
    async fn ensure_cluster_id(&self) -> Result<(), ControllerError> {
        if self.view.read(|s| s.image.cluster_id.is_some()) {
            return Ok(());
        }
        let cluster_id = uuid::Uuid::new_v4().to_string();
        self.path
            .write(None, Command::InitCluster { cluster_id })
            .await
            .map(|_| ())
    }

    /// Fences every unfenced broker whose session expired.
    async fn fence_expired(&self) {
        let unfenced: Vec<_> = self.view.read(|s| {
            s.image
                .unfenced_brokers()
                .map(|b| (b.id, b.epoch))
                .collect()
        });
        let expired = self.sessions.lock().expired(
            unfenced.into_iter(),
            Instant::now(),
            self.session_timeout,
        );
        for (broker_id, epoch) in expired {
            tracing::warn!(
                broker_id = broker_id.0,
                broker_epoch = epoch,
                "broker session expired; fencing it"
            );
            if let Err(e) = self
                .path
                .write(None, Command::FenceBroker { broker_id, epoch })
                .await
            {
                tracing::warn!(broker_id = broker_id.0, error = %e, "fencing failed; will retry");
            }
        }
    }

    /// Proposes preferred-leader elections when some partition qualifies.
    async fn rebalance_leaders(&self) -> Result<usize, ControllerError> {
        let n = self.view.read(|s| s.preferred_elections().len());
        if n > 0 {
            self.path
                .write(None, Command::ElectPreferredLeaders)
                .await?;
        }
        Ok(n)
    }
}
