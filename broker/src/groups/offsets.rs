//! Consumer-group committed offsets and group state, stored in the
//! internal, replicated `__consumer_offsets` topic so they survive
//! coordinator failover.
//!
//! A group's coordinator (see [`super::routing`]) appends commits and group
//! state records (see [`super::records`]) to its `__consumer_offsets`
//! partition with acks=all semantics; it keeps the latest commit per
//! (group, topic, partition) and each group's membership in memory, rebuilt
//! from the partition (up to its high watermark) whenever it starts leading
//! it in a new leader epoch. Requests reaching another broker are forwarded
//! to the coordinator.
//!
//! Compaction by key: when a coordinator partition holds many more records
//! than live keys, the coordinator appends the latest commit of every key (a
//! consolidated copy) and, once that copy is committed, moves the log start to
//! it, so the log stays proportional to the live keys. Followers follow the
//! leader's log start.

use super::membership::Group;
use super::records::{self, Replay};
use super::routing::{check_group, relayed, CoordinatorRouter, Route};
use crate::clock::now_ms;
use crate::error::BrokerError;
use crate::metadata::{topic_name, MetadataCache};
use crate::node::Node;
use crate::partition::watermark::CommitWait;
use crate::partition::Partition;
use crate::peer_client::PeerClient;
use crate::produce::Appender;
use crate::replicas::ReplicaManager;
use crate::storage::RecordIn;
use ferry_common::records::{Acks, CommittedOffset, GroupOffsetsResponse, OffsetCommitRequest};
use ferry_common::TopicName;
use serde::{Deserialize, Serialize};
use state::state_record;
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Records beyond twice the live keys before a partition is compacted.
const COMPACTION_SLACK: u64 = 1000;
/// Records per batch of a consolidated copy.
const COPY_BATCH: usize = 500;

#[derive(Debug, Clone, Serialize, Deserialize)]
struct StoredCommit {
    offset: u64,
    metadata: Option<String>,
    commit_timestamp: i64,
}

type GroupTable = BTreeMap<(String, u32), StoredCommit>;

/// Loaded state of one coordinator partition.
pub(super) struct Loaded {
    leader_epoch: u32,
    groups: HashMap<String, GroupTable>,
    /// Membership of the groups coordinated through this partition.
    pub members: HashMap<String, Group>,
}

/// The coordinator's committed offsets: an in-memory view per
/// `__consumer_offsets` partition, and what commits and relays need.
pub struct GroupOffsets {
    node: Arc<Node>,
    metadata: Arc<MetadataCache>,
    replicas: Arc<ReplicaManager>,
    router: Arc<CoordinatorRouter>,
    appender: Appender,
    peers: Arc<PeerClient>,
    loaded: Mutex<HashMap<u32, Loaded>>,
    /// Commits hold it shared, compaction exclusively, so a compaction copy
    /// never misses a commit appended before it.
    compaction: tokio::sync::RwLock<()>,
    /// One lock per group: a group's commit check, append and cache update
    /// happen in order, while other groups' commits proceed in parallel.
    group_locks: KeyedLocks,
    /// One lock per group for changes of its membership state, apart from
    /// the commit lock so rebalances do not queue behind acks=all commits.
    /// A commit is checked against the state installed when it is checked.
    state_locks: KeyedLocks,
    /// Held while a partition is (re)loaded.
    loading: tokio::sync::Mutex<()>,
    /// Loads done, for tests.
    loads: std::sync::atomic::AtomicU64,
}

type KeyedLocks = Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>;

async fn lock_in(locks: &KeyedLocks, key: &str) -> tokio::sync::OwnedMutexGuard<()> {
    let lock = {
        let mut locks = locks.lock().unwrap_or_else(|p| p.into_inner());
        // Forget idle groups' locks now and then so the map stays small.
        if locks.len() > 10_000 {
            locks.retain(|_, l| Arc::strong_count(l) > 1);
        }
        locks.entry(key.to_string()).or_default().clone()
    };
    lock.lock_owned().await
}

fn record_key(group: &str, topic: &str, partition: u32) -> Vec<u8> {
    format!("{group}\u{0}{topic}\u{0}{partition}").into_bytes()
}

