//! Which partition replicas live on this broker: created and deleted to match
//! the metadata image, opened (with recovery) from `DATA_DIR/logs` on start,
//! offline when their directory cannot be opened (kept, never deleted); plus
//! the signal that some local log grew.

use super::partition_dir::{self, Identity, PartitionMeta};
use crate::metrics::PartitionSample;
use crate::partition::{Partition, PartitionSettings};
use crate::storage::{PartitionLog, SyncStats};
use ferry_common::metadata::MetadataImage;
use ferry_common::{BrokerId, TopicName};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use tokio::sync::watch;

type Key = (TopicName, u32);
/// A replica to open: key, topic id, metadata state, settings, log config.
type ToOpen = (
    Key,
    String,
    ferry_common::metadata::PartitionState,
    PartitionSettings,
    crate::storage::LogConfig,
);
/// An opened replica (or why not) with the metadata it was opened for.
type Opened = (
    Key,
    ferry_common::metadata::PartitionState,
    PartitionSettings,
    Result<Arc<Partition>, String>,
);

/// A partition directory kept on disk but not served: it failed to open, or
/// its identity cannot be read (Kafka's offline replica). Requests for it get
/// `KAFKA_STORAGE_ERROR`; reconcile retries opening it.
#[derive(Debug, Clone)]
pub struct OfflineReplica {
    pub dir: PathBuf,
    /// The partition, when metadata assigns this directory to one.
    pub topic: Option<TopicName>,
    pub partition: Option<u32>,
    pub error: String,
}

/// The local replicas.
pub struct ReplicaManager {
    logs_dir: PathBuf,
    /// `write.caching` for topics that do not set it.
    write_caching_default: bool,
    /// The legacy `flush_on_append=true`: durable whatever the topic says.
    force_durable: bool,
    /// Totals over every replica's sync rounds, for `/metrics`.
    sync_stats: Arc<SyncStats>,
    /// Directories whose fsync failed: offline until the broker restarts.
    fsync_failed: RwLock<HashSet<PathBuf>>,
    replicas: RwLock<HashMap<Key, Arc<Partition>>>,
    offline: RwLock<BTreeMap<PathBuf, OfflineReplica>>,
    /// Bumped on every local append: wakes replica fetches waiting for data.
    appended: watch::Sender<u64>,
    /// Replicas opened at once (start-up recovery runs in parallel).
    open_concurrency: usize,
    /// (descriptor limit, reserve): see [`ReplicaManager::fd_budget`].
    fd_budget: Option<(usize, usize)>,
}

impl ReplicaManager {
    /// Replicas under `data_dir/logs`; topics without `write.caching` get
    /// `write_caching_default`.
    pub fn new(data_dir: &Path, write_caching_default: bool) -> Self {
        ReplicaManager {
            logs_dir: data_dir.join("logs"),
            write_caching_default,
            force_durable: false,
            sync_stats: Arc::new(SyncStats::default()),
            fsync_failed: RwLock::new(HashSet::new()),
            replicas: RwLock::new(HashMap::new()),
            offline: RwLock::new(BTreeMap::new()),
            appended: watch::channel(0).0,
            open_concurrency: 4,
            fd_budget: None,
        }
    }

    /// Opens up to `n` replicas at once.
    pub fn open_concurrency(mut self, n: usize) -> Self {
        self.open_concurrency = n.max(1);
        self
    }

    /// Refuses new replicas while fewer than `reserve` of the process's
    /// `limit` descriptors are free.
    pub fn fd_budget(mut self, limit: usize, reserve: usize) -> Self {
        self.fd_budget = Some((limit, reserve));
        self
    }

    /// Makes every topic durable, ignoring `write.caching=true` (the legacy
    /// broker setting `flush_on_append=true`).
    pub fn force_durable(mut self, force: bool) -> Self {
        self.force_durable = force;
        self
    }

