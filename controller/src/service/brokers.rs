//! What brokers ask of the controller (`/internal/v1`): registration,
//! heartbeats (and unfencing once caught up), controlled shutdown,
//! AlterPartition, the metadata snapshot for a resync (linearizable, active
//! controller only), and reports of unreachable brokers (confirmed by a probe,
//! then fenced at once: see [`super::suspicion`]).

use super::broker_sessions::{Contact, SessionTable};
use super::suspicion::{OnReport, Suspicions, Verdict};
use super::write_path::WritePath;
use crate::error::{parse_topic, ControllerError};
use crate::metadata::commands::{Command, Outcome};
use crate::metadata::state_view::StateView;
use ferry_common::internal::{
    AlterPartitionRequest, HeartbeatRequest, HeartbeatResponse, RegisterBrokerRequest,
    RegisterBrokerResponse, UnreachableReport, UnreachableVerdict,
};
use ferry_common::metadata::{MetadataImage, PartitionState};
use ferry_common::types::BrokerEpoch;
use ferry_common::BrokerId;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The broker-facing registry of this controller.
pub struct BrokerRegistry {
    path: Arc<WritePath>,
    view: Arc<StateView>,
    sessions: Arc<SessionTable>,
    session_timeout: Duration,
    suspicions: Mutex<Suspicions>,
}

impl BrokerRegistry {
    pub fn new(
        path: Arc<WritePath>,
        view: Arc<StateView>,
        sessions: Arc<SessionTable>,
        session_timeout: Duration,
    ) -> Self {
        BrokerRegistry {
            path,
            view,
            sessions,
            session_timeout,
            suspicions: Mutex::default(),
        }
    }

    /// Registers a broker incarnation; answers its id and epoch.
    pub async fn register_broker(
        &self,
        req: RegisterBrokerRequest,
    ) -> Result<RegisterBrokerResponse, ControllerError> {
        self.path.require_leader()?;
        if req.url.is_empty()
            || !(req.url.starts_with("http://") || req.url.starts_with("https://"))
        {
            return Err(ControllerError::InvalidBrokerUrl { url: req.url });
        }
        if let Some(id) = req.broker_id {
            let now = Instant::now();
            let live_other = self.view.read(|s| {
                s.image
                    .brokers
                    .get(&id)
                    .filter(|b| !b.fenced && b.incarnation_id != req.incarnation_id)
                    .map(|b| b.epoch)
            });
            if let Some(epoch) = live_other {
                if self
                    .sessions
                    .lock()
                    .is_live(id, epoch, now, self.session_timeout)
                {
                    return Err(ControllerError::DuplicateBrokerRegistration { broker_id: id });
                }
            }
        }
        match self.path.write(None, Command::RegisterBroker(req)).await? {
            Outcome::Broker {
                broker_id,
                broker_epoch,
                cluster_id,
            } => {
                let contact = Contact {
                    at: Instant::now(),
                    epoch: broker_epoch,
                    metadata_offset: 0,
                };
                self.sessions.lock().record(broker_id, contact);
                tracing::info!(broker_id = broker_id.0, broker_epoch, "broker registered");
                Ok(RegisterBrokerResponse {
                    broker_id,
                    broker_epoch,
                    cluster_id,
                })
            }
            other => Err(ControllerError::Internal(format!(
                "registration answered {other:?}"
            ))),
        }
    }

    /// Records a heartbeat; unfences the broker once it has caught up with the
    /// metadata log up to its own registration.
    pub async fn heartbeat(
        &self,
        id: BrokerId,
        req: HeartbeatRequest,
    ) -> Result<HeartbeatResponse, ControllerError> {
        self.path.require_leader()?;
        let (epoch, fenced) = self.current_registration(id, req.broker_epoch)?;
        self.sessions.lock().record(
            id,
            Contact {
                at: Instant::now(),
                epoch,
                metadata_offset: req.metadata_offset,
            },
        );
        let mut now_fenced = fenced;
        if fenced && req.metadata_offset >= epoch {
            let command = Command::UnfenceBroker {
                broker_id: id,
                epoch,
            };
            self.path.write(None, command).await?;
            now_fenced = self
                .view
                .read(|s| s.image.brokers.get(&id).is_none_or(|b| b.fenced));
            if !now_fenced {
                tracing::info!(
                    broker_id = id.0,
                    broker_epoch = epoch,
                    "broker caught up; unfenced"
                );
            }
        }
        Ok(HeartbeatResponse {
            fenced: now_fenced,
            unfence_at_offset: epoch,
            controller_id: self.path.node_id(),
        })
    }

