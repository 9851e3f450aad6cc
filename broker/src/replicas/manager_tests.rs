//! The replica manager against real partition directories in a temp dir: what
//! it keeps, takes offline and deletes when a directory cannot be opened or
//! its identity file is torn.

use super::manager::ReplicaManager;
use crate::storage::{BatchMeta, LogConfig, PartitionLog, RecordIn};
use ferry_common::metadata::{MetadataImage, PartitionState, TopicImage};
use ferry_common::{BrokerId, TopicName};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

const ME: BrokerId = BrokerId(1);

fn topic() -> TopicName {
    TopicName::new("orders".to_string()).unwrap()
}

/// An image at `offset` holding topic `orders` (id `topic_id`, one partition on
/// this broker) with small segments, or no topic at all.
fn image(offset: u64, topic_id: Option<&str>) -> MetadataImage {
    let mut img = MetadataImage {
        offset,
        last_record_offset: offset,
        ..MetadataImage::default()
    };
    if let Some(id) = topic_id {
        let configs = BTreeMap::from([("segment.bytes".to_string(), "200".to_string())]);
        img.topics.insert(
            topic(),
            TopicImage {
                name: topic(),
                topic_id: id.to_string(),
                replication_factor: 1,
                configs,
                partitions: vec![PartitionState {
                    partition: 0,
                    leader: Some(ME),
                    leader_epoch: 0,
                    replicas: vec![ME],
                    isr: vec![ME],
                    partition_epoch: 0,
                }],
            },
        );
    }
    img
}

fn partition_dir(data: &Path) -> PathBuf {
    data.join("logs").join("orders-0")
}

/// Creates the replica of `orders-0` under `data` and appends `batches`
/// batches of one record each; returns the log end offset.
fn create_with_records(data: &Path, topic_id: &str, batches: usize) -> u64 {
    let m = ReplicaManager::new(data, false);
    m.reconcile(&image(10, Some(topic_id)), ME);
    let p = m.get(&topic(), 0).expect("replica created");
    for i in 0..batches {
        let rec = RecordIn {
            timestamp: 1_000 + i as i64,
            key: None,
            value: Some(format!("acknowledged record {i}").into_bytes()),
            headers: vec![],
        };
        p.log.append(&[rec], BatchMeta::default(), 1_000).unwrap();
    }
    p.log.flush().unwrap();
    p.log.log_end_offset()
}

/// The log end offset of what is on disk, opened directly (no manager).
fn records_on_disk(data: &Path) -> u64 {
    PartitionLog::open(&partition_dir(data), LogConfig::default())
        .map(|l| l.log_end_offset())
        .unwrap_or(0)
}

fn segment_files(data: &Path) -> usize {
    std::fs::read_dir(partition_dir(data))
        .map(|d| {
            d.flatten()
                .filter(|e| e.file_name().to_string_lossy().ends_with(".log"))
                .count()
        })
        .unwrap_or(0)
}

#[test]
fn scenario_4_torn_partition_json_takes_the_replica_offline_and_keeps_its_records() {
    let data = tempfile::tempdir().unwrap();
    let leo = create_with_records(data.path(), "id-1", 3);
    assert_eq!(leo, 3);
    // What a torn non-atomic rewrite leaves behind.
    std::fs::write(partition_dir(data.path()).join("partition.json"), b"").unwrap();

    let m = ReplicaManager::new(data.path(), false);
    m.reconcile(&image(10, Some("id-1")), ME);
    m.remove_orphans();
    drop(m);
    assert_eq!(
        records_on_disk(data.path()),
        3,
        "the three acknowledged records are still on disk"
    );
}

#[test]
fn scenario_3_failed_open_never_deletes_the_replica() {
    let data = tempfile::tempdir().unwrap();
    let leo = create_with_records(data.path(), "id-1", 12);
    let segments = segment_files(data.path());
    assert!(segments >= 3, "several segments: {segments}");
    // Corrupt the first (inactive) segment's header: the open fails.
    let first = partition_dir(data.path()).join(format!("{:020}.log", 0));
    let mut bytes = std::fs::read(&first).unwrap();
    bytes[..32].fill(0xff);
    std::fs::write(&first, bytes).unwrap();

    let m = ReplicaManager::new(data.path(), false);
    m.reconcile(&image(10, Some("id-1")), ME);
    m.remove_orphans();
    assert!(m.get(&topic(), 0).is_none(), "a corrupt log is not served");
    drop(m);
    assert_eq!(
        segment_files(data.path()),
        segments,
        "every segment of the replica that failed to open is kept"
    );
    assert!(leo > 0);
}
