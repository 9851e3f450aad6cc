//! One local partition replica: its log handle, idempotent producers' state,
//! and its leader/follower role with the replication rules that go with it.
//!
//! - [`replica`]: [`Partition`], the locked wrapper the rest of the broker holds.
//! - [`leader_state`]: pure rules: follower LEO tracking, HW, ISR changes.
//! - [`producer_state`]: idempotent producers' recent batches (dedup, ordering).

pub mod leader_state;
pub mod replica;
pub mod producer_state;

pub use replica::{AppendOutcome, Partition, PartitionSettings};
