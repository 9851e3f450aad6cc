//! Consumer groups on their coordinator: membership with server-side
//! assignment, and committed offsets stored in `__consumer_offsets`. Any
//! broker answers; requests for a group coordinated elsewhere are relayed.
//!
//! - [`routing`]: which broker coordinates a group; creates `__consumer_offsets`.
//! - [`coordinator`]: [`GroupCoordinator`]: join, heartbeat, leave, commit checks, describe, list, ticks.
//! - [`membership`]: pure group state machine: members, epochs, revoke-then-assign.
//! - [`assignor`]: target assignments (range, round robin).
//! - [`offsets`]: [`GroupOffsets`]: commits, fetches, compaction by key, and
//!   the loaded state (offsets and membership) of each coordinator partition.
//! - [`records`]: group state as `__consumer_offsets` records, and their replay.

pub mod assignor;
pub mod coordinator;
pub mod membership;
pub mod offsets;
pub mod records;
pub mod routing;

pub use coordinator::GroupCoordinator;
pub use offsets::GroupOffsets;
