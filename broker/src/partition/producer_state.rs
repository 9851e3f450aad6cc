//! Idempotent-producer bookkeeping per partition (pure): for each producer id,
//! its epoch and its last five batches' sequence ranges and offsets, so a
//! retried batch is answered with its original offsets instead of being
//! written twice, a gap is refused, and an older epoch is fenced.

use std::collections::{HashMap, VecDeque};

/// Batches remembered per producer, as in Kafka.
pub const BATCHES_PER_PRODUCER: usize = 5;

/// One appended batch of a producer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProducerBatch {
    pub first_seq: i32,
    pub last_seq: i32,
    pub base_offset: u64,
    pub last_offset: u64,
}

#[derive(Debug, Clone, Default)]
struct Entry {
    epoch: i16,
    batches: VecDeque<ProducerBatch>,
}

/// What to do with an incoming idempotent batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SequenceCheck {
    Append,
    /// Already written: answer these offsets again.
    Duplicate {
        base_offset: u64,
        last_offset: u64,
    },
    OutOfOrder {
        expected: i32,
    },
    FencedEpoch {
        current: i16,
    },
}

/// Producer states of one partition.
#[derive(Debug, Clone, Default)]
pub struct ProducerStates {
    producers: HashMap<i64, Entry>,
}

impl ProducerStates {
    /// Classifies a batch of `count` records from `pid`/`epoch` starting at `first_seq`.
    pub fn check(&self, pid: i64, epoch: i16, first_seq: i32, count: u32) -> SequenceCheck {
        let last_seq = first_seq.saturating_add(count.saturating_sub(1) as i32);
        let Some(e) = self.producers.get(&pid) else {
            // Unknown producer (new, or its batches were deleted by retention).
            return SequenceCheck::Append;
        };
        if epoch < e.epoch {
            return SequenceCheck::FencedEpoch { current: e.epoch };
        }
        if epoch > e.epoch {
            return if first_seq == 0 {
                SequenceCheck::Append
            } else {
                SequenceCheck::OutOfOrder { expected: 0 }
            };
        }
        if let Some(b) = e
            .batches
            .iter()
            .find(|b| b.first_seq == first_seq && b.last_seq == last_seq)
        {
            return SequenceCheck::Duplicate {
                base_offset: b.base_offset,
                last_offset: b.last_offset,
            };
        }
        let expected = e.batches.back().map_or(0, |b| b.last_seq.saturating_add(1));
        if first_seq == expected {
            SequenceCheck::Append
        } else {
            SequenceCheck::OutOfOrder { expected }
        }
    }

    /// Remembers an appended batch (leader append, replication, or log scan).
    pub fn record(&mut self, pid: i64, epoch: i16, batch: ProducerBatch) {
        let e = self.producers.entry(pid).or_default();
        if epoch > e.epoch {
            e.epoch = epoch;
            e.batches.clear();
        } else if epoch < e.epoch {
            return;
        }
        e.batches.push_back(batch);
        while e.batches.len() > BATCHES_PER_PRODUCER {
            e.batches.pop_front();
        }
    }

    /// The snapshot image: `producers u32 | (pid i64, epoch i16, batches u8,
    /// (first_seq i32, last_seq i32, base u64, last u64)*)*`, big-endian.
    pub fn encode(&self) -> Vec<u8> {
        let mut b = Vec::with_capacity(4 + self.producers.len() * 64);
        b.extend_from_slice(&(self.producers.len() as u32).to_be_bytes());
        let mut pids: Vec<&i64> = self.producers.keys().collect();
        pids.sort_unstable();
        for pid in pids {
            let e = &self.producers[pid];
            b.extend_from_slice(&pid.to_be_bytes());
            b.extend_from_slice(&e.epoch.to_be_bytes());
            b.push(e.batches.len() as u8);
            for x in &e.batches {
                b.extend_from_slice(&x.first_seq.to_be_bytes());
                b.extend_from_slice(&x.last_seq.to_be_bytes());
                b.extend_from_slice(&x.base_offset.to_be_bytes());
                b.extend_from_slice(&x.last_offset.to_be_bytes());
            }
        }
        b
    }

