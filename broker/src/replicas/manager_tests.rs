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
/// The metadata offset of this broker's registration.
const REGISTERED_AT: u64 = 8;

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
                    elr: vec![],
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
    m.reconcile(&image(10, Some(topic_id)), ME, REGISTERED_AT);
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
    let img = image(10, Some("id-1"));
    m.reconcile(&img, ME, REGISTERED_AT);
    m.remove_orphans(&img, ME, REGISTERED_AT);
    assert!(
        m.get(&topic(), 0).is_none(),
        "not served without its identity"
    );
    let why = m
        .offline_error(&topic(), 0)
        .expect("the replica is offline");
    assert!(why.contains("partition.json"), "{why}");
    assert_eq!(m.offline().len(), 1);
    drop(m);
    assert_eq!(
        records_on_disk(data.path()),
        3,
        "the three acknowledged records are still on disk"
    );
    // Once the operator restores the file, the next reconcile opens it.
    let meta = r#"{"topic":"orders","topic_id":"id-1","partition":0}"#;
    std::fs::write(partition_dir(data.path()).join("partition.json"), meta).unwrap();
    let m = ReplicaManager::new(data.path(), false);
    m.reconcile(&img, ME, REGISTERED_AT);
    assert_eq!(m.get(&topic(), 0).unwrap().log.log_end_offset(), 3);
    assert!(m.offline().is_empty());
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
    let img = image(10, Some("id-1"));
    m.reconcile(&img, ME, REGISTERED_AT);
    m.remove_orphans(&img, ME, REGISTERED_AT);
    assert!(m.get(&topic(), 0).is_none(), "a corrupt log is not served");
    assert!(m.offline_error(&topic(), 0).is_some(), "reported offline");
    // Retried on later reconciles, still kept.
    m.reconcile(&img, ME, REGISTERED_AT);
    m.remove_orphans(&img, ME, REGISTERED_AT);
    assert_eq!(m.offline().len(), 1);
    drop(m);
    assert_eq!(
        segment_files(data.path()),
        segments,
        "every segment of the replica that failed to open is kept"
    );
    assert!(leo > 0);
}

#[test]
fn partition_json_is_written_once_and_atomically() {
    let data = tempfile::tempdir().unwrap();
    create_with_records(data.path(), "id-1", 1);
    let path = partition_dir(data.path()).join("partition.json");
    let before = std::fs::metadata(&path).unwrap().modified().unwrap();
    let meta = std::fs::read(&path).unwrap();
    // A reopen of the same incarnation does not rewrite it.
    let m = ReplicaManager::new(data.path(), false);
    m.reconcile(&image(10, Some("id-1")), ME, REGISTERED_AT);
    assert!(m.get(&topic(), 0).is_some());
    assert_eq!(
        std::fs::metadata(&path).unwrap().modified().unwrap(),
        before
    );
    assert_eq!(std::fs::read(&path).unwrap(), meta);
    assert!(!partition_dir(data.path())
        .join("partition.json.tmp")
        .exists());
}

#[test]
fn scenario_3_a_file_where_the_partition_directory_should_be_is_kept() {
    let data = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(data.path().join("logs")).unwrap();
    std::fs::write(partition_dir(data.path()), b"not a directory").unwrap();
    let m = ReplicaManager::new(data.path(), false);
    let img = image(10, Some("id-1"));
    m.reconcile(&img, ME, REGISTERED_AT);
    m.remove_orphans(&img, ME, REGISTERED_AT);
    assert!(m.offline_error(&topic(), 0).is_some());
    assert_eq!(
        std::fs::read(partition_dir(data.path())).unwrap(),
        b"not a directory"
    );
}

#[test]
fn scenario_3_another_incarnation_is_deleted_only_by_metadata_newer_than_the_registration() {
    let data = tempfile::tempdir().unwrap();
    create_with_records(data.path(), "old-id", 3);
    // A stale image (older than this broker's registration) shows the topic
    // re-created: it proves nothing, so the old data stays and the replica is offline.
    let m = ReplicaManager::new(data.path(), false);
    let stale = image(REGISTERED_AT - 1, Some("new-id"));
    m.reconcile(&stale, ME, REGISTERED_AT);
    m.remove_orphans(&stale, ME, REGISTERED_AT);
    assert!(m.get(&topic(), 0).is_none());
    assert!(m.offline_error(&topic(), 0).is_some());
    assert_eq!(records_on_disk(data.path()), 3);
    // An image at the registration proves "old-id" gone: replaced by the new incarnation.
    let current = image(REGISTERED_AT, Some("new-id"));
    m.reconcile(&current, ME, REGISTERED_AT);
    let p = m.get(&topic(), 0).expect("new incarnation opened");
    assert_eq!((p.topic_id.as_str(), p.log.log_end_offset()), ("new-id", 0));
    assert!(m.offline().is_empty());
}

