//! Which partition replicas live on this broker: created and deleted to match
//! the metadata image, opened (with recovery) from `DATA_DIR/logs` on start;
//! plus the signal that some local log grew.

use crate::metrics::PartitionSample;
use crate::partition::{Partition, PartitionSettings};
use crate::storage::PartitionLog;
use ferry_common::metadata::MetadataImage;
use ferry_common::{BrokerId, TopicName};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use tokio::sync::watch;

type Key = (TopicName, u32);

/// Identity file inside each partition directory.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct PartitionMeta {
    topic: TopicName,
    topic_id: String,
    partition: u32,
}

/// The local replicas.
pub struct ReplicaManager {
    logs_dir: PathBuf,
    flush_on_append: bool,
    replicas: RwLock<HashMap<Key, Arc<Partition>>>,
    /// Bumped on every local append: wakes replica fetches waiting for data.
    appended: watch::Sender<u64>,
}

impl ReplicaManager {
    pub fn new(data_dir: &Path, flush_on_append: bool) -> Self {
        ReplicaManager {
            logs_dir: data_dir.join("logs"),
            flush_on_append,
            replicas: RwLock::new(HashMap::new()),
            appended: watch::channel(0).0,
        }
    }

    /// Tells waiting replica fetches that some local log grew.
    pub fn notify_appended(&self) {
        self.appended.send_modify(|n| *n = n.wrapping_add(1));
    }

    /// Watches local appends (see [`ReplicaManager::notify_appended`]).
    pub fn subscribe_appended(&self) -> watch::Receiver<u64> {
        self.appended.subscribe()
    }

    pub fn get(&self, topic: &TopicName, partition: u32) -> Option<Arc<Partition>> {
        self.replicas
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(&(topic.clone(), partition))
            .cloned()
    }

    pub fn all(&self) -> Vec<Arc<Partition>> {
        self.replicas
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .values()
            .cloned()
            .collect()
    }

    /// Every local replica's gauges, as broker `me` sees them.
    pub fn metrics_sample(&self, me: Option<BrokerId>) -> Vec<PartitionSample> {
        self.all()
            .into_iter()
            .map(|p| {
                let s = p.state();
                let leo = p.log.log_end_offset();
                let leading = me.is_some() && s.leader == me;
                let follower_lag = p
                    .leader_context()
                    .filter(|_| leading)
                    .map(|ctx| {
                        ctx.followers
                            .iter()
                            .map(|(id, f)| (*id, leo.saturating_sub(f.leo)))
                            .collect()
                    })
                    .unwrap_or_default();
                PartitionSample {
                    topic: p.topic.to_string(),
                    partition: p.partition,
                    log_end_offset: leo,
                    high_watermark: p.high_watermark(),
                    size_bytes: p.log.size_bytes(),
                    leading,
                    under_replicated: s.isr.len() < s.replicas.len(),
                    follower_lag,
                }
            })
            .collect()
    }

    fn dir_for(&self, topic: &TopicName, partition: u32) -> PathBuf {
        self.logs_dir.join(format!("{topic}-{partition}"))
    }

