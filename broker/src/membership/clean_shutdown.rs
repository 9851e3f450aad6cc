//! The clean-shutdown marker (Kafka's `.kafka_cleanshutdown`, the broker half
//! of KIP-966): `DATA_DIR/clean_shutdown.json`, holding the broker epoch of
//! the run that wrote it.
//!
//! Written, durably, only after a graceful shutdown has flushed every log and
//! the broker has stopped writing; taken (read, then removed durably) at
//! start-up before any log is opened, so a run that crashes, is killed or
//! loses power leaves none. The next registration reports what was found and
//! the controller withdraws a replica whose log may have lost its unsynced
//! tail from the ISR and ELR it held (see the controller's `partition_change`).

use crate::node::Node;
use crate::storage::{sync_dir, write_durable};
use ferry_common::internal::PreviousShutdown;
use ferry_common::types::BrokerEpoch;
use serde::{Deserialize, Serialize};
use std::io::ErrorKind;
use std::path::{Path, PathBuf};

/// The marker's file name in the data dir.
pub const FILE: &str = "clean_shutdown.json";

#[derive(Debug, Serialize, Deserialize)]
struct Marker {
    broker_epoch: BrokerEpoch,
}

fn path(data_dir: &Path) -> PathBuf {
    data_dir.join(FILE)
}

/// Reads and removes the marker; what this run's registration reports. A
/// missing or unreadable marker means the previous run did not end cleanly
/// (or the data dir is new). Fails only if the marker cannot be removed: a
/// crash of this run must not look clean to the next one.
pub fn take(data_dir: &Path) -> Result<PreviousShutdown, String> {
    let p = path(data_dir);
    let found = match std::fs::read(&p) {
        Ok(bytes) => match serde_json::from_slice::<Marker>(&bytes) {
            Ok(m) => PreviousShutdown::Clean {
                broker_epoch: m.broker_epoch,
            },
            Err(e) => {
                tracing::warn!(path = %p.display(), error = %e, "unreadable clean-shutdown marker; treating the last shutdown as unclean");
                PreviousShutdown::Unclean
            }
        },
        Err(e) if e.kind() == ErrorKind::NotFound => return Ok(PreviousShutdown::Unclean),
        Err(e) => return Err(format!("reading {}: {e}", p.display())),
    };
    std::fs::remove_file(&p).map_err(|e| format!("removing {}: {e}", p.display()))?;
    sync_dir(data_dir).map_err(|e| e.to_string())?;
    Ok(found)
}

/// Writes the marker (temp file, fsync, rename, directory fsync). Call only
/// once every log is flushed and nothing writes to the data dir any more.
pub fn write(data_dir: &Path, broker_epoch: BrokerEpoch) -> Result<(), String> {
    let bytes = serde_json::to_vec(&Marker { broker_epoch }).map_err(|e| e.to_string())?;
    write_durable(&path(data_dir), &bytes).map_err(|e| e.to_string())
}

/// What a registration of this run reports: the marker's verdict on the
/// previous run the first time (taking it), and clean at the current epoch
/// when this run registers again (its logs never left this process).
pub fn for_registration(node: &Node) -> Result<PreviousShutdown, String> {
    match node.id() {
        Some(_) => Ok(PreviousShutdown::Clean {
            broker_epoch: node.broker_epoch(),
        }),
        None => take(&node.config.data_dir),
    }
}

/// At the end of a graceful shutdown, once the server is done and every log
/// flushed (`flushed`): leaves the marker for the next start. A run that never
/// registered has no epoch to vouch for and leaves none.
pub fn leave(node: &Node, flushed: bool) {
    if node.id().is_none() || !flushed {
        tracing::warn!(
            flushed,
            "no clean-shutdown marker: the next start reports an unclean shutdown"
        );
        return;
    }
    match write(&node.config.data_dir, node.broker_epoch()) {
        Ok(()) => tracing::info!(
            broker_epoch = node.broker_epoch(),
            "clean-shutdown marker written"
        ),
        Err(e) => tracing::warn!(error = %e, "writing the clean-shutdown marker failed"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_written_marker_is_taken_once() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(take(dir.path()).unwrap(), PreviousShutdown::Unclean);
        write(dir.path(), 42).unwrap();
        assert_eq!(
            take(dir.path()).unwrap(),
            PreviousShutdown::Clean { broker_epoch: 42 }
        );
        assert!(!dir.path().join(FILE).exists(), "removed once read");
        assert_eq!(take(dir.path()).unwrap(), PreviousShutdown::Unclean);
    }

    #[test]
    fn a_torn_marker_counts_as_unclean_and_is_removed() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(FILE), b"{\"broker_ep").unwrap();
        assert_eq!(take(dir.path()).unwrap(), PreviousShutdown::Unclean);
        assert!(!dir.path().join(FILE).exists());
    }
}
