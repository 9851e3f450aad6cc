//! One log segment: a `.log` file of batches plus its `.index` and `.timeindex`.
//!
//! Mutation is split into a plan (pure, computed from `&self`), file IO done
//! through cloned [`SegmentFiles`] handles, and a commit (`&mut self`). That
//! lets [`PartitionLog`](super::PartitionLog) hold its state lock only for
//! the plan and the commit, never across a write or an fsync.

use std::fs::{File, OpenOptions};
use std::io::ErrorKind;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use tracing::{info, warn};

use super::batch::{verify_crc, BatchHeader, BATCH_HEADER_LEN};
use super::files::{read_small, segment_path, write_atomic, FileReader};
use super::handles::HandleCache;
use super::index::{
    encode_offset_entries, encode_offset_entry, encode_time_entries, encode_time_entry,
    lookup_offset, needs_entry, parse_offset_entries, parse_time_entries, IndexBuilder,
    OffsetEntry, TimeEntry, OFFSET_ENTRY_LEN, TIME_ENTRY_LEN,
};
use super::{io_err, LogError};

/// Read-ahead used when scanning batch headers.
const SCAN_CHUNK: usize = 64 * 1024;

/// A segment's files, by path: every operation takes its handle from the
/// broker-wide [`HandleCache`], so an idle segment holds no descriptor.
/// Callers that must keep reading (or fsyncing) a file that may be removed
/// meanwhile take the handle while the segment is still in the log's state.
#[derive(Clone, Debug)]
pub(crate) struct SegmentFiles {
    cache: Arc<HandleCache>,
    pub(crate) log_path: PathBuf,
    pub(crate) index_path: PathBuf,
    pub(crate) time_path: PathBuf,
}

impl SegmentFiles {
    fn paths(dir: &Path, base: u64) -> [PathBuf; 3] {
        ["log", "index", "timeindex"].map(|ext| segment_path(dir, base, ext))
    }

    fn new(cache: &Arc<HandleCache>, dir: &Path, base: u64) -> SegmentFiles {
        let [log_path, index_path, time_path] = SegmentFiles::paths(dir, base);
        SegmentFiles {
            cache: cache.clone(),
            log_path,
            index_path,
            time_path,
        }
    }

    /// The open `.log` file.
    pub(crate) fn log(&self) -> Result<Arc<File>, LogError> {
        self.cache.get(&self.log_path)
    }

    fn index(&self) -> Result<Arc<File>, LogError> {
        self.cache.get(&self.index_path)
    }

    fn time(&self) -> Result<Arc<File>, LogError> {
        self.cache.get(&self.time_path)
    }

    /// Writes a planned append: batch bytes, then any index entries.
    pub(crate) fn write(&self, plan: &PlannedAppend, batch: &[u8]) -> Result<(), LogError> {
        let log = self.log()?;
        if let Err(e) = log.write_all_at(batch, plan.pos) {
            // Best effort: leave no partial batch behind the logical end.
            let _ = log.set_len(plan.pos);
            return Err(io_err("write", &self.log_path)(e));
        }
        if let Some(e) = plan.offset_entry {
            self.index()?
                .write_all_at(&encode_offset_entry(e), plan.offset_file_pos)
                .map_err(io_err("write", &self.index_path))?;
        }
        if let Some(e) = plan.time_entry {
            self.time()?
                .write_all_at(&encode_time_entry(e), plan.time_file_pos)
                .map_err(io_err("write", &self.time_path))?;
        }
        Ok(())
    }

    /// Cuts all three files to the given logical lengths.
    pub(crate) fn set_lens(&self, log: u64, offsets: usize, times: usize) -> Result<(), LogError> {
        let cut = |f: &File, p: &Path, len: u64| f.set_len(len).map_err(io_err("truncate", p));
        cut(&*self.log()?, &self.log_path, log)?;
        cut(
            &*self.index()?,
            &self.index_path,
            (offsets * OFFSET_ENTRY_LEN) as u64,
        )?;
        cut(
            &*self.time()?,
            &self.time_path,
            (times * TIME_ENTRY_LEN) as u64,
        )
    }

    /// fdatasync of all three files.
    pub(crate) fn sync(&self) -> Result<(), LogError> {
        self.sync_log()?;
        self.index()?
            .sync_data()
            .map_err(io_err("fsync", &self.index_path))?;
        self.time()?
            .sync_data()
            .map_err(io_err("fsync", &self.time_path))
    }