    /// Brings local replicas in line with `image` (blocking: opens and deletes logs).
    /// Returns how many replicas were created and deleted.
    pub fn reconcile(&self, image: &MetadataImage, me: BrokerId) -> (usize, usize) {
        let mut created = 0;
        let mut deleted = 0;
        // Wanted replicas: every partition that lists this broker.
        let mut wanted: HashMap<
            Key,
            (
                String,
                ferry_common::metadata::PartitionState,
                PartitionSettings,
                crate::storage::LogConfig,
            ),
        > = HashMap::new();
        for t in image.topics.values() {
            let settings = PartitionSettings::from_configs(&t.configs);
            let log_config = PartitionSettings::log_config(&t.configs, self.flush_on_append);
            for p in t.partitions.iter().filter(|p| p.replicas.contains(&me)) {
                wanted.insert(
                    (t.name.clone(), p.partition),
                    (t.topic_id.clone(), p.clone(), settings.clone(), log_config),
                );
            }
        }
        // Drop replicas no longer wanted, or belonging to a deleted-and-recreated topic.
        let stale: Vec<Arc<Partition>> = {
            let mut map = self.replicas.write().unwrap_or_else(|p| p.into_inner());
            let keys: Vec<Key> = map
                .iter()
                .filter(|(k, v)| wanted.get(*k).is_none_or(|(id, ..)| *id != v.topic_id))
                .map(|(k, _)| k.clone())
                .collect();
            keys.iter().filter_map(|k| map.remove(k)).collect()
        };
        for p in stale {
            let deleted_files = p.log.delete().map_err(|e| e.to_string()).and_then(|()| {
                match std::fs::remove_dir_all(self.dir_for(&p.topic, p.partition)) {
                    Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e.to_string()),
                    _ => Ok(()),
                }
            });
            match deleted_files {
                Ok(()) => {
                    tracing::info!(topic = %p.topic, partition = p.partition, "deleted local replica")
                }
                Err(e) => {
                    tracing::error!(topic = %p.topic, partition = p.partition, error = %e, "deleting replica failed")
                }
            }
            deleted += 1;
        }
        for (key, (topic_id, state, settings, log_config)) in wanted {
            if let Some(existing) = self.get(&key.0, key.1) {
                existing.log.set_config(log_config);
                existing.update(state, settings, me);
                continue;
            }
            match self.open_replica(&key.0, key.1, &topic_id, log_config) {
                Ok(log) => {
                    let part = Arc::new(Partition::new(
                        key.0.clone(),
                        topic_id,
                        log,
                        self.dir_for(&key.0, key.1),
                        state.clone(),
                        settings.clone(),
                    ));
                    part.rebuild_producer_state();
                    part.update(state, settings, me);
                    self.replicas
                        .write()
                        .unwrap_or_else(|p| p.into_inner())
                        .insert(key, part);
                    created += 1;
                }
                Err(e) => {
                    tracing::error!(topic = %key.0, partition = key.1, error = %e, "cannot open partition log")
                }
            }
        }
        (created, deleted)
    }

    /// Opens the log dir, replacing it if it holds another incarnation of the topic.
    fn open_replica(
        &self,
        topic: &TopicName,
        partition: u32,
        topic_id: &str,
        config: crate::storage::LogConfig,
    ) -> Result<PartitionLog, String> {
        let dir = self.dir_for(topic, partition);
        let meta_path = dir.join("partition.json");
        if let Ok(bytes) = std::fs::read(&meta_path) {
            let same = serde_json::from_slice::<PartitionMeta>(&bytes)
                .is_ok_and(|m| m.topic_id == topic_id);
            if !same {
                tracing::info!(topic = %topic, partition, "removing data of a deleted incarnation of this topic");
                std::fs::remove_dir_all(&dir)
                    .map_err(|e| format!("removing {}: {e}", dir.display()))?;
            }
        }
        std::fs::create_dir_all(&dir).map_err(|e| format!("creating {}: {e}", dir.display()))?;
        let meta = PartitionMeta {
            topic: topic.clone(),
            topic_id: topic_id.to_string(),
            partition,
        };
        let bytes = serde_json::to_vec(&meta).map_err(|e| e.to_string())?;
        std::fs::write(&meta_path, bytes)
            .map_err(|e| format!("writing {}: {e}", meta_path.display()))?;
        PartitionLog::open(&dir, config).map_err(|e| e.to_string())
    }

    /// Removes partition dirs that no metadata claims (after the first snapshot).
    pub fn remove_orphans(&self) {
        let Ok(entries) = std::fs::read_dir(&self.logs_dir) else {
            return;
        };
        let live: Vec<PathBuf> = self
            .all()
            .iter()
            .map(|p| self.dir_for(&p.topic, p.partition))
            .collect();
        for e in entries.flatten() {
            let path = e.path();
            if path.is_dir() && !live.contains(&path) {
                tracing::info!(dir = %path.display(), "removing orphaned partition directory");
                if let Err(err) = std::fs::remove_dir_all(&path) {
                    tracing::warn!(dir = %path.display(), error = %err, "could not remove orphan");
                }
            }
        }
    }
}
