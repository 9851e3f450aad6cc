//! Client security records: principals, SCRAM credentials and ACL bindings,
//! as Kafka models them. Credentials and ACLs are metadata-log records (see
//! [`crate::metadata::MetadataRecord`]), so every controller and broker holds
//! the same set at the same metadata offset.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;
use utoipa::ToSchema;

/// Who a request acts as: `User:alice`, or `User:ANONYMOUS` when the caller
/// did not authenticate (client authentication off, or a public endpoint).
///
/// Handlers find it in the request's extensions; a request without one acts
/// as [`Principal::anonymous`].
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Principal {
    /// The principal type; Ferry only issues `User`.
    pub kind: String,
    pub name: String,
}

impl Principal {
    /// The type every authenticated client gets.
    pub const USER: &'static str = "User";
    /// The name of the unauthenticated principal (Kafka's `User:ANONYMOUS`).
    pub const ANONYMOUS: &'static str = "ANONYMOUS";

    /// `User:<name>`.
    pub fn user(name: impl Into<String>) -> Self {
        Principal {
            kind: Self::USER.to_string(),
            name: name.into(),
        }
    }

    /// `User:ANONYMOUS`.
    pub fn anonymous() -> Self {
        Principal::user(Self::ANONYMOUS)
    }

    /// Whether this is `User:ANONYMOUS`.
    pub fn is_anonymous(&self) -> bool {
        self.kind == Self::USER && self.name == Self::ANONYMOUS
    }
}

impl fmt::Display for Principal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.kind, self.name)
    }
}

impl FromStr for Principal {
    type Err = String;

    /// Parses `Type:name`; the name may itself contain `:`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.split_once(':') {
            Some((kind, name)) if !kind.is_empty() && !name.is_empty() => Ok(Principal {
                kind: kind.to_string(),
                name: name.to_string(),
            }),
            _ => Err(format!(
                "principal {s:?} is not of the form Type:name (e.g. User:alice)"
            )),
        }
    }
}

/// The SCRAM mechanisms a credential can be for.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, ToSchema,
)]
pub enum ScramMechanism {
    #[serde(rename = "SCRAM-SHA-256")]
    ScramSha256,
}

/// A stored SCRAM credential (RFC 5802, as Kafka's `UserScramCredentialRecord`):
/// the password itself is never stored, only what verifies it.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScramCredential {
    pub mechanism: ScramMechanism,
    /// Base64 of the random salt.
    pub salt: String,
    /// Base64 of `H(ClientKey)`.
    pub stored_key: String,
    /// Base64 of `HMAC(SaltedPassword, "Server Key")`.
    pub server_key: String,
    pub iterations: u32,
}

impl fmt::Debug for ScramCredential {
    /// Salt and keys stay out of logs: with them a password can be attacked offline.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ScramCredential")
            .field("mechanism", &self.mechanism)
            .field("iterations", &self.iterations)
            .finish_non_exhaustive()
    }
}

/// Kafka's ACL resource types.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, ToSchema,
)]
pub enum ResourceType {
    Topic,
    Group,
    Cluster,
    TransactionalId,
}

/// How an ACL's resource name matches (Kafka's `PatternType`).
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, ToSchema,
)]
#[serde(rename_all = "UPPERCASE")]
pub enum PatternType {
    /// The name exactly, or every resource when the name is `*`.
    Literal,
    /// Every resource whose name starts with the name.
    Prefixed,
}

/// Kafka's ACL operations.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, ToSchema,
)]
pub enum AclOperation {
    All,
    Read,
    Write,
    Create,
    Delete,
    Alter,
    Describe,
    ClusterAction,
    DescribeConfigs,
    AlterConfigs,
    IdempotentWrite,
}

impl AclOperation {
    /// Every operation, in declaration order.
    pub const EVERY: [AclOperation; 11] = [
        AclOperation::All,
        AclOperation::Read,
        AclOperation::Write,
        AclOperation::Create,
        AclOperation::Delete,
        AclOperation::Alter,
        AclOperation::Describe,
        AclOperation::ClusterAction,
        AclOperation::DescribeConfigs,
        AclOperation::AlterConfigs,
        AclOperation::IdempotentWrite,
    ];
}

/// Whether a matching ACL allows or denies; a matching Deny always wins.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, ToSchema,
)]
pub enum AclPermission {
    Allow,
    Deny,
}

/// One ACL (Kafka's `AccessControlEntryRecord` with its resource pattern).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, ToSchema)]
pub struct AclBinding {
    pub resource_type: ResourceType,
    /// A resource name, or `*` (with `LITERAL`) for every resource of the type.
    pub resource_name: String,
    pub pattern_type: PatternType,
    /// `User:alice`, or `User:*` for every principal.
    pub principal: String,
    /// The client's IP address, or `*` for every host.
    pub host: String,
    pub operation: AclOperation,
    pub permission: AclPermission,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn principal_parses_and_prints_type_and_name() {
        let p: Principal = "User:alice".parse().unwrap();
        assert_eq!(p, Principal::user("alice"));
        assert_eq!(p.to_string(), "User:alice");
        let odd: Principal = "User:a:b".parse().unwrap();
        assert_eq!(odd.name, "a:b");
        assert!("alice".parse::<Principal>().is_err());
        assert!(":x".parse::<Principal>().is_err());
        assert!(Principal::anonymous().is_anonymous());
    }

    #[test]
    fn acl_binding_uses_kafka_names_on_the_wire() {
        let b = AclBinding {
            resource_type: ResourceType::Topic,
            resource_name: "orders-".into(),
            pattern_type: PatternType::Prefixed,
            principal: "User:alice".into(),
            host: "*".into(),
            operation: AclOperation::IdempotentWrite,
            permission: AclPermission::Allow,
        };
        let v = serde_json::to_value(&b).unwrap();
        assert_eq!(v["pattern_type"], "PREFIXED");
        assert_eq!(v["operation"], "IdempotentWrite");
        assert_eq!(v["resource_type"], "Topic");
        let back: AclBinding = serde_json::from_value(v).unwrap();
        assert_eq!(back, b);
    }
}