    /// Controlled shutdown: fences the broker now (moving its leaderships and
    /// ISR seats) instead of waiting for its session to expire.
    pub async fn controlled_shutdown(
        &self,
        id: BrokerId,
        broker_epoch: BrokerEpoch,
    ) -> Result<(), ControllerError> {
        self.path.require_leader()?;
        let (epoch, _) = self.current_registration(id, broker_epoch)?;
        let command = Command::FenceBroker {
            broker_id: id,
            epoch,
        };
        self.path.write(None, command).await?;
        tracing::info!(
            broker_id = id.0,
            broker_epoch = epoch,
            "controlled shutdown: broker fenced, leadership moved"
        );
        Ok(())
    }

    /// Another broker's connection to `suspect` was refused: probe it and,
    /// if the controller's own connection is refused too, fence it now (the
    /// same write as a session expiry). Inconclusive probes fence nothing.
    pub async fn report_unreachable(
        &self,
        suspect: BrokerId,
        report: UnreachableReport,
    ) -> Result<UnreachableVerdict, ControllerError> {
        self.path.require_leader()?;
        self.current_registration(report.reporter_id, report.reporter_epoch)?;
        let found = self.view.read(|s| {
            s.image
                .brokers
                .get(&suspect)
                .map(|b| (b.epoch, b.fenced, b.url.clone()))
        });
        let Some((epoch, fenced, url)) = found else {
            return Err(ControllerError::BrokerNotRegistered { broker_id: suspect });
        };
        let verdict = |fenced: bool, reason: &str| UnreachableVerdict {
            fenced,
            reason: reason.to_string(),
        };
        if fenced {
            return Ok(verdict(true, "already fenced"));
        }
        match self
            .lock_suspicions()
            .on_report(suspect, epoch, Instant::now())
        {
            OnReport::Probe => {}
            OnReport::InFlight => return Ok(verdict(false, "probe in flight")),
            OnReport::Recent => return Ok(verdict(false, "probed moments ago")),
        }
        let outcome = crate::peers::probe::probe(&url).await;
        let last_heartbeat = self
            .sessions
            .lock()
            .contact(suspect)
            .filter(|c| c.epoch == epoch)
            .map(|c| c.at);
        let decided = self
            .lock_suspicions()
            .on_probe(suspect, epoch, outcome, last_heartbeat);
        match decided {
            Verdict::Keep(reason) => {
                tracing::info!(
                    broker_id = suspect.0,
                    reporter = report.reporter_id.0,
                    ?outcome,
                    reason,
                    "broker reported unreachable; not fencing"
                );
                Ok(verdict(false, reason))
            }
            Verdict::Fence => {
                tracing::warn!(
                    broker_id = suspect.0,
                    broker_epoch = epoch,
                    reporter = report.reporter_id.0,
                    "broker refused connections from a peer and from the controller; fencing it"
                );
                let command = Command::FenceBroker {
                    broker_id: suspect,
                    epoch,
                };
                self.path.write(None, command).await?;
                Ok(verdict(true, "refused"))
            }
        }
    }

    fn lock_suspicions(&self) -> std::sync::MutexGuard<'_, Suspicions> {
        self.suspicions.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A partition leader's ISR change; answers the partition as applied.
    pub async fn alter_partition(
        &self,
        req: AlterPartitionRequest,
    ) -> Result<PartitionState, ControllerError> {
        let topic = parse_topic(&req.topic)?;
        let command = Command::AlterPartition {
            broker_id: req.broker_id,
            broker_epoch: req.broker_epoch,
            topic: topic.clone(),
            partition: req.partition,
            leader_epoch: req.leader_epoch,
            partition_epoch: req.partition_epoch,
            new_isr: req.new_isr,
        };
        self.path.write(None, command).await?;
        let applied = self.view.read(|s| {
            s.image
                .topics
                .get(&topic)
                .and_then(|t| t.partitions.get(req.partition as usize).cloned())
        });
        applied.ok_or(ControllerError::UnknownTopic { topic })
    }

    /// The whole applied image, for brokers starting or resyncing after a gap.
    /// Served only by the active controller after a linearizable read point:
    /// brokers delete partition directories by what this image lacks, so a
    /// lagging follower's (or a deposed leader's) image must never reach one.
    pub async fn snapshot(&self) -> Result<MetadataImage, ControllerError> {
        self.path.linearizable().await?;
        Ok(self.view.read(|s| s.image.clone()))
    }

    /// `(epoch, fenced)` of broker `id` if `theirs` is its current epoch.
    fn current_registration(
        &self,
        id: BrokerId,
        theirs: BrokerEpoch,
    ) -> Result<(BrokerEpoch, bool), ControllerError> {
        let current = self
            .view
            .read(|s| s.image.brokers.get(&id).map(|b| (b.epoch, b.fenced)));
        match current {
            None => Err(ControllerError::BrokerNotRegistered { broker_id: id }),
            Some((epoch, _)) if epoch != theirs => Err(ControllerError::StaleBrokerEpoch {
                broker_id: id,
                requested: theirs,
                current: epoch,
            }),
            Some(cur) => Ok(cur),
        }
    }
}
