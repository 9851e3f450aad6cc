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
    ring: Mutex<DeltaRing>,
    applied: watch::Sender<u64>,
}

/// Recent deltas kept for pushing, with the head they lead up to; a broker
/// further behind than the ring reaches is told to resync from a snapshot.
///
/// It keeps its own head (updated after the state) so that one lock gives a
/// plan whose deltas and head agree.
#[derive(Debug)]
pub struct DeltaRing {
    entries: VecDeque<RingEntry>,
    capacity: usize,
    /// Offset of the last entry applied (records or not).
    head: u64,
    /// Offset of the last entry with records; the ring is empty after a
    /// restart or snapshot install, and this says what it cannot cover.
    last_record_offset: u64,
}

#[derive(Debug)]
struct RingEntry {
    delta: Arc<MetadataDelta>,
    /// Its JSON size, for capping pushes by bytes.
    bytes: usize,
}

/// What one push to a broker at some offset should carry.
#[derive(Debug, Clone, PartialEq)]
pub struct PushPlan {
    /// Oldest first, at most the count and byte caps.
    pub deltas: Vec<Arc<MetadataDelta>>,
    /// Set when deltas cannot bring the broker up to date.
    pub resync: Option<ResyncCause>,
    /// The head the deltas lead to (a broker at it is up to date).
    pub head: u64,
    pub head_last_record_offset: u64,
}

/// Why a broker must pull a snapshot instead.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResyncCause {
    /// The ring no longer (or not yet, after a restart) holds the deltas
    /// right after the broker's offset.
    NotInRing,
    /// The next delta alone is over the byte cap.
    TooLarge,
}

impl DeltaRing {
    /// An empty ring at the state's `head` and `last_record_offset`.
    pub fn new(capacity: usize, head: u64, last_record_offset: u64) -> Self {
        DeltaRing {
            entries: VecDeque::new(),
            capacity: capacity.max(1),
            head,
            last_record_offset,
        }
    }

    /// Records the entry at `offset`, with its delta if it had records.
    pub fn record(&mut self, offset: u64, delta: Option<Arc<MetadataDelta>>) {
        self.head = self.head.max(offset);
        if let Some(delta) = delta {
            self.last_record_offset = delta.offset;
            let bytes = json_len(&delta);
            self.entries.push_back(RingEntry { delta, bytes });
            while self.entries.len() > self.capacity {
                self.entries.pop_front();
            }
        }
    }

    /// What to push to a broker whose image is at `after`: deltas within
    /// `max_deltas` and `max_bytes` (JSON), plus a resync when the ring cannot
    /// bring it to the head. Deltas that only show a gap are still sent, so a
    /// broker that ignores the resync flag detects the gap itself.
    pub fn plan(&self, after: u64, max_deltas: usize, max_bytes: usize) -> PushPlan {
        let start = self.entries.partition_point(|e| e.delta.offset <= after);
        let resync = match self.entries.get(start) {
            None if self.last_record_offset > after => Some(ResyncCause::NotInRing),
            None => None,
            Some(first) if first.delta.prev_offset > after => Some(ResyncCause::NotInRing),
            Some(first) if first.bytes > max_bytes => Some(ResyncCause::TooLarge),
            Some(_) => None,
        };
        let mut bytes = 0;
        let deltas = self
            .entries
            .iter()
            .skip(start)
            .take(max_deltas)
            .take_while(|e| {
                bytes += e.bytes;
                bytes <= max_bytes
            })
            .map(|e| e.delta.clone())
            .collect();
        PushPlan {
            deltas,
            resync,
            head: self.head,
            head_last_record_offset: self.last_record_offset,
        }
    }
}

