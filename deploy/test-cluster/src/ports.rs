//! Port blocks reserved for one test cluster at a time, across the threads of
//! one test binary and across separate test processes.
//!
//! A block is [`BLOCK`] consecutive ports at an aligned base (the local-cluster
//! layout puts controllers at `base + 1..` and brokers at `base + 101..`).
//! Reserving a block takes an exclusive `flock` on
//! `$TMPDIR/ferry-test-ports/<base>.lock` and keeps that file open for the
//! cluster's lifetime, so:
//! - two reservations can never hold the same block: `flock` locks belong to
//!   the open file description, so they exclude other threads of the same
//!   process as well as other processes (POSIX `fcntl` locks would not
//!   exclude threads);
//! - a crashed or SIGKILLed test frees its block, because the kernel drops the
//!   lock with the last descriptor; there are no stale reservations to clean.
//!
//! Blocks inside the kernel's ephemeral range (`ip_local_port_range`) are never
//! chosen, so outgoing connections do not take our ports; after locking, each
//! port the cluster will listen on is bound once to check that no other
//! program holds it. The search starts at a random block; the seed is logged
//! and `FERRY_TEST_PORT_SEED` repeats it.

use anyhow::{bail, Context, Result};
use std::fs::{File, OpenOptions};
use std::net::TcpListener;
use std::os::fd::AsRawFd;
use std::path::PathBuf;

/// Ports per block.
pub const BLOCK: u16 = 200;
/// Lowest base considered; below are well-known and registered service ports.
const FIRST_BASE: u16 = 10_000;

/// A reserved block of ports, released when dropped.
#[derive(Debug)]
pub struct PortBlock {
    base: u16,
    /// Holds the `flock`; closing it releases the block.
    _lock: File,
}

impl PortBlock {
    /// Reserves a block in which every port of `offsets` (relative to the
    /// block's base) binds right now.
    pub fn reserve(offsets: &[u16]) -> Result<PortBlock> {
        let dir = std::env::temp_dir().join("ferry-test-ports");
        std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
        let candidates = candidate_bases(ephemeral_range());
        if candidates.is_empty() {
            bail!("no port block lies outside the ephemeral port range");
        }
        let seed = seed();
        let start = (seed % candidates.len() as u64) as usize;
        for i in 0..candidates.len() {
            let base = candidates[(start + i) % candidates.len()];
            let Some(lock) = try_lock(dir.join(format!("{base}.lock")))? else {
                continue;
            };
            if offsets.iter().all(|o| binds(base + o)) {
                eprintln!(
                    "ferry-test-cluster: ports {base}..{} (seed {seed}; FERRY_TEST_PORT_SEED={seed} repeats the search)",
                    base + BLOCK
                );
                return Ok(PortBlock { base, _lock: lock });
            }
        }
        bail!(
            "every port block in {} is reserved or in use (seed {seed})",
            dir.display()
        )
    }

    /// The first port of the block.
    pub fn base(&self) -> u16 {
        self.base
    }
}

/// Aligned bases whose whole block lies outside `ephemeral` (inclusive bounds).
fn candidate_bases(ephemeral: (u16, u16)) -> Vec<u16> {
    let (lo, hi) = ephemeral;
    (FIRST_BASE..=u16::MAX - BLOCK)
        .step_by(BLOCK as usize)
        .filter(|&base| base + BLOCK <= lo || base > hi)
        .collect()
}

/// The kernel's ephemeral port range; Linux's default when it cannot be read.
fn ephemeral_range() -> (u16, u16) {
    std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|s| {
            let mut it = s.split_whitespace().map(|p| p.parse::<u16>().ok());
            Some((it.next()??, it.next()??))
        })
        .unwrap_or((32_768, 60_999))
}

fn seed() -> u64 {
    if let Some(s) = std::env::var("FERRY_TEST_PORT_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
    {
        return s;
    }
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64);
    (nanos ^ u64::from(std::process::id()).rotate_left(32)).wrapping_mul(6_364_136_223_846_793_005)
        >> 16
}

/// The open, exclusively locked file; `None` when another holder has it.
fn try_lock(path: PathBuf) -> Result<Option<File>> {
    let file = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .with_context(|| format!("opening {}", path.display()))?;
    // SAFETY: flock on a descriptor this function owns; no memory is shared.
    let rc = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
    if rc == 0 {
        return Ok(Some(file));
    }
    let err = std::io::Error::last_os_error();
    if err.raw_os_error() == Some(libc::EWOULDBLOCK) {
        return Ok(None);
    }
    Err(err).with_context(|| format!("locking {}", path.display()))
}

fn binds(port: u16) -> bool {
    TcpListener::bind(("127.0.0.1", port)).is_ok()
}
