//! The controller's service layer, split by caller like the API; free of HTTP
//! and storage types.
//!
//! - [`write_path`]: the one write path (leadership check, propose through Raft,
//!   wait for apply, map errors), shared by everything that writes.
//! - [`admin`]: the client admin API: topics, producer ids, cluster and broker views.
//! - [`authz`]: the one authorization point of the public API (ACLs).
//! - [`acls`]: creating, listing and deleting ACLs.
//! - [`users`]: client users (password in, SCRAM credential through Raft).
//! - [`brokers`]: registration, heartbeats, controlled shutdown, AlterPartition, snapshots.
//! - [`broker_sessions`]: heartbeat bookkeeping (pure, time passed in).
//! - [`suspicion`]: fencing on a confirmed refused connection (pure).
//!
//! Raft peer RPCs need no service: `api::raft_peers` hands them to openraft.

pub mod acls;
pub mod admin;
pub mod authz;
pub mod broker_sessions;
pub mod brokers;
pub mod suspicion;
pub mod users;
pub mod write_path;
