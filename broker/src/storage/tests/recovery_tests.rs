//! Crash recovery: torn tails, corruption and damaged index files.

use std::fs::OpenOptions;
use std::io::Write;

use super::super::{LogError, PartitionLog};
use super::{cfg, fill, meta, offsets, open, read_all, rec, seg_path, small_segments};

fn log_len(dir: &std::path::Path, base: u64) -> u64 {
    std::fs::metadata(seg_path(dir, base, "log")).unwrap().len()
}

#[test]
fn torn_tail_is_cut_at_the_last_complete_batch() {
    let dir = tempfile::tempdir().unwrap();
    let log = open(dir.path(), cfg());
    fill(&log, 4, 3);
    let good = log.size_bytes();
    fill(&log, 1, 3);
    let full = log.size_bytes();
    drop(log);
    for cut in [good + 1, good + 11, good + 40, full - 1] {
        let f = OpenOptions::new()
            .write(true)
            .open(seg_path(dir.path(), 0, "log"))
            .unwrap();
        f.set_len(cut).unwrap();
        let log = open(dir.path(), cfg());
        assert_eq!(
            (log.log_end_offset(), log.size_bytes()),
            (12, good),
            "cut at {cut}"
        );
        assert_eq!(log_len(dir.path(), 0), good);
        fill(&log, 1, 3);
        assert_eq!(offsets(&read_all(&log, 0)), (0..15).collect::<Vec<_>>());
        assert_eq!(read_all(&log, 12)[0].value.as_deref(), Some(&b"v12"[..]));
        drop(log);
        let f = OpenOptions::new()
            .write(true)
            .open(seg_path(dir.path(), 0, "log"))
            .unwrap();
        f.set_len(full).unwrap();
        let log = open(dir.path(), cfg());
        assert_eq!(log.log_end_offset(), 15);
    }
}

#[test]
fn appended_garbage_is_dropped() {
    let dir = tempfile::tempdir().unwrap();
    let log = open(dir.path(), cfg());
    fill(&log, 3, 2);
    let good = log.size_bytes();
    drop(log);
    let mut f = OpenOptions::new()
        .append(true)
        .open(seg_path(dir.path(), 0, "log"))
        .unwrap();
    f.write_all(&[0xAB; 1000]).unwrap();
    // Also a plausible header prefix with a huge length.
    f.write_all(&6u64.to_be_bytes()).unwrap();
    f.write_all(&u32::MAX.to_be_bytes()).unwrap();
    drop(f);
    let log = open(dir.path(), cfg());
    assert_eq!(
        (
            log.log_end_offset(),
            log.size_bytes(),
            log_len(dir.path(), 0)
        ),
        (6, good, good)
    );
}

#[test]
fn corrupt_byte_truncates_from_that_batch() {
    let dir = tempfile::tempdir().unwrap();
    let log = open(dir.path(), cfg());
    let mut starts = Vec::new();
    for _ in 0..5 {
        starts.push(log.size_bytes());
        fill(&log, 1, 2);
    }
    drop(log);
    let path = seg_path(dir.path(), 0, "log");
    // Damage the value bytes of the last batch, then of the third one.
    for (batch, expect_end) in [(4usize, 8u64), (2, 4)] {
        let mut bytes = std::fs::read(&path).unwrap();
        let i = starts[batch] as usize + 70;
        bytes[i] ^= 0xFF;
        std::fs::write(&path, &bytes).unwrap();
        let log = open(dir.path(), cfg());
        assert_eq!(log.log_end_offset(), expect_end);
        assert_eq!(log.size_bytes(), starts[batch]);
        assert_eq!(
            offsets(&read_all(&log, 0)),
            (0..expect_end).collect::<Vec<_>>()
        );
    }
}

#[test]
fn corrupt_inactive_segment_fails_open() {
    let dir = tempfile::tempdir().unwrap();
    let log = open(dir.path(), small_segments(300));
    fill(&log, 10, 2);
    assert!(log.segment_count() > 2);
    drop(log);
    let path = seg_path(dir.path(), 0, "log");
    let mut bytes = std::fs::read(&path).unwrap();
    bytes[8] ^= 0x10; // the first batch's length field
    std::fs::write(&path, &bytes).unwrap();
    let err = PartitionLog::open(dir.path(), small_segments(300)).unwrap_err();
    assert!(matches!(err, LogError::Corrupt { .. }), "{err}");
}

