//! Sparse offset index and time index of one segment.
//!
//! Both are kept in memory as sorted `Vec`s and mirrored to files as fixed-size
//! big-endian entries:
//!
//! * `.index`: `relative offset u32 | file position u32`, the start of a batch.
//! * `.timeindex`: `max timestamp i64 | relative offset u32`, meaning "every
//!   record up to and including this (last-of-batch) offset has a timestamp
//!   <= max timestamp". Timestamps are non-decreasing, so a binary search finds
//!   a safe place to start scanning for a target time.
//!
//! An entry is added for the first batch of a segment and then for the first
//! batch that starts at least `index_interval_bytes` after the previous entry.
//! That rule depends only on the batch layout, so [`IndexBuilder`] rebuilds the
//! exact same entries from a scan of the `.log` file, and a loaded index is
//! valid exactly when it equals the rebuilt one.

/// Size of one `.index` entry.
pub(crate) const OFFSET_ENTRY_LEN: usize = 8;
/// Size of one `.timeindex` entry.
pub(crate) const TIME_ENTRY_LEN: usize = 12;

/// One `.index` entry: (relative offset, file position).
pub(crate) type OffsetEntry = (u32, u32);
/// One `.timeindex` entry: (max timestamp so far, relative last offset).
pub(crate) type TimeEntry = (i64, u32);

/// Whether a batch starting at `pos` gets index entries.
pub(crate) fn needs_entry(last: Option<&OffsetEntry>, pos: u32, interval: u32) -> bool {
    match last {
        None => true,
        Some(&(_, last_pos)) => pos.saturating_sub(last_pos) >= interval,
    }
}

/// Position of the greatest indexed batch starting at or before `rel`.
pub(crate) fn lookup_offset(entries: &[OffsetEntry], rel: u32) -> Option<OffsetEntry> {
    let n = entries.partition_point(|&(r, _)| r <= rel);
    n.checked_sub(1).map(|i| entries[i])
}

/// The last time entry whose max timestamp is below `ts`: every record up to
/// its offset is older than `ts`, so a search may start right after it.
pub(crate) fn lookup_time_before(entries: &[TimeEntry], ts: i64) -> Option<TimeEntry> {
    let n = entries.partition_point(|&(t, _)| t < ts);
    n.checked_sub(1).map(|i| entries[i])
}

/// Serializes an offset entry.
pub(crate) fn encode_offset_entry(e: OffsetEntry) -> [u8; OFFSET_ENTRY_LEN] {
    let mut out = [0u8; OFFSET_ENTRY_LEN];
    out[..4].copy_from_slice(&e.0.to_be_bytes());
    out[4..].copy_from_slice(&e.1.to_be_bytes());
    out
}

/// Serializes a time entry.
pub(crate) fn encode_time_entry(e: TimeEntry) -> [u8; TIME_ENTRY_LEN] {
    let mut out = [0u8; TIME_ENTRY_LEN];
    out[..8].copy_from_slice(&e.0.to_be_bytes());
    out[8..].copy_from_slice(&e.1.to_be_bytes());
    out
}

/// Whole-file image of an offset index.
pub(crate) fn encode_offset_entries(entries: &[OffsetEntry]) -> Vec<u8> {
    entries
        .iter()
        .flat_map(|&e| encode_offset_entry(e))
        .collect()
}

/// Whole-file image of a time index.
pub(crate) fn encode_time_entries(entries: &[TimeEntry]) -> Vec<u8> {
    entries.iter().flat_map(|&e| encode_time_entry(e)).collect()
}

/// Parses an `.index` file image; `None` if its size is not a whole number of entries.
pub(crate) fn parse_offset_entries(bytes: &[u8]) -> Option<Vec<OffsetEntry>> {
    if !bytes.len().is_multiple_of(OFFSET_ENTRY_LEN) {
        return None;
    }
    let entries = bytes
        .chunks_exact(OFFSET_ENTRY_LEN)
        .map(|c| {
            let (a, b) = c.split_at(4);
            (be_u32(a), be_u32(b))
        })
        .collect();
    Some(entries)
}

/// Parses a `.timeindex` file image; `None` if its size is not a whole number of entries.
pub(crate) fn parse_time_entries(bytes: &[u8]) -> Option<Vec<TimeEntry>> {
    if !bytes.len().is_multiple_of(TIME_ENTRY_LEN) {
        return None;
    }
    let entries = bytes
        .chunks_exact(TIME_ENTRY_LEN)
        .map(|c| {
            let (a, b) = c.split_at(8);
            let mut ts = [0u8; 8];
            ts.copy_from_slice(a);
            (i64::from_be_bytes(ts), be_u32(b))
        })
        .collect();
    Some(entries)
}

