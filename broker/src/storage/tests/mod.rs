//! Tests of the storage engine against real files in temporary directories.

mod batch_tests;
mod log_tests;
mod model_tests;
mod recovery_tests;
mod retention_tests;
mod startup_tests;
mod sync_tests;

use std::path::{Path, PathBuf};

use super::{BatchMeta, LogConfig, PartitionLog, Record, RecordIn, TimestampType};

/// A config with a small index interval so indexes get several entries.
pub(super) fn cfg() -> LogConfig {
    LogConfig {
        index_interval_bytes: 100,
        ..LogConfig::default()
    }
}

/// A config that rolls after roughly `bytes` bytes.
pub(super) fn small_segments(bytes: u64) -> LogConfig {
    LogConfig {
        segment_bytes: bytes,
        ..cfg()
    }
}

pub(super) fn open(dir: &Path, config: LogConfig) -> PartitionLog {
    PartitionLog::open(dir, config).unwrap()
}

pub(super) fn rec(ts: i64, value: &str) -> RecordIn {
    RecordIn {
        timestamp: ts,
        key: Some(format!("k{ts}").into_bytes()),
        value: Some(value.as_bytes().to_vec()),
        headers: vec![("h".to_owned(), value.as_bytes().to_vec())],
    }
}

pub(super) fn meta(epoch: u32) -> BatchMeta {
    BatchMeta {
        leader_epoch: epoch,
        ..BatchMeta::default()
    }
}

pub(super) fn log_append_meta() -> BatchMeta {
    BatchMeta {
        timestamp_type: TimestampType::LogAppendTime,
        ..BatchMeta::default()
    }
}

/// Appends `batches` batches of `per_batch` records; record `i` (its offset
/// when the log starts empty) has timestamp `1000 + i` and value `v{i}`.
pub(super) fn fill(log: &PartitionLog, batches: usize, per_batch: usize) {
    for _ in 0..batches {
        let start = log.log_end_offset() as i64;
        let recs: Vec<RecordIn> = (0..per_batch as i64)
            .map(|j| rec(1000 + start + j, &format!("v{}", start + j)))
            .collect();
        log.append(&recs, meta(0), 0).unwrap();
    }
}

/// Offsets of the records `read` returns.
pub(super) fn offsets(records: &[Record]) -> Vec<u64> {
    records.iter().map(|r| r.offset).collect()
}

/// Reads everything from `from` to the log end.
pub(super) fn read_all(log: &PartitionLog, from: u64) -> Vec<Record> {
    log.read(from, u64::MAX, usize::MAX, usize::MAX).unwrap()
}

pub(super) fn seg_path(dir: &Path, base: u64, ext: &str) -> PathBuf {
    dir.join(format!("{base:020}.{ext}"))
}

/// Base offsets of the `.log` files in `dir`, sorted.
pub(super) fn segment_bases(dir: &Path) -> Vec<u64> {
    let mut bases: Vec<u64> = std::fs::read_dir(dir)
        .unwrap()
        .filter_map(|e| {
            let name = e.unwrap().file_name().into_string().unwrap();
            name.strip_suffix(".log").and_then(|s| s.parse().ok())
        })
        .collect();
    bases.sort_unstable();
    bases
}

/// Deterministic xorshift64* generator for property-style tests.
pub(super) struct Rng(u64);

impl Rng {
    pub(super) fn new(seed: u64) -> Self {
        Rng(seed.max(1))
    }

    pub(super) fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// Uniform-ish value in `0..n` (n > 0).
    pub(super) fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}