fn parse_key(key: &[u8]) -> Option<(String, String, u32)> {
    if records::is_state_key(key) {
        return None;
    }
    let s = std::str::from_utf8(key).ok()?;
    let mut it = s.split('\u{0}');
    let (g, t, p) = (it.next()?, it.next()?, it.next()?.parse().ok()?);
    Some((g.to_string(), t.to_string(), p))
}

impl GroupOffsets {
    /// Offsets of the groups `router` says are coordinated here, committed
    /// through `appender`.
    pub fn new(
        node: Arc<Node>,
        replicas: Arc<ReplicaManager>,
        router: Arc<CoordinatorRouter>,
        appender: Appender,
        peers: Arc<PeerClient>,
    ) -> Self {
        GroupOffsets {
            node,
            metadata: router.metadata.clone(),
            replicas,
            router,
            appender,
            peers,
            loaded: Mutex::new(HashMap::new()),
            compaction: tokio::sync::RwLock::new(()),
            group_locks: Mutex::new(HashMap::new()),
            state_locks: Mutex::new(HashMap::new()),
            loading: tokio::sync::Mutex::new(()),
            loads: std::sync::atomic::AtomicU64::new(0),
        }
    }

    /// Locks `group`'s commits (and reads, so a fetch never sees a state
    /// older than a commit already checked).
    async fn lock_group(&self, group: &str) -> tokio::sync::OwnedMutexGuard<()> {
        lock_in(&self.group_locks, group).await
    }

    /// Locks changes of `group`'s membership state (see [`Self::apply_state`]).
    pub(super) async fn lock_group_state(&self, group: &str) -> tokio::sync::OwnedMutexGuard<()> {
        lock_in(&self.state_locks, group).await
    }

    /// Runs `f` on the loaded state of `part`, (re)loading it from the log first
    /// when this leader epoch has not loaded it yet.
    pub(super) async fn with_loaded<R>(
        &self,
        part: &Arc<Partition>,
        f: impl FnOnce(&mut Loaded) -> R,
    ) -> Result<R, BrokerError> {
        let epoch = part.state().leader_epoch;
        let fresh = || {
            self.loaded
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .get(&part.partition)
                .is_some_and(|l| l.leader_epoch == epoch)
        };
        // One load at a time: a second concurrent load would replace the
        // state with one read before changes the first has seen installed.
        let _loading = match fresh() {
            true => None,
            false => Some(self.loading.lock().await),
        };
        if !fresh() {
            // A new leader's HW trails its log until the followers fetch from it:
            // load only once everything it holds is committed, never a prefix.
            // It must still lead `epoch` then, or the log may be cut below what it loads.
            let leo = part.log.log_end_offset();
            if part.high_watermark() < leo
                && part
                    .wait_committed(epoch, leo - 1, Duration::from_secs(5))
                    .await
                    != CommitWait::Committed
            {
                return Err(BrokerError::CoordinatorNotAvailable(
                    "the group coordinator is still loading offsets; retry".into(),
                ));
            }
            let (p2, hw) = (part.clone(), part.high_watermark());
            let (groups, state) = tokio::task::spawn_blocking(move || load(&p2, hw))
                .await
                .map_err(|e| BrokerError::Internal(e.to_string()))??;
            self.loads
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            let delay = Duration::from_millis(self.node.config.group_initial_rebalance_delay_ms);
            let members = state.groups(Instant::now(), delay);
            tracing::info!(
                partition = part.partition,
                leader_epoch = epoch,
                groups = members.len(),
                "loaded __consumer_offsets partition"
            );
            self.loaded
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .insert(
                    part.partition,
                    Loaded {
                        leader_epoch: epoch,
                        groups,
                        members,
                    },
                );
        }
        let mut map = self.loaded.lock().unwrap_or_else(|p| p.into_inner());
        let loaded = map
            .get_mut(&part.partition)
            .ok_or_else(|| BrokerError::Internal("offsets cache vanished".into()))?;
        Ok(f(loaded))
    }
}

