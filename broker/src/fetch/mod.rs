//! The fetch path, in call order: `api/records.rs` -> [`service`] (leader
//! check, long-poll on the HW) -> `storage/read.rs`. Consumers only ever
//! see records below the high watermark.

pub mod service;

pub use service::{FetchParams, FetchService};
