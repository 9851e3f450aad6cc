//! Durable storage: the sled database, the applied metadata state in it, and
//! crash-safe snapshot files. The openraft adapters over these live in
//! [`crate::raft`]; this module depends only on the metadata core.
//!
//! - [`durable`]: sled plus a real `fdatasync`.
//! - [`state_store`]: [`crate::metadata::ControllerState`] stored one value per entity.
//! - [`snapshot_file`]: whole-file atomic writes.
//!
//! sled 0.34's `flush()` ends in `sync_file_range`, which is not a durability
//! barrier, so [`durable::DurableDb::sync`] follows it with `fdatasync` of sled's
//! data file. Values stay small (one command, one partition) so sled never writes
//! them to its un-fsynced blob files.

pub mod durable;
pub mod snapshot_file;
pub mod state_store;

/// Storage failures, with the operation that failed.
#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    #[error("sled {op}: {source}")]
    Sled {
        op: &'static str,
        source: sled::Error,
    },
    #[error("{op}: {source}")]
    Io {
        op: &'static str,
        source: std::io::Error,
    },
    #[error("corrupt {what}: {detail}")]
    Corrupt { what: &'static str, detail: String },
    #[error("data dir belongs to controller {found}, this is controller {expected}")]
    WrongNode { found: u64, expected: u64 },
}

impl StorageError {
    pub(crate) fn sled(op: &'static str) -> impl FnOnce(sled::Error) -> StorageError {
        move |source| StorageError::Sled { op, source }
    }
    pub(crate) fn io(op: &'static str) -> impl FnOnce(std::io::Error) -> StorageError {
        move |source| StorageError::Io { op, source }
    }
    pub(crate) fn corrupt(what: &'static str) -> impl FnOnce(serde_json::Error) -> StorageError {
        move |e| StorageError::Corrupt {
            what,
            detail: e.to_string(),
        }
    }
}

impl From<StorageError> for std::io::Error {
    fn from(e: StorageError) -> Self {
        match e {
            StorageError::Io { source, .. } => source,
            other => std::io::Error::other(other.to_string()),
        }
    }
}
