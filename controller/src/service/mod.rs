//! The controller's service layer, free of HTTP and storage types: the write
//! path through Raft, the reads, and broker sessions.
//!
//! - [`metadata_service`]: the write path (propose, wait for apply, map errors) and reads.
//! - [`broker_sessions`]: heartbeat bookkeeping (pure, time passed in).

pub mod broker_sessions;
pub mod metadata_service;
