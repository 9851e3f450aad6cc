//! On-disk partition log storage: a segmented, append-only commit log per
//! partition replica, in the spirit of Kafka's log.
//!
//! A [`PartitionLog`] owns one directory holding segments named after their
//! base offset (`{base:020}.log` with `.index` and `.timeindex` beside it) and a
//! `log-start-offset` checkpoint. Records are appended in CRC32C-protected
//! batches (see [`batch`] for the byte layout); reads locate a segment by base
//! offset, then a position through the sparse index, then scan batches.
//!
//! The API is blocking and internally synchronized, so an `Arc<PartitionLog>`
//! can be shared between threads: mutations are serialized by one writer lock,
//! and readers only hold the state lock long enough to clone a file handle and
//! find a byte range, then read with positional IO while appends continue.
//!
//! Module map:
//! - `batch`: record batch byte format, encode/decode, CRC checks.
//! - `record`: the public record and batch metadata types.
//! - `index`: sparse offset and time indexes.
//! - `segment`: one segment's files, recovery scan and truncation.
//! - `files`: file naming, directory listing, atomic writes, buffered reads.
//! - `durability`: the synced offset waiters watch, sync-round counters, and the
//!   state a log shares with its sync task (a leaf under `log` and `sync`).
//! - `sync`: group commit: the synced offset and one sync round (fdatasync).
//! - `sync_gate` (tests, feature `fault-injection`): failpoints holding or failing syncs.
//! - `handles`: the broker-wide bounded cache of open segment files, and the
//!   fd limit helpers.
//! - `snapshot`: producer-state snapshot files (`.snapshot`).
//! - `log`: [`PartitionLog`] itself: append, roll; `open` opens it (lazily
//!   below the newest snapshot), `read` and `retention` add reads and
//!   deletion/truncation to it.

pub mod batch;
mod durability;
mod files;
mod handles;
mod index;
mod log;
mod open;
mod read;
mod record;
mod retention;
mod segment;
mod snapshot;
mod sync;
#[cfg(any(test, feature = "fault-injection"))]
mod sync_gate;

#[cfg(test)]
mod tests;

use std::path::Path;

pub use batch::{decode_batches, BatchHeader, BatchMeta, Record, RecordIn, TimestampType};
pub use durability::{Durability, SyncRound, SyncStats, SyncWait};
/// Durable file helpers for the replica manager's partition identity files.
pub(crate) use files::{sync_dir, write_durable};
pub use handles::{
    open_fd_count, raise_fd_limit, HandleCache, HandleStats, DEFAULT_OPEN_SEGMENT_HANDLES,
};
pub use log::{AppendInfo, LogConfig, PartitionLog};
#[cfg(any(test, feature = "fault-injection"))]
pub use sync_gate::SyncHold;

/// Errors of the storage engine.
#[derive(Debug, thiserror::Error)]
pub enum LogError {
    /// A filesystem operation failed.
    #[error("I/O error during {op}: {source}")]
    Io {
        /// What was being done, with the path involved.
        op: String,
        /// The underlying error.
        source: std::io::Error,
    },
    /// Stored or received bytes are not a valid batch (or index) where one was expected.
    #[error("corrupt data at {location}: {reason}")]
    Corrupt {
        /// File and byte position, or position within a received buffer.
        location: String,
        /// What check failed.
        reason: String,
    },
    /// The requested offset is below the log start or above the log end.
    #[error("offset {requested} is out of range [{log_start}, {log_end}]")]
    OffsetOutOfRange {
        /// Offset asked for.
        requested: u64,
        /// First offset still stored.
        log_start: u64,
        /// Next offset to be assigned.
        log_end: u64,
    },
    /// An encoded batch is larger than a segment may hold.
    #[error("batch of {size} bytes exceeds the maximum of {max} bytes")]
    MessageTooLarge {
        /// Encoded batch size.
        size: u64,
        /// Largest accepted batch (the effective segment size).
        max: u64,
    },
    /// The records handed to `append` cannot form a batch.
    #[error("invalid batch: {0}")]
    InvalidBatch(String),
    /// A replicated batch does not start at the log end offset.
    #[error("batch base offset {actual} does not match log end offset {expected}")]
    UnexpectedBaseOffset {
        /// The current log end offset.
        expected: u64,
        /// The base offset of the batch received.
        actual: u64,
    },
    /// The log was deleted with [`PartitionLog::delete`].
    #[error("the log has been deleted")]
    Deleted,
}

/// Builds a closure mapping an `io::Error` to [`LogError::Io`] naming `op` and `path`.
pub(crate) fn io_err<'a>(
    op: &'a str,
    path: &'a Path,
) -> impl FnOnce(std::io::Error) -> LogError + 'a {
    move |source| LogError::Io {
        op: format!("{op} {}", path.display()),
        source,
    }
}
