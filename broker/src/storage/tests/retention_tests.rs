//! Retention, log start, truncation, timestamp lookup, replication and epochs.

use super::super::{decode_batches, LogConfig, LogError};
use super::{
    fill, log_append_meta, meta, offsets, open, read_all, rec, segment_bases, small_segments,
};

#[test]
fn retention_by_bytes_deletes_whole_old_segments() {
    let dir = tempfile::tempdir().unwrap();
    let config = small_segments(400);
    let log = open(dir.path(), config);
    fill(&log, 30, 2);
    let (count, size) = (log.segment_count(), log.size_bytes());
    log.set_config(LogConfig {
        retention_bytes: (size / 2) as i64,
        ..config
    });
    let deleted = log.apply_retention(0, u64::MAX).unwrap();
    assert!(deleted > 0 && deleted < count);
    assert!(log.size_bytes() <= size / 2);
    let start = log.log_start_offset();
    assert_eq!(segment_bases(dir.path())[0], start);
    assert!(matches!(
        log.read(start - 1, u64::MAX, 1, 1),
        Err(LogError::OffsetOutOfRange { .. })
    ));
    assert_eq!(
        offsets(&read_all(&log, start)),
        (start..60).collect::<Vec<_>>()
    );
    // Even a zero limit never removes the active segment.
    log.set_config(LogConfig {
        retention_bytes: 0,
        ..config
    });
    log.apply_retention(0, u64::MAX).unwrap();
    assert_eq!(log.segment_count(), 1);
    assert_eq!(log.log_end_offset(), 60);
    drop(log);
    let log = open(dir.path(), config);
    assert_eq!(log.log_start_offset(), segment_bases(dir.path())[0]);
    assert_eq!(log.log_end_offset(), 60);
}

#[test]
fn retention_by_time_uses_segment_max_timestamp() {
    let dir = tempfile::tempdir().unwrap();
    let config = LogConfig {
        retention_ms: 1000,
        ..small_segments(300)
    };
    let log = open(dir.path(), config);
    for t in 0..20 {
        log.append(&[rec(t * 100, "v")], meta(0), 0).unwrap();
    }
    assert!(log.segment_count() >= 4);
    assert_eq!(log.apply_retention(1000, u64::MAX).unwrap(), 0);
    // Records with timestamp < 1000 are expired at now = 2000.
    log.apply_retention(2000, u64::MAX).unwrap();
    let start = log.log_start_offset();
    assert!(start > 0 && start <= 10, "start {start}");
    assert!(read_all(&log, start).iter().any(|r| r.timestamp >= 1000));
    // Far future: everything but the active segment goes.
    log.apply_retention(1_000_000, u64::MAX).unwrap();
    assert_eq!(log.segment_count(), 1);
    log.set_config(LogConfig {
        retention_ms: -1,
        ..config
    });
    assert_eq!(log.apply_retention(i64::MAX, u64::MAX).unwrap(), 0);
}

#[test]
fn advance_log_start_persists_and_can_restart_the_log() {
    let dir = tempfile::tempdir().unwrap();
    let config = small_segments(300);
    let log = open(dir.path(), config);
    fill(&log, 20, 2);
    let before = log.segment_count();
    log.advance_log_start(17).unwrap();
    assert_eq!(log.log_start_offset(), 17);
    assert!(log.segment_count() < before);
    assert!(matches!(
        log.read(16, u64::MAX, 1, 1),
        Err(LogError::OffsetOutOfRange { .. })
    ));
    assert_eq!(
        offsets(&log.read(17, u64::MAX, 2, usize::MAX).unwrap()),
        vec![17, 18]
    );
    log.advance_log_start(3).unwrap();
    assert_eq!(log.log_start_offset(), 17);
    drop(log);
    let log = open(dir.path(), config);
    assert_eq!((log.log_start_offset(), log.log_end_offset()), (17, 40));
    log.advance_log_start(100).unwrap();
    assert_eq!(
        (
            log.log_start_offset(),
            log.log_end_offset(),
            log.segment_count()
        ),
        (100, 100, 1)
    );
    fill(&log, 1, 1);
    drop(log);
    let log = open(dir.path(), config);
    assert_eq!((log.log_start_offset(), log.log_end_offset()), (100, 101));
    assert_eq!(read_all(&log, 100)[0].offset, 100);
}