    /// Parses [`ProducerStates::encode`]'s image; `None` if malformed.
    pub fn decode(mut b: &[u8]) -> Option<ProducerStates> {
        fn take<const N: usize>(b: &mut &[u8]) -> Option<[u8; N]> {
            let (head, rest) = b.split_first_chunk::<N>()?;
            *b = rest;
            Some(*head)
        }
        let n = u32::from_be_bytes(take(&mut b)?);
        let mut producers = HashMap::new();
        for _ in 0..n {
            let pid = i64::from_be_bytes(take(&mut b)?);
            let epoch = i16::from_be_bytes(take(&mut b)?);
            let [count] = take::<1>(&mut b)?;
            let mut batches = VecDeque::new();
            for _ in 0..count {
                batches.push_back(ProducerBatch {
                    first_seq: i32::from_be_bytes(take(&mut b)?),
                    last_seq: i32::from_be_bytes(take(&mut b)?),
                    base_offset: u64::from_be_bytes(take(&mut b)?),
                    last_offset: u64::from_be_bytes(take(&mut b)?),
                });
            }
            producers.insert(pid, Entry { epoch, batches });
        }
        b.is_empty().then_some(ProducerStates { producers })
    }

    /// Forgets batches at or after `offset` (the log was truncated there).
    pub fn truncate(&mut self, offset: u64) {
        for e in self.producers.values_mut() {
            e.batches.retain(|b| b.base_offset < offset);
        }
        self.producers.retain(|_, e| !e.batches.is_empty());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn batch(first_seq: i32, n: i32, base_offset: u64) -> ProducerBatch {
        ProducerBatch {
            first_seq,
            last_seq: first_seq + n - 1,
            base_offset,
            last_offset: base_offset + n as u64 - 1,
        }
    }

    #[test]
    fn retries_are_duplicates_gaps_are_refused_old_epochs_fenced() {
        let mut s = ProducerStates::default();
        assert_eq!(s.check(7, 0, 0, 3), SequenceCheck::Append);
        s.record(7, 0, batch(0, 3, 10));
        assert_eq!(
            s.check(7, 0, 0, 3),
            SequenceCheck::Duplicate {
                base_offset: 10,
                last_offset: 12
            }
        );
        assert_eq!(s.check(7, 0, 3, 2), SequenceCheck::Append);
        assert_eq!(
            s.check(7, 0, 5, 1),
            SequenceCheck::OutOfOrder { expected: 3 }
        );
        s.record(7, 1, batch(0, 1, 20));
        assert_eq!(
            s.check(7, 0, 3, 1),
            SequenceCheck::FencedEpoch { current: 1 }
        );
        assert_eq!(
            s.check(7, 2, 4, 1),
            SequenceCheck::OutOfOrder { expected: 0 },
            "a new epoch starts at 0"
        );
    }

    #[test]
    fn snapshot_image_round_trips_and_rejects_garbage() {
        let mut s = ProducerStates::default();
        s.record(7, 2, batch(0, 3, 10));
        s.record(7, 2, batch(3, 1, 13));
        s.record(-9, 0, batch(5, 2, 40));
        let image = s.encode();
        let back = ProducerStates::decode(&image).expect("decodes");
        assert_eq!(back.check(7, 2, 3, 1), s.check(7, 2, 3, 1));
        assert_eq!(back.check(7, 2, 4, 1), SequenceCheck::Append);
        assert_eq!(back.encode(), image);
        assert!(ProducerStates::decode(&image[..image.len() - 1]).is_none());
        assert!(ProducerStates::decode(&[image.as_slice(), &[0]].concat()).is_none());
    }

    #[test]
    fn only_the_last_five_batches_are_remembered_and_truncation_forgets() {
        let mut s = ProducerStates::default();
        for i in 0..7 {
            s.record(1, 0, batch(i, 1, i as u64));
        }
        assert!(matches!(
            s.check(1, 0, 6, 1),
            SequenceCheck::Duplicate { .. }
        ));
        assert!(
            matches!(s.check(1, 0, 1, 1), SequenceCheck::OutOfOrder { .. }),
            "batch 1 fell out of the window"
        );
        s.truncate(5);
        assert_eq!(
            s.check(1, 0, 5, 1),
            SequenceCheck::Append,
            "batches at 5 and 6 were cut"
        );
    }
}