    /// fdatasync of the `.log` file alone: the group commit. The active
    /// segment's indexes need no sync, since `open` rebuilds them from the log.
    pub(crate) fn sync_log(&self) -> Result<(), LogError> {
        self.log()?
            .sync_data()
            .map_err(io_err("fsync", &self.log_path))
    }

    /// Replaces an index file atomically; its cached handle (the old inode) goes.
    fn rewrite(&self, path: &Path, bytes: &[u8]) -> Result<(), LogError> {
        write_atomic(path, bytes)?;
        self.cache.forget(path);
        Ok(())
    }

    /// Removes the files; the `.log` goes first so a crash leaves at most
    /// orphan index files, which `open` removes.
    pub(crate) fn remove(&self) -> Result<(), LogError> {
        for p in [&self.log_path, &self.index_path, &self.time_path] {
            self.cache.forget(p);
            match std::fs::remove_file(p) {
                Ok(()) => {}
                Err(e) if e.kind() == ErrorKind::NotFound => {}
                Err(e) => return Err(io_err("remove", p)(e)),
            }
        }
        Ok(())
    }
}

/// Everything an append changes in a segment, computed before any IO.
#[derive(Debug)]
pub(crate) struct PlannedAppend {
    pos: u64,
    len: u64,
    next_offset: u64,
    batch_max_ts: i64,
    roll_base: Option<i64>,
    offset_entry: Option<OffsetEntry>,
    time_entry: Option<TimeEntry>,
    offset_file_pos: u64,
    time_file_pos: u64,
}

/// Result of finding where a truncation cuts a segment.
#[derive(Debug)]
pub(crate) struct PlannedTruncate {
    pub(crate) cut: u64,
    pub(crate) next_offset: u64,
    offsets_len: usize,
    times_len: usize,
    max_timestamp: i64,
    roll_base: Option<i64>,
}

/// In-memory state of one segment.
#[derive(Debug)]
pub(crate) struct Segment {
    pub(crate) base_offset: u64,
    /// One past the last offset stored here.
    pub(crate) next_offset: u64,
    /// Logical size of the `.log` file; bytes past it are never read.
    pub(crate) size: u64,
    /// Largest record timestamp, `i64::MIN` while empty.
    pub(crate) max_timestamp: i64,
    /// Time the segment's age is measured from for time-based rolling.
    pub(crate) roll_base: Option<i64>,
    pub(crate) files: SegmentFiles,
    pub(crate) offsets: Vec<OffsetEntry>,
    pub(crate) times: Vec<TimeEntry>,
}

impl Segment {
    /// Creates an empty segment, replacing any stale files with the same base.
    pub(crate) fn create(
        dir: &Path,
        base: u64,
        cache: &Arc<HandleCache>,
    ) -> Result<Segment, LogError> {
        let files = SegmentFiles::new(cache, dir, base);
        for p in [&files.log_path, &files.index_path, &files.time_path] {
            let f = OpenOptions::new()
                .read(true)
                .write(true)
                .create(true)
                .truncate(true)
                .open(p)
                .map_err(io_err("create", p))?;
            cache.insert(p, Arc::new(f));
        }
        Ok(Segment {
            base_offset: base,
            next_offset: base,
            size: 0,
            max_timestamp: i64::MIN,
            roll_base: None,
            files,
            offsets: Vec::new(),
            times: Vec::new(),
        })
    }

