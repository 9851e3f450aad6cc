//! The pure metadata core: the replicated state machine and its rules.
//!
//! Deterministic and free of I/O: every controller applies the same Raft log
//! and reaches the same [`ControllerState`]. Raft ([`crate::raft`]) and storage
//! ([`crate::storage`]) depend on this module, never the reverse; it imports
//! nothing else of the crate.
//!
//! - [`commands`]: what goes into the Raft log and what applying it answers.
//! - [`controller_state`]: [`ControllerState`], applying one command.
//! - [`client_sessions`]: the idempotent-retry table inside the state.
//! - [`placement`]: replica placement for new topics and partitions.
//! - [`partition_change`]: leader elections, the ELR and AlterPartition checks.
//! - [`membership_changes`]: fencing, unfencing and re-registration applied to every partition.
//! - [`acl_change`]: ACL creation and deletion by filter.
//! - [`users`]: client users' SCRAM credentials.
//! - [`state_view`]: the applied state shared by the service, tasks and Raft.

pub mod acl_change;
pub mod client_sessions;
pub mod commands;
pub mod controller_state;
pub mod membership_changes;
pub mod partition_change;
pub mod placement;
pub mod state_view;
pub mod users;

pub use controller_state::ControllerState;
