//! Read paths of [`PartitionLog`]: consumer fetches, replication reads and
//! timestamp lookups.
//!
//! Each read takes the state lock only to snapshot a segment's file handle and
//! byte range ([`SegmentView`]), then reads with positional IO. Data below the
//! log end is immutable except through `truncate_to`, which replication only
//! applies above the high watermark; a read racing such a truncation may see
//! a short file (treated as the end of data) or return `Corrupt`.

use super::batch::{decode_batch, record_encoded_len, verify_crc, Record};
use super::files::FileReader;
use super::index::lookup_time_before;
use super::log::{PartitionLog, State};
use super::segment::Segment;
use super::LogError;
use std::fs::File;
use std::path::PathBuf;
use std::sync::Arc;

/// Read-ahead for fetches; larger batches are read whole.
const READ_CHUNK: usize = 64 * 1024;

/// A segment's open file and the byte range a read should scan. The handle
/// is taken while the segment is in the state, so a read racing retention
/// still reads the (unlinked) file.
struct SegmentView {
    file: Arc<File>,
    path: PathBuf,
    base: u64,
    start: u64,
    end: u64,
}

impl SegmentView {
    fn of(seg: &Segment, offset: u64) -> Result<SegmentView, LogError> {
        Ok(SegmentView {
            file: seg.files.log()?,
            path: seg.files.log_path.clone(),
            base: seg.base_offset,
            start: seg.position_for(offset),
            end: seg.size,
        })
    }

    fn reader(&self) -> FileReader<'_> {
        FileReader::new(&self.file, &self.path, self.end, READ_CHUNK)
    }

    fn location(&self, pos: u64) -> String {
        format!("{}@{pos}", self.path.display())
    }
}

impl PartitionLog {
    /// Checks `offset` against the log bounds and snapshots the segment that
    /// holds it (`None` at the log end). Also returns the log end.
    fn view_at(&self, offset: u64) -> Result<(Option<SegmentView>, u64), LogError> {
        let st = self.read_state();
        st.check_live()?;
        check_range(&st, offset)?;
        if offset == st.log_end {
            return Ok((None, st.log_end));
        }
        let view = st
            .segments
            .range(..=offset)
            .next_back()
            .map(|(_, s)| SegmentView::of(s, offset))
            .transpose()?;
        Ok((view, st.log_end))
    }

    /// The segment after the one based at `base`, positioned for `offset`.
    fn view_after(&self, base: u64, offset: u64) -> Result<Option<SegmentView>, LogError> {
        let st = self.read_state();
        if st.deleted {
            return Ok(None);
        }
        let Some(next) = base.checked_add(1) else {
            return Ok(None);
        };
        st.segments
            .range(next..)
            .next()
            .map(|(_, s)| SegmentView::of(s, offset))
            .transpose()
    }

