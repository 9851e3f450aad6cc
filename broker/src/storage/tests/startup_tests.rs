//! Start-up in time proportional to the tail: a producer-state snapshot
//! lets open skip reading every segment below it, a damaged or stale one
//! falls back to a full scan, and segment files go through a bounded
//! handle cache.

use std::sync::Arc;

use super::{fill, meta, offsets, read_all, rec, seg_path, segment_bases, small_segments};
use crate::storage::{HandleCache, LogConfig, PartitionLog};

fn open_cached(dir: &std::path::Path, config: LogConfig, cache: &Arc<HandleCache>) -> PartitionLog {
    PartitionLog::open_with(dir, config, cache.clone()).unwrap()
}

fn total_size(dir: &std::path::Path) -> u64 {
    segment_bases(dir)
        .iter()
        .map(|&b| std::fs::metadata(seg_path(dir, b, "log")).unwrap().len())
        .sum()
}

/// A log of many small segments over two leader epochs, with a snapshot
/// written at the log end after the epoch change and three batches after it.
fn log_with_snapshot(dir: &std::path::Path) -> (u64, Vec<(u32, u64)>) {
    let log = PartitionLog::open(dir, small_segments(400)).unwrap();
    fill(&log, 20, 2);
    for i in 0..10 {
        log.append(&[rec(5000 + i, "e3")], meta(3), 0).unwrap();
    }
    assert_eq!(
        log.write_snapshot(b"producers").unwrap(),
        log.log_end_offset()
    );
    fill(&log, 3, 1);
    assert!(log.segment_count() > 5, "the test needs many segments");
    let epochs = log.epoch_starts();
    log.flush().unwrap();
    (log.log_end_offset(), epochs)
}

#[test]
fn open_reads_only_the_segments_from_the_snapshot_on() {
    let dir = tempfile::tempdir().unwrap();
    let (end, epochs) = log_with_snapshot(dir.path());
    let full = total_size(dir.path());
    let log = PartitionLog::open(dir.path(), small_segments(400)).unwrap();
    let (snap_at, payload) = log.take_snapshot().expect("the snapshot was loaded");
    assert_eq!(payload, b"producers");
    assert!(log.take_snapshot().is_none(), "taken once");
    // Only the segments from the one holding the snapshot offset are read.
    let tail: u64 = segment_bases(dir.path())
        .windows(2)
        .filter(|w| w[1] > snap_at)
        .map(|w| {
            std::fs::metadata(seg_path(dir.path(), w[0], "log"))
                .unwrap()
                .len()
        })
        .sum::<u64>()
        + std::fs::metadata(seg_path(
            dir.path(),
            *segment_bases(dir.path()).last().unwrap(),
            "log",
        ))
        .unwrap()
        .len();
    assert_eq!(log.open_scanned_bytes(), tail);
    assert!(tail < full / 2, "scanned {tail} of {full} bytes");
    // Lazily opened segments serve reads, time lookups and epochs as before.
    assert_eq!(log.log_end_offset(), end);
    assert_eq!(log.epoch_starts(), epochs);
    assert_eq!(offsets(&read_all(&log, 0)), (0..end).collect::<Vec<_>>());
    assert_eq!(log.offset_for_timestamp(1007).unwrap(), Some(7));
}

#[test]
fn a_damaged_snapshot_falls_back_to_a_full_scan() {
    let dir = tempfile::tempdir().unwrap();
    let (end, epochs) = log_with_snapshot(dir.path());
    let snap = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|x| x == "snapshot"))
        .unwrap();
    let mut bytes = std::fs::read(&snap).unwrap();
    bytes[10] ^= 0xff;
    std::fs::write(&snap, bytes).unwrap();
    let log = PartitionLog::open(dir.path(), small_segments(400)).unwrap();
    assert!(log.take_snapshot().is_none());
    assert_eq!(log.open_scanned_bytes(), total_size(dir.path()));
    assert_eq!(log.epoch_starts(), epochs);
    assert_eq!(log.log_end_offset(), end);
}

#[test]
fn truncation_below_a_snapshot_removes_it() {
    let dir = tempfile::tempdir().unwrap();
    let (_, _) = log_with_snapshot(dir.path());
    let log = PartitionLog::open(dir.path(), small_segments(400)).unwrap();
    let (snap_at, _) = log.take_snapshot().unwrap();
    log.truncate_to(snap_at - 4).unwrap();
    fill(&log, 8, 1);
    let epochs = log.epoch_starts();
    let end = log.log_end_offset();
    drop(log);
    let log = PartitionLog::open(dir.path(), small_segments(400)).unwrap();
    assert!(
        log.take_snapshot().is_none(),
        "the snapshot past the cut is gone"
    );
    assert_eq!(log.epoch_starts(), epochs);
    assert_eq!(log.log_end_offset(), end);
}

#[test]
fn a_bounded_handle_cache_serves_every_segment() {
    let dir = tempfile::tempdir().unwrap();
    let cache = Arc::new(HandleCache::new(4));
    let log = open_cached(dir.path(), small_segments(300), &cache);
    fill(&log, 40, 2);
    assert!(log.segment_count() > 8);
    assert!(cache.stats().cached <= 4);
    let before = cache.stats();
    assert_eq!(offsets(&read_all(&log, 0)).len(), 80);
    let after = cache.stats();
    assert!(after.cached <= 4);
    assert!(after.opens > before.opens, "evicted segments were reopened");
    log.flush().unwrap();
    drop(log);
    let log = open_cached(dir.path(), small_segments(300), &cache);
    assert_eq!(offsets(&read_all(&log, 0)).len(), 80);
    assert!(cache.stats().cached <= 4);
}
