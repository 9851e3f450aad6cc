//! Broker domain logic, free of HTTP types.
//!
//! - [`broker`]: the broker's shared state (identity, metadata, replicas).
//! - [`metadata_cache`]: the pushed metadata image.
//! - [`replica_manager`], [`partition`]: local replicas, high watermarks.
//! - [`produce`], [`fetch`]: the produce and fetch paths.
//! - [`partitioner`]: Kafka's murmur2 and sticky partitioners.

pub mod broker;
pub mod fetch;
pub mod group_coordinator;
pub mod group_membership;
pub mod group_offsets;
pub mod leader_state;
pub mod metadata_cache;
pub mod partition;
pub mod partitioner;
pub mod produce;
pub mod producer_state;
pub mod replica_fetch;
pub mod replica_manager;
