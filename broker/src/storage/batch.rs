//! Record batch binary format: encoding, decoding and CRC32C checks.
//!
//! All integers are big-endian. A batch is laid out as
//!
//! ```text
//! base_offset u64 | batch_length u32 | leader_epoch u32 | crc u32
//! | attributes u16 | last_offset_delta u32 | base_timestamp i64 | max_timestamp i64
//! | producer_id i64 | producer_epoch i16 | base_sequence i32 | record_count u32 | records...
//! ```
//!
//! `batch_length` counts the bytes after itself and the CRC covers everything
//! after the CRC field, so the base offset and leader epoch can be rewritten
//! without recomputing it. Every decoder here treats its input as untrusted
//! (it may come from a peer via `append_raw`): lengths are checked against the
//! remaining input before anything is allocated, and all arithmetic is checked.

pub use super::record::{BatchHeader, BatchMeta, Record, RecordIn, TimestampType};
use super::LogError;

/// Bytes before `batch_length` ends: base offset and the length itself.
pub(crate) const BATCH_PREFIX_LEN: usize = 12;
/// Fixed header size of a batch, from base offset up to the first record.
pub(crate) const BATCH_HEADER_LEN: usize = 60;
/// The CRC covers everything from the attributes field on.
const CRC_START: usize = 20;
/// Attribute bit marking broker-assigned (log append) timestamps.
const ATTR_LOG_APPEND_TIME: u16 = 1 << 3;
/// Smallest record body: timestamp delta, offset delta, key/value lengths, header count.
const RECORD_MIN_BODY: usize = 8 + 4 + 4 + 4 + 4;
/// Smallest encoded record including its length prefix.
const RECORD_MIN_LEN: usize = 4 + RECORD_MIN_BODY;
/// Smallest encoded header: key length and value length.
const HEADER_MIN_LEN: usize = 8;

/// Why some bytes are not a valid batch; the caller adds where they came from.
#[derive(Debug)]
pub(crate) struct Malformed(pub(crate) String);

impl Malformed {
    /// Turns the reason into a [`LogError::Corrupt`] at `location`.
    pub(crate) fn at(self, location: impl std::fmt::Display) -> LogError {
        LogError::Corrupt {
            location: location.to_string(),
            reason: self.0,
        }
    }
}

fn malformed<T>(reason: impl Into<String>) -> Result<T, Malformed> {
    Err(Malformed(reason.into()))
}

/// Bounds-checked big-endian reader over an untrusted slice.
struct Cursor<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> Cursor<'a> {
    fn new(bytes: &'a [u8]) -> Self {
        Cursor { bytes, pos: 0 }
    }

    fn remaining(&self) -> usize {
        self.bytes.len() - self.pos
    }

    fn take(&mut self, n: usize, what: &str) -> Result<&'a [u8], Malformed> {
        if n > self.remaining() {
            return malformed(format!(
                "{what} needs {n} bytes but only {} remain",
                self.remaining()
            ));
        }
        let out = &self.bytes[self.pos..self.pos + n];
        self.pos += n;
        Ok(out)
    }

    fn array<const N: usize>(&mut self, what: &str) -> Result<[u8; N], Malformed> {
        let mut out = [0u8; N];
        out.copy_from_slice(self.take(N, what)?);
        Ok(out)
    }

    fn u16(&mut self, what: &str) -> Result<u16, Malformed> {
        Ok(u16::from_be_bytes(self.array(what)?))
    }
    fn i16(&mut self, what: &str) -> Result<i16, Malformed> {
        Ok(i16::from_be_bytes(self.array(what)?))
    }
    fn u32(&mut self, what: &str) -> Result<u32, Malformed> {
        Ok(u32::from_be_bytes(self.array(what)?))
    }
    fn i32(&mut self, what: &str) -> Result<i32, Malformed> {
        Ok(i32::from_be_bytes(self.array(what)?))
    }
    fn u64(&mut self, what: &str) -> Result<u64, Malformed> {
        Ok(u64::from_be_bytes(self.array(what)?))
    }
    fn i64(&mut self, what: &str) -> Result<i64, Malformed> {
        Ok(i64::from_be_bytes(self.array(what)?))
    }

    /// A byte string prefixed by an i32 length where -1 means null.
    fn nullable_bytes(&mut self, what: &str) -> Result<Option<Vec<u8>>, Malformed> {
        let len = self.i32(what)?;
        match len {
            -1 => Ok(None),
            n if n < 0 => malformed(format!("{what} has negative length {n}")),
            // Non-negative i32 always fits in usize on supported targets.
            n => Ok(Some(self.take(n as usize, what)?.to_vec())),
        }
    }
}