    /// Opens an existing segment, scanning its batch headers (which also feeds
    /// `on_batch`, for the leader epoch cache). The active segment is verified
    /// batch by batch including CRCs and a bad tail is cut off; an inactive one
    /// must scan cleanly. Invalid index files are rebuilt from the scan.
    pub(crate) fn open(
        dir: &Path,
        base: u64,
        active: bool,
        interval: u32,
        cache: &Arc<HandleCache>,
        on_batch: &mut dyn FnMut(&BatchHeader),
    ) -> Result<Segment, LogError> {
        let files = SegmentFiles::new(cache, dir, base);
        let (log_path, index_path, time_path) =
            (&files.log_path, &files.index_path, &files.time_path);
        let log = files.log()?;
        let mut size = log.metadata().map_err(io_err("stat", log_path))?.len();
        if size > u64::from(u32::MAX) {
            return Err(LogError::Corrupt {
                location: log_path.display().to_string(),
                reason: format!("segment of {size} bytes exceeds the u32 position range"),
            });
        }
        // A valid index has at most one entry per batch (+1 closing time entry).
        let max_entries = size / BATCH_HEADER_LEN as u64 + 2;
        let loaded_offsets = read_small(index_path, max_entries * OFFSET_ENTRY_LEN as u64)?
            .and_then(|b| parse_offset_entries(&b));
        let loaded_times = read_small(time_path, max_entries * TIME_ENTRY_LEN as u64)?
            .and_then(|b| parse_time_entries(&b));

        let mut builder = IndexBuilder::new();
        let mut reader = FileReader::new(&log, log_path, size, SCAN_CHUNK);
        let (mut pos, mut next_offset, mut first_max) = (0u64, base, None);
        let problem: Option<String> = loop {
            if pos == size {
                break None;
            }
            let (h, total) = match reader.header_at(pos) {
                Ok(Some(found)) => found,
                Ok(None) => break Some("incomplete batch".to_owned()),
                Err(LogError::Corrupt { reason, .. }) => break Some(reason),
                Err(e) => return Err(e),
            };
            if h.base_offset != next_offset {
                break Some(format!(
                    "expected base offset {next_offset}, found {}",
                    h.base_offset
                ));
            }
            let Ok(last_rel) = u32::try_from(h.last_offset() - base) else {
                break Some("offset too far from the segment base".to_owned());
            };
            if active {
                let Some(bytes) = reader.get(pos, total as usize)? else {
                    break Some("incomplete batch".to_owned());
                };
                if let Err(m) = verify_crc(bytes) {
                    break Some(m.0);
                }
            }
            // pos < size <= u32::MAX, checked above.
            let base_rel = (h.base_offset - base) as u32;
            builder.observe(pos as u32, base_rel, last_rel, h.max_timestamp, interval);
            first_max.get_or_insert(h.max_timestamp);
            on_batch(&h);
            pos += total;
            next_offset = h.next_offset();
        };
        if let Some(reason) = problem {
            if !active {
                return Err(LogError::Corrupt {
                    location: format!("{}@{pos}", log_path.display()),
                    reason,
                });
            }
            warn!(
                segment = %log_path.display(),
                valid_bytes = pos,
                dropped_bytes = size - pos,
                %reason,
                "truncating torn or corrupt tail of the log"
            );
            log.set_len(pos).map_err(io_err("truncate", log_path))?;
            log.sync_all().map_err(io_err("fsync", log_path))?;
            size = pos;
        }

        // The index contents are a function of the batch layout, so anything
        // but an exact match (missing, partial, stale, pointing past the
        // log, built with another interval) is simply rewritten.
        let mut times = std::mem::take(&mut builder.times);
        if !active {
            times.extend(builder.final_time_entry_after(times.last()));
        }
        if loaded_offsets.as_ref() != Some(&builder.offsets) {
            info!(index = %index_path.display(), "rebuilding offset index");
            files.rewrite(index_path, &encode_offset_entries(&builder.offsets))?;
        }
        if loaded_times.as_ref() != Some(&times) {
            info!(index = %time_path.display(), "rebuilding time index");
            files.rewrite(time_path, &encode_time_entries(&times))?;
        }
        let offsets = builder.offsets;
        drop(log);
        Ok(Segment {
            base_offset: base,
            next_offset,
            size,
            max_timestamp: builder.max_timestamp,
            roll_base: if active { first_max } else { None },
            files,
            offsets,
            times,
        })
    }

