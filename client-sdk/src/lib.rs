//! Ferry's Rust client library.
//!
//! - [`AdminClient`]: topics and cluster, against the controller quorum.
//! - [`Producer`]: batching, Kafka's key partitioner, acks, retries, and the
//!   idempotent producer (on by default with acks=all).
//! - [`Consumer`]: assigned partitions or a group subscription, seek, fetch
//!   loop following leaders, committed offsets.
//! - [`GroupAdminClient`]: list and describe consumer groups.
//! - [`Credentials`]: user and password (HTTP Basic) for a cluster with
//!   client authentication on; every client takes them (`with_credentials`).
//! - [`Endpoints`]: sorting a bootstrap list into controllers and brokers.
//! - [`PartitionClient`]: single produce / fetch / offsets requests to
//!   partition leaders, for tools that measure requests.
//! - [`metadata`]: the partition-leader cache under the producer and consumer.
//!
//! Errors separate cluster answers, transport failures and writes whose
//! outcome is unknown ([`FerryError`]).

pub mod admin;
pub mod consumer;
pub mod credentials;
pub mod discovery;
pub mod error;
mod group_member;
pub mod groups;
mod http;
pub mod metadata;
pub mod partition;
pub mod producer;
mod sequence;

pub use admin::AdminClient;
pub use consumer::{Consumer, ConsumerRecord, OffsetReset};
pub use credentials::Credentials;
pub use discovery::Endpoints;
pub use error::FerryError;
pub use ferry_common::records::Acks;
pub use groups::GroupAdminClient;
pub use partition::{FetchLimits, PartitionClient};
pub use producer::{DeliveryFuture, Producer, ProducerConfig, RecordMetadata};