    /// Totals over every local replica's fsyncs.
    pub fn sync_stats(&self) -> &SyncStats {
        &self.sync_stats
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

    /// The replicas that failed to open (or could not be identified), by directory.
    pub fn offline(&self) -> Vec<OfflineReplica> {
        self.offline
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .values()
            .cloned()
            .collect()
    }

    /// Why the replica of `topic`/`partition` is offline here, if it is.
    pub fn offline_error(&self, topic: &TopicName, partition: u32) -> Option<String> {
        self.offline
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(&self.dir_for(topic, partition))
            .map(|o| o.error.clone())
    }

    /// Records `dir` as offline; logs only a new or changed reason (reconcile
    /// retries every few seconds).
    fn set_offline(&self, dir: PathBuf, key: Option<&Key>, error: String) {
        let mut map = self.offline.write().unwrap_or_else(|p| p.into_inner());
        let known = map.get(&dir).is_some_and(|o| o.error == error);
        if !known {
            tracing::error!(dir = %dir.display(), error = %error, "partition replica offline; its directory is kept");
        }
        let entry = OfflineReplica {
            dir: dir.clone(),
            topic: key
                .map(|k| k.0.clone())
                .or_else(|| map.get(&dir).and_then(|o| o.topic.clone())),
            partition: key
                .map(|k| k.1)
                .or_else(|| map.get(&dir).and_then(|o| o.partition)),
            error,
        };
        map.insert(dir, entry);
    }

    fn clear_offline(&self, dir: &Path) {
        self.offline
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .remove(dir);
    }

    /// Brings local replicas in line with `image` (blocking: opens and deletes
    /// logs). `registered_at` is the metadata offset of this broker's
    /// registration: only an image at least that new may delete anything.
    /// A replica that fails to open goes offline (retried on the next call).
    /// Returns how many replicas were created and deleted.
    pub fn reconcile(
        &self,
        image: &MetadataImage,
        me: BrokerId,
        registered_at: u64,
    ) -> (usize, usize) {
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
            let mut log_config =
                PartitionSettings::log_config(&t.configs, self.write_caching_default);
            log_config.write_caching &= !self.force_durable;
            for p in t.partitions.iter().filter(|p| p.replicas.contains(&me)) {
                wanted.insert(
                    (t.name.clone(), p.partition),
                    (t.topic_id.clone(), p.clone(), settings.clone(), log_config),
                );
            }
        }
        // Drop replicas whose topic id the image proves gone (deleted, or
        // deleted and re-created under a new id); stop serving, but keep the
        // files of, another incarnation the image does not yet prove gone
        // (opening the new one then fails: the directory goes offline).
        let mut sync_failed = Vec::new();
        let stale: Vec<Arc<Partition>> = {
            let mut map = self.replicas.write().unwrap_or_else(|p| p.into_inner());
            let mut gone = Vec::new();
            let mut other = Vec::new();
            for (k, v) in map.iter() {
                if partition_dir::topic_id_gone(image, registered_at, &v.topic_id) {
                    gone.push(k.clone());
                } else if wanted.get(k).is_some_and(|(id, ..)| *id != v.topic_id) {
                    other.push(k.clone());
                }
            }
            for k in &other {
                map.remove(k);
            }
            // A failed fsync is sticky: the page cache may have dropped the
            // data, so a later fsync proves nothing. The replica stays
            // offline until the broker restarts (and recovers the log).
            let failed: Vec<Key> = map
                .iter()
                .filter(|(_, v)| v.log.sync_error().is_some())
                .map(|(k, _)| k.clone())
                .collect();
            for k in failed {
                if let Some(p) = map.remove(&k) {
                    let error = p.log.sync_error().unwrap_or_default();
                    sync_failed.push((k, format!("fsync failed: {error}")));
                }
            }
            gone.iter().filter_map(|k| map.remove(k)).collect()
        };
        for (key, error) in sync_failed {
            let dir = self.dir_for(&key.0, key.1);
            self.fsync_failed
                .write()
                .unwrap_or_else(|p| p.into_inner())
                .insert(dir.clone());
            self.set_offline(dir, Some(&key), error);
        }
        for p in stale {
            let dir = self.dir_for(&p.topic, p.partition);
            let deleted_files = p
                .log
                .delete()
                .map_err(|e| e.to_string())
                .and_then(|()| partition_dir::remove(&dir));
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
        let mut to_open = Vec::new();
        for (key, (topic_id, state, settings, log_config)) in wanted {
            if let Some(existing) = self.get(&key.0, key.1) {
                existing.log.set_config(log_config);
                existing.update(state, settings, me);
                continue;
            }
            let dir = self.dir_for(&key.0, key.1);
            if self
                .fsync_failed
                .read()
                .unwrap_or_else(|p| p.into_inner())
                .contains(&dir)
            {
                continue;
            }
            to_open.push((key, topic_id, state, settings, log_config));
        }
        let opened = self.open_all(to_open, image, registered_at);
        for (key, state, settings, opened) in opened {
            let dir = self.dir_for(&key.0, key.1);
            match opened {
                Ok(part) => {
                    part.update(state, settings, me);
                    crate::partition::sync_task::start(&part, self.sync_stats.clone());
                    self.replicas
                        .write()
                        .unwrap_or_else(|p| p.into_inner())
                        .insert(key, part);
                    self.clear_offline(&dir);
                    created += 1;
                }
                Err(e) => self.set_offline(dir, Some(&key), e),
            }
        }
        (created, deleted)
    }

    /// Opens replicas (log recovery and producer state) on up to
    /// `open_concurrency` threads; each answer keeps its request's metadata.
    /// A replica the descriptor budget cannot take is refused, not opened.
    fn open_all(
        &self,
        to_open: Vec<ToOpen>,
        image: &MetadataImage,
        registered_at: u64,
    ) -> Vec<Opened> {
        let queue = std::sync::Mutex::new(to_open.into_iter());
        let out = std::sync::Mutex::new(Vec::new());
        let workers = self.open_concurrency.max(1);
        std::thread::scope(|s| {
            for _ in 0..workers {
                s.spawn(|| loop {
                    let next = queue.lock().unwrap_or_else(|p| p.into_inner()).next();
                    let Some((key, topic_id, state, settings, log_config)) = next else {
                        return;
                    };
                    let res = self.fd_budget_check().and_then(|()| {
                        let log =
                            self.open_replica(&key, &topic_id, log_config, image, registered_at)?;
                        let part = Arc::new(Partition::new(
                            key.0.clone(),
                            topic_id,
                            log,
                            self.dir_for(&key.0, key.1),
                            state.clone(),
                            settings.clone(),
                        ));
                        part.rebuild_producer_state();
                        Ok(part)
                    });
                    out.lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .push((key, state, settings, res));
                });
            }
        });
        out.into_inner().unwrap_or_else(|p| p.into_inner())
    }

    /// Refuses to open another replica when the process is within the
    /// reserve of its descriptor limit, so sockets (and `/healthz`) keep
    /// descriptors; the replica goes offline (`KAFKA_STORAGE_ERROR`) and
    /// reconcile retries it.
    fn fd_budget_check(&self) -> Result<(), String> {
        let Some((limit, reserve)) = self.fd_budget else {
            return Ok(());
        };
        match crate::storage::open_fd_count() {
            Some(open) if open + reserve >= limit => Err(format!(
                "refused: {open} descriptors open, within the reserve of {reserve} \
                 below the limit of {limit}"
            )),
            _ => Ok(()),
        }
    }

    /// Opens the log dir of `key` for topic id `topic_id`. Creates it (with its
    /// identity file) if absent; replaces another incarnation's directory only
    /// if `image` proves that incarnation gone. Every other surprise is an
    /// error and leaves the directory as it is.
    fn open_replica(
        &self,
        key: &Key,
        topic_id: &str,
        config: crate::storage::LogConfig,
        image: &MetadataImage,
        registered_at: u64,
    ) -> Result<PartitionLog, String> {
        let dir = self.dir_for(&key.0, key.1);
        let meta = PartitionMeta {
            topic: key.0.clone(),
            topic_id: topic_id.to_string(),
            partition: key.1,
        };
        match partition_dir::read_identity(&dir) {
            // Unchanged: not rewritten (a rewrite on every open is what a crash tears).
            Identity::Known(m) if m == meta => {}
            Identity::Known(m)
                if m.topic_id != topic_id
                    && partition_dir::topic_id_gone(image, registered_at, &m.topic_id) =>
            {
                tracing::info!(topic = %key.0, partition = key.1, old_topic_id = %m.topic_id, "removing data of a deleted incarnation of this topic");
                partition_dir::remove(&dir)?;
                partition_dir::create(&dir, &meta)?;
            }
            Identity::Known(m) => {
                return Err(format!(
                    "{} holds {}-{} with topic id {}, not {topic_id}, and metadata offset {} \
                     (registered at {registered_at}) does not prove it deleted",
                    dir.display(),
                    m.topic,
                    m.partition,
                    m.topic_id,
                    image.offset
                ))
            }
            Identity::Fresh => partition_dir::create(&dir, &meta)?,
            Identity::Unknown(e) => return Err(e),
        }
        PartitionLog::open(&dir, config).map_err(|e| e.to_string())
    }

    /// Removes partition directories no replica claims whose topic id `image`
    /// (at least as new as the registration at `registered_at`) proves gone.
    /// One that cannot be identified is kept and reported offline.
    pub fn remove_orphans(&self, image: &MetadataImage, me: BrokerId, registered_at: u64) {
        if image.offset < registered_at {
            return;
        }
        let Ok(entries) = std::fs::read_dir(&self.logs_dir) else {
            return;
        };
        let mut claimed: HashSet<PathBuf> = self
            .all()
            .iter()
            .map(|p| self.dir_for(&p.topic, p.partition))
            .collect();
        for t in image.topics.values() {
            for p in t.partitions.iter().filter(|p| p.replicas.contains(&me)) {
                claimed.insert(self.dir_for(&t.name, p.partition));
            }
        }
        for e in entries.flatten() {
            let path = e.path();
            if claimed.contains(&path) || !path.is_dir() {
                continue;
            }
            match partition_dir::read_identity(&path) {
                Identity::Known(m)
                    if !partition_dir::topic_id_gone(image, registered_at, &m.topic_id) =>
                {
                    // Its topic still exists but does not list this broker
                    // (no reassignment yet): nothing proves it deletable.
                    continue;
                }
                Identity::Known(_) | Identity::Fresh => {
                    tracing::info!(dir = %path.display(), "removing orphaned partition directory");
                    match partition_dir::remove(&path) {
                        Ok(()) => self.clear_offline(&path),
                        Err(err) => {
                            tracing::warn!(dir = %path.display(), error = %err, "could not remove orphan")
                        }
                    }
                }
                Identity::Unknown(err) => self.set_offline(path, None, err),
            }
        }
    }
}
