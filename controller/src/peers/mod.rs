//! Clients for calls this controller makes to brokers (reqwest lives here).
//!
//! Raft RPCs to other controllers are openraft's network, in [`crate::raft::network`].
//!
//! - [`broker_client`]: pushes metadata deltas to brokers.
//! - [`probe`]: the TCP probe that confirms a broker reported unreachable.

pub mod broker_client;
pub mod probe;
