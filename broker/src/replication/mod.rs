//! Pull replication between brokers: the leader side, the follower side and
//! the ISR change driver. The rules themselves (HW, ISR membership,
//! divergence) live in `partition/`; this module does the I/O around them.
//!
//! - [`leader`]: serves followers' replica fetches (LEO tracking, divergence
//!   answers, long-poll on local appends).
//! - [`fetcher`]: one long-poll fetch loop per leader broker, covering every
//!   partition this broker follows from it; appends, truncates diverged
//!   suffixes, tracks the leader's HW.
//! - [`isr`]: AlterPartition proposals to the controller (one in flight per
//!   partition) and the periodic ISR-shrink check.

pub mod fetcher;
pub mod isr;
pub mod leader;

#[cfg(test)]
mod tests;
