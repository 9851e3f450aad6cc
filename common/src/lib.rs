//! Ferry's wire contract, shared by every service and the SDK.
//!
//! - [`error`]: Kafka-style error codes and the JSON error body.
//! - [`types`]: domain newtypes (`BrokerId`, `TopicName`, ...) and their validation.
//! - [`api`]: public REST request/response bodies (README, section "API").
//! - [`metadata`]: metadata-log records, deltas and the image brokers and controllers
//!   replay them into (Kafka's `__cluster_metadata` model).
//! - [`partitioner`]: Kafka's murmur2 key partitioner.
//! - [`records`]: broker REST bodies (produce, fetch, offsets, metadata) and the
//!   key/value encoding rules.
//! - [`groups`]: consumer-group membership bodies.
//! - [`internal`]: controller <-> broker bodies (registration, heartbeats, pushes).
//! - [`body`]: JSON body rules (content types, parse errors).
//! - [`security`]: principals, SCRAM credentials and ACL bindings.
//! - [`acls`]: the `/v1/acls` bodies and the ACL binding filter.
//! - [`users`]: the controller's user API bodies (passwords in, never out).
//! - [`openapi`]: error answers and the checked-in-file check shared by both OpenAPI documents.
//! - [`topic_config`]: topic configs (Kafka names, defaults, validation).
//! - [`telemetry`], [`settings`]: logging and config-loading helpers.

pub mod acls;
pub mod api;
pub mod body;
pub mod error;
pub mod groups;
pub mod internal;
pub mod metadata;
pub mod openapi;
pub mod partitioner;
pub mod records;
pub mod security;
pub mod settings;
pub mod telemetry;
pub mod topic_config;
pub mod types;
pub mod users;

pub use error::{ErrorBody, ErrorCode};
pub use types::{BrokerId, TopicName};
