//! The broker's cached metadata image, fed by controller pushes and snapshots,
//! and the "does not exist" answers derived from it.

use crate::error::BrokerError;
use ferry_common::internal::MetadataPush;
use ferry_common::metadata::{DeltaFit, MetadataImage, PartitionState, TopicImage};
use ferry_common::TopicName;
use std::sync::RwLock;
use tokio::sync::watch;

/// The image plus a change notification (its offset) for the replica reconciler.
pub struct MetadataCache {
    image: RwLock<MetadataImage>,
    changed: watch::Sender<u64>,
}

/// What applying a push did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PushOutcome {
    pub applied_offset: u64,
    /// Set when the caller must install a snapshot: deltas cannot bring this
    /// image to the controller's head.
    pub resync: Option<Resync>,
}

/// Why a push left this broker needing a snapshot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Resync {
    /// A delta did not follow on from this image.
    Gap,
    /// The controller said its deltas cannot cover this broker.
    Told,
    /// The push carried no deltas, yet this image lacks records up to the
    /// head (an older controller after a restart or snapshot install).
    Behind,
}

impl Default for MetadataCache {
    fn default() -> Self {
        MetadataCache {
            image: RwLock::new(MetadataImage::default()),
            changed: watch::channel(0).0,
        }
    }
}

impl MetadataCache {
    pub fn read<R>(&self, f: impl FnOnce(&MetadataImage) -> R) -> R {
        f(&self.image.read().unwrap_or_else(|p| p.into_inner()))
    }

    pub fn offset(&self) -> u64 {
        self.read(|i| i.offset)
    }

    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.changed.subscribe()
    }

    /// Applies the deltas of a push in order; stops at a gap. A push without
    /// deltas means the controller has nothing more to send this broker.
    pub fn apply_push(&self, push: &MetadataPush) -> PushOutcome {
        let mut img = self.image.write().unwrap_or_else(|p| p.into_inner());
        let before = img.offset;
        let mut gap = false;
        for d in &push.deltas {
            if img.apply_delta(d) == DeltaFit::Gap {
                gap = true;
                break;
            }
        }
        // Entries without records (elections, no-ops) still move the offset on.
        if !gap && img.last_record_offset == push.head_last_record_offset {
            img.offset = img.offset.max(push.head_offset);
        }
        let resync = if gap {
            Some(Resync::Gap)
        } else if push.resync {
            Some(Resync::Told)
        } else if push.deltas.is_empty() && img.last_record_offset < push.head_last_record_offset {
            Some(Resync::Behind)
        } else {
            None
        };
        let offset = img.offset;
        drop(img);
        if offset != before {
            self.changed.send_replace(offset);
        }
        PushOutcome {
            applied_offset: offset,
            resync,
        }
    }

    /// Replaces the image with a newer snapshot (an older one is ignored).
    pub fn install_snapshot(&self, snapshot: MetadataImage) -> u64 {
        let mut img = self.image.write().unwrap_or_else(|p| p.into_inner());
        if snapshot.offset >= img.offset {
            *img = snapshot;
        }
        let offset = img.offset;
        drop(img);
        self.changed.send_replace(offset);
        offset
    }

    pub fn topic(&self, name: &TopicName) -> Option<TopicImage> {
        self.read(|i| i.topics.get(name).cloned())
    }

    pub fn partition(&self, name: &TopicName, p: u32) -> Option<PartitionState> {
        self.read(|i| {
            i.topics
                .get(name)
                .and_then(|t| t.partitions.get(p as usize).cloned())
        })
    }

    pub fn broker_url(&self, id: ferry_common::BrokerId) -> Option<String> {
        self.read(|i| i.brokers.get(&id).map(|b| b.url.clone()))
    }

    /// The error for a topic or partition this image does not hold (this
    /// broker's metadata may be stale, so the code is retriable).
    pub fn unknown(&self, topic: &TopicName, partition: u32) -> BrokerError {
        match self.topic(topic) {
            None => BrokerError::UnknownTopicOrPartition(format!(
                "topic '{topic}' does not exist (as of metadata offset {})",
                self.offset()
            )),
            Some(t) => BrokerError::UnknownTopicOrPartition(format!(
                "topic '{topic}' has {} partitions; partition {partition} does not exist",
                t.partitions.len()
            )),
        }
    }
}

/// Parses a topic name from a request; illegal names cannot exist.
pub fn topic_name(name: &str) -> Result<TopicName, BrokerError> {
    TopicName::new(name).map_err(|e| {
        BrokerError::UnknownTopicOrPartition(format!("topic '{name}' does not exist ({})", e.0))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use ferry_common::metadata::{MetadataDelta, MetadataRecord};

    fn push(head: u64, head_last_record: u64, deltas: Vec<MetadataDelta>) -> MetadataPush {
        MetadataPush {
            controller_id: 1,
            term: 1,
            head_offset: head,
            head_last_record_offset: head_last_record,
            deltas,
            resync: false,
        }
    }

    fn delta(prev: u64, offset: u64) -> MetadataDelta {
        MetadataDelta {
            prev_offset: prev,
            offset,
            records: vec![MetadataRecord::ProducerIds { next: offset }],
        }
    }

    /// A cache whose image has records up to 3 and is at offset 4.
    fn cache_at_4() -> MetadataCache {
        let cache = MetadataCache::default();
        let out = cache.apply_push(&push(4, 3, vec![delta(0, 2), delta(2, 3)]));
        assert_eq!(out.applied_offset, 4);
        assert_eq!(out.resync, None);
        cache
    }

    #[test]
    fn scenario_8c_a_broker_behind_the_pushed_head_with_nothing_to_apply_resyncs() {
        // The controller restarted (empty delta ring) after records at 5 and 7
        // that this broker never got: the push carries only the head.
        let cache = cache_at_4();
        let out = cache.apply_push(&push(8, 7, vec![]));
        assert_eq!(
            out.applied_offset, 4,
            "offset not moved past missing records"
        );
        assert_eq!(
            out.resync,
            Some(Resync::Behind),
            "behind the head with nothing to apply: pull a snapshot"
        );
    }

    #[test]
    fn a_split_push_behind_the_head_waits_for_the_rest() {
        // The controller capped this push; the deltas after 5 come next.
        let cache = cache_at_4();
        let out = cache.apply_push(&push(8, 7, vec![delta(3, 5)]));
        assert_eq!((out.applied_offset, out.resync), (5, None));
        let out = cache.apply_push(&push(8, 7, vec![delta(5, 7)]));
        assert_eq!((out.applied_offset, out.resync), (8, None));
    }

    #[test]
    fn a_gap_or_a_resync_instruction_asks_for_a_snapshot() {
        let cache = cache_at_4();
        let out = cache.apply_push(&push(8, 7, vec![delta(5, 7)]));
        assert_eq!((out.applied_offset, out.resync), (4, Some(Resync::Gap)));
        let mut told = push(8, 7, vec![]);
        told.resync = true;
        assert_eq!(cache.apply_push(&told).resync, Some(Resync::Told));
        // Up to date, nothing to send: no snapshot.
        assert_eq!(cache.apply_push(&push(4, 3, vec![])).resync, None);
    }
}
