//! What an ACL binding must look like to be stored: anything else is refused
//! with a reason before it reaches the metadata log.

use ferry_common::acls::{CLUSTER_RESOURCE_NAME, WILDCARD};
use ferry_common::security::{AclBinding, PatternType, Principal, ResourceType};
use std::net::IpAddr;

/// Longest resource name a binding may carry (topic names stop at 249).
pub const MAX_RESOURCE_NAME: usize = 255;
/// Longest principal a binding may carry.
pub const MAX_PRINCIPAL: usize = 255;

/// Why `b` cannot be stored, or `Ok`.
pub fn binding(b: &AclBinding) -> Result<(), String> {
    let name = &b.resource_name;
    if name.is_empty() || name.len() > MAX_RESOURCE_NAME {
        return Err(format!(
            "resource_name must be 1 to {MAX_RESOURCE_NAME} bytes, got {}",
            name.len()
        ));
    }
    if name.chars().any(char::is_control) {
        return Err("resource_name must not contain control characters".into());
    }
    if b.pattern_type == PatternType::Prefixed && name == WILDCARD {
        return Err("a PREFIXED pattern of '*' matches only names starting with '*'; use LITERAL '*' for every resource".into());
    }
    if b.resource_type == ResourceType::Cluster
        && (b.pattern_type != PatternType::Literal || name != CLUSTER_RESOURCE_NAME)
    {
        return Err(format!(
            "a Cluster ACL must be LITERAL '{CLUSTER_RESOURCE_NAME}', got {:?} '{name}'",
            b.pattern_type
        ));
    }
    principal(&b.principal)?;
    host(&b.host)
}

/// `User:name` or `User:*`.
pub fn principal(p: &str) -> Result<(), String> {
    if p.len() > MAX_PRINCIPAL || p.chars().any(char::is_control) {
        return Err(format!(
            "principal must be at most {MAX_PRINCIPAL} bytes without control characters"
        ));
    }
    let parsed: Principal = p.parse()?;
    if parsed.kind != Principal::USER {
        return Err(format!(
            "principal type '{}' is unknown: Ferry's principals are User:name (or User:*)",
            parsed.kind
        ));
    }
    Ok(())
}

/// `*` or an IP address.
pub fn host(h: &str) -> Result<(), String> {
    if h == WILDCARD || h.parse::<IpAddr>().is_ok() {
        return Ok(());
    }
    Err(format!(
        "host {:?} must be an IP address or '*'",
        h.chars().take(64).collect::<String>()
    ))
}
