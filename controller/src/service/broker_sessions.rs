//! Broker liveness as the active controller sees it.
//!
//! Heartbeats are not replicated (as in Kafka): only the active controller
//! tracks them, and a new active controller grants every broker a full session
//! timeout before fencing it. The fencing driver is [`crate::tasks::leadership`].

use ferry_common::types::{BrokerEpoch, MetadataOffset};
use ferry_common::BrokerId;
use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// [`BrokerSessions`] shared by the broker endpoints, the admin reads and the
/// background tasks; locked only for short, non-async sections.
#[derive(Debug, Default)]
pub struct SessionTable {
    inner: Mutex<BrokerSessions>,
}

impl SessionTable {
    pub fn lock(&self) -> MutexGuard<'_, BrokerSessions> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// What the active controller last heard from a broker.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Contact {
    pub at: Instant,
    pub epoch: BrokerEpoch,
    pub metadata_offset: MetadataOffset,
}

/// Heartbeat bookkeeping; pure (time is passed in).
#[derive(Debug, Default)]
pub struct BrokerSessions {
    contacts: HashMap<BrokerId, Contact>,
    /// When this node last became the active controller.
    active_since: Option<Instant>,
}

impl BrokerSessions {
    /// Called when this node becomes (`Some`) or stops being (`None`) the leader.
    pub fn set_active(&mut self, since: Option<Instant>) {
        self.active_since = since;
        if since.is_none() {
            self.contacts.clear();
        }
    }

    pub fn is_active(&self) -> bool {
        self.active_since.is_some()
    }

    pub fn record(&mut self, id: BrokerId, contact: Contact) {
        self.contacts.insert(id, contact);
    }

    pub fn contact(&self, id: BrokerId) -> Option<Contact> {
        self.contacts.get(&id).copied()
    }

    /// Whether `id` heard from us (with `epoch`) within `timeout`.
    pub fn is_live(
        &self,
        id: BrokerId,
        epoch: BrokerEpoch,
        now: Instant,
        timeout: Duration,
    ) -> bool {
        self.contacts
            .get(&id)
            .is_some_and(|c| c.epoch == epoch && now.saturating_duration_since(c.at) < timeout)
    }

    /// Unfenced brokers whose session expired: `(id, epoch)` to fence.
    pub fn expired(
        &self,
        unfenced: impl Iterator<Item = (BrokerId, BrokerEpoch)>,
        now: Instant,
        timeout: Duration,
    ) -> Vec<(BrokerId, BrokerEpoch)> {
        let Some(since) = self.active_since else {
            return vec![];
        };
        unfenced
            .filter(|(id, epoch)| {
                let last = match self.contacts.get(id) {
                    Some(c) if c.epoch == *epoch => c.at.max(since),
                    _ => since,
                };
                now.saturating_duration_since(last) >= timeout
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn new_leader_grants_a_full_session_before_fencing() {
        let t0 = Instant::now();
        let timeout = Duration::from_secs(9);
        let mut s = BrokerSessions::default();
        let brokers = || vec![(BrokerId(1), 10), (BrokerId(2), 20)].into_iter();
        assert!(
            s.expired(brokers(), t0 + timeout * 2, timeout).is_empty(),
            "inactive never fences"
        );
        s.set_active(Some(t0));
        assert!(s
            .expired(brokers(), t0 + Duration::from_secs(5), timeout)
            .is_empty());
        s.record(
            BrokerId(1),
            Contact {
                at: t0 + Duration::from_secs(8),
                epoch: 10,
                metadata_offset: 3,
            },
        );
        let exp = s.expired(brokers(), t0 + Duration::from_secs(10), timeout);
        assert_eq!(exp, vec![(BrokerId(2), 20)]);
    }

    #[test]
    fn heartbeat_from_an_old_epoch_does_not_keep_the_new_one_alive() {
        let t0 = Instant::now();
        let timeout = Duration::from_secs(1);
        let mut s = BrokerSessions::default();
        s.set_active(Some(t0));
        s.record(
            BrokerId(1),
            Contact {
                at: t0 + Duration::from_secs(5),
                epoch: 1,
                metadata_offset: 0,
            },
        );
        let exp = s.expired(
            vec![(BrokerId(1), 2)].into_iter(),
            t0 + Duration::from_secs(5),
            timeout,
        );
        assert_eq!(exp, vec![(BrokerId(1), 2)]);
        assert!(s.is_live(BrokerId(1), 1, t0 + Duration::from_secs(5), timeout));
        assert!(!s.is_live(BrokerId(1), 2, t0 + Duration::from_secs(5), timeout));
    }
}
