//! Topic-level configs: the supported keys, their types and defaults.
//!
//! Shared because the controller validates them and brokers apply them.

use std::collections::BTreeMap;

/// The smallest record batch a partition can hold: a 60-byte batch header plus
/// one record with no key, value or headers (28 bytes as the broker counts it
/// against `max.message.bytes`). A `segment.bytes` or `max.message.bytes` below
/// it would accept the topic and refuse every write, so validation refuses it.
pub const MIN_BATCH_BYTES: i64 = 88;

/// One supported topic config.
#[derive(Debug, Clone, Copy)]
pub struct ConfigDef {
    pub name: &'static str,
    pub default: &'static str,
    kind: Kind,
}

#[derive(Debug, Clone, Copy)]
enum Kind {
    /// Integer within an inclusive range.
    Long { min: i64, max: i64 },
    /// One of a fixed set of words.
    Choice(&'static [&'static str]),
}

/// The topic configs Ferry understands, with Kafka's names and defaults.
pub const TOPIC_CONFIGS: &[ConfigDef] = &[
    ConfigDef {
        name: "retention.ms",
        default: "604800000",
        kind: Kind::Long {
            min: -1,
            max: i64::MAX,
        },
    },
    ConfigDef {
        name: "retention.bytes",
        default: "-1",
        kind: Kind::Long {
            min: -1,
            max: i64::MAX,
        },
    },
    ConfigDef {
        name: "segment.bytes",
        default: "1073741824",
        kind: Kind::Long {
            min: MIN_BATCH_BYTES,
            max: i32::MAX as i64,
        },
    },
    ConfigDef {
        name: "segment.ms",
        default: "604800000",
        kind: Kind::Long {
            min: 1,
            max: i64::MAX,
        },
    },
    ConfigDef {
        name: "max.message.bytes",
        default: "1048588",
        kind: Kind::Long {
            min: MIN_BATCH_BYTES,
            max: i32::MAX as i64,
        },
    },
    ConfigDef {
        name: "min.insync.replicas",
        default: "1",
        kind: Kind::Long {
            min: 1,
            max: i32::MAX as i64,
        },
    },
    ConfigDef {
        name: "cleanup.policy",
        default: "delete",
        kind: Kind::Choice(&["delete"]),
    },
    ConfigDef {
        name: "message.timestamp.type",
        default: "CreateTime",
        kind: Kind::Choice(&["CreateTime", "LogAppendTime"]),
    },
    // Redpanda's switch: `true` acknowledges from the page cache and counts
    // appended (not fsynced) offsets for the HW, as Kafka does. Unset, the
    // broker's `write_caching_default` (false: durable) applies, so the
    // default below is only what `effective` reports.
    ConfigDef {
        name: "write.caching",
        default: "false",
        kind: Kind::Choice(&["true", "false"]),
    },
    ConfigDef {
        name: "unclean.leader.election.enable",
        default: "false",
        kind: Kind::Choice(&["true", "false"]),
    },
];

/// Checks `configs` against [`TOPIC_CONFIGS`]; the error says which key is wrong and why.
pub fn validate(configs: &BTreeMap<String, String>) -> Result<(), String> {
    for (key, value) in configs {
        let Some(def) = TOPIC_CONFIGS.iter().find(|d| d.name == key) else {
            let known: Vec<&str> = TOPIC_CONFIGS.iter().map(|d| d.name).collect();
            return Err(format!(
                "unknown topic config '{key}'; supported: {}",
                known.join(", ")
            ));
        };
        match def.kind {
            Kind::Long { min, max } => match value.trim().parse::<i64>() {
                Ok(v) if v >= min && v <= max => {}
                Ok(v) => {
                    return Err(format!(
                        "config '{key}' = {v} is out of range [{min}, {max}]"
                    ))
                }
                Err(_) => return Err(format!("config '{key}' must be an integer, got '{value}'")),
            },
            Kind::Choice(options) => {
                if !options.contains(&value.as_str()) {
                    return Err(format!(
                        "config '{key}' must be one of {}, got '{value}'",
                        options.join(", ")
                    ));
                }
            }
        }
    }
    Ok(())
}

/// The effective value of `key`: the topic's own setting or Kafka's default.
pub fn effective<'a>(configs: &'a BTreeMap<String, String>, key: &str) -> Option<&'a str> {
    configs.get(key).map(String::as_str).or_else(|| {
        TOPIC_CONFIGS
            .iter()
            .find(|d| d.name == key)
            .map(|d| d.default)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn accepts_supported_configs() {
        assert!(validate(&cfg(&[
            ("retention.ms", "1000"),
            ("min.insync.replicas", "2"),
            ("cleanup.policy", "delete"),
            ("message.timestamp.type", "LogAppendTime"),
            ("write.caching", "true"),
        ]))
        .is_ok());
    }

    #[test]
    fn refuses_unknown_and_ill_typed() {
        assert!(validate(&cfg(&[("retention.msx", "1")]))
            .unwrap_err()
            .contains("unknown"));
        assert!(validate(&cfg(&[("retention.ms", "soon")]))
            .unwrap_err()
            .contains("integer"));
        assert!(validate(&cfg(&[("min.insync.replicas", "0")])).is_err());
        assert!(validate(&cfg(&[("cleanup.policy", "compact")])).is_err());
        assert!(validate(&cfg(&[("write.caching", "yes")]))
            .unwrap_err()
            .contains("one of true, false"));
    }

    #[test]
    fn refuses_limits_that_could_never_accept_a_write() {
        for key in ["segment.bytes", "max.message.bytes"] {
            for bad in ["0", "14", &(MIN_BATCH_BYTES - 1).to_string()] {
                let err = validate(&cfg(&[(key, bad)])).unwrap_err();
                assert!(err.contains(key) && err.contains("out of range"), "{err}");
            }
            assert!(validate(&cfg(&[(key, &MIN_BATCH_BYTES.to_string())])).is_ok());
        }
    }

    #[test]
    fn effective_falls_back_to_default() {
        assert_eq!(effective(&cfg(&[]), "min.insync.replicas"), Some("1"));
        assert_eq!(
            effective(&cfg(&[("min.insync.replicas", "2")]), "min.insync.replicas"),
            Some("2")
        );
    }
}
