//! Clients for calls this controller makes to brokers (reqwest lives here).
//!
//! Raft RPCs to other controllers are openraft's network, in [`crate::raft::network`].
//!
//! - [`broker_client`]: pushes metadata deltas to brokers.

pub mod broker_client;