/// The length of `v` as JSON, without building it.
fn json_len<T: serde::Serialize>(v: &T) -> usize {
    struct Count(usize);
    impl std::io::Write for Count {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0 += buf.len();
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let mut c = Count(0);
    // Serializing metadata records cannot fail; an error would only undercount.
    let _ = serde_json::to_writer(&mut c, v);
    c.0
}

impl StateView {
    pub fn new(state: ControllerState, ring_capacity: usize) -> Arc<Self> {
        let (offset, last_record) = (state.image.offset, state.image.last_record_offset);
        Arc::new(StateView {
            state: RwLock::new(state),
            ring: Mutex::new(DeltaRing::new(ring_capacity, offset, last_record)),
            applied: watch::channel(offset).0,
        })
    }

    /// Reads the state under the lock.
    pub fn read<R>(&self, f: impl FnOnce(&ControllerState) -> R) -> R {
        let guard = self.state.read().unwrap_or_else(|p| p.into_inner());
        f(&guard)
    }

    fn ring(&self) -> std::sync::MutexGuard<'_, DeltaRing> {
        self.ring.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Applies one command entry at `offset`.
    pub fn apply(&self, offset: u64, req: &CommandRequest) -> Applied {
        let applied = {
            let mut guard = self.state.write().unwrap_or_else(|p| p.into_inner());
            guard.apply(offset, req)
        };
        let delta = applied.delta.clone().map(Arc::new);
        self.ring().record(offset, delta);
        self.applied.send_replace(offset);
        applied
    }

    /// Advances the offset for an entry without a command (blank, membership).
    pub fn apply_empty(&self, offset: u64) {
        {
            let mut guard = self.state.write().unwrap_or_else(|p| p.into_inner());
            guard.image.replay(offset, &[]);
        }
        self.ring().record(offset, None);
        self.applied.send_replace(offset);
    }

    /// Replaces everything (snapshot install); the ring starts again empty, so
    /// a broker that missed records is told to resync.
    pub fn replace(&self, state: ControllerState) {
        let (offset, last_record) = (state.image.offset, state.image.last_record_offset);
        *self.state.write().unwrap_or_else(|p| p.into_inner()) = state;
        {
            let mut ring = self.ring();
            *ring = DeltaRing::new(ring.capacity, offset, last_record);
        }
        self.applied.send_replace(offset);
    }

    /// Watches the applied offset.
    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.applied.subscribe()
    }

    /// What to push to a broker at `after` (see [`DeltaRing::plan`]).
    pub fn plan_push(&self, after: u64, max_deltas: usize, max_bytes: usize) -> PushPlan {
        self.ring().plan(after, max_deltas, max_bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ferry_common::metadata::MetadataRecord;

    /// A delta from `prev` to `offset` carrying `n` producer-id records.
    fn delta(prev: u64, offset: u64, n: u64) -> Arc<MetadataDelta> {
        let records = (0..n)
            .map(|i| MetadataRecord::ProducerIds { next: i })
            .collect();
        Arc::new(MetadataDelta {
            prev_offset: prev,
            offset,
            records,
        })
    }

    fn offsets(p: &PushPlan) -> Vec<u64> {
        p.deltas.iter().map(|d| d.offset).collect()
    }

    /// Deltas at 2, 3, 5 (4 had no records), head 6.
    fn ring() -> DeltaRing {
        let mut r = DeltaRing::new(16, 1, 1);
        r.record(2, Some(delta(1, 2, 1)));
        r.record(3, Some(delta(2, 3, 1)));
        r.record(4, None);
        r.record(5, Some(delta(3, 5, 1)));
        r.record(6, None);
        r
    }

    #[test]
    fn a_covered_broker_gets_the_deltas_after_its_offset() {
        let p = ring().plan(3, 100, 1 << 20);
        assert_eq!(offsets(&p), vec![5]);
        assert_eq!((p.resync, p.head, p.head_last_record_offset), (None, 6, 5));
        // At 4 (no records since 3) the next delta still follows on.
        assert_eq!(offsets(&ring().plan(4, 100, 1 << 20)), vec![5]);
        let up_to_date = ring().plan(5, 100, 1 << 20);
        assert!(up_to_date.deltas.is_empty() && up_to_date.resync.is_none());
    }

    #[test]
    fn pushes_are_capped_by_count_and_bytes() {
        let one = json_len(&delta(1, 2, 1));
        assert_eq!(offsets(&ring().plan(1, 2, 1 << 20)), vec![2, 3]);
        assert_eq!(offsets(&ring().plan(1, 100, 2 * one)), vec![2, 3]);
        assert_eq!(offsets(&ring().plan(1, 100, 2 * one - 1)), vec![2]);
        let mut big = DeltaRing::new(16, 0, 0);
        big.record(1, Some(delta(0, 1, 1000)));
        let p = big.plan(0, 100, 1024);
        assert!(p.deltas.is_empty());
        assert_eq!(p.resync, Some(ResyncCause::TooLarge));
    }

    #[test]
    fn scenario_8b_a_broker_the_ring_cannot_cover_is_told_to_resync() {
        // Evicted: the oldest delta left starts after the broker's offset; it is
        // still sent, for brokers that only detect the gap themselves.
        let mut small = DeltaRing::new(2, 1, 1);
        for (prev, off) in [(1, 2), (2, 3), (3, 4)] {
            small.record(off, Some(delta(prev, off, 1)));
        }
        let p = small.plan(1, 100, 1 << 20);
        assert_eq!(
            (offsets(&p), p.resync),
            (vec![3, 4], Some(ResyncCause::NotInRing))
        );
        // Restarted or installed a snapshot at offset 9 (last records at 8):
        // empty, so a broker at 5 gets no deltas and must resync...
        let restarted = DeltaRing::new(16, 9, 8);
        let p = restarted.plan(5, 100, 1 << 20);
        assert!(p.deltas.is_empty());
        assert_eq!(p.resync, Some(ResyncCause::NotInRing));
        // ...while one that has every record only learns the head.
        assert_eq!(restarted.plan(8, 100, 1 << 20).resync, None);
        // After a new delta, a broker before its prev_offset still resyncs.
        let mut later = DeltaRing::new(16, 9, 8);
        later.record(10, Some(delta(8, 10, 1)));
        assert_eq!(
            later.plan(5, 100, 1 << 20).resync,
            Some(ResyncCause::NotInRing)
        );
        assert_eq!(later.plan(8, 100, 1 << 20).resync, None);
    }

    #[test]
    fn replace_empties_the_ring_at_the_new_state() {
        let view = StateView::new(ControllerState::default(), 8);
        let mut state = ControllerState::default();
        state.image.offset = 12;
        state.image.last_record_offset = 11;
        view.replace(state);
        let p = view.plan_push(3, 100, 1 << 20);
        assert_eq!((p.head, p.head_last_record_offset), (12, 11));
        assert_eq!(p.resync, Some(ResyncCause::NotInRing));
    }
}
