//! Ferry's benchmark programs, driven through the client SDK (`ferry-client`):
//!
//! - `ferry-bench` (`src/bin/ferry-bench.rs`): produce and fetch throughput and latency.
//! - `ferry-controller-bench` (`src/bin/ferry-controller-bench.rs`): metadata-write
//!   latency and controller failover time.
//! - `ferry-failover-bench` (`src/bin/ferry-failover-bench.rs`): partition failover
//!   time (SIGKILL of a leader to the first acknowledged acks=all write).
//! - `ferry-startup-bench` (`src/bin/ferry-startup-bench.rs`): broker start-up time,
//!   open descriptors and RSS over many partitions and much data.
//! - `ferry-fetch-load` (`src/bin/ferry-fetch-load.rs`): a broker's peak RSS and
//!   produce latency under a storm of large fetches and idle connections.
//! - [`pool`]: the workers that share a numbered sequence of requests.
//! - [`stats`]: the percentiles both report.

pub mod pool;
pub mod stats;