/// Parses the fixed header at the start of `bytes`, returning it with the
/// batch's total encoded length. Only the first [`BATCH_HEADER_LEN`] bytes are
/// looked at; the CRC is not checked here.
pub(crate) fn parse_header(bytes: &[u8]) -> Result<(BatchHeader, usize), Malformed> {
    let mut c = Cursor::new(bytes);
    let base_offset = c.u64("base_offset")?;
    let batch_length = c.u32("batch_length")? as usize;
    if batch_length < BATCH_HEADER_LEN - BATCH_PREFIX_LEN {
        return malformed(format!(
            "batch_length {batch_length} is below the header size"
        ));
    }
    let leader_epoch = c.u32("leader_epoch")?;
    let _crc = c.u32("crc")?;
    let attributes = c.u16("attributes")?;
    if attributes & !ATTR_LOG_APPEND_TIME != 0 {
        // Compression/transaction bits would change how records are laid out.
        return malformed(format!("unsupported attributes {attributes:#06x}"));
    }
    let last_offset_delta = c.u32("last_offset_delta")?;
    let base_timestamp = c.i64("base_timestamp")?;
    let max_timestamp = c.i64("max_timestamp")?;
    let producer_id = c.i64("producer_id")?;
    let producer_epoch = c.i16("producer_epoch")?;
    let base_sequence = c.i32("base_sequence")?;
    let record_count = c.u32("record_count")?;
    if record_count == 0 {
        return malformed("batch has no records");
    }
    if last_offset_delta != record_count - 1 {
        return malformed(format!(
            "last_offset_delta {last_offset_delta} does not match record_count {record_count}"
        ));
    }
    let records_len = (batch_length - (BATCH_HEADER_LEN - BATCH_PREFIX_LEN)) as u64;
    if u64::from(record_count) * RECORD_MIN_LEN as u64 > records_len {
        return malformed(format!(
            "{record_count} records cannot fit in {records_len} bytes"
        ));
    }
    // The offset after the batch must be representable, so the log end offset is too.
    if base_offset
        .checked_add(u64::from(last_offset_delta))
        .and_then(|last| last.checked_add(1))
        .is_none()
    {
        return malformed("batch offsets overflow u64");
    }
    if max_timestamp < base_timestamp {
        return malformed("max_timestamp is below base_timestamp");
    }
    let timestamp_type = if attributes & ATTR_LOG_APPEND_TIME != 0 {
        TimestampType::LogAppendTime
    } else {
        TimestampType::CreateTime
    };
    let header = BatchHeader {
        base_offset,
        leader_epoch,
        timestamp_type,
        base_timestamp,
        max_timestamp,
        producer_id,
        producer_epoch,
        base_sequence,
        record_count,
        last_offset_delta,
    };
    Ok((header, BATCH_PREFIX_LEN + batch_length))
}

/// Checks the CRC32C of one complete encoded batch.
pub(crate) fn verify_crc(batch: &[u8]) -> Result<(), Malformed> {
    if batch.len() < BATCH_HEADER_LEN {
        return malformed("batch shorter than its header");
    }
    let mut stored = [0u8; 4];
    stored.copy_from_slice(&batch[16..20]);
    let stored = u32::from_be_bytes(stored);
    let actual = crc32c::crc32c(&batch[CRC_START..]);
    if stored != actual {
        return malformed(format!(
            "CRC mismatch: stored {stored:#010x}, computed {actual:#010x}"
        ));
    }
    Ok(())
}

/// Decodes one complete batch (exactly `batch.len()` bytes), verifying its CRC
/// and the consistency of every record.
pub(crate) fn decode_batch(batch: &[u8]) -> Result<(BatchHeader, Vec<Record>), Malformed> {
    let (header, total) = parse_header(batch)?;
    if total != batch.len() {
        return malformed(format!(
            "batch_length says {total} bytes but {} were given",
            batch.len()
        ));
    }
    verify_crc(batch)?;
    let records = decode_records(&header, &batch[BATCH_HEADER_LEN..])?;
    Ok((header, records))
}

