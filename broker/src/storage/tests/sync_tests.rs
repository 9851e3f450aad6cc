//! Group commit at the storage level: one sync round covers every append
//! since the previous one, across segment rolls; truncation lowers the
//! synced offset; a failed fsync is sticky.

use super::{cfg, open, rec, small_segments};
use crate::storage::{BatchMeta, LogError};

#[test]
fn one_sync_round_covers_every_append_since_the_last() {
    let dir = tempfile::tempdir().unwrap();
    let log = open(dir.path(), small_segments(600));
    for i in 0..20 {
        log.append(&[rec(i, "value")], BatchMeta::default(), i)
            .unwrap();
    }
    assert!(log.segment_count() > 1, "the appends rolled segments");
    assert_eq!(log.synced_offset(), 0, "appends alone sync nothing");
    assert_eq!(log.counted_end(), 0);
    let round = log.sync_pending().unwrap();
    assert!(round.fsynced);
    assert_eq!(round.records, 20);
    assert_eq!(log.fsync_count(), 1, "one fsync for twenty appends");
    assert_eq!(log.synced_offset(), 20);
    assert_eq!(log.counted_end(), 20);
    let idle = log.sync_pending().unwrap();
    assert!(!idle.fsynced, "nothing new: no fsync");
    assert_eq!(log.fsync_count(), 1);
}

#[test]
fn truncation_lowers_the_synced_offset_and_reopen_counts_what_recovery_kept() {
    let dir = tempfile::tempdir().unwrap();
    let log = open(dir.path(), cfg());
    for i in 0..5 {
        log.append(&[rec(i, "v")], BatchMeta::default(), i).unwrap();
    }
    log.sync_pending().unwrap();
    log.truncate_to(2).unwrap();
    assert_eq!(log.synced_offset(), 2);
    log.append(&[rec(9, "v")], BatchMeta::default(), 9).unwrap();
    assert_eq!(log.synced_offset(), 2);
    drop(log);
    // Open fsyncs what it recovered (a process crash leaves it in the page cache).
    let log = open(dir.path(), cfg());
    assert_eq!(log.synced_offset(), 3);
}

#[test]
fn a_failed_fsync_is_sticky() {
    let dir = tempfile::tempdir().unwrap();
    let log = open(dir.path(), cfg());
    log.append(&[rec(1, "v")], BatchMeta::default(), 1).unwrap();
    log.fail_next_sync();
    assert!(matches!(log.sync_pending(), Err(LogError::Io { .. })));
    assert!(log.sync_error().is_some());
    assert_eq!(log.synced_offset(), 0);
    assert!(
        matches!(log.sync_pending(), Err(LogError::Io { .. })),
        "a retry must not report success"
    );
    let refused = log.append(&[rec(2, "v")], BatchMeta::default(), 2);
    assert!(matches!(refused, Err(LogError::Io { .. })), "{refused:?}");
}
