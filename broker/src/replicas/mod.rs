//! The local replica set: which partitions live on this broker, how a request
//! finds the replica it must be served by, and the loops that maintain the
//! replicas' files (HW checkpoints, retention).
//!
//! - [`manager`]: the replicas map, created and deleted to match metadata;
//!   the offline replicas.
//! - `partition_dir`: `partition.json` and the rule for deleting a directory.
//! - [`lookup`]: the local leader replica of a partition, or the error to answer.
//! - [`checkpoint`]: periodic high-watermark checkpoints.
//! - [`retention`]: periodic segment deletion per `retention.ms`/`retention.bytes`.

pub mod checkpoint;
pub mod lookup;
pub mod manager;
mod partition_dir;
pub mod retention;

pub use lookup::LeaderLookup;
pub use manager::{OfflineReplica, ReplicaManager};

#[cfg(test)]
mod manager_tests;
