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
    /// A delta did not follow on: the caller must install a snapshot.
    pub gap: bool,
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

    /// Applies the deltas of a push in order; stops at a gap.
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
        let offset = img.offset;
        drop(img);
        if offset != before {
            self.changed.send_replace(offset);
        }
        PushOutcome {
            applied_offset: offset,
            gap,
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
