//! Test helpers: a real [`Partition`] over a real [`PartitionLog`] in a
//! temporary directory, metadata states, and encoded batches as a leader
//! would send them.

use super::{Partition, PartitionSettings};
use crate::storage::{BatchMeta, LogConfig, PartitionLog, RecordIn, SyncStats};
use ferry_common::metadata::PartitionState;
use ferry_common::{BrokerId, TopicName};
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

pub fn b(i: u32) -> BrokerId {
    BrokerId(i)
}

/// Partition 0 led by `leader` in `epoch` (partition epoch = leader epoch).
pub fn meta(leader: u32, epoch: u32, replicas: &[u32], isr: &[u32]) -> PartitionState {
    PartitionState {
        partition: 0,
        leader: Some(b(leader)),
        leader_epoch: epoch,
        partition_epoch: epoch,
        replicas: replicas.iter().map(|i| b(*i)).collect(),
        isr: isr.iter().map(|i| b(*i)).collect(),
        elr: vec![],
    }
}

pub fn settings(min_insync: usize) -> PartitionSettings {
    PartitionSettings {
        min_insync_replicas: min_insync,
        ..PartitionSettings::from_configs(&BTreeMap::new())
    }
}

pub fn rec(v: &str) -> RecordIn {
    RecordIn {
        timestamp: 1,
        key: None,
        value: Some(v.as_bytes().to_vec()),
        headers: Vec::new(),
    }
}

/// Opens topic `t` partition 0 (incarnation `topic_id`) in `dir` and applies
/// `state` as broker 1 with min.insync 2. A `write.caching` log, so appended
/// records count at once with no sync task: these tests are about roles;
/// [`open_durable`] gives the default, fsync-counting replica.
pub fn open(dir: &Path, topic_id: &str, state: PartitionState) -> Partition {
    let config = LogConfig {
        write_caching: true,
        ..LogConfig::default()
    };
    open_with(dir, topic_id, state, config)
}

/// [`open`] with the durable default and its sync task running (inside a
/// tokio runtime), counting into `stats`.
pub fn open_durable(
    dir: &Path,
    topic_id: &str,
    state: PartitionState,
    stats: Arc<SyncStats>,
) -> Arc<Partition> {
    let part = Arc::new(open_with(dir, topic_id, state, LogConfig::default()));
    super::sync_task::start(&part, stats);
    part
}

fn open_with(dir: &Path, topic_id: &str, state: PartitionState, config: LogConfig) -> Partition {
    let log = PartitionLog::open(dir, config).unwrap();
    let topic = TopicName::new("t".to_string()).unwrap();
    let part = Partition::new(
        topic,
        topic_id.into(),
        log,
        dir.to_path_buf(),
        state.clone(),
        settings(2),
    );
    part.update(state, settings(2), b(1));
    part
}

/// One encoded batch of `values` at `base` stamped `epoch`, as a leader's
/// replica fetch answer carries it.
pub fn leader_batch(base: u64, epoch: u32, values: &[&str]) -> Vec<u8> {
    let dir = tempfile::tempdir().unwrap();
    let log = PartitionLog::open(dir.path(), LogConfig::default()).unwrap();
    let meta = BatchMeta {
        leader_epoch: epoch,
        ..BatchMeta::default()
    };
    for _ in 0..base {
        log.append(&[rec("filler")], meta, 1).unwrap();
    }
    let records: Vec<RecordIn> = values.iter().map(|v| rec(v)).collect();
    log.append(&records, meta, 1).unwrap();
    log.read_batches(base, u64::MAX, 1 << 20).unwrap()
}

/// The leader epoch stamped on every batch of `part`'s log, in order.
pub fn stamped_epochs(part: &Partition) -> Vec<u32> {
    let bytes = part
        .log
        .read_batches(part.log.log_start_offset(), u64::MAX, 1 << 20)
        .unwrap();
    crate::storage::decode_batches(&bytes)
        .unwrap()
        .iter()
        .map(|(h, _)| h.leader_epoch)
        .collect()
}
