//! A sled database whose `sync` really reaches the disk.

use super::snapshot_file::sync_dir;
use super::StorageError;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// sled plus the handle of its data file, for `fdatasync` after `flush`.
#[derive(Clone)]
pub struct DurableDb {
    pub db: sled::Db,
    data_file: Arc<File>,
    dir: PathBuf,
}

impl DurableDb {
    /// Opens (or creates) sled under `dir/sled`, and checks the dir belongs to `node_id`.
    pub fn open(dir: &Path, node_id: u64) -> Result<Self, StorageError> {
        std::fs::create_dir_all(dir).map_err(StorageError::io("create data dir"))?;
        check_node_id(dir, node_id)?;
        let sled_dir = dir.join("sled");
        let db = sled::Config::new()
            .path(&sled_dir)
            .mode(sled::Mode::HighThroughput)
            .open()
            .map_err(StorageError::sled("open"))?;
        let data_file =
            File::open(sled_dir.join("db")).map_err(StorageError::io("open sled data file"))?;
        // sled creates its dir and files without fsyncing their directories:
        // make the names durable (once per open), or a power cut loses the
        // whole database however often its data file was fsynced.
        sync_dir(&sled_dir)?;
        sync_dir(dir)?;
        if let Some(parent) = dir.parent().filter(|p| !p.as_os_str().is_empty()) {
            sync_dir(parent)?;
        }
        Ok(DurableDb {
            db,
            data_file: Arc::new(data_file),
            dir: dir.to_path_buf(),
        })
    }

    /// The directory this database lives in.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Makes everything written so far durable. Blocking: call from `spawn_blocking`.
    pub fn sync(&self) -> Result<(), StorageError> {
        self.db.flush().map_err(StorageError::sled("flush"))?;
        self.data_file
            .sync_data()
            .map_err(StorageError::io("fdatasync sled data file"))
    }

    /// [`Self::sync`] on the blocking pool.
    pub async fn sync_async(&self) -> Result<(), StorageError> {
        let this = self.clone();
        tokio::task::spawn_blocking(move || this.sync())
            .await
            .map_err(|e| StorageError::Io {
                op: "join sync task",
                source: std::io::Error::other(e),
            })?
    }
}

/// A data dir remembers which controller it belongs to, so a misconfigured
/// node cannot adopt another node's Raft state.
fn check_node_id(dir: &Path, node_id: u64) -> Result<(), StorageError> {
    let marker = dir.join("node_id");
    match std::fs::read_to_string(&marker) {
        Ok(s) => {
            let found: u64 = s.trim().parse().map_err(|_| StorageError::Corrupt {
                what: "node_id file",
                detail: format!("{s:?} is not a number"),
            })?;
            if found != node_id {
                return Err(StorageError::WrongNode {
                    found,
                    expected: node_id,
                });
            }
            Ok(())
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            super::snapshot_file::write_atomic(&marker, node_id.to_string().as_bytes())
        }
        Err(e) => Err(StorageError::Io {
            op: "read node_id file",
            source: e,
        }),
    }
}
