//! Ferry's Rust client library.
//!
//! - [`AdminClient`]: topics and cluster, against the controller quorum.
//! - [`Producer`]: batching, Kafka's key partitioner, acks, retries, and the
//!   idempotent producer (on by default with acks=all).
//! - [`Consumer`]: assigned partitions, seek, fetch loop following leaders.
//!
//! Errors separate cluster answers, transport failures and writes whose
//! outcome is unknown ([`FerryError`]). Consumer groups are not here yet.

pub mod admin;
pub mod consumer;
pub mod error;
mod http;
pub mod metadata;
pub mod producer;

pub use admin::AdminClient;
pub use consumer::{Consumer, ConsumerRecord, OffsetReset};
pub use error::FerryError;
pub use ferry_common::records::Acks;
pub use producer::{DeliveryFuture, Producer, ProducerConfig, RecordMetadata};
