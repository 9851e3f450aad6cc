//! Opening a [`PartitionLog`] in time proportional to its tail, and the
//! producer-state snapshots that make that possible.
//!
//! With a valid snapshot at offset S (see `snapshot`), segments that end at
//! or before S are opened from their index files alone (never read), the
//! leader epochs up to S come from the snapshot, and only the segments from
//! the one holding S on are scanned: headers, plus CRCs of the active one,
//! whose torn tail is cut. Without one (first start after an upgrade, or a
//! damaged file) every segment's headers are scanned, as before.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError, RwLock};

use tracing::{debug, info, warn};

use super::batch::BatchHeader;
use super::durability::SyncShared;
use super::files::{scan_dir, sync_dir};
use super::handles::HandleCache;
use super::log::{observe_epoch, trim_epochs_front, LogConfig, PartitionLog, State};
use super::segment::Segment;
use super::snapshot::{self, Snapshot};
use super::{io_err, LogError};

/// What loading the segments produced.
struct Loaded {
    segments: BTreeMap<u64, Segment>,
    log_start: u64,
    epochs: Vec<(u32, u64)>,
    scanned: u64,
}

impl PartitionLog {
    /// Opens (creating if needed) the log in `dir` with the broker-wide
    /// handle cache; see [`PartitionLog::open_with`].
    pub fn open(dir: &Path, config: LogConfig) -> Result<PartitionLog, LogError> {
        Self::open_with(dir, config, HandleCache::shared())
    }

    /// Opens (creating if needed) the log in `dir`, recovering it: scans the
    /// last segment batch by batch, verifying lengths and CRC32C, truncates a
    /// torn or corrupt tail, and rebuilds any missing or invalid
    /// `.index`/`.timeindex`. Earlier segments are trusted to be intact:
    /// those before the newest valid producer-state snapshot are opened from
    /// their indexes, the others' headers are scanned to rebuild the leader
    /// epoch list; a malformed one fails the open with `Corrupt`. Also
    /// removes leftover temp files and orphan index files.
    pub fn open_with(
        dir: &Path,
        config: LogConfig,
        cache: Arc<HandleCache>,
    ) -> Result<PartitionLog, LogError> {
        std::fs::create_dir_all(dir).map_err(io_err("create directory", dir))?;
        let snap = newest_snapshot(dir)?;
        let mut loaded = load(dir, &config, snap.as_ref(), &cache)?;
        let log_end = log_end_of(&loaded);
        let snap = match snap {
            Some(s) if s.offset >= loaded.log_start && s.offset <= log_end => Some(s),
            Some(s) => {
                warn!(dir = %dir.display(), snapshot = s.offset, loaded.log_start, log_end,
                    "producer-state snapshot is outside the recovered log; scanning every segment");
                loaded = load(dir, &config, None, &cache)?;
                None
            }
            None => None,
        };
        let log_end = log_end_of(&loaded);
        // What recovery found may still sit in the page cache (a process
        // crash keeps it): make it durable before counting it as synced.
        if let Some(active) = loaded.segments.values().next_back() {
            active.files.sync_log()?;
        }
        debug!(dir = %dir.display(), loaded.log_start, log_end, segments = loaded.segments.len(),
            scanned_bytes = loaded.scanned, snapshot = snap.as_ref().map(|s| s.offset), "opened partition log");
        Ok(PartitionLog {
            dir: dir.to_path_buf(),
            config: RwLock::new(config),
            writer: Mutex::new(()),
            state: RwLock::new(State {
                segments: loaded.segments,
                log_start: loaded.log_start,
                log_end,
                epochs: loaded.epochs,
                deleted: false,
                synced: log_end,
                sync_gen: 0,
            }),
            sync: SyncShared::new(log_end),
            unsynced_bytes: AtomicU64::new(0),
            cache,
            loaded_snapshot: Mutex::new(snap.map(|s| (s.offset, s.payload))),
            rolled: AtomicBool::new(false),
            open_scanned: loaded.scanned,
        })
    }

    /// Writes a snapshot at the log end holding `payload` (the caller's
    /// producer state, which must describe the log exactly up to its end:
    /// hold whatever serializes appends). Answers the snapshot's offset.
    pub fn write_snapshot(&self, payload: &[u8]) -> Result<u64, LogError> {
        let _writer = self.lock_writer();
        let (offset, epochs) = {
            let st = self.read_state();
            st.check_live()?;
            (st.log_end, st.epochs.clone())
        };
        // Nothing appended since the last one (an idle replica at shutdown).
        if snapshot::path(&self.dir, offset).exists() {
            return Ok(offset);
        }
        let s = Snapshot {
            offset,
            epochs,
            payload: payload.to_vec(),
        };
        snapshot::write(&self.dir, &s)?;
        Ok(offset)
    }