#[test]
fn damaged_indexes_are_rebuilt() {
    let dir = tempfile::tempdir().unwrap();
    let config = small_segments(2000);
    let log = open(dir.path(), config);
    for i in 0..40 {
        log.append(
            &[
                rec(100 * i, &"x".repeat(i as usize)),
                rec(100 * i + 50, "y"),
            ],
            meta(0),
            0,
        )
        .unwrap();
    }
    let bases: Vec<u64> = super::segment_bases(dir.path());
    assert!(bases.len() >= 3, "{bases:?}");
    drop(log);
    let originals: Vec<(Vec<u8>, Vec<u8>)> = bases
        .iter()
        .map(|&b| {
            (
                std::fs::read(seg_path(dir.path(), b, "index")).unwrap(),
                std::fs::read(seg_path(dir.path(), b, "timeindex")).unwrap(),
            )
        })
        .collect();
    assert!(originals
        .iter()
        .all(|(i, t)| i.len() >= 16 && t.len() >= 24));

    std::fs::remove_file(seg_path(dir.path(), bases[0], "index")).unwrap();
    std::fs::remove_file(seg_path(dir.path(), bases[0], "timeindex")).unwrap();
    std::fs::write(seg_path(dir.path(), bases[1], "index"), [1, 2, 3]).unwrap();
    // Well-formed entries that point past the log / at no batch.
    let mut bogus = originals[1].1.clone();
    bogus.extend_from_slice(&[0, 0, 0, 0, 0, 0, 0x7f, 0, 0, 0, 1, 0]);
    std::fs::write(seg_path(dir.path(), bases[1], "timeindex"), &bogus).unwrap();
    let last = *bases.last().unwrap();
    std::fs::write(
        seg_path(dir.path(), last, "index"),
        [0, 0, 0, 9, 0, 1, 0, 0],
    )
    .unwrap();
    std::fs::write(seg_path(dir.path(), last, "timeindex"), []).unwrap();

    let log = open(dir.path(), config);
    for (b, (index, time)) in bases.iter().zip(&originals) {
        assert_eq!(
            &std::fs::read(seg_path(dir.path(), *b, "index")).unwrap(),
            index,
            "segment {b}"
        );
        assert_eq!(
            &std::fs::read(seg_path(dir.path(), *b, "timeindex")).unwrap(),
            time,
            "segment {b}"
        );
    }
    for from in 0..80 {
        assert_eq!(log.read(from, u64::MAX, 1, 0).unwrap()[0].offset, from);
    }
    assert_eq!(log.offset_for_timestamp(1234).unwrap(), Some(25));
}

#[test]
fn leftover_temp_and_orphan_files_are_removed() {
    let dir = tempfile::tempdir().unwrap();
    let log = open(dir.path(), cfg());
    fill(&log, 2, 2);
    drop(log);
    let junk = [
        dir.path().join("00000000000000000000.index.tmp"),
        dir.path().join("log-start-offset.tmp"),
        seg_path(dir.path(), 500, "index"),
        seg_path(dir.path(), 500, "timeindex"),
    ];
    for p in &junk {
        std::fs::write(p, b"junk").unwrap();
    }
    let log = open(dir.path(), cfg());
    assert!(junk.iter().all(|p| !p.exists()));
    assert_eq!(log.log_end_offset(), 4);
}

#[test]
fn checkpoint_past_the_end_restarts_the_log_and_garbage_is_ignored() {
    let dir = tempfile::tempdir().unwrap();
    let log = open(dir.path(), cfg());
    fill(&log, 2, 2);
    drop(log);
    let ckpt = dir.path().join("log-start-offset");
    std::fs::write(&ckpt, "not a number").unwrap();
    let log = open(dir.path(), cfg());
    assert_eq!((log.log_start_offset(), log.log_end_offset()), (0, 4));
    drop(log);
    // As left by a crash in the middle of advancing the start past the end.
    std::fs::write(&ckpt, "50\n").unwrap();
    let log = open(dir.path(), cfg());
    assert_eq!((log.log_start_offset(), log.log_end_offset()), (50, 50));
    assert_eq!(super::segment_bases(dir.path()), vec![50]);
    assert_eq!(
        log.append(&[rec(1, "a")], meta(0), 0).unwrap().base_offset,
        50
    );
}
