//! Batch format: round trips, CRC checks and hostile input.

use super::super::batch::{encode_batch, BATCH_HEADER_LEN};
use super::super::{decode_batches, BatchMeta, LogError, RecordIn, TimestampType};
use super::Rng;

fn sample_records() -> Vec<RecordIn> {
    vec![
        RecordIn {
            timestamp: 50,
            key: None,
            value: None,
            headers: vec![],
        },
        RecordIn {
            timestamp: 10,
            key: Some(vec![]),
            value: Some(vec![]),
            headers: vec![],
        },
        RecordIn {
            timestamp: 70,
            key: Some((0..=255).collect()),
            value: Some(vec![0, 0xff, 0x80, 0]),
            headers: vec![
                ("trace-id".into(), b"abc".to_vec()),
                ("ünï".into(), vec![]),
                (String::new(), vec![0]),
            ],
        },
        RecordIn {
            timestamp: -3,
            key: Some(b"k".to_vec()),
            value: None,
            headers: vec![("x".into(), vec![1; 300])],
        },
    ]
}

fn fix_crc(buf: &mut [u8]) {
    let crc = crc32c::crc32c(&buf[20..]);
    buf[16..20].copy_from_slice(&crc.to_be_bytes());
}

#[test]
fn round_trip_preserves_everything() {
    let recs = sample_records();
    let meta = BatchMeta {
        leader_epoch: 7,
        producer_id: 42,
        producer_epoch: 3,
        base_sequence: 9,
        timestamp_type: TimestampType::CreateTime,
    };
    let (bytes, header) = encode_batch(100, &recs, &meta, 999, u64::MAX).unwrap();
    let decoded = decode_batches(&bytes).unwrap();
    assert_eq!(decoded.len(), 1);
    let (h, out) = &decoded[0];
    assert_eq!(h, &header);
    assert_eq!(
        (
            h.base_offset,
            h.leader_epoch,
            h.producer_id,
            h.producer_epoch,
            h.base_sequence
        ),
        (100, 7, 42, 3, 9)
    );
    assert_eq!(
        (
            h.record_count,
            h.last_offset_delta,
            h.base_timestamp,
            h.max_timestamp
        ),
        (4, 3, 50, 70)
    );
    for (i, (r, want)) in out.iter().zip(&recs).enumerate() {
        assert_eq!(r.offset, 100 + i as u64);
        assert_eq!(r.timestamp, want.timestamp);
        assert_eq!(r.key, want.key);
        assert_eq!(r.value, want.value);
        assert_eq!(r.headers, want.headers);
    }
}

#[test]
fn log_append_time_replaces_timestamps() {
    let meta = BatchMeta {
        timestamp_type: TimestampType::LogAppendTime,
        ..BatchMeta::default()
    };
    let (bytes, _) = encode_batch(0, &sample_records(), &meta, 123_456, u64::MAX).unwrap();
    let mut two = bytes.clone();
    let (second, _) = encode_batch(
        4,
        &sample_records()[..1],
        &BatchMeta::default(),
        0,
        u64::MAX,
    )
    .unwrap();
    two.extend_from_slice(&second);
    let decoded = decode_batches(&two).unwrap();
    assert_eq!(decoded[0].0.timestamp_type, TimestampType::LogAppendTime);
    assert!(decoded[0].1.iter().all(|r| r.timestamp == 123_456));
    assert_eq!(decoded[1].1[0].timestamp, 50);
}

#[test]
fn crc_mismatch_is_detected() {
    let (bytes, _) =
        encode_batch(0, &sample_records(), &BatchMeta::default(), 0, u64::MAX).unwrap();
    for pos in [16, 20, 30, BATCH_HEADER_LEN + 10, bytes.len() - 1] {
        let mut bad = bytes.clone();
        bad[pos] ^= 0x01;
        let err = decode_batches(&bad).unwrap_err();
        assert!(
            matches!(err, LogError::Corrupt { .. }),
            "flip at {pos}: {err}"
        );
    }
}

