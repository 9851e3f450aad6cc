//! One local partition replica: its log handle, idempotent producers' state,
//! and its leader/follower role with the replication rules that go with it.
//!
//! - [`replica`]: [`Partition`], the locked wrapper the rest of the broker holds.
//! - [`role`]: [`ReplicaState`], the pure role state machine (leader in epoch
//!   E / follower of epoch E; HW, maximal ISR, ISR proposals; time passed in).
//! - [`leader_state`]: pure rules it applies: follower LEO tracking, HW, ISR joiners/laggards.
//! - [`divergence`]: pure leader-epoch arithmetic: divergence answers, truncation points.
//! - [`settings`]: the topic configs a replica applies.
//! - [`sync_task`]: the replica's group-commit task (fsync, then count the records).
//! - `hw_checkpoint`: the `high-watermark` file (per topic incarnation).
//! - [`producer_state`]: idempotent producers' recent batches (dedup, ordering).
//! - `producer_log`: producer state against the log: learnt on append, snapshotted
//!   on roll and clean shutdown, rebuilt at open from the snapshot plus the tail.
//! - [`watermark`]: the HW and role waiters see; when an acks=all record is committed.

pub mod divergence;
mod hw_checkpoint;
pub mod leader_state;
mod producer_log;
pub mod producer_state;
pub mod replica;
pub mod role;
pub mod settings;
pub mod sync_task;
pub mod watermark;

pub use replica::{AppendOutcome, Partition};
pub use role::ReplicaState;
pub use settings::PartitionSettings;

#[cfg(test)]
pub(crate) mod test_support;
#[cfg(test)]
mod tests;