    /// Opens an inactive segment from its index files alone (no read of the
    /// `.log`): inactive segments are immutable and were fsynced with their
    /// indexes when they were rolled, so a consistent index describes them.
    /// `next_base` is the base of the following segment, hence this one's
    /// end. `None` if the indexes are missing or inconsistent with the file
    /// size or `next_base`; the caller then scans the segment.
    pub(crate) fn open_inactive(
        dir: &Path,
        base: u64,
        next_base: u64,
        cache: &Arc<HandleCache>,
    ) -> Result<Option<Segment>, LogError> {
        let files = SegmentFiles::new(cache, dir, base);
        let size = std::fs::metadata(&files.log_path)
            .map_err(io_err("stat", &files.log_path))?
            .len();
        let Some(span) = next_base.checked_sub(base) else {
            return Ok(None);
        };
        if size > u64::from(u32::MAX) || span > u64::from(u32::MAX) + 1 {
            return Ok(None);
        }
        let max_entries = size / BATCH_HEADER_LEN as u64 + 2;
        let offsets = read_small(&files.index_path, max_entries * OFFSET_ENTRY_LEN as u64)?
            .and_then(|b| parse_offset_entries(&b));
        let times = read_small(&files.time_path, max_entries * TIME_ENTRY_LEN as u64)?
            .and_then(|b| parse_time_entries(&b));
        let (Some(offsets), Some(times)) = (offsets, times) else {
            return Ok(None);
        };
        if !inactive_index_consistent(&offsets, &times, size, span) {
            return Ok(None);
        }
        Ok(Some(Segment {
            base_offset: base,
            next_offset: next_base,
            size,
            max_timestamp: times.last().map_or(i64::MIN, |&(ts, _)| ts),
            roll_base: None,
            files,
            offsets,
            times,
        }))
    }

    /// Byte position to start scanning from to find `offset`.
    pub(crate) fn position_for(&self, offset: u64) -> u64 {
        let rel = offset
            .saturating_sub(self.base_offset)
            .min(u64::from(u32::MAX)) as u32;
        lookup_offset(&self.offsets, rel).map_or(0, |(_, pos)| u64::from(pos))
    }

    /// Plans appending a batch whose header is `h` and encoded length `len`;
    /// the caller has checked it starts at `next_offset` and fits.
    pub(crate) fn plan_append(
        &self,
        h: &BatchHeader,
        len: usize,
        interval: u32,
        now: Option<i64>,
    ) -> PlannedAppend {
        let pos = self.size;
        let base_rel = (h.base_offset - self.base_offset) as u32;
        let last_rel = (h.last_offset() - self.base_offset) as u32;
        let max_ts = self.max_timestamp.max(h.max_timestamp);
        let indexed = needs_entry(self.offsets.last(), pos as u32, interval);
        PlannedAppend {
            pos,
            len: len as u64,
            next_offset: h.next_offset(),
            batch_max_ts: h.max_timestamp,
            roll_base: if self.size == 0 {
                Some(now.unwrap_or(h.max_timestamp))
            } else {
                self.roll_base
            },
            offset_entry: indexed.then_some((base_rel, pos as u32)),
            time_entry: indexed.then_some((max_ts, last_rel)),
            offset_file_pos: (self.offsets.len() * OFFSET_ENTRY_LEN) as u64,
            time_file_pos: (self.times.len() * TIME_ENTRY_LEN) as u64,
        }
    }

    /// Publishes a written append.
    pub(crate) fn commit_append(&mut self, plan: &PlannedAppend) {
        self.size = plan.pos + plan.len;
        self.next_offset = plan.next_offset;
        self.max_timestamp = self.max_timestamp.max(plan.batch_max_ts);
        self.roll_base = plan.roll_base;
        self.offsets.extend(plan.offset_entry);
        self.times.extend(plan.time_entry);
    }

    /// The time entry recording this segment's max timestamp when it stops
    /// being active, if the time index does not end with it already.
    pub(crate) fn closing_time_entry(&self) -> Option<TimeEntry> {
        if self.size == 0 {
            return None;
        }
        let entry = (
            self.max_timestamp,
            (self.next_offset - 1 - self.base_offset) as u32,
        );
        (self.times.last() != Some(&entry)).then_some(entry)
    }

    /// Makes a segment inactive on disk: writes the closing time entry, trims
    /// anything past the logical ends (left by failed writes) and fsyncs.
    /// Needs only `&self`; [`Segment::commit_close`] publishes the entry.
    pub(crate) fn close_files(&self, closing: Option<TimeEntry>) -> Result<(), LogError> {
        let f = &self.files;
        let mut times = self.times.len();
        if let Some(e) = closing {
            f.time()?
                .write_all_at(&encode_time_entry(e), (times * TIME_ENTRY_LEN) as u64)
                .map_err(io_err("write", &f.time_path))?;
            times += 1;
        }
        f.set_lens(self.size, self.offsets.len(), times)?;
        f.sync()
    }

    /// Publishes the closing entry written by [`Segment::close_files`].
    pub(crate) fn commit_close(&mut self, closing: Option<TimeEntry>) {
        self.times.extend(closing);
    }

