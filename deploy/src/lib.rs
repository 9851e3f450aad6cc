//! The local-cluster runner behind `deploy/ferry-local` and Ferry's multi-process tests.
//!
//! A cluster lives in one directory: `cluster.json` (its layout), and per node a
//! config file, a data dir, a log file and a pid file. Any later invocation
//! (or test) can signal, stop and restart nodes by name: `controller-N`, `broker-N`.

pub mod cluster;
pub mod http;
pub mod process;
pub mod stats;
pub mod wait;

pub use cluster::{
    free_base_port, launch_for_tests, ClusterLayout, ClusterSpec, LocalCluster, NodeKind, NodeSpec,
    NodeState,
};
