//! The broker's side of cluster membership: its persisted identity, the client
//! for the controller quorum, and register -> snapshot -> heartbeat ->
//! controlled shutdown.
//!
//! - [`clean_shutdown`]: the marker a graceful shutdown leaves for the next start.
//! - [`identity`]: broker id and cluster id in `DATA_DIR/meta.json`.
//! - [`controller_client`]: HTTP client for the active controller.
//! - [`lifecycle`]: [`Membership`]: registration, snapshots, heartbeats, shutdown.
//! - [`suspects`]: reports brokers that refuse connections, for fast fencing.

pub mod clean_shutdown;
pub mod controller_client;
pub mod identity;
pub mod lifecycle;
pub mod suspects;

pub use lifecycle::Membership;
