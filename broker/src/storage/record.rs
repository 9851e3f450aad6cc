//! Public record and batch metadata types shared by the encoder, the log
//! and its callers. The byte layout lives in [`super::batch`].

/// Which clock the record timestamps of a batch come from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TimestampType {
    /// Timestamps were set by the producer.
    CreateTime,
    /// Timestamps were set by the broker when the batch was appended.
    LogAppendTime,
}

/// A record as read back from the log.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Record {
    /// Absolute offset in the partition.
    pub offset: u64,
    /// Create time, or the batch append time for `LogAppendTime` batches.
    pub timestamp: i64,
    /// Optional key; `None` is distinct from an empty key.
    pub key: Option<Vec<u8>>,
    /// Optional value; `None` (a tombstone) is distinct from an empty value.
    pub value: Option<Vec<u8>>,
    /// Ordered headers; keys are UTF-8, values may be null.
    pub headers: Vec<(String, Vec<u8>)>,
}

/// A record handed to [`PartitionLog::append`](super::PartitionLog::append).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RecordIn {
    /// Producer timestamp (ignored for `LogAppendTime` batches).
    pub timestamp: i64,
    /// Optional key.
    pub key: Option<Vec<u8>>,
    /// Optional value.
    pub value: Option<Vec<u8>>,
    /// Ordered headers.
    pub headers: Vec<(String, Vec<u8>)>,
}

/// Decoded fixed header of a batch.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BatchHeader {
    /// Offset of the first record.
    pub base_offset: u64,
    /// Epoch of the leader that appended the batch.
    pub leader_epoch: u32,
    /// Clock of the record timestamps.
    pub timestamp_type: TimestampType,
    /// Timestamp the record deltas are relative to.
    pub base_timestamp: i64,
    /// Largest record timestamp (the append time for `LogAppendTime`).
    pub max_timestamp: i64,
    /// Idempotent producer id, -1 if none.
    pub producer_id: i64,
    /// Idempotent producer epoch, -1 if none.
    pub producer_epoch: i16,
    /// Sequence number of the first record, -1 if none.
    pub base_sequence: i32,
    /// Number of records in the batch (at least one).
    pub record_count: u32,
    /// `last offset - base offset`.
    pub last_offset_delta: u32,
}

impl BatchHeader {
    /// Offset of the last record in the batch.
    pub fn last_offset(&self) -> u64 {
        // parse_header guarantees base_offset + last_offset_delta + 1 fits.
        self.base_offset + u64::from(self.last_offset_delta)
    }

    /// Offset right after the batch.
    pub fn next_offset(&self) -> u64 {
        self.last_offset() + 1
    }
}

/// Producer and leadership metadata stamped on an appended batch.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BatchMeta {
    /// Epoch of the leader appending the batch.
    pub leader_epoch: u32,
    /// Idempotent producer id, -1 if none.
    pub producer_id: i64,
    /// Idempotent producer epoch.
    pub producer_epoch: i16,
    /// Sequence of the first record, -1 if none.
    pub base_sequence: i32,
    /// Whether record timestamps are kept or replaced by the append time.
    pub timestamp_type: TimestampType,
}

impl Default for BatchMeta {
    fn default() -> Self {
        BatchMeta {
            leader_epoch: 0,
            producer_id: -1,
            producer_epoch: -1,
            base_sequence: -1,
            timestamp_type: TimestampType::CreateTime,
        }
    }
}
