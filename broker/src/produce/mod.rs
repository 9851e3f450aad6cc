//! The produce path, in call order: `api/records.rs` -> [`service`]
//! (validate, pick partitions, forward to other leaders) -> [`append`] (the
//! local append and the acks wait) -> `partition/replica.rs` (producer
//! checks, the log append) -> `storage/log.rs`.
//!
//! - [`service`]: [`ProduceService`], one request over many partitions.
//! - [`append`]: [`Appender`], one local leader append (also used for offset commits).
//! - [`partitioner`]: Kafka's murmur2 and sticky partitioners.
//! - `fault` (feature `fault-injection` only): the lost-acknowledgement knob.

pub mod append;
#[cfg(feature = "fault-injection")]
pub mod fault;
pub mod partitioner;
pub mod service;

pub use append::Appender;
pub use service::ProduceService;
