//! The one harness for Ferry's multi-process tests (broker, controller and
//! client-SDK test crates): a [`TestCluster`] of real `ferry-controller` and
//! `ferry-broker` processes started through the local-cluster runner, with a
//! temp dir per cluster, reserved ports, readiness by health endpoint, logs to
//! files, kill / stop / pause / restart by node name, JSON requests with and
//! without redirect following, waits with deadlines, and every process
//! SIGKILLed when the cluster is dropped.
//!
//! - [`cluster`]: [`TestCluster`] and its builder.
//! - [`ports`]: [`PortBlock`], race-free port reservation under a file lock.
//! - [`bins`]: locating the binaries next to the test executable.
//! - [`inspect`]: partition leaders and replica bytes, seen from outside.
//!
//! Service-specific helpers (a broker stand-in, replication checkers) live in
//! each crate's `tests/common` on top of this.

pub mod bins;
pub mod cluster;
pub mod inspect;
pub mod ports;

pub use cluster::{TestCluster, TestClusterBuilder, ADMIN_USER};
pub use ferry_http::auth::NodeIdentity;
pub use ferry_local_cluster::http::wait_ready;
pub use ferry_local_cluster::wait::wait_for;
pub use ferry_local_cluster::NodeState;
pub use inspect::{find_leader, segment_bytes};
pub use ports::PortBlock;
