//! Producer-state snapshots beside the segments (Kafka's `.snapshot` files):
//! `{offset:020}.snapshot` holds what the log knew at `offset` (a batch
//! boundary): its leader epoch list and an opaque payload (the partition's
//! producer state). Start-up loads the newest valid one and reads only the
//! log after it.
//!
//! Format: `b"FPS1" | offset u64 | epochs u32 | (epoch u32, start u64)* |
//! payload_len u32 | payload | crc32c u32` (big-endian; the CRC covers
//! everything before it). Written crash-safely: temp file, fsync, rename,
//! directory fsync; a torn or foreign file fails its CRC and is skipped.

use std::path::{Path, PathBuf};

use super::files::write_durable;
use super::{io_err, LogError};

const MAGIC: &[u8; 4] = b"FPS1";
const EXT: &str = "snapshot";
/// Snapshots kept per log: the newest may be cut away by a truncation.
const KEEP: usize = 3;

/// A decoded snapshot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Snapshot {
    pub(crate) offset: u64,
    pub(crate) epochs: Vec<(u32, u64)>,
    pub(crate) payload: Vec<u8>,
}

pub(crate) fn path(dir: &Path, offset: u64) -> PathBuf {
    dir.join(format!("{offset:020}.{EXT}"))
}

/// Offsets of the snapshots in `dir`, ascending.
pub(crate) fn list(dir: &Path) -> Result<Vec<u64>, LogError> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(io_err("list", dir))? {
        let name = entry.map_err(io_err("list", dir))?.file_name();
        let Some((stem, ext)) = name.to_str().and_then(|n| n.split_once('.')) else {
            continue;
        };
        if ext == EXT && stem.len() == 20 {
            if let Ok(o) = stem.parse() {
                out.push(o);
            }
        }
    }
    out.sort_unstable();
    Ok(out)
}

pub(crate) fn encode(s: &Snapshot) -> Vec<u8> {
    let mut b = Vec::with_capacity(24 + s.epochs.len() * 12 + s.payload.len());
    b.extend_from_slice(MAGIC);
    b.extend_from_slice(&s.offset.to_be_bytes());
    b.extend_from_slice(&(s.epochs.len() as u32).to_be_bytes());
    for &(e, start) in &s.epochs {
        b.extend_from_slice(&e.to_be_bytes());
        b.extend_from_slice(&start.to_be_bytes());
    }
    b.extend_from_slice(&(s.payload.len() as u32).to_be_bytes());
    b.extend_from_slice(&s.payload);
    let crc = crc32c::crc32c(&b);
    b.extend_from_slice(&crc.to_be_bytes());
    b
}

/// Decodes a snapshot image; the reason it is unusable otherwise.
pub(crate) fn decode(b: &[u8]) -> Result<Snapshot, String> {
    let body_len = b.len().checked_sub(4).ok_or("too short")?;
    let (body, crc) = b.split_at(body_len);
    if crc32c::crc32c(body).to_be_bytes() != crc {
        return Err("checksum mismatch".into());
    }
    let mut r = Reader(body);
    if r.take(4)? != MAGIC {
        return Err("not a snapshot".into());
    }
    let offset = r.u64()?;
    let n = r.u32()? as usize;
    let mut epochs = Vec::with_capacity(n.min(body.len() / 12));
    for _ in 0..n {
        epochs.push((r.u32()?, r.u64()?));
    }
    let len = r.u32()? as usize;
    let payload = r.take(len)?.to_vec();
    if !r.0.is_empty() {
        return Err("trailing bytes".into());
    }
    Ok(Snapshot {
        offset,
        epochs,
        payload,
    })
}

struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], String> {
        if self.0.len() < n {
            return Err("truncated".into());
        }
        let (a, rest) = self.0.split_at(n);
        self.0 = rest;
        Ok(a)
    }
    fn u32(&mut self) -> Result<u32, String> {
        let mut a = [0u8; 4];
        a.copy_from_slice(self.take(4)?);
        Ok(u32::from_be_bytes(a))
    }
    fn u64(&mut self) -> Result<u64, String> {
        let mut a = [0u8; 8];
        a.copy_from_slice(self.take(8)?);
        Ok(u64::from_be_bytes(a))
    }
}

/// Writes `s` durably, then removes all but the newest [`KEEP`] snapshots.
pub(crate) fn write(dir: &Path, s: &Snapshot) -> Result<(), LogError> {
    write_durable(&path(dir, s.offset), &encode(s))?;
    let all = list(dir)?;
    for &o in all.iter().take(all.len().saturating_sub(KEEP)) {
        remove(dir, o)?;
    }
    Ok(())
}

/// Reads the snapshot at `offset`.
pub(crate) fn read(dir: &Path, offset: u64) -> Result<Snapshot, String> {
    let p = path(dir, offset);
    let bytes = std::fs::read(&p).map_err(|e| format!("reading {}: {e}", p.display()))?;
    let s = decode(&bytes).map_err(|e| format!("{}: {e}", p.display()))?;
    if s.offset != offset {
        return Err(format!("{} holds offset {}", p.display(), s.offset));
    }
    Ok(s)
}

/// Removes the snapshots above `offset` (the log was cut there) or below
/// `min` (before the log start). A crash part-way leaves extra snapshots,
/// which open ignores when they are out of range.
pub(crate) fn remove_outside(dir: &Path, min: u64, offset: u64) -> Result<(), LogError> {
    for o in list(dir)? {
        if o > offset || o < min {
            remove(dir, o)?;
        }
    }
    Ok(())
}

fn remove(dir: &Path, offset: u64) -> Result<(), LogError> {
    let p = path(dir, offset);
    match std::fs::remove_file(&p) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(io_err("remove", &p)(e)),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_rejects_damage() {
        let s = Snapshot {
            offset: 42,
            epochs: vec![(0, 0), (3, 17)],
            payload: b"producers".to_vec(),
        };
        let b = encode(&s);
        assert_eq!(decode(&b), Ok(s.clone()));
        for i in [0, 5, b.len() / 2, b.len() - 1] {
            let mut bad = b.clone();
            bad[i] ^= 0x40;
            assert!(decode(&bad).is_err(), "flipped byte {i} accepted");
        }
        assert!(decode(&b[..b.len() - 3]).is_err(), "torn file accepted");

        let dir = tempfile::tempdir().unwrap();
        for o in [10, 20, 30, 42] {
            write(
                dir.path(),
                &Snapshot {
                    offset: o,
                    ..s.clone()
                },
            )
            .unwrap();
        }
        assert_eq!(
            list(dir.path()).unwrap(),
            vec![20, 30, 42],
            "keeps the newest 3"
        );
        assert_eq!(read(dir.path(), 42).unwrap(), s);
        remove_outside(dir.path(), 25, 35).unwrap();
        assert_eq!(list(dir.path()).unwrap(), vec![30]);
    }
}
