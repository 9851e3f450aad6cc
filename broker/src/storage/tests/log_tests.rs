//! Appends, reads and segment rolling.

use std::sync::Arc;

use super::super::{LogConfig, LogError, PartitionLog, RecordIn};
use super::{
    cfg, fill, log_append_meta, meta, offsets, open, read_all, rec, segment_bases, small_segments,
};

#[test]
fn log_is_send_and_sync() {
    fn check<T: Send + Sync>() {}
    check::<PartitionLog>();
}

#[test]
fn append_assigns_offsets_and_reads_from_any_offset() {
    let dir = tempfile::tempdir().unwrap();
    let log = open(dir.path(), cfg());
    assert_eq!(
        (
            log.log_start_offset(),
            log.log_end_offset(),
            log.segment_count()
        ),
        (0, 0, 1)
    );
    let info = log
        .append(&[rec(1, "a"), rec(2, "b"), rec(3, "c")], meta(0), 10)
        .unwrap();
    assert_eq!(
        (info.base_offset, info.last_offset, info.log_append_time),
        (0, 2, -1)
    );
    assert!(info.batch_bytes > 60);
    fill(&log, 4, 3);
    assert_eq!(log.log_end_offset(), 15);
    for from in 0..15 {
        let got = read_all(&log, from);
        assert_eq!(offsets(&got), (from..15).collect::<Vec<_>>(), "from {from}");
    }
    let first = &read_all(&log, 1)[0];
    assert_eq!(
        (first.timestamp, first.value.as_deref()),
        (2, Some(&b"b"[..]))
    );
    assert_eq!(first.headers, vec![("h".to_owned(), b"b".to_vec())]);
    assert!(read_all(&log, 15).is_empty());
    let err = log.read(16, u64::MAX, 10, 1000).unwrap_err();
    assert!(
        matches!(
            err,
            LogError::OffsetOutOfRange {
                requested: 16,
                log_start: 0,
                log_end: 15
            }
        ),
        "{err}"
    );
}

#[test]
fn read_honours_record_byte_and_high_watermark_limits() {
    let dir = tempfile::tempdir().unwrap();
    let log = open(dir.path(), cfg());
    fill(&log, 5, 4);
    assert_eq!(
        offsets(&log.read(3, u64::MAX, 6, usize::MAX).unwrap()),
        vec![3, 4, 5, 6, 7, 8]
    );
    assert!(log.read(3, u64::MAX, 0, usize::MAX).unwrap().is_empty());
    // High watermark in the middle of a batch.
    assert_eq!(
        offsets(&log.read(2, 6, 100, usize::MAX).unwrap()),
        vec![2, 3, 4, 5]
    );
    assert!(log.read(6, 6, 100, usize::MAX).unwrap().is_empty());
    // At least one record even when it alone exceeds max_bytes.
    assert_eq!(offsets(&log.read(5, u64::MAX, 100, 0).unwrap()), vec![5]);
    let one = log.read(5, u64::MAX, 100, 0).unwrap();
    assert_eq!(one[0].key.as_deref(), Some(&b"k1005"[..]));
    // Fixed record overhead 28 + key "k1005" + value "v5" + header 8 + "h" + "v5".
    let size = 28 + 5 + 2 + 8 + 1 + 2;
    let two = log.read(5, u64::MAX, 100, 2 * size + 3).unwrap();
    assert_eq!(offsets(&two), vec![5, 6]);
}

#[test]
fn large_record_is_returned_alone() {
    let dir = tempfile::tempdir().unwrap();
    let log = open(dir.path(), cfg());
    let big = RecordIn {
        value: Some(vec![7; 200_000]),
        ..RecordIn::default()
    };
    log.append(&[big.clone(), big], meta(0), 0).unwrap();
    fill(&log, 1, 1);
    let got = log.read(0, u64::MAX, 10, 1024).unwrap();
    assert_eq!(offsets(&got), vec![0]);
    assert_eq!(got[0].value.as_ref().map(Vec::len), Some(200_000));
}

