//! Pull replication between brokers, follower side and ISR changes.
//!
//! - [`fetcher`]: one long-poll fetch loop per leader broker, covering every
//!   partition this broker follows from it; appends, truncates diverged
//!   suffixes, tracks the leader's HW.
//! - [`isr`]: AlterPartition requests to the controller (one in flight per
//!   partition) and the periodic ISR-shrink check.

pub mod fetcher;
pub mod isr;
