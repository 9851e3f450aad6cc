//! Follower side of pull replication: one fetch loop per leader broker.
//!
//! The loop sends one long-poll fetch covering every partition this broker
//! follows from that leader (fetch offset = own LEO, last epoch = own latest
//! epoch), then appends what came back, truncates where the leader reports a
//! diverging epoch (never blindly to the HW), and takes min(leader HW, own LEO)
//! as its HW. Before the next fetch it waits (bounded) for its sync task to
//! fsync what it appended, since that fetch reports the synced offset, which
//! is what the leader's HW follows (group commit on the follower: one fsync
//! per fetch answer). An answer counts only while the partition still follows that
//! leader in the epoch the fetch was asked in.

use crate::metadata::MetadataCache;
use crate::node::Node;
use crate::partition::divergence::truncation_point;
use crate::partition::Partition;
use crate::peer_client::PeerClient;
use crate::replicas::ReplicaManager;
use ferry_common::internal::{
    ReplicaFetchPartition, ReplicaFetchPartitionResult, ReplicaFetchRequest,
};
use ferry_common::{BrokerId, ErrorCode};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::task::JoinHandle;

/// Long-poll wait per replica fetch.
const FETCH_WAIT: Duration = Duration::from_millis(500);
/// Bytes per replica fetch over all partitions.
const FETCH_MAX_BYTES: usize = 8 * 1024 * 1024;
const BACKOFF: Duration = Duration::from_millis(200);
/// Longest wait for the own fsync of what a fetch brought before the next fetch.
const SYNC_WAIT: Duration = Duration::from_millis(500);

/// What a fetch loop reads and writes.
#[derive(Clone)]
struct Follower {
    node: Arc<Node>,
    metadata: Arc<MetadataCache>,
    replicas: Arc<ReplicaManager>,
    peers: Arc<PeerClient>,
}

/// The running fetch loops, one per leader broker.
pub struct ReplicaFetchers {
    follower: Follower,
    workers: Mutex<HashMap<BrokerId, JoinHandle<()>>>,
}

impl ReplicaFetchers {
    pub fn new(
        node: Arc<Node>,
        metadata: Arc<MetadataCache>,
        replicas: Arc<ReplicaManager>,
        peers: Arc<PeerClient>,
    ) -> Self {
        ReplicaFetchers {
            follower: Follower {
                node,
                metadata,
                replicas,
                peers,
            },
            workers: Mutex::new(HashMap::new()),
        }
    }

    /// Starts a loop for every broker that leads a partition this broker
    /// follows, and stops the others. Each loop re-reads its partition set on
    /// every round, so only the set of leaders matters here.
    pub fn sync(&self) {
        let f = &self.follower;
        let Some(me) = f.node.id() else { return };
        let mut leaders: Vec<BrokerId> = f
            .replicas
            .all()
            .iter()
            .filter_map(|p| p.state().leader.filter(|l| *l != me))
            .collect();
        leaders.sort();
        leaders.dedup();
        let mut workers = self.workers.lock().unwrap_or_else(|p| p.into_inner());
        workers.retain(|id, w| {
            let keep = leaders.contains(id) && !w.is_finished();
            if !keep {
                w.abort();
            }
            keep
        });
        for l in leaders {
            workers
                .entry(l)
                .or_insert_with(|| tokio::spawn(f.clone().fetch_loop(l)));
        }
    }

    /// Stops every loop (shutdown).
    pub fn stop(&self) {
        for (_, w) in self
            .workers
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .drain()
        {
            w.abort();
        }
    }
}

/// A partition followed from one leader, with the leader epoch its fetch is asked in.
struct Followed {
    part: Arc<Partition>,
    leader_epoch: u32,
}

impl Follower {
    /// The partitions this broker follows from `leader`, each with its epoch
    /// read once, so the request and the check of its answer agree.
    fn followed_from(&self, me: BrokerId, leader: BrokerId) -> Vec<Followed> {
        self.replicas
            .all()
            .into_iter()
            .filter_map(|part| {
                let s = part.state();
                (s.leader == Some(leader) && s.replicas.contains(&me)).then_some(Followed {
                    part,
                    leader_epoch: s.leader_epoch,
                })
            })
            .collect()
    }