    /// Records with `offset <= o < max_offset` (the caller passes the high
    /// watermark), at most `max_records` of them and roughly `max_bytes` of
    /// encoded records, but always at least one if one is available, so a
    /// large record never stalls a consumer. `offset` may point into the
    /// middle of a batch; earlier records of that batch are skipped. Fails with
    /// `OffsetOutOfRange` if `offset` is below the log start or above the log end.
    pub fn read(
        &self,
        offset: u64,
        max_offset: u64,
        max_records: usize,
        max_bytes: usize,
    ) -> Result<Vec<Record>, LogError> {
        let (mut view, log_end) = self.view_at(offset)?;
        let limit = max_offset.min(log_end);
        let mut out: Vec<Record> = Vec::new();
        let mut bytes = 0u64;
        let mut next = offset;
        'segments: while let Some(v) = view.take() {
            if next >= limit || out.len() >= max_records {
                break;
            }
            let mut reader = v.reader();
            let mut pos = v.start;
            while pos < v.end {
                let Some((h, total)) = reader.header_at(pos)? else {
                    break 'segments;
                };
                if h.base_offset >= limit {
                    break 'segments;
                }
                if h.last_offset() >= next {
                    let Some(raw) = reader.get(pos, total as usize)? else {
                        break 'segments;
                    };
                    let (_, records) = decode_batch(raw).map_err(|m| m.at(v.location(pos)))?;
                    let from = next;
                    for r in records.into_iter().filter(|r| r.offset >= from) {
                        if r.offset >= limit || out.len() >= max_records {
                            break 'segments;
                        }
                        let size =
                            record_encoded_len(r.key.as_deref(), r.value.as_deref(), &r.headers);
                        if !out.is_empty() && bytes + size > max_bytes as u64 {
                            break 'segments;
                        }
                        bytes += size;
                        next = r.offset + 1;
                        out.push(r);
                    }
                }
                pos += total;
            }
            view = self.view_after(v.base, next)?;
        }
        Ok(out)
    }

    /// Whole encoded batches, starting with the batch containing `offset`,
    /// stopping before any batch whose last offset is >= `max_offset`, up to
    /// roughly `max_bytes` (at least one batch if one is available). For
    /// replication; the output can be fed to `append_raw`.
    pub fn read_batches(
        &self,
        offset: u64,
        max_offset: u64,
        max_bytes: usize,
    ) -> Result<Vec<u8>, LogError> {
        let (mut view, log_end) = self.view_at(offset)?;
        let limit = max_offset.min(log_end);
        let mut out = Vec::new();
        'segments: while let Some(v) = view.take() {
            let mut reader = v.reader();
            let mut pos = v.start;
            while pos < v.end {
                let Some((h, total)) = reader.header_at(pos)? else {
                    break 'segments;
                };
                if h.last_offset() >= offset {
                    if h.last_offset() >= limit
                        || (!out.is_empty() && out.len() as u64 + total > max_bytes as u64)
                    {
                        break 'segments;
                    }
                    let Some(raw) = reader.get(pos, total as usize)? else {
                        break 'segments;
                    };
                    // Never ship a damaged batch to a follower.
                    verify_crc(raw).map_err(|m| m.at(v.location(pos)))?;
                    out.extend_from_slice(raw);
                }
                pos += total;
            }
            view = self.view_after(v.base, offset)?;
        }
        Ok(out)
    }

    /// First offset (at or after the log start) whose record timestamp is at
    /// least `ts`, or `None` if there is none. Skips segments whose max
    /// timestamp is older, starts inside a segment after the last time index
    /// entry older than `ts`, then scans.
    pub fn offset_for_timestamp(&self, ts: i64) -> Result<Option<u64>, LogError> {
        let (views, log_start) = {
            let st = self.read_state();
            st.check_live()?;
            let views: Vec<SegmentView> = st
                .segments
                .values()
                .filter(|s| s.next_offset > st.log_start && s.max_timestamp >= ts)
                .map(|s| {
                    // Everything up to a time entry older than ts can be skipped.
                    let after = lookup_time_before(&s.times, ts)
                        .map_or(s.base_offset, |(_, rel)| s.base_offset + u64::from(rel) + 1);
                    SegmentView::of(s, after.max(st.log_start))
                })
                .collect::<Result<_, _>>()?;
            (views, st.log_start)
        };
        for v in views {
            let mut reader = v.reader();
            let mut pos = v.start;
            while pos < v.end {
                let Some((h, total)) = reader.header_at(pos)? else {
                    break;
                };
                if h.last_offset() >= log_start && h.max_timestamp >= ts {
                    let Some(raw) = reader.get(pos, total as usize)? else {
                        break;
                    };
                    let (_, records) = decode_batch(raw).map_err(|m| m.at(v.location(pos)))?;
                    let found = records
                        .iter()
                        .find(|r| r.offset >= log_start && r.timestamp >= ts);
                    if let Some(r) = found {
                        return Ok(Some(r.offset));
                    }
                }
                pos += total;
            }
        }
        Ok(None)
    }
}

fn check_range(st: &State, offset: u64) -> Result<(), LogError> {
    if offset < st.log_start || offset > st.log_end {
        return Err(LogError::OffsetOutOfRange {
            requested: offset,
            log_start: st.log_start,
            log_end: st.log_end,
        });
    }
    Ok(())
}