    /// The snapshot open loaded, (offset, payload); `None` after the first call.
    pub fn take_snapshot(&self) -> Option<(u64, Vec<u8>)> {
        self.loaded_snapshot
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take()
    }

    /// Whether a segment rolled since the last call.
    pub fn take_rolled(&self) -> bool {
        self.rolled.swap(false, Ordering::AcqRel)
    }

    /// Bytes of `.log` files read while opening (segments not opened from
    /// their indexes alone).
    pub fn open_scanned_bytes(&self) -> u64 {
        self.open_scanned
    }
}

fn log_end_of(l: &Loaded) -> u64 {
    l.segments
        .values()
        .next_back()
        .map_or(l.log_start, |s| s.next_offset)
}

/// The newest snapshot that decodes; damaged ones are logged and skipped.
fn newest_snapshot(dir: &Path) -> Result<Option<Snapshot>, LogError> {
    for o in snapshot::list(dir)?.into_iter().rev() {
        match snapshot::read(dir, o) {
            Ok(s) => return Ok(Some(s)),
            Err(e) => warn!(error = %e, "unusable producer-state snapshot; trying an older one"),
        }
    }
    Ok(None)
}

/// Opens every segment in `dir`, lazily below `snap`.
fn load(
    dir: &Path,
    config: &LogConfig,
    snap: Option<&Snapshot>,
    cache: &Arc<HandleCache>,
) -> Result<Loaded, LogError> {
    let (bases, checkpoint) = scan_dir(dir)?;
    let from = snap.map_or(0, |s| s.offset);
    let mut epochs: Vec<(u32, u64)> = snap.map(|s| s.epochs.clone()).unwrap_or_default();
    if snap.is_none() && bases.len() > 1 {
        info!(dir = %dir.display(), segments = bases.len(), "no producer-state snapshot; scanning every segment");
    }
    let mut segments = BTreeMap::new();
    let mut prev_end: Option<u64> = None;
    let mut scanned = 0;
    for (i, &base) in bases.iter().enumerate() {
        if let Some(end) = prev_end.filter(|&end| end != base) {
            return Err(LogError::Corrupt {
                location: dir.display().to_string(),
                reason: format!(
                    "segment {base} does not follow the previous one, which ends at {end}"
                ),
            });
        }
        let next_base = bases.get(i + 1).copied();
        let lazy = next_base.filter(|&n| snap.is_some() && n <= from);
        let seg = match lazy {
            Some(n) => Segment::open_inactive(dir, base, n, cache)?,
            None => None,
        };
        let seg = match seg {
            Some(seg) => seg,
            None => {
                let mut on_batch = |h: &BatchHeader| {
                    if h.base_offset >= from {
                        observe_epoch(&mut epochs, h.leader_epoch, h.base_offset)
                    }
                };
                let active = next_base.is_none();
                let seg = Segment::open(
                    dir,
                    base,
                    active,
                    config.index_interval_bytes,
                    cache,
                    &mut on_batch,
                )?;
                scanned += seg.size;
                seg
            }
        };
        prev_end = Some(seg.next_offset);
        segments.insert(base, seg);
    }
    let log_end = prev_end.unwrap_or(0);
    let first_base = segments.keys().next().copied();
    let log_start = match (first_base, checkpoint) {
        (Some(first), Some(ck)) if ck <= log_end => first.max(ck),
        (Some(first), None) => first,
        // No segments, or the checkpoint is past the end: an interrupted
        // reset to a new start offset; finish it.
        (_, ck) => {
            let start = ck.unwrap_or(0);
            if !segments.is_empty() {
                info!(dir = %dir.display(), start, log_end, "log start checkpoint is past the log end; starting empty");
            }
            for seg in std::mem::take(&mut segments).into_values() {
                seg.files.remove()?;
            }
            epochs.clear();
            segments.insert(start, Segment::create(dir, start, cache)?);
            sync_dir(dir)?;
            start
        }
    };
    trim_epochs_front(&mut epochs, log_start);
    Ok(Loaded {
        segments,
        log_start,
        epochs,
        scanned,
    })
}
