//! The local-cluster runner behind `deploy/ferry-local` and Ferry's
//! multi-process test harness (`ferry-test-cluster`).
//!
//! A cluster lives in one directory: `cluster.json` (its layout), and per node a
//! config file, a data dir, a log file and a pid file. Any later invocation
//! (or test) can signal, stop and restart nodes by name: `controller-N`, `broker-N`.
//!
//! - [`layout`]: nodes, ports and settings, as persisted in `cluster.json`.
//! - [`node_config`]: the TOML file each node starts with.
//! - [`cluster`]: [`LocalCluster`], starting, signalling and stopping nodes.
//! - [`process`]: detached processes and pid files.
//! - [`tls`]: the throwaway CA and node certificates of a `--tls` cluster.
//! - [`http`], [`wait`]: readiness by health endpoint, waits with deadlines.
//!
//! The `ferry-local` binary (`src/main.rs`) is the command line over this.

pub mod cluster;
pub mod http;
pub mod layout;
pub mod node_config;
pub mod process;
pub mod tls;
pub mod wait;

pub use cluster::LocalCluster;
pub use layout::{ClusterLayout, ClusterSpec, DataRoots, NodeKind, NodeSpec, NodeState};
