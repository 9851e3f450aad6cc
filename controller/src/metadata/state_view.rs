//! The applied metadata state as the rest of the controller sees it.
//!
//! The Raft state machine writes through [`StateView::apply`]; handlers, the
//! fencing driver and the metadata pusher read. Locks are std locks held only
//! for short, non-async sections.

use super::commands::CommandRequest;
use super::controller_state::{Applied, ControllerState};
use ferry_common::metadata::MetadataDelta;
use std::collections::VecDeque;
use std::sync::{Arc, Mutex, RwLock};
use tokio::sync::watch;

/// Shared, applied metadata state plus the ring of recent deltas.
pub struct StateView {
    state: RwLock<ControllerState>,
    ring: Mutex<VecDeque<Arc<MetadataDelta>>>,
    /// Recent deltas kept for pushing; a broker further behind resyncs from a snapshot.
    ring_capacity: usize,
    applied: watch::Sender<u64>,
}

/// Deltas after some offset, as far as the ring reaches.
#[derive(Debug, Clone)]
pub struct DeltasAfter {
    pub deltas: Vec<Arc<MetadataDelta>>,
    /// The image's current offset (a broker at it is up to date).
    pub head: u64,
}

impl StateView {
    pub fn new(state: ControllerState, ring_capacity: usize) -> Arc<Self> {
        let offset = state.image.offset;
        Arc::new(StateView {
            state: RwLock::new(state),
            ring: Mutex::new(VecDeque::new()),
            ring_capacity: ring_capacity.max(1),
            applied: watch::channel(offset).0,
        })
    }

    /// Reads the state under the lock.
    pub fn read<R>(&self, f: impl FnOnce(&ControllerState) -> R) -> R {
        let guard = self.state.read().unwrap_or_else(|p| p.into_inner());
        f(&guard)
    }

    /// Applies one command entry at `offset`.
    pub fn apply(&self, offset: u64, req: &CommandRequest) -> Applied {
        let applied = {
            let mut guard = self.state.write().unwrap_or_else(|p| p.into_inner());
            guard.apply(offset, req)
        };
        if let Some(d) = &applied.delta {
            let mut ring = self.ring.lock().unwrap_or_else(|p| p.into_inner());
            ring.push_back(Arc::new(d.clone()));
            while ring.len() > self.ring_capacity {
                ring.pop_front();
            }
        }
        self.applied.send_replace(offset);
        applied
    }

    /// Advances the offset for an entry without a command (blank, membership).
    pub fn apply_empty(&self, offset: u64) {
        {
            let mut guard = self.state.write().unwrap_or_else(|p| p.into_inner());
            guard.image.replay(offset, &[]);
        }
        self.applied.send_replace(offset);
    }

    /// Replaces everything (snapshot install); brokers resync through the gap check.
    pub fn replace(&self, state: ControllerState) {
        let offset = state.image.offset;
        *self.state.write().unwrap_or_else(|p| p.into_inner()) = state;
        self.ring.lock().unwrap_or_else(|p| p.into_inner()).clear();
        self.applied.send_replace(offset);
    }

    /// Watches the applied offset.
    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.applied.subscribe()
    }

    /// Up to `max` deltas with `offset > after`, oldest first.
    pub fn deltas_after(&self, after: u64, max: usize) -> DeltasAfter {
        let head = self.read(|s| s.image.offset);
        let ring = self.ring.lock().unwrap_or_else(|p| p.into_inner());
        let start = ring.partition_point(|d| d.offset <= after);
        let deltas = ring.iter().skip(start).take(max).cloned().collect();
        DeltasAfter { deltas, head }
    }
}
