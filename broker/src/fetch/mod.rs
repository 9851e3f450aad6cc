//! The fetch path, in call order: `api/records.rs` -> [`service`] (leader
//! check, long-poll on the HW) -> `storage/read.rs`. Consumers only ever
//! see records below the high watermark. [`budget`] bounds waiting fetches
//! and the memory of all in-flight ones.

pub mod budget;
pub mod service;

pub use budget::FetchBudget;
pub use service::{FetchParams, FetchService, Fetched};