#[test]
fn empty_and_oversized_appends_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let log = open(dir.path(), small_segments(500));
    assert!(matches!(
        log.append(&[], meta(0), 0),
        Err(LogError::InvalidBatch(_))
    ));
    let big = RecordIn {
        value: Some(vec![0; 600]),
        ..RecordIn::default()
    };
    assert!(matches!(
        log.append(&[big], meta(0), 0),
        Err(LogError::MessageTooLarge { max: 500, .. })
    ));
    assert_eq!(log.log_end_offset(), 0);
}

#[test]
fn log_append_time_is_stamped() {
    let dir = tempfile::tempdir().unwrap();
    let log = open(dir.path(), cfg());
    let info = log
        .append(&[rec(1, "a"), rec(2, "b")], log_append_meta(), 777)
        .unwrap();
    assert_eq!(info.log_append_time, 777);
    assert!(read_all(&log, 0).iter().all(|r| r.timestamp == 777));
}

#[test]
fn rolls_by_size_reads_across_segments_and_reopens() {
    let dir = tempfile::tempdir().unwrap();
    let log = open(dir.path(), small_segments(400));
    fill(&log, 30, 2);
    assert!(log.segment_count() > 5, "{} segments", log.segment_count());
    assert_eq!(segment_bases(dir.path()).len(), log.segment_count());
    assert!(
        std::fs::metadata(dir.path().join(format!("{:020}.log", 0)))
            .unwrap()
            .len()
            <= 400
    );
    for from in [0, 1, 7, 30, 59] {
        assert_eq!(
            offsets(&read_all(&log, from)),
            (from..60).collect::<Vec<_>>()
        );
    }
    let size = log.size_bytes();
    drop(log);
    let log = open(dir.path(), small_segments(400));
    assert_eq!((log.log_end_offset(), log.size_bytes()), (60, size));
    assert_eq!(offsets(&read_all(&log, 0)), (0..60).collect::<Vec<_>>());
    fill(&log, 1, 1);
    assert_eq!(read_all(&log, 60)[0].value.as_deref(), Some(&b"v60"[..]));
}

#[test]
fn rolls_by_time() {
    let dir = tempfile::tempdir().unwrap();
    let config = LogConfig {
        segment_ms: 1000,
        ..cfg()
    };
    let log = open(dir.path(), config);
    log.append(&[rec(0, "a")], meta(0), 10_000).unwrap();
    log.append(&[rec(0, "b")], meta(0), 10_900).unwrap();
    assert_eq!(log.segment_count(), 1);
    log.append(&[rec(0, "c")], meta(0), 11_001).unwrap();
    assert_eq!(log.segment_count(), 2);
    log.set_config(LogConfig {
        segment_ms: 100_000,
        ..config
    });
    log.append(&[rec(0, "d")], meta(0), 13_000).unwrap();
    assert_eq!(log.segment_count(), 2);
    assert_eq!(offsets(&read_all(&log, 0)), vec![0, 1, 2, 3]);
}

#[test]
fn concurrent_reads_and_appends() {
    let dir = tempfile::tempdir().unwrap();
    let log = Arc::new(open(dir.path(), small_segments(2000)));
    let writer = {
        let log = Arc::clone(&log);
        std::thread::spawn(move || fill(&log, 300, 3))
    };
    let mut seen = 0;
    while seen < 900 {
        let got = log.read(seen, u64::MAX, 50, 4096).unwrap();
        for (i, r) in got.iter().enumerate() {
            assert_eq!(r.offset, seen + i as u64);
            assert_eq!(
                r.value.as_deref(),
                Some(format!("v{}", r.offset).as_bytes())
            );
        }
        seen += got.len() as u64;
    }
    writer.join().unwrap();
}

#[test]
fn delete_removes_files_and_disables_the_log() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("topic-0");
    let log = open(&path, cfg());
    fill(&log, 3, 1);
    log.delete().unwrap();
    assert!(!path.exists());
    assert!(matches!(
        log.append(&[rec(0, "x")], meta(0), 0),
        Err(LogError::Deleted)
    ));
    assert!(matches!(log.read(0, 1, 1, 1), Err(LogError::Deleted)));
}