fn decode_records(header: &BatchHeader, body: &[u8]) -> Result<Vec<Record>, Malformed> {
    let mut c = Cursor::new(body);
    // parse_header already bounded record_count by the body length.
    let mut records = Vec::with_capacity(header.record_count as usize);
    let mut max_seen = i64::MIN;
    for i in 0..header.record_count {
        let len = c.u32("record length")? as usize;
        if len < RECORD_MIN_BODY {
            return malformed(format!("record {i} length {len} is too small"));
        }
        let mut r = Cursor::new(c.take(len, "record")?);
        let ts_delta = r.i64("timestamp_delta")?;
        let offset_delta = r.u32("offset_delta")?;
        if offset_delta != i {
            return malformed(format!("record {i} has offset_delta {offset_delta}"));
        }
        let key = r.nullable_bytes("key")?;
        let value = r.nullable_bytes("value")?;
        let header_count = r.u32("header_count")? as usize;
        if header_count > r.remaining() / HEADER_MIN_LEN {
            return malformed(format!("record {i} claims {header_count} headers"));
        }
        let mut headers = Vec::with_capacity(header_count);
        for _ in 0..header_count {
            let key_len = r.u32("header key length")? as usize;
            let key_bytes = r.take(key_len, "header key")?;
            let key = match std::str::from_utf8(key_bytes) {
                Ok(k) => k.to_owned(),
                Err(_) => return malformed(format!("record {i} header key is not UTF-8")),
            };
            // A null header value reads back as empty: the public type has no null.
            let value = r.nullable_bytes("header value")?.unwrap_or_default();
            headers.push((key, value));
        }
        if r.remaining() != 0 {
            return malformed(format!("record {i} has {} trailing bytes", r.remaining()));
        }
        let timestamp = match header.timestamp_type {
            TimestampType::LogAppendTime => header.max_timestamp,
            TimestampType::CreateTime => match header.base_timestamp.checked_add(ts_delta) {
                Some(ts) => ts,
                None => return malformed(format!("record {i} timestamp overflows")),
            },
        };
        max_seen = max_seen.max(timestamp);
        records.push(Record {
            offset: header.base_offset + u64::from(offset_delta),
            timestamp,
            key,
            value,
            headers,
        });
    }
    if c.remaining() != 0 {
        return malformed(format!("{} bytes after the last record", c.remaining()));
    }
    if header.timestamp_type == TimestampType::CreateTime && max_seen != header.max_timestamp {
        // Retention and the time index trust max_timestamp, so it must be honest.
        return malformed("max_timestamp does not match the records");
    }
    Ok(records)
}

/// Decodes a concatenation of complete batches, e.g. `read_batches` output.
pub fn decode_batches(bytes: &[u8]) -> Result<Vec<(BatchHeader, Vec<Record>)>, LogError> {
    let mut out = Vec::new();
    let mut pos = 0usize;
    while pos < bytes.len() {
        let rest = &bytes[pos..];
        let location = || format!("batch at byte {pos}");
        let (_, total) = parse_header(rest).map_err(|m| m.at(location()))?;
        if total > rest.len() {
            return Err(Malformed(format!(
                "batch needs {total} bytes but only {} remain",
                rest.len()
            ))
            .at(location()));
        }
        out.push(decode_batch(&rest[..total]).map_err(|m| m.at(location()))?);
        pos += total;
    }
    Ok(out)
}

/// Encoded size of one record including its length prefix, as used for fetch
/// byte limits.
pub(crate) fn record_encoded_len(
    key: Option<&[u8]>,
    value: Option<&[u8]>,
    headers: &[(String, Vec<u8>)],
) -> u64 {
    let mut len = RECORD_MIN_LEN as u64;
    len += key.map_or(0, |k| k.len() as u64);
    len += value.map_or(0, |v| v.len() as u64);
    for (k, v) in headers {
        len += HEADER_MIN_LEN as u64 + k.len() as u64 + v.len() as u64;
    }
    len
}

fn too_long(what: &str) -> LogError {
    LogError::InvalidBatch(format!("{what} is too long for the batch format"))
}

fn put_nullable(buf: &mut Vec<u8>, bytes: Option<&[u8]>) -> Result<(), LogError> {
    match bytes {
        None => buf.extend_from_slice(&(-1i32).to_be_bytes()),
        Some(b) => {
            let len = i32::try_from(b.len()).map_err(|_| too_long("key or value"))?;
            buf.extend_from_slice(&len.to_be_bytes());
            buf.extend_from_slice(b);
        }
    }
    Ok(())
}

