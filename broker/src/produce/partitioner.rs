//! Partitioners of the topic-level produce endpoint: Kafka's murmur2 for keyed
//! records (from `ferry_common::partitioner`), sticky per request for keyless ones.

pub use ferry_common::partitioner::{murmur2, partition_for_key};
use std::sync::atomic::{AtomicU32, Ordering};

/// Keyless records stick to one partition per request and move on to the next
/// partition for the next request (Kafka's sticky partitioner, per request).
#[derive(Debug, Default)]
pub struct StickyPartitioner {
    next: AtomicU32,
}

impl StickyPartitioner {
    /// The partition for the keyless records of one produce request.
    pub fn next_partition(&self, partitions: u32) -> u32 {
        self.next.fetch_add(1, Ordering::Relaxed) % partitions.max(1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sticky_partitioner_rotates_per_request() {
        let s = StickyPartitioner::default();
        let picks: Vec<u32> = (0..6).map(|_| s.next_partition(3)).collect();
        assert_eq!(picks, vec![0, 1, 2, 0, 1, 2]);
    }
}
