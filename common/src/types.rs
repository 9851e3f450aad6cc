//! Domain newtypes shared by every crate, and Kafka's naming rules.

use serde::{Deserialize, Serialize};
use std::fmt;

/// A broker's id, unique in the cluster for the broker's lifetime.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Serialize,
    Deserialize,
    utoipa::ToSchema,
)]
#[serde(transparent)]
pub struct BrokerId(pub u32);

impl fmt::Display for BrokerId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// A partition's index within its topic.
pub type PartitionId = u32;
/// Bumped each time a partition gets a new leader.
pub type LeaderEpoch = u32;
/// Bumped on every change of a partition's state (leader, ISR, replicas).
pub type PartitionEpoch = u32;
/// Offset in the metadata log (the Raft log index of the committed record).
pub type MetadataOffset = u64;
/// A broker's registration epoch (the metadata offset of its registration).
pub type BrokerEpoch = u64;

/// Kafka's longest legal topic name.
pub const MAX_TOPIC_NAME_LEN: usize = 249;

/// The internal topic holding consumer groups' committed offsets.
pub const CONSUMER_OFFSETS_TOPIC: &str = "__consumer_offsets";

/// The topics the cluster itself writes and sizes: clients may read them but
/// never produce to, delete or grow them. Every internal topic is listed here.
pub const INTERNAL_TOPICS: &[&str] = &[CONSUMER_OFFSETS_TOPIC];

/// Whether `name` is one of the [`INTERNAL_TOPICS`].
pub fn is_internal_topic(name: &str) -> bool {
    INTERNAL_TOPICS.contains(&name)
}

/// A topic name that passed Kafka's validation rules.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct TopicName(String);

/// Why a topic name was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct InvalidTopicName(pub String);

impl TopicName {
    /// Validates `name` by Kafka's rules: `[a-zA-Z0-9._-]`, 1..=249 chars, not `.` or `..`.
    pub fn new(name: impl Into<String>) -> Result<Self, InvalidTopicName> {
        let name = name.into();
        if name.is_empty() {
            return Err(InvalidTopicName("topic name is empty".into()));
        }
        if name == "." || name == ".." {
            return Err(InvalidTopicName(format!("topic name cannot be \"{name}\"")));
        }
        if name.len() > MAX_TOPIC_NAME_LEN {
            return Err(InvalidTopicName(format!(
                "topic name is {} characters long, the limit is {MAX_TOPIC_NAME_LEN}",
                name.len()
            )));
        }
        if let Some(bad) = name
            .chars()
            .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-')))
        {
            return Err(InvalidTopicName(format!(
                "topic name contains {bad:?}; only ASCII letters, digits, '.', '_' and '-' are allowed"
            )));
        }
        Ok(TopicName(name))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Whether this is an internal topic (see [`is_internal_topic`]).
    pub fn is_internal(&self) -> bool {
        is_internal_topic(&self.0)
    }
}

impl TryFrom<String> for TopicName {
    type Error = InvalidTopicName;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        TopicName::new(value)
    }
}

impl From<TopicName> for String {
    fn from(value: TopicName) -> Self {
        value.0
    }
}

impl fmt::Display for TopicName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_kafka_legal_names() {
        for ok in ["demo-topic", "a", "A.b_c-9", &"x".repeat(249), "..."] {
            assert!(TopicName::new(ok).is_ok(), "{ok}");
        }
    }

    #[test]
    fn refuses_illegal_names() {
        for bad in [
            "",
            ".",
            "..",
            "has space",
            "slash/",
            "ümlaut",
            &"x".repeat(250),
        ] {
            assert!(TopicName::new(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn deserializing_validates() {
        assert!(serde_json::from_str::<TopicName>("\"ok\"").is_ok());
        assert!(serde_json::from_str::<TopicName>("\"no way\"").is_err());
    }
}
