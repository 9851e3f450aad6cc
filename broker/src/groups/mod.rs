//! Consumer groups on their coordinator: membership with server-side
//! assignment, and committed offsets stored in `__consumer_offsets`. Any
//! broker answers; requests for a group coordinated elsewhere are relayed.
//!
//! - [`routing`]: which broker coordinates a group; creates `__consumer_offsets`.
//! - [`coordinator`]: [`GroupCoordinator`]: join, heartbeat, leave, describe, list, expiry.
//! - [`membership`]: pure group state: members, generations, assignors.
//! - [`offsets`]: [`GroupOffsets`]: commits, fetches, compaction by key.

pub mod coordinator;
pub mod membership;
pub mod offsets;
pub mod routing;

pub use coordinator::GroupCoordinator;
pub use offsets::GroupOffsets;