#[test]
fn offset_for_timestamp_finds_first_matching_record() {
    let dir = tempfile::tempdir().unwrap();
    let log = open(dir.path(), small_segments(500));
    // Timestamps rise but are not monotonic within batches.
    for b in 0..20i64 {
        log.append(
            &[
                rec(b * 100 + 50, "a"),
                rec(b * 100, "b"),
                rec(b * 100 + 90, "c"),
            ],
            meta(0),
            0,
        )
        .unwrap();
    }
    assert!(log.segment_count() > 2);
    assert_eq!(log.offset_for_timestamp(i64::MIN).unwrap(), Some(0));
    assert_eq!(log.offset_for_timestamp(0).unwrap(), Some(0));
    assert_eq!(log.offset_for_timestamp(51).unwrap(), Some(2));
    assert_eq!(log.offset_for_timestamp(1000).unwrap(), Some(30));
    assert_eq!(log.offset_for_timestamp(1001).unwrap(), Some(30));
    assert_eq!(log.offset_for_timestamp(1060).unwrap(), Some(32));
    assert_eq!(log.offset_for_timestamp(1990).unwrap(), Some(59));
    assert_eq!(log.offset_for_timestamp(1991).unwrap(), None);
    log.advance_log_start(31).unwrap();
    assert_eq!(log.offset_for_timestamp(0).unwrap(), Some(31));
    log.append(&[rec(0, "late")], log_append_meta(), 5000)
        .unwrap();
    assert_eq!(log.offset_for_timestamp(4000).unwrap(), Some(60));
}

#[test]
fn truncate_removes_whole_batches_and_appends_continue() {
    let dir = tempfile::tempdir().unwrap();
    let config = small_segments(400);
    let log = open(dir.path(), config);
    fill(&log, 30, 3);
    let segments = log.segment_count();
    log.truncate_to(200).unwrap();
    assert_eq!(log.log_end_offset(), 90);
    // Offset 40 is in the middle of batch [39, 41]: the whole batch goes.
    log.truncate_to(40).unwrap();
    assert_eq!(log.log_end_offset(), 39);
    assert!(log.segment_count() < segments);
    assert!(*segment_bases(dir.path()).last().unwrap() <= 39);
    assert_eq!(offsets(&read_all(&log, 30)), (30..39).collect::<Vec<_>>());
    assert!(matches!(
        log.read(40, u64::MAX, 1, 1),
        Err(LogError::OffsetOutOfRange { .. })
    ));
    let info = log.append(&[rec(5, "new")], meta(0), 0).unwrap();
    assert_eq!(info.base_offset, 39);
    drop(log);
    let log = open(dir.path(), config);
    assert_eq!(log.log_end_offset(), 40);
    assert_eq!(read_all(&log, 39)[0].value.as_deref(), Some(&b"new"[..]));
    assert_eq!(offsets(&read_all(&log, 0)), (0..40).collect::<Vec<_>>());
    // Truncating to a segment base and to zero.
    let base = segment_bases(dir.path())[1];
    log.truncate_to(base).unwrap();
    assert_eq!(log.log_end_offset(), base);
    log.truncate_to(0).unwrap();
    assert_eq!(
        (
            log.log_start_offset(),
            log.log_end_offset(),
            log.size_bytes()
        ),
        (0, 0, 0)
    );
    fill(&log, 2, 2);
    assert_eq!(offsets(&read_all(&log, 0)), vec![0, 1, 2, 3]);
}

#[test]
fn append_raw_reproduces_identical_files() {
    let (d1, d2) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let config = small_segments(700);
    let leader = open(d1.path(), config);
    for i in 0..25u32 {
        let recs: Vec<_> = (0..=(i % 4))
            .map(|j| rec(i64::from(i * 10 + j), &"p".repeat(i as usize)))
            .collect();
        let m = if i % 5 == 0 {
            log_append_meta()
        } else {
            meta(i / 7)
        };
        leader.append(&recs, m, 99 + i64::from(i)).unwrap();
    }
    let follower = open(d2.path(), config);
    let hw = leader.log_end_offset();
    while follower.log_end_offset() < hw {
        let chunk = follower.read_batches(0, 0, 0).unwrap();
        assert!(chunk.is_empty());
        let leo = follower.log_end_offset();
        let chunk = leader.read_batches(leo, hw, 300).unwrap();
        assert!(!chunk.is_empty());
        assert_eq!(decode_batches(&chunk).unwrap()[0].0.base_offset, leo);
        assert_eq!(
            follower.append_raw(&chunk).unwrap(),
            follower.log_end_offset()
        );
    }
    let files = |d: &std::path::Path| {
        let mut v: Vec<_> = std::fs::read_dir(d)
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        v.sort();
        v.into_iter()
            .map(|p| {
                (
                    p.file_name().unwrap().to_owned(),
                    std::fs::read(&p).unwrap(),
                )
            })
            .collect::<Vec<_>>()
    };
    assert_eq!(files(d1.path()), files(d2.path()));
    assert_eq!(follower.epoch_starts(), leader.epoch_starts());
    assert_eq!(read_all(&follower, 0), read_all(&leader, 0));

    // Batches stop before max_offset; a mid-batch start returns the whole batch.
    let part = leader.read_batches(3, 9, usize::MAX).unwrap();
    let decoded = decode_batches(&part).unwrap();
    assert!(decoded[0].0.base_offset <= 3 && decoded.last().unwrap().0.last_offset() < 9);

    let third = tempfile::tempdir().unwrap();
    let other = open(third.path(), config);
    let first_two = leader.read_batches(0, 3, usize::MAX).unwrap();
    let err = other.append_raw(&leader.read_batches(1, hw, 10).unwrap()[..]);
    assert!(
        matches!(
            err,
            Err(LogError::UnexpectedBaseOffset {
                expected: 0,
                actual: 1
            })
        ),
        "{err:?}"
    );
    let mut bad = first_two.clone();
    let last = bad.len() - 1;
    bad[last] ^= 1;
    assert!(matches!(
        other.append_raw(&bad),
        Err(LogError::Corrupt { .. })
    ));
    assert!(matches!(
        other.append_raw(&first_two[..first_two.len() - 1]),
        Err(LogError::Corrupt { .. })
    ));
    assert!(matches!(
        other.append_raw(&[0xff; 100]),
        Err(LogError::Corrupt { .. })
    ));
    // A valid batch followed by a bad one appends nothing.
    let mut mixed = first_two.clone();
    mixed.extend_from_slice(&bad);
    assert!(other.append_raw(&mixed).is_err());
    assert_eq!(other.log_end_offset(), 0);
    assert_eq!(other.append_raw(&first_two).unwrap(), 3);
    assert_eq!(other.append_raw(&[]).unwrap(), 3);
}

