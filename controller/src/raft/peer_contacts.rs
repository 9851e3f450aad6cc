//! When this node last had a successful exchange with each peer controller,
//! for `/v1/cluster`'s `last_contact_ms`.

use super::types::NodeId;
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Instant;

/// When this node last had a successful exchange with each peer: RPC answers
/// on the leader, AppendEntries from the leader on followers.
#[derive(Debug, Default)]
pub struct PeerContacts {
    last: Mutex<HashMap<NodeId, Instant>>,
}

impl PeerContacts {
    pub fn touch(&self, peer: NodeId) {
        self.last
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(peer, Instant::now());
    }

    /// Milliseconds since the last exchange with `peer`, if any.
    pub fn millis_since(&self, peer: NodeId) -> Option<u64> {
        let last = self.last.lock().unwrap_or_else(|p| p.into_inner());
        last.get(&peer).map(|t| t.elapsed().as_millis() as u64)
    }
}
