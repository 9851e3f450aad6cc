//! Producer state against the log: learnt from batches as they are appended
//! or replicated, snapshotted when a segment rolls and at clean shutdown
//! (storage's `.snapshot` files), and rebuilt at open from the newest
//! snapshot plus the log after it, so start-up reads the tail only.

use super::producer_state::{ProducerBatch, ProducerStates};
use super::replica::Partition;
use crate::storage::LogError;
use std::sync::atomic::Ordering;

/// Learns idempotent producers' batches from encoded batches.
fn observe_into(producers: &mut ProducerStates, bytes: &[u8]) {
    let Ok(batches) = crate::storage::decode_batches(bytes) else {
        return;
    };
    for (h, _) in batches.iter().filter(|(h, _)| h.producer_id >= 0) {
        let batch = ProducerBatch {
            first_seq: h.base_sequence,
            last_seq: h.base_sequence.saturating_add(h.last_offset_delta as i32),
            base_offset: h.base_offset,
            last_offset: h.last_offset(),
        };
        producers.record(h.producer_id, h.producer_epoch, batch);
    }
}

impl Partition {
    /// Rebuilds producer state at open (blocking): from the snapshot the log
    /// loaded plus the batches after it, or, without a usable snapshot, from
    /// the whole log.
    pub fn rebuild_producer_state(&self) {
        let mut producers = self.producers.lock().unwrap_or_else(|p| p.into_inner());
        let loaded = self.log.take_snapshot().and_then(|(offset, payload)| {
            let states = ProducerStates::decode(&payload);
            if states.is_none() {
                tracing::warn!(topic = %self.topic, partition = self.partition, offset,
                    "producer-state snapshot payload is malformed; replaying the whole log");
            }
            states.map(|s| (offset, s))
        });
        let mut offset = match loaded {
            Some((offset, states)) => {
                *producers = states;
                offset
            }
            None => {
                *producers = ProducerStates::default();
                self.log.log_start_offset()
            }
        };
        let leo = self.log.log_end_offset();
        while offset < leo {
            let Ok(bytes) = self.log.read_batches(offset, u64::MAX, 8 * 1024 * 1024) else {
                return;
            };
            let Ok(batches) = crate::storage::decode_batches(&bytes) else {
                return;
            };
            let Some((last, _)) = batches.last() else {
                return;
            };
            offset = last.last_offset() + 1;
            self.replayed
                .fetch_add(bytes.len() as u64, Ordering::Relaxed);
            observe_into(&mut producers, &bytes);
        }
    }

    /// Batch bytes [`Partition::rebuild_producer_state`] read.
    pub fn producer_state_replayed_bytes(&self) -> u64 {
        self.replayed.load(Ordering::Relaxed)
    }

    /// Appends a leader's batches as follower (blocking). Producer state
    /// is held across the append so a snapshot after a roll matches the log.
    pub fn append_replicated(&self, batches: &[u8]) -> Result<u64, LogError> {
        let mut producers = self.producers.lock().unwrap_or_else(|p| p.into_inner());
        let leo = self.log.append_raw(batches)?;
        // A follower keeps producer state too, so it dedups after a failover.
        observe_into(&mut producers, batches);
        self.snapshot_if_rolled(&producers);
        drop(producers);
        self.leo.send_replace(leo);
        Ok(leo)
    }

    /// After an append (producer state `producers` held, so it matches the
    /// log end): snapshots it if the append rolled a segment. A failed
    /// snapshot only costs a longer scan at the next start.
    pub(super) fn snapshot_if_rolled(&self, producers: &ProducerStates) {
        if self.log.take_rolled() {
            if let Err(e) = self.log.write_snapshot(&producers.encode()) {
                tracing::warn!(topic = %self.topic, partition = self.partition, error = %e, "producer-state snapshot failed");
            }
        }
    }

    /// Snapshots producer state at the log end (clean shutdown; blocking).
    pub fn snapshot_producer_state(&self) -> Result<u64, LogError> {
        let producers = self.producers.lock().unwrap_or_else(|p| p.into_inner());
        self.log.write_snapshot(&producers.encode())
    }
}

#[cfg(test)]
mod tests {
    use super::super::producer_state::SequenceCheck;
    use super::super::test_support::{meta, open, rec};
    use crate::storage::LogConfig;

    fn small() -> LogConfig {
        LogConfig {
            segment_bytes: 400,
            write_caching: true,
            ..LogConfig::default()
        }
    }

    #[test]
    fn reopen_loads_the_roll_snapshot_and_replays_only_the_tail() {
        let dir = tempfile::tempdir().unwrap();
        let m = meta(1, 1, &[1], &[1]);
        let part = open(dir.path(), "id", m.clone());
        part.log.set_config(small());
        for seq in 0..30 {
            part.append(&[rec("v")], 0, Some((7, 0, seq)), None)
                .unwrap();
        }
        assert!(part.log.segment_count() > 3, "rolled, so snapshots exist");
        let total = part.log.size_bytes();
        drop(part);

        let part = open(dir.path(), "id", m);
        part.rebuild_producer_state();
        let replayed = part.producer_state_replayed_bytes();
        assert!(
            replayed > 0 && replayed < total / 3,
            "replayed {replayed} of {total} bytes"
        );
        // The producer's last batches survived: a retry is a duplicate, the
        // next sequence appends.
        let p = part.producers.lock().unwrap();
        assert!(matches!(
            p.check(7, 0, 29, 1),
            SequenceCheck::Duplicate { .. }
        ));
        assert_eq!(p.check(7, 0, 30, 1), SequenceCheck::Append);
    }

    #[test]
    fn a_clean_shutdown_snapshot_leaves_nothing_to_replay() {
        let dir = tempfile::tempdir().unwrap();
        let m = meta(1, 1, &[1], &[1]);
        let part = open(dir.path(), "id", m.clone());
        for seq in 0..5 {
            part.append(&[rec("v")], 0, Some((3, 2, seq)), None)
                .unwrap();
        }
        part.snapshot_producer_state().unwrap();
        drop(part);
        let part = open(dir.path(), "id", m);
        part.rebuild_producer_state();
        assert_eq!(part.producer_state_replayed_bytes(), 0);
        let p = part.producers.lock().unwrap();
        assert_eq!(p.check(3, 2, 5, 1), SequenceCheck::Append);
        assert_eq!(
            p.check(3, 2, 7, 1),
            SequenceCheck::OutOfOrder { expected: 5 }
        );
    }
}
