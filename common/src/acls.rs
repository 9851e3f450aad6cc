//! The `/v1/acls` bodies: creating, listing and deleting ACL bindings, and the
//! filter (Kafka's `AclBindingFilter`) that lists and deletes select by.

use crate::security::{AclBinding, AclOperation, AclPermission, PatternType, ResourceType};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// The one name a Cluster resource has (Kafka's `kafka-cluster`).
pub const CLUSTER_RESOURCE_NAME: &str = "ferry-cluster";

/// The resource name meaning "every resource of the type" in a LITERAL ACL,
/// and the principal name / host meaning "everyone" / "every host".
pub const WILDCARD: &str = "*";

/// How a filter selects bindings by pattern type (Kafka's `PatternType` as a
/// filter: `ANY` and `MATCH` exist only here).
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, ToSchema,
)]
#[serde(rename_all = "UPPERCASE")]
pub enum PatternTypeFilter {
    /// LITERAL bindings with exactly the filter's name.
    Literal,
    /// PREFIXED bindings with exactly the filter's name.
    Prefixed,
    /// Bindings of either type with exactly the filter's name (the default).
    Any,
    /// Every binding that applies to the resource the filter names: LITERAL
    /// with that name, LITERAL `*`, and PREFIXED whose name starts it.
    Match,
}

/// Selects ACL bindings: every field that is absent matches anything
/// (Kafka's `AclBindingFilter` with `ANY`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AclBindingFilter {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource_type: Option<ResourceType>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource_name: Option<String>,
    /// Default `ANY`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pattern_type: Option<PatternTypeFilter>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub principal: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub operation: Option<AclOperation>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub permission: Option<AclPermission>,
}

impl AclBindingFilter {
    /// Whether `b` is selected. Exact field equality, except for the pattern
    /// type's `MATCH` (see [`PatternTypeFilter::Match`]).
    pub fn matches(&self, b: &AclBinding) -> bool {
        let eq = |want: &Option<String>, got: &str| want.as_deref().is_none_or(|w| w == got);
        if self.resource_type.is_some_and(|t| t != b.resource_type)
            || !eq(&self.principal, &b.principal)
            || !eq(&self.host, &b.host)
            || self.operation.is_some_and(|o| o != b.operation)
            || self.permission.is_some_and(|p| p != b.permission)
        {
            return false;
        }
        let name_is = |b: &AclBinding| eq(&self.resource_name, &b.resource_name);
        match self.pattern_type.unwrap_or(PatternTypeFilter::Any) {
            PatternTypeFilter::Any => name_is(b),
            PatternTypeFilter::Literal => b.pattern_type == PatternType::Literal && name_is(b),
            PatternTypeFilter::Prefixed => b.pattern_type == PatternType::Prefixed && name_is(b),
            PatternTypeFilter::Match => match &self.resource_name {
                None => true,
                Some(name) => match b.pattern_type {
                    PatternType::Literal => b.resource_name == *name || b.resource_name == WILDCARD,
                    PatternType::Prefixed => name.starts_with(&b.resource_name),
                },
            },
        }
    }
}

/// `POST /v1/acls`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateAclsRequest {
    /// 1 to 1000 bindings; creating one that exists changes nothing.
    pub acls: Vec<AclBinding>,
}

/// The answer to `POST /v1/acls`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct AclsCreated {
    pub acls: Vec<AclBinding>,
    /// The metadata offset the bindings are in force at: a broker whose
    /// metadata offset reached it enforces them.
    pub metadata_offset: u64,
}

/// `DELETE /v1/acls`: every binding any filter selects is deleted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DeleteAclsRequest {
    /// 1 to 100 filters; a filter with every field absent selects every ACL.
    pub filters: Vec<AclBindingFilter>,
}

/// The answer to `DELETE /v1/acls`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct AclsDeleted {
    /// What was deleted (empty when nothing matched).
    pub deleted: Vec<AclBinding>,
    /// As for [`AclsCreated::metadata_offset`].
    pub metadata_offset: u64,
}

/// The answer to `GET /v1/acls`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct AclList {
    pub acls: Vec<AclBinding>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn binding(name: &str, pattern: PatternType) -> AclBinding {
        AclBinding {
            resource_type: ResourceType::Topic,
            resource_name: name.into(),
            pattern_type: pattern,
            principal: "User:alice".into(),
            host: "*".into(),
            operation: AclOperation::Read,
            permission: AclPermission::Allow,
        }
    }

    #[test]
    fn an_empty_filter_selects_everything_and_fields_narrow_it() {
        let b = binding("orders", PatternType::Literal);
        assert!(AclBindingFilter::default().matches(&b));
        let by_principal = AclBindingFilter {
            principal: Some("User:bob".into()),
            ..Default::default()
        };
        assert!(!by_principal.matches(&b));
        let by_op = AclBindingFilter {
            operation: Some(AclOperation::Read),
            permission: Some(AclPermission::Allow),
            ..Default::default()
        };
        assert!(by_op.matches(&b));
        let other_type = AclBindingFilter {
            resource_type: Some(ResourceType::Group),
            ..Default::default()
        };
        assert!(!other_type.matches(&b));
    }

    #[test]
    fn pattern_filters_any_exact_and_match() {
        let lit = binding("orders-eu", PatternType::Literal);
        let star = binding("*", PatternType::Literal);
        let pre = binding("orders-", PatternType::Prefixed);
        let other = binding("pay-", PatternType::Prefixed);
        let f = |name: &str, p| AclBindingFilter {
            resource_name: Some(name.into()),
            pattern_type: Some(p),
            ..Default::default()
        };
        let any = f("orders-", PatternTypeFilter::Any);
        assert!(any.matches(&pre) && !any.matches(&lit) && !any.matches(&star));
        assert!(!f("orders-", PatternTypeFilter::Literal).matches(&pre));
        assert!(f("orders-", PatternTypeFilter::Prefixed).matches(&pre));
        let m = f("orders-eu", PatternTypeFilter::Match);
        assert!(m.matches(&lit) && m.matches(&star) && m.matches(&pre));
        assert!(!m.matches(&other));
    }
}