    /// Plans removing every batch that holds an offset >= `offset`
    /// (`base_offset <= offset <= next_offset`). Reads the file but changes nothing.
    pub(crate) fn plan_truncate(&self, offset: u64) -> Result<PlannedTruncate, LogError> {
        let f = &self.files;
        let log = f.log()?;
        let mut reader = FileReader::new(&log, &f.log_path, self.size, SCAN_CHUNK);
        let (mut pos, mut cut, mut next) = (self.position_for(offset), self.size, self.next_offset);
        while pos < self.size {
            let (h, total) = self.expect_header(&mut reader, pos)?;
            if h.last_offset() >= offset {
                (cut, next) = (pos, h.base_offset);
                break;
            }
            pos += total;
        }
        let cut_rel = next - self.base_offset;
        let offsets_len = self.offsets.partition_point(|&(_, p)| u64::from(p) < cut);
        let times_len = self.times.partition_point(|&(_, r)| u64::from(r) < cut_rel);
        // The last kept time entry covers everything up to its offset; scan
        // the rest (from an indexed position at or before it) for the new max.
        let last_time = times_len.checked_sub(1).map(|i| self.times[i]);
        let mut max_ts = last_time.map_or(i64::MIN, |(ts, _)| ts);
        let mut pos = last_time
            .and_then(|(_, rel)| lookup_offset(&self.offsets[..offsets_len], rel))
            .map_or(0, |(_, p)| u64::from(p));
        while pos < cut {
            let (h, total) = self.expect_header(&mut reader, pos)?;
            max_ts = max_ts.max(h.max_timestamp);
            pos += total;
        }
        // Inactive segments do not track their roll time; take it from the first batch.
        let roll_base = match (cut, self.roll_base) {
            (0, _) => None,
            (_, Some(t)) => Some(t),
            (_, None) => Some(self.expect_header(&mut reader, 0)?.0.max_timestamp),
        };
        Ok(PlannedTruncate {
            cut,
            next_offset: next,
            offsets_len,
            times_len,
            max_timestamp: max_ts,
            roll_base,
        })
    }

    fn expect_header(
        &self,
        reader: &mut FileReader<'_>,
        pos: u64,
    ) -> Result<(BatchHeader, u64), LogError> {
        reader.header_at(pos)?.ok_or_else(|| LogError::Corrupt {
            location: format!("{}@{pos}", self.files.log_path.display()),
            reason: "batch extends past the segment end".to_owned(),
        })
    }

    /// Publishes a planned truncation; the files are cut afterwards with
    /// [`Segment::truncate_files`].
    pub(crate) fn commit_truncate(&mut self, plan: &PlannedTruncate) {
        self.size = plan.cut;
        self.next_offset = plan.next_offset;
        self.offsets.truncate(plan.offsets_len);
        self.times.truncate(plan.times_len);
        self.max_timestamp = plan.max_timestamp;
        self.roll_base = plan.roll_base;
    }

    /// Cuts the files to a committed truncation and fsyncs them.
    pub(crate) fn truncate_files(&self) -> Result<(), LogError> {
        self.files
            .set_lens(self.size, self.offsets.len(), self.times.len())?;
        // fdatasync also persists the new file sizes.
        self.files.sync()
    }
}

/// Whether the indexes of a closed segment of `size` bytes holding `span`
/// offsets can be trusted: an empty segment has none; otherwise the first
/// batch is indexed at 0, entries strictly increase and stay inside the
/// file, timestamps never decrease, and the time index ends with the closing
/// entry on the segment's last offset.
fn inactive_index_consistent(
    offsets: &[OffsetEntry],
    times: &[TimeEntry],
    size: u64,
    span: u64,
) -> bool {
    if size == 0 || span == 0 {
        return size == 0 && span == 0 && offsets.is_empty() && times.is_empty();
    }
    let last_rel = span - 1;
    offsets.first() == Some(&(0, 0))
        && offsets
            .windows(2)
            .all(|w| w[0].0 < w[1].0 && w[0].1 < w[1].1)
        && offsets
            .iter()
            .all(|&(r, p)| u64::from(r) <= last_rel && u64::from(p) < size)
        && times
            .windows(2)
            .all(|w| w[0].0 <= w[1].0 && w[0].1 <= w[1].1)
        && times.last().is_some_and(|&(_, r)| u64::from(r) == last_rel)
}
