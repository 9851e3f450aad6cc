//! This broker's identity and lifecycle flags: the leaf context every
//! subsystem may read (id, broker epoch, fencing, shutdown, cluster id,
//! advertised URL, config). It owns no subsystem and names none.

use crate::config::BrokerConfig;
use crate::error::BrokerError;
use ferry_common::BrokerId;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::RwLock;

/// Who this broker is and where it stands with the controller.
pub struct Node {
    pub config: BrokerConfig,
    pub advertised_url: String,
    /// 0 until registered.
    id: AtomicU32,
    epoch: AtomicU64,
    fenced: AtomicBool,
    /// Set on SIGTERM: heartbeats stop so the controller keeps this broker fenced.
    shutting_down: AtomicBool,
    /// Set once the replicas metadata assigned here at registration are
    /// open: until then the broker reports itself not ready and does not
    /// ask to be unfenced, so it cannot be elected before its logs are open.
    replicas_open: AtomicBool,
    cluster_id: RwLock<Option<String>>,
}

impl Node {
    pub fn new(config: BrokerConfig, advertised_url: String) -> Self {
        Node {
            config,
            advertised_url,
            id: AtomicU32::new(0),
            epoch: AtomicU64::new(0),
            fenced: AtomicBool::new(true),
            shutting_down: AtomicBool::new(false),
            replicas_open: AtomicBool::new(false),
            cluster_id: RwLock::new(None),
        }
    }

    /// This broker's id once registered.
    pub fn id(&self) -> Option<BrokerId> {
        match self.id.load(Ordering::Acquire) {
            0 => None,
            id => Some(BrokerId(id)),
        }
    }

    /// This broker's id, or the retriable error for a broker not registered yet.
    pub fn require_id(&self) -> Result<BrokerId, BrokerError> {
        self.id().ok_or_else(|| {
            BrokerError::NotReady(
                "this broker has not registered with the controller yet; retry".into(),
            )
        })
    }

    /// Records a successful registration.
    pub fn registered(&self, id: BrokerId, broker_epoch: u64, cluster_id: String) {
        self.id.store(id.0, Ordering::Release);
        self.epoch.store(broker_epoch, Ordering::Release);
        *self.cluster_id.write().unwrap_or_else(|p| p.into_inner()) = Some(cluster_id);
    }

    /// The broker epoch of the current registration (0 before it).
    pub fn broker_epoch(&self) -> u64 {
        self.epoch.load(Ordering::Acquire)
    }

    pub fn is_fenced(&self) -> bool {
        self.fenced.load(Ordering::Acquire)
    }

    /// Sets the fencing state; answers the previous one.
    pub fn set_fenced(&self, fenced: bool) -> bool {
        self.fenced.swap(fenced, Ordering::AcqRel)
    }

    pub fn is_shutting_down(&self) -> bool {
        self.shutting_down.load(Ordering::Acquire)
    }

    /// Marks the start of a controlled shutdown (also fences this broker locally).
    pub fn begin_shutdown(&self) {
        self.shutting_down.store(true, Ordering::Release);
        self.fenced.store(true, Ordering::Release);
    }

    /// The cluster id learnt at registration.
    pub fn cluster_id(&self) -> Option<String> {
        self.cluster_id
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Records that the replicas assigned at registration are open.
    pub fn set_replicas_open(&self) {
        if !self.replicas_open.swap(true, Ordering::AcqRel) {
            tracing::info!("local replicas open");
        }
    }

    pub fn replicas_open(&self) -> bool {
        self.replicas_open.load(Ordering::Acquire)
    }

    /// The metadata offset heartbeats report: below the registration (so
    /// the controller keeps this broker fenced) until its replicas are open.
    pub fn reported_metadata_offset(&self, applied: u64) -> u64 {
        if self.replicas_open() {
            applied
        } else {
            applied.min(self.broker_epoch().saturating_sub(1))
        }
    }

    /// Registered, replicas open, unfenced and caught up with metadata (at
    /// `metadata_offset`) up to its registration.
    pub fn is_ready(&self, metadata_offset: u64) -> bool {
        self.id().is_some()
            && self.replicas_open()
            && !self.is_fenced()
            && metadata_offset >= self.broker_epoch()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn not_ready_nor_unfenceable_until_the_replicas_are_open() {
        let n = Node::new(BrokerConfig::default(), "http://b".into());
        n.registered(BrokerId(1), 40, "c".into());
        n.set_fenced(false);
        assert!(!n.is_ready(45), "replicas still opening");
        assert_eq!(
            n.reported_metadata_offset(45),
            39,
            "heartbeats stay below the registration, so the controller keeps it fenced"
        );
        n.set_replicas_open();
        assert!(n.is_ready(45));
        assert_eq!(n.reported_metadata_offset(45), 45);
    }
}