/// Replays a coordinator partition up to `hw`: the last commit and the
/// last state record per key win.
fn load(part: &Partition, hw: u64) -> Result<(HashMap<String, GroupTable>, Replay), BrokerError> {
    let mut groups: HashMap<String, GroupTable> = HashMap::new();
    let mut state = Replay::default();
    let mut offset = part.log.log_start_offset();
    while offset < hw {
        let records = part.log.read(offset, hw, 10_000, 8 * 1024 * 1024)?;
        let Some(last) = records.last() else { break };
        offset = last.offset + 1;
        for r in records {
            if let Some(k) = r.key.as_deref().filter(|k| records::is_state_key(k)) {
                state.apply(k, r.value.as_deref());
                continue;
            }
            let (Some(key), Some(value)) = (r.key.as_deref().and_then(parse_key), r.value) else {
                continue;
            };
            let Ok(commit) = serde_json::from_slice::<StoredCommit>(&value) else {
                continue;
            };
            groups
                .entry(key.0)
                .or_default()
                .insert((key.1, key.2), commit);
        }
    }
    Ok((groups, state))
}

impl GroupOffsets {
    /// Commits `req` for `group` if `check` (run on the coordinator, under
    /// the group's lock) allows it; answers the group's offsets after the commit.
    pub async fn commit(
        &self,
        group: &str,
        req: OffsetCommitRequest,
        check: impl FnOnce(&OffsetCommitRequest, Option<&Group>) -> Result<(), BrokerError>,
    ) -> Result<GroupOffsetsResponse, BrokerError> {
        check_group(group)?;
        if req.offsets.is_empty() {
            return Err(BrokerError::InvalidRequest("offsets is empty".into()));
        }
        for o in &req.offsets {
            let topic = topic_name(&o.topic)?;
            if self.metadata.partition(&topic, o.partition).is_none() {
                return Err(self.metadata.unknown(&topic, o.partition));
            }
        }
        let part = match self.router.route(group).await? {
            Route::Local(p) => p,
            Route::Remote(url) => {
                return self
                    .peers
                    .commit_offsets(&url, group, &req)
                    .await
                    .map_err(relayed)
            }
        };
        let guard = self.lock_group(group).await;
        let members = self
            .with_loaded(&part, |l| l.members.get(group).cloned())
            .await?;
        check(&req, members.as_ref())?;
        let now = now_ms();
        let records: Vec<RecordIn> = req
            .offsets
            .iter()
            .map(|o| RecordIn {
                timestamp: now,
                key: Some(record_key(group, &o.topic, o.partition)),
                value: serde_json::to_vec(&StoredCommit {
                    offset: o.offset,
                    metadata: o.metadata.clone(),
                    commit_timestamp: now,
                })
                .ok(),
                headers: Vec::new(),
            })
            .collect();
        let appending = self.compaction.read().await;
        // Load first, so the cache reflects the log before this commit is added to it.
        self.with_loaded(&part, |_| ()).await?;
        self.appender
            .append_local(
                &part,
                records,
                Acks::All,
                Duration::from_millis(self.node.config.produce_timeout_ms),
                None,
                None,
            )
            .await?;
        self.with_loaded(&part, |l| {
            let table = l.groups.entry(group.to_string()).or_default();
            for o in &req.offsets {
                let c = StoredCommit {
                    offset: o.offset,
                    metadata: o.metadata.clone(),
                    commit_timestamp: now,
                };
                table.insert((o.topic.clone(), o.partition), c);
            }
        })
        .await?;
        drop(appending);
        let answer = self.fetch_locked(group, None, &part, false).await;
        drop(guard);
        if let Ok(_compacting) = self.compaction.try_write() {
            self.maybe_compact(&part).await;
        }
        answer
    }