#[test]
fn epoch_starts_track_changes_reopen_and_truncation() {
    let dir = tempfile::tempdir().unwrap();
    let config = small_segments(300);
    let log = open(dir.path(), config);
    for (epoch, n) in [(0, 3), (2, 4), (2, 1), (5, 2)] {
        for _ in 0..n {
            log.append(&[rec(1, "x"), rec(2, "y")], meta(epoch), 0)
                .unwrap();
        }
    }
    let want = vec![(0, 0), (2, 6), (5, 16)];
    assert_eq!(log.epoch_starts(), want);
    drop(log);
    let log = open(dir.path(), config);
    assert_eq!(log.epoch_starts(), want);
    log.truncate_to(16).unwrap();
    assert_eq!(log.epoch_starts(), vec![(0, 0), (2, 6)]);
    log.append(&[rec(3, "z")], meta(7), 0).unwrap();
    assert_eq!(log.epoch_starts(), vec![(0, 0), (2, 6), (7, 16)]);
    log.advance_log_start(8).unwrap();
    assert_eq!(log.epoch_starts(), vec![(2, 8), (7, 16)]);
    drop(log);
    let log = open(dir.path(), config);
    assert_eq!(log.epoch_starts(), vec![(2, 8), (7, 16)]);
    // Below the log start: the log restarts empty at that offset.
    log.truncate_to(5).unwrap();
    assert_eq!((log.log_start_offset(), log.log_end_offset()), (5, 5));
    assert!(log.epoch_starts().is_empty());
}

/// Scenario 6: `retention.bytes` smaller than the replication lag, or records
/// with old producer timestamps, must not delete what the HW has not passed:
/// only segments wholly below the HW go, and the log start stays at or below it.
#[test]
fn scenario_6_retention_never_deletes_above_the_high_watermark() {
    let dir = tempfile::tempdir().unwrap();
    let config = small_segments(300);
    let log = open(dir.path(), config);
    fill(&log, 30, 2);
    assert!(log.segment_count() >= 6);
    let hw = 11;
    // The first segment wholly below the HW may go; the one holding it may not.
    let bases = segment_bases(dir.path());
    let holding_hw = *bases.iter().rev().find(|&&b| b <= hw).unwrap();
    log.set_config(LogConfig {
        retention_bytes: 0,
        ..config
    });
    log.apply_retention(0, hw).unwrap();
    assert!(
        log.log_start_offset() <= hw,
        "retention.bytes moved the log start to {} past the HW {hw}",
        log.log_start_offset()
    );
    assert_eq!(log.log_start_offset(), holding_hw);
    // Old producer timestamps: every segment is expired, still bounded by the HW.
    log.set_config(LogConfig {
        retention_ms: 1,
        ..config
    });
    log.apply_retention(i64::MAX, hw).unwrap();
    assert_eq!(log.log_start_offset(), holding_hw);
    assert_eq!(
        offsets(&read_all(&log, holding_hw)),
        (holding_hw..60).collect::<Vec<_>>()
    );
    // Once the HW reaches the log end, everything but the active segment may go.
    log.apply_retention(i64::MAX, 60).unwrap();
    assert_eq!(log.segment_count(), 1);
}