/// Encodes `records` as one batch at `base_offset`. `append_time` replaces the
/// timestamps for `LogAppendTime`. Fails with `MessageTooLarge` if the batch
/// would exceed `max_bytes`, before allocating it.
pub(crate) fn encode_batch(
    base_offset: u64,
    records: &[RecordIn],
    meta: &BatchMeta,
    append_time: i64,
    max_bytes: u64,
) -> Result<(Vec<u8>, BatchHeader), LogError> {
    let Some(first) = records.first() else {
        return Err(LogError::InvalidBatch(
            "a batch needs at least one record".into(),
        ));
    };
    let record_count = u32::try_from(records.len()).map_err(|_| too_long("record list"))?;
    let last_offset_delta = record_count - 1;
    if base_offset.checked_add(u64::from(record_count)).is_none() {
        return Err(LogError::InvalidBatch("offsets would overflow u64".into()));
    }
    let mut size = BATCH_HEADER_LEN as u64;
    for r in records {
        size += record_encoded_len(r.key.as_deref(), r.value.as_deref(), &r.headers);
    }
    if size > max_bytes {
        return Err(LogError::MessageTooLarge {
            size,
            max: max_bytes,
        });
    }
    let batch_length =
        u32::try_from(size - BATCH_PREFIX_LEN as u64).map_err(|_| too_long("batch"))?;

    let (base_timestamp, max_timestamp, attributes) = match meta.timestamp_type {
        TimestampType::LogAppendTime => (append_time, append_time, ATTR_LOG_APPEND_TIME),
        TimestampType::CreateTime => {
            let max = records
                .iter()
                .map(|r| r.timestamp)
                .max()
                .unwrap_or(first.timestamp);
            (first.timestamp, max, 0)
        }
    };

    // size <= max_bytes, which the caller keeps within u32 range.
    let mut buf = Vec::with_capacity(size as usize);
    buf.extend_from_slice(&base_offset.to_be_bytes());
    buf.extend_from_slice(&batch_length.to_be_bytes());
    buf.extend_from_slice(&meta.leader_epoch.to_be_bytes());
    buf.extend_from_slice(&0u32.to_be_bytes()); // CRC, filled in below
    buf.extend_from_slice(&attributes.to_be_bytes());
    buf.extend_from_slice(&last_offset_delta.to_be_bytes());
    buf.extend_from_slice(&base_timestamp.to_be_bytes());
    buf.extend_from_slice(&max_timestamp.to_be_bytes());
    buf.extend_from_slice(&meta.producer_id.to_be_bytes());
    buf.extend_from_slice(&meta.producer_epoch.to_be_bytes());
    buf.extend_from_slice(&meta.base_sequence.to_be_bytes());
    buf.extend_from_slice(&record_count.to_be_bytes());

    for (i, r) in records.iter().enumerate() {
        let ts_delta = match meta.timestamp_type {
            TimestampType::LogAppendTime => 0,
            TimestampType::CreateTime => {
                r.timestamp.checked_sub(base_timestamp).ok_or_else(|| {
                    LogError::InvalidBatch(format!(
                        "record {i} timestamp is too far from the first"
                    ))
                })?
            }
        };
        let body_len = record_encoded_len(r.key.as_deref(), r.value.as_deref(), &r.headers) - 4;
        let body_len = u32::try_from(body_len).map_err(|_| too_long("record"))?;
        buf.extend_from_slice(&body_len.to_be_bytes());
        buf.extend_from_slice(&ts_delta.to_be_bytes());
        // i < record_count, which fits in u32.
        buf.extend_from_slice(&(i as u32).to_be_bytes());
        put_nullable(&mut buf, r.key.as_deref())?;
        put_nullable(&mut buf, r.value.as_deref())?;
        let header_count = u32::try_from(r.headers.len()).map_err(|_| too_long("header list"))?;
        buf.extend_from_slice(&header_count.to_be_bytes());
        for (k, v) in &r.headers {
            let key_len = u32::try_from(k.len()).map_err(|_| too_long("header key"))?;
            buf.extend_from_slice(&key_len.to_be_bytes());
            buf.extend_from_slice(k.as_bytes());
            put_nullable(&mut buf, Some(v))?;
        }
    }
    let crc = crc32c::crc32c(&buf[CRC_START..]);
    buf[16..20].copy_from_slice(&crc.to_be_bytes());

    let header = BatchHeader {
        base_offset,
        leader_epoch: meta.leader_epoch,
        timestamp_type: meta.timestamp_type,
        base_timestamp,
        max_timestamp,
        producer_id: meta.producer_id,
        producer_epoch: meta.producer_epoch,
        base_sequence: meta.base_sequence,
        record_count,
        last_offset_delta,
    };
    Ok((buf, header))
}
