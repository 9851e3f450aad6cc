//! A partition directory's identity file (`partition.json`: topic, topic id,
//! partition) and the one rule for deleting a directory.
//!
//! Kafka's rule, kept here: a directory that cannot be read or opened is never
//! deleted (the replica goes offline instead); one is deleted only when
//! metadata at least as new as this broker's registration no longer holds the
//! topic id it names.

use crate::storage::{sync_dir, write_durable};
use ferry_common::metadata::MetadataImage;
use ferry_common::TopicName;
use serde::{Deserialize, Serialize};
use std::io::ErrorKind;
use std::path::Path;

/// Identity file inside each partition directory.
pub(super) const IDENTITY_FILE: &str = "partition.json";

/// What `partition.json` says.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(super) struct PartitionMeta {
    pub topic: TopicName,
    pub topic_id: String,
    pub partition: u32,
}

/// What a partition directory turned out to be.
#[derive(Debug)]
pub(super) enum Identity {
    /// No directory, or one holding nothing but leftover temp files: a crash
    /// before the identity file was first written. Safe to (re)create.
    Fresh,
    /// A readable identity file.
    Known(PartitionMeta),
    /// Anything else (torn or empty file, I/O error, not a directory, data
    /// without an identity): the directory is kept, the replica goes offline.
    Unknown(String),
}

/// Reads the identity of `dir` without changing anything on disk.
pub(super) fn read_identity(dir: &Path) -> Identity {
    let path = dir.join(IDENTITY_FILE);
    match std::fs::read(&path) {
        Ok(bytes) => match serde_json::from_slice::<PartitionMeta>(&bytes) {
            Ok(meta) => Identity::Known(meta),
            Err(e) => Identity::Unknown(format!(
                "{} is unreadable ({} bytes): {e}",
                path.display(),
                bytes.len()
            )),
        },
        Err(e) if e.kind() == ErrorKind::NotFound => match std::fs::read_dir(dir) {
            Err(e) if e.kind() == ErrorKind::NotFound => Identity::Fresh,
            Err(e) => Identity::Unknown(format!("listing {}: {e}", dir.display())),
            Ok(entries) => {
                let mut names = entries.map(|e| e.map(|e| e.file_name()));
                let data = names.find(|n| {
                    n.as_ref()
                        .map_or(true, |n| !n.to_string_lossy().ends_with(".tmp"))
                });
                match data {
                    None => Identity::Fresh,
                    Some(Ok(n)) => Identity::Unknown(format!(
                        "{} holds {} but no {IDENTITY_FILE}",
                        dir.display(),
                        n.to_string_lossy()
                    )),
                    Some(Err(e)) => Identity::Unknown(format!("listing {}: {e}", dir.display())),
                }
            }
        },
        Err(e) => Identity::Unknown(format!("reading {}: {e}", path.display())),
    }
}

/// Creates `dir` (durably) and writes its identity file atomically: temp file,
/// fsync, rename, directory fsync.
pub(super) fn create(dir: &Path, meta: &PartitionMeta) -> Result<(), String> {
    std::fs::create_dir_all(dir).map_err(|e| format!("creating {}: {e}", dir.display()))?;
    if let Some(parent) = dir.parent() {
        sync_dir(parent).map_err(|e| e.to_string())?;
    }
    let bytes = serde_json::to_vec(meta).map_err(|e| e.to_string())?;
    write_durable(&dir.join(IDENTITY_FILE), &bytes).map_err(|e| e.to_string())
}

/// Whether `image` proves that topic id `topic_id` is gone: it is at least as
/// new as this broker's registration (`registered_at`) and holds no topic with
/// that id. An older image (a stale snapshot, one from before this broker
/// registered) proves nothing.
pub(super) fn topic_id_gone(image: &MetadataImage, registered_at: u64, topic_id: &str) -> bool {
    image.offset >= registered_at && !image.topics.values().any(|t| t.topic_id == topic_id)
}

/// Removes `dir` and everything in it, durably (the parent is fsynced).
pub(super) fn remove(dir: &Path) -> Result<(), String> {
    match std::fs::remove_dir_all(dir) {
        Err(e) if e.kind() != ErrorKind::NotFound => {
            return Err(format!("removing {}: {e}", dir.display()))
        }
        _ => {}
    }
    match dir.parent() {
        Some(parent) => sync_dir(parent).map_err(|e| e.to_string()),
        None => Ok(()),
    }
}
