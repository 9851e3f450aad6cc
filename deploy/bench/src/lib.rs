//! Ferry's benchmark programs, driven through the client SDK (`ferry-client`):
//!
//! - `ferry-bench` (`src/bin/ferry-bench.rs`): produce and fetch throughput and latency.
//! - `ferry-controller-bench` (`src/bin/ferry-controller-bench.rs`): metadata-write
//!   latency and controller failover time.
//! - [`stats`]: the percentiles both report.

pub mod stats;
