//! File-level helpers: segment naming, directory listing and fsync, atomic
//! replacement, and a buffered positional reader for scanning batches.

use std::fs::File;
use std::io::ErrorKind;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use tracing::warn;

use super::batch::{parse_header, BatchHeader, BATCH_HEADER_LEN};
use super::{io_err, LogError};

/// Name of the file persisting a log start offset that is not a segment base.
pub(crate) const CHECKPOINT_FILE: &str = "log-start-offset";

/// Path of a segment file: `{base:020}.{ext}`.
pub(crate) fn segment_path(dir: &Path, base: u64, ext: &str) -> PathBuf {
    dir.join(format!("{base:020}.{ext}"))
}

/// Fsyncs a directory so created, renamed or removed entries are durable.
pub(crate) fn sync_dir(dir: &Path) -> Result<(), LogError> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(io_err("fsync directory", dir))
}

/// Replaces `path` atomically: write `path.tmp`, fsync, rename over.
pub(crate) fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), LogError> {
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    let tmp = PathBuf::from(tmp);
    std::fs::write(&tmp, bytes).map_err(io_err("write", &tmp))?;
    File::open(&tmp)
        .and_then(|f| f.sync_all())
        .map_err(io_err("fsync", &tmp))?;
    std::fs::rename(&tmp, path).map_err(io_err("rename", &tmp))
}

/// [`write_atomic`], then fsyncs the parent directory so the rename itself
/// survives a crash: after a crash the file holds the old or the new bytes.
pub(crate) fn write_durable(path: &Path, bytes: &[u8]) -> Result<(), LogError> {
    write_atomic(path, bytes)?;
    match path.parent() {
        Some(dir) => sync_dir(dir),
        None => Ok(()),
    }
}

/// Reads a file if it exists and is at most `limit` bytes; `None` otherwise
/// (a larger file cannot be a valid index for this segment).
pub(crate) fn read_small(path: &Path, limit: u64) -> Result<Option<Vec<u8>>, LogError> {
    match std::fs::metadata(path) {
        Ok(m) if m.len() > limit => Ok(None),
        Ok(_) => std::fs::read(path).map(Some).map_err(io_err("read", path)),
        Err(e) if e.kind() == ErrorKind::NotFound => Ok(None),
        Err(e) => Err(io_err("stat", path)(e)),
    }
}

/// Lists segment base offsets (sorted) and the checkpoint, removing leftover
/// temp files and index files whose `.log` is gone.
pub(crate) fn scan_dir(dir: &Path) -> Result<(Vec<u64>, Option<u64>), LogError> {
    let mut logs = Vec::new();
    let mut indexes = Vec::new();
    let mut checkpoint = None;
    let mut removed = false;
    let entries = std::fs::read_dir(dir).map_err(io_err("list", dir))?;
    for entry in entries {
        let path = entry.map_err(io_err("list", dir))?.path();
        let Some(name) = path.file_name().and_then(|n| n.to_str()) else {
            continue;
        };
        if name.ends_with(".tmp") || name.ends_with(".deleted") {
            std::fs::remove_file(&path).map_err(io_err("remove", &path))?;
            removed = true;
        } else if name == CHECKPOINT_FILE {
            let text = std::fs::read_to_string(&path).map_err(io_err("read", &path))?;
            checkpoint = text.trim().parse::<u64>().ok();
            if checkpoint.is_none() {
                warn!(file = %path.display(), "ignoring unreadable log start checkpoint");
            }
        } else if let Some((base, ext)) = parse_segment_name(name) {
            match ext {
                "log" => logs.push(base),
                _ => indexes.push((base, path)),
            }
        }
    }
    logs.sort_unstable();
    for (base, path) in indexes {
        if logs.binary_search(&base).is_err() {
            std::fs::remove_file(&path).map_err(io_err("remove", &path))?;
            removed = true;
        }
    }
    if removed {
        sync_dir(dir)?;
    }
    Ok((logs, checkpoint))
}

fn parse_segment_name(name: &str) -> Option<(u64, &str)> {
    let (stem, ext) = name.split_once('.')?;
    if stem.len() != 20 || !stem.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    matches!(ext, "log" | "index" | "timeindex").then_some((stem.parse().ok()?, ext))
}

/// Buffered positional reader over `[0, end)` of a file.
pub(crate) struct FileReader<'a> {
    file: &'a File,
    path: &'a Path,
    end: u64,
    chunk: usize,
    buf: Vec<u8>,
    buf_start: u64,
}

impl<'a> FileReader<'a> {
    /// A reader that never looks at or past `end`.
    pub(crate) fn new(file: &'a File, path: &'a Path, end: u64, chunk: usize) -> Self {
        FileReader {
            file,
            path,
            end,
            chunk,
            buf: Vec::new(),
            buf_start: 0,
        }
    }

    /// Bytes `[pos, pos + len)`, or `None` if they are not all below `end` or
    /// the file is shorter than expected (a concurrent truncation).
    pub(crate) fn get(&mut self, pos: u64, len: usize) -> Result<Option<&[u8]>, LogError> {
        let Some(stop) = pos.checked_add(len as u64) else {
            return Ok(None);
        };
        if stop > self.end {
            return Ok(None);
        }
        if pos < self.buf_start || stop > self.buf_start + self.buf.len() as u64 {
            // stop <= end, so this is at least len and bounded by the file size.
            let want = (len.max(self.chunk) as u64).min(self.end - pos) as usize;
            self.buf.clear();
            self.buf.resize(want, 0);
            self.buf_start = pos;
            if let Err(e) = self.file.read_exact_at(&mut self.buf, pos) {
                self.buf.clear();
                if e.kind() == ErrorKind::UnexpectedEof {
                    return Ok(None);
                }
                return Err(io_err("read", self.path)(e));
            }
        }
        let off = (pos - self.buf_start) as usize;
        Ok(Some(&self.buf[off..off + len]))
    }

    /// The header of the batch at `pos` and its total length, `None` if the
    /// batch is not complete below `end`.
    pub(crate) fn header_at(&mut self, pos: u64) -> Result<Option<(BatchHeader, u64)>, LogError> {
        let path = self.path;
        let Some(bytes) = self.get(pos, BATCH_HEADER_LEN)? else {
            return Ok(None);
        };
        let (header, total) =
            parse_header(bytes).map_err(|m| m.at(format!("{}@{pos}", path.display())))?;
        let total = total as u64;
        if pos + total > self.end {
            return Ok(None);
        }
        Ok(Some((header, total)))
    }
}
