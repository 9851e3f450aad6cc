//! Domain logic, free of HTTP and storage types.
//!
//! - [`commands`], [`state_machine`], [`placement`], [`partition_change`]: the pure
//!   replicated state machine.
//! - [`metadata_service`]: the write path (propose, wait for apply, map errors) and reads.
//! - [`broker_sessions`]: heartbeat bookkeeping and the fencing driver.
//! - [`propagation`]: pushing metadata deltas to brokers.
//! - [`leadership`]: active-controller duties (cluster id, fencing).
//! - [`state_view`]: the applied state shared by handlers and tasks.

pub mod broker_sessions;
pub mod commands;
pub mod leadership;
pub mod metadata_service;
pub mod partition_change;
pub mod placement;
pub mod propagation;
pub mod state_machine;
pub mod state_view;
