//! The broker's side of cluster membership: its persisted identity, the client
//! for the controller quorum, and the register -> snapshot -> heartbeat loop.

pub mod controller_client;
pub mod identity;
pub mod lifecycle;
