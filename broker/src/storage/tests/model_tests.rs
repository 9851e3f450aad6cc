//! Property-style test: random operations checked against a `Vec` model.

use super::super::{decode_batches, BatchMeta, LogConfig, PartitionLog, Record, RecordIn};
use super::{open, Rng};

fn random_record(rng: &mut Rng) -> RecordIn {
    let bytes = |rng: &mut Rng| -> Option<Vec<u8>> {
        match rng.below(5) {
            0 => None,
            _ => Some((0..rng.below(60)).map(|_| rng.next() as u8).collect()),
        }
    };
    RecordIn {
        timestamp: rng.below(10_000) as i64,
        key: bytes(rng),
        value: bytes(rng),
        headers: (0..rng.below(3))
            .map(|i| (format!("h{i}"), vec![i as u8; rng.below(5) as usize]))
            .collect(),
    }
}

fn check_read(log: &PartitionLog, model: &[Record], rng: &mut Rng) {
    let (start, end) = (log.log_start_offset(), log.log_end_offset());
    assert_eq!(end, model.len() as u64);
    let from = start + rng.below(end - start + 1);
    let hw = from + rng.below(end - from + 2);
    let max_records = 1 + rng.below(20) as usize;
    let got = log
        .read(from, hw, max_records, rng.below(2000) as usize)
        .unwrap();
    let available = &model[from as usize..hw.min(end) as usize];
    assert!(got.len() <= max_records && got.len() <= available.len());
    if !available.is_empty() {
        assert!(!got.is_empty(), "read({from}, {hw}) returned nothing");
    }
    assert_eq!(&got[..], &available[..got.len()]);

    let raw = log
        .read_batches(from, hw, rng.below(3000) as usize)
        .unwrap();
    for (header, records) in decode_batches(&raw).unwrap() {
        assert!(header.last_offset() < hw);
        for r in records {
            assert_eq!(r, model[r.offset as usize]);
        }
    }
}

fn run(seed: u64) {
    println!("model test seed {seed:#x}");
    let mut rng = Rng::new(seed);
    let dir = tempfile::tempdir().unwrap();
    let config = LogConfig {
        segment_bytes: 1500,
        index_interval_bytes: 200,
        ..LogConfig::default()
    };
    let mut log = open(dir.path(), config);
    let mut model: Vec<Record> = Vec::new();
    let mut epoch = 0;
    for step in 0..400 {
        match rng.below(20) {
            0..=9 => {
                let recs: Vec<RecordIn> = (0..1 + rng.below(5))
                    .map(|_| random_record(&mut rng))
                    .collect();
                if rng.below(10) == 0 {
                    epoch += 1;
                }
                let info = log
                    .append(
                        &recs,
                        BatchMeta {
                            leader_epoch: epoch,
                            ..BatchMeta::default()
                        },
                        step,
                    )
                    .unwrap();
                assert_eq!(info.base_offset, model.len() as u64);
                for (i, r) in recs.into_iter().enumerate() {
                    model.push(Record {
                        offset: info.base_offset + i as u64,
                        timestamp: r.timestamp,
                        key: r.key,
                        value: r.value,
                        headers: r.headers,
                    });
                }
            }
            10..=15 => check_read(&log, &model, &mut rng),
            16 | 17 => {
                drop(log);
                log = open(dir.path(), config);
            }
            18 if !model.is_empty() => {
                // Truncate to a batch boundary the model can follow: read the
                // batch containing a random offset to learn its base.
                let at = rng.below(model.len() as u64);
                let raw = log.read_batches(at, u64::MAX, 0).unwrap();
                let base = decode_batches(&raw).unwrap()[0].0.base_offset;
                log.truncate_to(at).unwrap();
                model.truncate(base as usize);
                assert_eq!(log.log_end_offset(), base);
            }
            _ => {
                let ts = rng.below(10_500) as i64;
                let want = model.iter().find(|r| r.timestamp >= ts).map(|r| r.offset);
                assert_eq!(
                    log.offset_for_timestamp(ts).unwrap(),
                    want,
                    "timestamp {ts}"
                );
            }
        }
        assert_eq!(log.log_end_offset(), model.len() as u64, "step {step}");
    }
    check_read(&log, &model, &mut rng);
}

#[test]
fn random_operations_match_model() {
    for seed in [1, 0xDEAD_BEEF, 0x1234_5678_9ABC] {
        run(seed);
    }
}
