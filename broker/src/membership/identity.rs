//! The broker id and cluster id a data dir belongs to (`DATA_DIR/meta.json`),
//! so a restart keeps its identity and another cluster's data is refused.

use crate::storage::write_durable;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// What a data dir remembers about its broker.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Identity {
    pub broker_id: u32,
    pub cluster_id: String,
}

fn path(data_dir: &Path) -> PathBuf {
    data_dir.join("meta.json")
}

/// Reads the identity, `None` for a fresh data dir.
pub fn load(data_dir: &Path) -> Result<Option<Identity>, String> {
    match std::fs::read(path(data_dir)) {
        Ok(b) => serde_json::from_slice(&b)
            .map(Some)
            .map_err(|e| format!("corrupt {}: {e}", path(data_dir).display())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(format!("reading {}: {e}", path(data_dir).display())),
    }
}

/// Writes the identity crash-safely (temp file, fsync, rename, directory fsync).
pub fn store(data_dir: &Path, id: &Identity) -> Result<(), String> {
    let err = |e: std::io::Error| format!("writing broker identity in {}: {e}", data_dir.display());
    std::fs::create_dir_all(data_dir).map_err(err)?;
    let bytes = serde_json::to_vec_pretty(id).map_err(|e| e.to_string())?;
    write_durable(&path(data_dir), &bytes)
        .map_err(|e| format!("writing broker identity in {}: {e}", data_dir.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identity_round_trips() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(load(dir.path()).unwrap(), None);
        let id = Identity {
            broker_id: 7,
            cluster_id: "c".into(),
        };
        store(dir.path(), &id).unwrap();
        assert_eq!(load(dir.path()).unwrap(), Some(id));
        std::fs::write(dir.path().join("meta.json"), b"{").unwrap();
        assert!(load(dir.path()).is_err());
    }
}