    /// Compacts `part` by key when it holds far more records than live keys
    /// (called with the compaction lock held exclusively). The copy holds
    /// the latest commit per key and every group's current state records.
    async fn maybe_compact(&self, part: &Arc<Partition>) {
        let now = now_ms();
        let Ok(latest) = self
            .with_loaded(part, |l| {
                let mut all: Vec<RecordIn> = Vec::new();
                for (g, table) in &l.groups {
                    for ((t, p), c) in table {
                        all.push(RecordIn {
                            timestamp: c.commit_timestamp,
                            key: Some(record_key(g, t, *p)),
                            value: serde_json::to_vec(c).ok(),
                            headers: Vec::new(),
                        });
                    }
                }
                for (g, group) in &l.members {
                    for (k, v) in records::snapshot(g, group) {
                        all.push(state_record(now, (k, Some(v))));
                    }
                }
                all
            })
            .await
        else {
            return;
        };
        let span = part
            .log
            .log_end_offset()
            .saturating_sub(part.log.log_start_offset());
        if span <= 2 * latest.len() as u64 + COMPACTION_SLACK {
            return;
        }
        let copy_start = part.log.log_end_offset();
        for chunk in latest.chunks(COPY_BATCH) {
            let records = chunk.to_vec();
            let timeout = Duration::from_millis(self.node.config.produce_timeout_ms);
            if let Err(e) = self
                .appender
                .append_local(part, records, Acks::All, timeout, None, None)
                .await
            {
                tracing::warn!(partition = part.partition, error = %e, "offsets compaction copy failed; will retry later");
                return;
            }
        }
        // Every in-sync replica has the whole copy now: older records can go.
        let log = part.log.clone();
        match tokio::task::spawn_blocking(move || log.advance_log_start(copy_start)).await {
            Ok(Ok(())) => tracing::info!(
                partition = part.partition,
                keys = latest.len(),
                log_start = copy_start,
                "compacted __consumer_offsets partition"
            ),
            Ok(Err(e)) => {
                tracing::warn!(partition = part.partition, error = %e, "offsets compaction failed")
            }
            Err(e) => tracing::warn!(error = %e, "offsets compaction task failed"),
        }
    }

    /// The committed offsets of `group` (optionally one topic), with lag where
    /// this broker knows the partition's high watermark.
    pub async fn fetch(
        &self,
        group: &str,
        topic: Option<&str>,
    ) -> Result<GroupOffsetsResponse, BrokerError> {
        check_group(group)?;
        let part = match self.router.route(group).await? {
            Route::Local(p) => p,
            Route::Remote(url) => {
                return self
                    .peers
                    .fetch_offsets(&url, group, topic)
                    .await
                    .map_err(relayed)
            }
        };
        let _guard = self.lock_group(group).await;
        self.fetch_locked(group, topic, &part, true).await
    }

    /// `fetch` on this coordinator, with the group's lock held; with
    /// `remote_lag`, the lag of partitions led elsewhere too (asking their leaders).
    async fn fetch_locked(
        &self,
        group: &str,
        topic: Option<&str>,
        part: &Arc<Partition>,
        remote_lag: bool,
    ) -> Result<GroupOffsetsResponse, BrokerError> {
        let table = self
            .with_loaded(part, |l| l.groups.get(group).cloned().unwrap_or_default())
            .await?;
        let mut offsets: Vec<CommittedOffset> = table
            .into_iter()
            .filter(|((t, _), _)| topic.is_none_or(|x| x == t))
            .map(|((t, p), c)| {
                let hw = TopicName::new(t.clone())
                    .ok()
                    .and_then(|n| self.replicas.get(&n, p))
                    .filter(|r| r.state().leader == self.node.id())
                    .map(|r| r.high_watermark());
                CommittedOffset {
                    lag: hw.map(|h| h.saturating_sub(c.offset)),
                    topic: t,
                    partition: p,
                    offset: c.offset,
                    metadata: c.metadata,
                    commit_timestamp: c.commit_timestamp,
                }
            })
            .collect();
        if remote_lag {
            self.remote_lag(&mut offsets).await;
        }
        Ok(GroupOffsetsResponse {
            group: group.to_string(),
            offsets,
        })
    }

    /// Fills in the lag of `offsets` led by other brokers, asking their
    /// leaders in parallel; a leader that does not answer leaves `lag` unset.
    async fn remote_lag(&self, offsets: &mut [CommittedOffset]) {
        let mut asks = tokio::task::JoinSet::new();
        for (i, o) in offsets.iter().enumerate().filter(|(_, o)| o.lag.is_none()) {
            let leader = TopicName::new(o.topic.clone())
                .ok()
                .and_then(|n| self.metadata.partition(&n, o.partition))
                .and_then(|s| s.leader)
                .and_then(|l| self.metadata.broker_url(l));
            let Some(url) = leader else { continue };
            let (peers, topic, p) = (self.peers.clone(), o.topic.clone(), o.partition);
            asks.spawn(async move { (i, peers.partition_offsets(&url, &topic, p).await) });
        }
        while let Some(Ok((i, answer))) = asks.join_next().await {
            if let (Ok(r), Some(o)) = (answer, offsets.get_mut(i)) {
                o.lag = Some(r.high_watermark.saturating_sub(o.offset));
            }
        }
    }
}

mod state;
#[cfg(test)]
mod tests;