#[test]
fn encode_rejects_empty_and_oversized_batches() {
    let err = encode_batch(0, &[], &BatchMeta::default(), 0, u64::MAX).unwrap_err();
    assert!(matches!(err, LogError::InvalidBatch(_)));
    let big = vec![RecordIn {
        value: Some(vec![0; 1000]),
        ..RecordIn::default()
    }];
    let err = encode_batch(0, &big, &BatchMeta::default(), 0, 500).unwrap_err();
    assert!(
        matches!(err, LogError::MessageTooLarge { max: 500, .. }),
        "{err}"
    );
    let far = vec![
        RecordIn {
            timestamp: i64::MIN,
            ..RecordIn::default()
        },
        RecordIn {
            timestamp: i64::MAX,
            ..RecordIn::default()
        },
    ];
    assert!(matches!(
        encode_batch(0, &far, &BatchMeta::default(), 0, u64::MAX),
        Err(LogError::InvalidBatch(_))
    ));
}

#[test]
fn truncated_and_mutated_input_never_panics() {
    let (bytes, _) =
        encode_batch(5, &sample_records(), &BatchMeta::default(), 0, u64::MAX).unwrap();
    for len in 0..bytes.len() {
        assert!(
            decode_batches(&bytes[..len]).is_err() || len == 0,
            "prefix of {len} bytes decoded"
        );
    }
    let seed = 0x5eed_0001;
    println!("mutation seed {seed:#x}");
    let mut rng = Rng::new(seed);
    for _ in 0..3000 {
        let mut bad = bytes.clone();
        for _ in 0..=rng.below(4) {
            let i = rng.below(bad.len() as u64) as usize;
            bad[i] = rng.next() as u8;
        }
        // Half the time make the CRC right so the structural checks are exercised.
        if rng.below(2) == 0 {
            fix_crc(&mut bad);
        }
        let _ = decode_batches(&bad);
    }
}

#[test]
fn hostile_counts_are_rejected_without_allocating() {
    let recs = [RecordIn {
        value: Some(b"v".to_vec()),
        headers: vec![("a".into(), vec![])],
        ..RecordIn::default()
    }];
    let (bytes, _) = encode_batch(0, &recs, &BatchMeta::default(), 0, u64::MAX).unwrap();
    // record_count = u32::MAX (and a matching last_offset_delta).
    let mut bad = bytes.clone();
    bad[56..60].copy_from_slice(&u32::MAX.to_be_bytes());
    bad[22..26].copy_from_slice(&(u32::MAX - 1).to_be_bytes());
    fix_crc(&mut bad);
    assert!(matches!(
        decode_batches(&bad),
        Err(LogError::Corrupt { .. })
    ));
    // header_count = u32::MAX inside the record (after len, ts, offset delta, key, value).
    let hc = BATCH_HEADER_LEN + 4 + 8 + 4 + 4 + 4 + 1;
    let mut bad = bytes.clone();
    bad[hc..hc + 4].copy_from_slice(&u32::MAX.to_be_bytes());
    fix_crc(&mut bad);
    assert!(matches!(
        decode_batches(&bad),
        Err(LogError::Corrupt { .. })
    ));
    // A key length far past the end.
    let kl = BATCH_HEADER_LEN + 4 + 8 + 4;
    let mut bad = bytes.clone();
    bad[kl..kl + 4].copy_from_slice(&i32::MAX.to_be_bytes());
    fix_crc(&mut bad);
    assert!(matches!(
        decode_batches(&bad),
        Err(LogError::Corrupt { .. })
    ));
    // batch_length claiming 4 GiB.
    let mut bad = bytes;
    bad[8..12].copy_from_slice(&u32::MAX.to_be_bytes());
    assert!(matches!(
        decode_batches(&bad),
        Err(LogError::Corrupt { .. })
    ));
}