fn be_u32(b: &[u8]) -> u32 {
    let mut a = [0u8; 4];
    a.copy_from_slice(b);
    u32::from_be_bytes(a)
}

/// Rebuilds both indexes from a sequential scan of a segment's batches.
#[derive(Debug, Default)]
pub(crate) struct IndexBuilder {
    /// Rebuilt offset index.
    pub(crate) offsets: Vec<OffsetEntry>,
    /// Rebuilt time index.
    pub(crate) times: Vec<TimeEntry>,
    /// Largest timestamp seen so far (`i64::MIN` before the first batch).
    pub(crate) max_timestamp: i64,
    last_rel: Option<u32>,
}

impl IndexBuilder {
    /// A builder for an empty segment.
    pub(crate) fn new() -> Self {
        IndexBuilder {
            max_timestamp: i64::MIN,
            ..Default::default()
        }
    }

    /// Feeds the next batch: start position, relative base and last offsets,
    /// and its max timestamp. Returns the entries it added, if any.
    pub(crate) fn observe(
        &mut self,
        pos: u32,
        base_rel: u32,
        last_rel: u32,
        batch_max_ts: i64,
        interval: u32,
    ) -> Option<(OffsetEntry, TimeEntry)> {
        self.max_timestamp = self.max_timestamp.max(batch_max_ts);
        self.last_rel = Some(last_rel);
        if !needs_entry(self.offsets.last(), pos, interval) {
            return None;
        }
        let entries = ((base_rel, pos), (self.max_timestamp, last_rel));
        self.offsets.push(entries.0);
        self.times.push(entries.1);
        Some(entries)
    }

    /// The entry a rolled (inactive) segment ends its time index with, so its
    /// max timestamp is on disk; `None` if `last` (the current last entry) is it.
    pub(crate) fn final_time_entry_after(&self, last: Option<&TimeEntry>) -> Option<TimeEntry> {
        let entry = (self.max_timestamp, self.last_rel?);
        (last != Some(&entry)).then_some(entry)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lookups_pick_greatest_entry_at_or_before() {
        let offsets = vec![(0, 0), (10, 4096), (25, 9000)];
        assert_eq!(lookup_offset(&offsets, 0), Some((0, 0)));
        assert_eq!(lookup_offset(&offsets, 9), Some((0, 0)));
        assert_eq!(lookup_offset(&offsets, 10), Some((10, 4096)));
        assert_eq!(lookup_offset(&offsets, 1000), Some((25, 9000)));
        assert_eq!(lookup_offset(&[], 5), None);

        let times = vec![(100, 3), (100, 7), (250, 12)];
        assert_eq!(lookup_time_before(&times, 100), None);
        assert_eq!(lookup_time_before(&times, 101), Some((100, 7)));
        assert_eq!(lookup_time_before(&times, 1000), Some((250, 12)));
    }

    #[test]
    fn entries_round_trip_and_reject_partial_files() {
        let offsets = vec![(0, 0), (7, 123_456)];
        let times = vec![(-5, 0), (i64::MAX, 9)];
        let ob = encode_offset_entries(&offsets);
        let tb = encode_time_entries(&times);
        assert_eq!(parse_offset_entries(&ob), Some(offsets));
        assert_eq!(parse_time_entries(&tb), Some(times));
        assert_eq!(parse_offset_entries(&ob[..5]), None);
        assert_eq!(parse_time_entries(&tb[..13]), None);
    }

    #[test]
    fn builder_indexes_every_interval_and_closes() {
        // (pos, base_rel, last_rel, max_ts) for a run of 100-byte batches.
        let mut b = IndexBuilder::new();
        assert_eq!(b.final_time_entry_after(None), None);
        for i in 0..20u32 {
            b.observe(i * 100, i * 2, i * 2 + 1, 1000 - i64::from(i), 250);
        }
        let positions: Vec<u32> = b.offsets.iter().map(|e| e.1).collect();
        assert_eq!(positions, vec![0, 300, 600, 900, 1200, 1500, 1800]);
        assert_eq!(b.times[1], (1000, 7));
        assert_eq!(b.final_time_entry_after(b.times.last()), Some((1000, 39)));
        assert_eq!(b.final_time_entry_after(Some(&(1000, 39))), None);
    }
}
