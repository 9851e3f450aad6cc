//! Printing: one JSON document per line with `--json`, and a hint after
//! error codes a person can act on.

use anyhow::Result;
use ferry_client::FerryError;

/// Prints `v` as one line of JSON.
pub fn print_json(v: &impl serde::Serialize) -> Result<()> {
    println!("{}", serde_json::to_string(v)?);
    Ok(())
}

/// What to do about `e`, appended to its message.
pub fn hint(e: &FerryError) -> &'static str {
    match e.code().map(|c| c.as_str()) {
        Some("TOPIC_ALREADY_EXISTS") => " (choose another name or delete it first)",
        Some("INVALID_REPLICATION_FACTOR") => " (lower --replication-factor or start more brokers)",
        Some("UNKNOWN_TOPIC_OR_PARTITION") => " (check the name with `ferry topics list`)",
        Some("SASL_AUTHENTICATION_FAILED") => {
            " (the cluster authenticates clients: pass --user and --password, or set FERRY_USER and FERRY_PASSWORD)"
        }
        Some("TOPIC_AUTHORIZATION_FAILED" | "GROUP_AUTHORIZATION_FAILED" | "CLUSTER_AUTHORIZATION_FAILED") => {
            " (the ACLs do not allow it: ask an administrator, see `ferry acls list`)"
        }
        Some("NOT_ENOUGH_REPLICAS") => " (too few in-sync replicas: check `ferry cluster status`)",
        _ => "",
    }
}