    async fn fetch_loop(self, leader: BrokerId) {
        loop {
            let Some(me) = self.node.id() else { return };
            let parts = self.followed_from(me, leader);
            if parts.is_empty() {
                return;
            }
            let Some(url) = self.metadata.broker_url(leader) else {
                tokio::time::sleep(BACKOFF).await;
                continue;
            };
            let req = ReplicaFetchRequest {
                replica_id: me,
                max_wait_ms: FETCH_WAIT.as_millis() as u64,
                max_bytes: FETCH_MAX_BYTES,
                partitions: parts
                    .iter()
                    .map(|f| ReplicaFetchPartition {
                        topic: f.part.topic.to_string(),
                        partition: f.part.partition,
                        current_leader_epoch: f.leader_epoch,
                        // Read first: with both only growing, it stays <= the fetch offset.
                        synced_offset: Some(f.part.log.counted_end()),
                        fetch_offset: f.part.log.log_end_offset(),
                        last_fetched_epoch: f.part.log.epoch_starts().last().map(|(e, _)| *e),
                    })
                    .collect(),
            };
            match self.peers.replica_fetch(&url, &req).await {
                Ok((res, batches)) => {
                    let mut backoff = false;
                    for (r, bytes) in res.partitions.into_iter().zip(batches) {
                        let Some(f) = parts.iter().find(|f| {
                            f.part.topic.as_str() == r.topic && f.part.partition == r.partition
                        }) else {
                            continue;
                        };
                        backoff |= !self.apply(f, leader, r, bytes).await;
                    }
                    if backoff {
                        tokio::time::sleep(BACKOFF).await;
                    }
                }
                Err(e) => {
                    tracing::debug!(leader = leader.0, error = %e, "replica fetch failed");
                    tokio::time::sleep(BACKOFF).await;
                }
            }
        }
    }

    /// Applies one partition's answer from `leader`; false when the caller
    /// should back off. An answer is applied only if the partition still
    /// follows `leader` in the epoch it was asked in, checked again under the
    /// partition's lock for the append, the truncation and the HW: otherwise
    /// it belongs to a leadership that is over, and the next round asks anew.
    async fn apply(
        &self,
        f: &Followed,
        leader: BrokerId,
        r: ReplicaFetchPartitionResult,
        bytes: Vec<u8>,
    ) -> bool {
        let (part, epoch) = (&f.part, f.leader_epoch);
        let stale = || {
            tracing::debug!(topic = %part.topic, partition = part.partition, leader = leader.0, leader_epoch = epoch, "dropping a replica fetch answer from a former leadership");
            true
        };
        if !part.follows(leader, epoch) {
            return stale();
        }
        if let Some(code) = r.error_code {
            match code {
                ErrorCode::OffsetOutOfRange => {
                    // The leader no longer has what we need (retention): start at its log start.
                    let p = part.clone();
                    let start = r.log_start_offset;
                    let _ =
                        tokio::task::spawn_blocking(move || p.log.advance_log_start(start)).await;
                    tracing::warn!(topic = %part.topic, partition = part.partition, log_start = start, "behind the leader's log start; restarting from it");
                }
                other => {
                    tracing::debug!(topic = %part.topic, partition = part.partition, code = %other, "replica fetch refused; waiting for metadata")
                }
            }
            return false;
        }
        if let Some(div) = r.diverging_epoch {
            let p = part.clone();
            let res = tokio::task::spawn_blocking(move || {
                p.truncate_diverged_from(leader, epoch, |log| {
                    truncation_point(
                        &log.epoch_starts(),
                        log.log_end_offset(),
                        div.epoch,
                        div.end_offset,
                    )
                })
            })
            .await;
            return match res {
                Ok(Ok(true)) => true,
                Ok(Ok(false)) => stale(),
                _ => {
                    tracing::error!(topic = %part.topic, partition = part.partition, "truncation failed");
                    false
                }
            };
        }
        if !bytes.is_empty() {
            let p = part.clone();
            let res = tokio::task::spawn_blocking(move || {
                p.append_replicated_from(leader, epoch, &bytes)
            })
            .await;
            match res {
                Ok(Ok(Some(leo))) => {
                    self.replicas.notify_appended();
                    wait_own_sync(part, leo).await;
                }
                Ok(Ok(None)) => return stale(),
                Ok(Err(e)) => {
                    tracing::warn!(topic = %part.topic, partition = part.partition, error = %e, "replica append failed");
                    return false;
                }
                Err(e) => {
                    tracing::error!(error = %e, "replica append task failed");
                    return false;
                }
            }
        }
        if !part.follower_hw_from(leader, epoch, r.high_watermark) {
            return stale();
        }
        // Follow the leader's log start (retention, compaction), but never past
        // what this replica knows to be committed.
        let target = r.log_start_offset.min(part.high_watermark());
        if target > part.log.log_start_offset() {
            let log = part.log.clone();
            if let Ok(Err(e)) =
                tokio::task::spawn_blocking(move || log.advance_log_start(target)).await
            {
                tracing::warn!(topic = %part.topic, partition = part.partition, error = %e, "advancing log start failed");
            }
        }
        true
    }
}

/// Waits up to [`SYNC_WAIT`] until `part`'s log counts (is synced) to `leo`,
/// so the next fetch reports it; a failed or truncated sync ends the wait.
async fn wait_own_sync(part: &Partition, leo: u64) {
    if part.log.write_caching() {
        return;
    }
    let gen = part.log.subscribe_durability().borrow().gen;
    if tokio::time::timeout(SYNC_WAIT, part.log.wait_synced(leo, gen))
        .await
        .is_err()
    {
        tracing::debug!(topic = %part.topic, partition = part.partition, leo, "replicated records not fsynced yet; fetching on");
    }
}
