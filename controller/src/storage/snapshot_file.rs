//! Crash-safe whole-file writes: temp file, fsync, rename, fsync of the directory.

use super::StorageError;
use std::io::Write;
use std::path::Path;

/// Replaces `path` with `bytes` so that after a crash it holds either the old or
/// the new content, never a torn mix.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), StorageError> {
    let dir = path.parent().unwrap_or_else(|| Path::new("."));
    let tmp = path.with_extension("tmp");
    {
        let mut f = std::fs::File::create(&tmp).map_err(StorageError::io("create temp file"))?;
        f.write_all(bytes)
            .map_err(StorageError::io("write temp file"))?;
        f.sync_all().map_err(StorageError::io("fsync temp file"))?;
    }
    std::fs::rename(&tmp, path).map_err(StorageError::io("rename temp file"))?;
    sync_dir(dir)
}

/// Fsyncs a directory so the entries created, renamed or removed in it
/// survive a power cut (an fsynced file is lost whole if its name is not).
pub fn sync_dir(dir: &Path) -> Result<(), StorageError> {
    std::fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(StorageError::io("fsync directory"))
}

/// Reads `path`, or `None` if it does not exist.
pub fn read_optional(path: &Path) -> Result<Option<Vec<u8>>, StorageError> {
    match std::fs::read(path) {
        Ok(b) => Ok(Some(b)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(StorageError::Io {
            op: "read file",
            source: e,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replaces_content_atomically() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("snap.json");
        assert_eq!(read_optional(&p).unwrap(), None);
        write_atomic(&p, b"one").unwrap();
        write_atomic(&p, b"two").unwrap();
        assert_eq!(read_optional(&p).unwrap().unwrap(), b"two");
        assert!(!p.with_extension("tmp").exists());
    }
}