#[test]
fn scenario_3_orphans_go_only_when_a_current_image_lacks_their_topic_id() {
    let data = tempfile::tempdir().unwrap();
    create_with_records(data.path(), "id-1", 3);
    let m = ReplicaManager::new(data.path(), false);
    // A stale image without the topic: kept.
    let stale = image(REGISTERED_AT - 1, None);
    m.reconcile(&stale, ME, REGISTERED_AT);
    m.remove_orphans(&stale, ME, REGISTERED_AT);
    assert_eq!(records_on_disk(data.path()), 3);
    // A current image without the topic: the topic was deleted; its data goes.
    let current = image(REGISTERED_AT, None);
    m.reconcile(&current, ME, REGISTERED_AT);
    m.remove_orphans(&current, ME, REGISTERED_AT);
    assert!(!partition_dir(data.path()).exists());
}

#[test]
fn scenario_3_a_live_replica_is_deleted_only_by_a_current_image() {
    let data = tempfile::tempdir().unwrap();
    let m = ReplicaManager::new(data.path(), false);
    m.reconcile(&image(REGISTERED_AT, Some("id-1")), ME, REGISTERED_AT);
    assert!(m.get(&topic(), 0).is_some());
    // A later registration (re-registered at 20): an image at 15 deletes nothing.
    assert_eq!(m.reconcile(&image(15, None), ME, 20), (0, 0));
    assert!(m.get(&topic(), 0).is_some());
    assert_eq!(m.reconcile(&image(20, None), ME, 20), (0, 1));
    assert!(m.get(&topic(), 0).is_none());
    assert!(!partition_dir(data.path()).exists());
}

#[test]
fn scenario_3_requests_for_an_offline_replica_get_kafka_storage_error() {
    let data = tempfile::tempdir().unwrap();
    create_with_records(data.path(), "id-1", 1);
    std::fs::write(partition_dir(data.path()).join("partition.json"), b"{").unwrap();
    let img = image(10, Some("id-1"));
    let replicas = std::sync::Arc::new(ReplicaManager::new(data.path(), false));
    replicas.reconcile(&img, ME, REGISTERED_AT);
    let node = std::sync::Arc::new(crate::node::Node::new(
        crate::config::BrokerConfig::default(),
        "http://127.0.0.1:1".into(),
    ));
    node.registered(ME, REGISTERED_AT, "cluster".into());
    let metadata = std::sync::Arc::new(crate::metadata::MetadataCache::default());
    metadata.install_snapshot(img);
    let lookup = super::LeaderLookup::new(node, metadata, replicas);
    let err = lookup
        .leader_replica(&topic(), 0)
        .err()
        .expect("not served");
    assert_eq!(
        err.code(),
        ferry_common::ErrorCode::KafkaStorageError,
        "{err}"
    );
}

#[test]
fn scenario_3_a_live_old_incarnation_stops_being_served_but_is_kept_until_proven_gone() {
    let data = tempfile::tempdir().unwrap();
    let m = ReplicaManager::new(data.path(), false);
    m.reconcile(&image(REGISTERED_AT, Some("old-id")), ME, REGISTERED_AT);
    let p = m.get(&topic(), 0).unwrap();
    p.log
        .append(&[RecordIn::default()], BatchMeta::default(), 0)
        .unwrap();
    drop(p);
    // Re-registered at 20; an image at 15 shows the topic re-created.
    m.reconcile(&image(15, Some("new-id")), ME, 20);
    assert!(
        m.get(&topic(), 0).is_none(),
        "the new topic is not served by the old log"
    );
    assert!(m.offline_error(&topic(), 0).is_some());
    assert_eq!(records_on_disk(data.path()), 1);
    m.reconcile(&image(20, Some("new-id")), ME, 20);
    let p = m.get(&topic(), 0).expect("new incarnation");
    assert_eq!((p.topic_id.as_str(), p.log.log_end_offset()), ("new-id", 0));
}
