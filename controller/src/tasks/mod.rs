//! The controller's background loops, each running until shutdown.
//!
//! - [`leadership`]: active-controller duties (cluster id, fencing expired
//!   broker sessions, preferred-leader rebalancing).
//! - [`metadata_push`]: pushing committed metadata deltas to brokers.

pub mod leadership;
pub mod metadata_push;
