//! Ferry's ACL authorizer: Kafka's `StandardAuthorizer` semantics as pure
//! functions over the ACL bindings of a metadata image, shared by the
//! controller and the brokers (each authorizes against its own image).
//!
//! A decision, in order (see [`Authorizer::authorize`]):
//! 1. authorizer `none`: allowed;
//! 2. a super user (config): allowed;
//! 3. a matching Deny binding: denied (deny always wins);
//! 4. a matching Allow binding: allowed;
//! 5. no binding at all for the resource (whoever it names):
//!    `allow_everyone_if_no_acl_found` decides;
//! 6. otherwise denied.
//!
//! - [`index`]: the per-request lookup structure.
//! - [`validate`]: what a binding must look like to be stored.
//! - [`cache`]: the index of the current image, rebuilt when it moves.
//! - [`decisions`]: one caller's checks against one ACL set (what handlers call).

pub mod cache;
pub mod decisions;
pub mod index;
pub mod validate;

pub use cache::AuthorizerCache;
pub use decisions::Decisions;
pub use index::AclIndex;

use ferry_common::acls::WILDCARD;
use ferry_common::security::{AclOperation, AclPermission, Principal, ResourceType};
use ferry_common::ErrorCode;
use serde::{Deserialize, Serialize};
use std::fmt;
use std::net::IpAddr;

/// Which authorizer a service runs (`[security].authorizer`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AuthorizerKind {
    /// Everything is allowed (the default, for the local quickstart).
    #[default]
    None,
    /// ACLs from the metadata log decide.
    Acl,
}

/// The authorizer's settings, as the `[security]` section carries them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuthorizerSettings {
    pub kind: AuthorizerKind,
    /// Principals (`User:admin`) allowed everything, ACLs or not.
    pub super_users: Vec<String>,
    /// Kafka's `allow.everyone.if.no.acl.found`: a resource no binding names
    /// at all is open to everyone (true) or to super users only (false).
    pub allow_everyone_if_no_acl_found: bool,
}

impl AuthorizerSettings {
    /// Refuses a super user that is not a `Type:name` principal.
    pub fn validate(&self) -> Result<(), String> {
        for p in &self.super_users {
            p.parse::<Principal>()
                .map_err(|e| format!("security.super_users: {e}"))?;
        }
        Ok(())
    }
}

/// What is asked: may `principal`, calling from `host`, do `operation` on
/// the resource?
#[derive(Debug, Clone, Copy)]
pub struct Action<'a> {
    pub principal: &'a Principal,
    /// The client's address; `None` matches only `*` host bindings.
    pub host: Option<IpAddr>,
    pub resource_type: ResourceType,
    pub resource_name: &'a str,
    pub operation: AclOperation,
}

/// Why a decision came out as it did, for logs and tests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rule {
    /// Authorizer `none`.
    Disabled,
    SuperUser,
    /// A binding matched with this permission.
    Acl(AclPermission),
    /// No binding names the resource; `allow_everyone_if_no_acl_found` decided.
    NoAclFound,
    /// Bindings name the resource, none allows this.
    NoMatchingAllow,
}

impl Rule {
    pub fn allowed(self, allow_everyone: bool) -> bool {
        match self {
            Rule::Disabled | Rule::SuperUser | Rule::Acl(AclPermission::Allow) => true,
            Rule::NoAclFound => allow_everyone,
            Rule::Acl(AclPermission::Deny) | Rule::NoMatchingAllow => false,
        }
    }
}

/// A refused action, with the Kafka code for its resource type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Denied {
    pub code: ErrorCode,
    pub message: String,
}

impl fmt::Display for Denied {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Denied {}

/// The code a refusal on a resource of `t` answers with.
pub fn denial_code(t: ResourceType) -> ErrorCode {
    match t {
        ResourceType::Topic => ErrorCode::TopicAuthorizationFailed,
        ResourceType::Group => ErrorCode::GroupAuthorizationFailed,
        ResourceType::Cluster => ErrorCode::ClusterAuthorizationFailed,
        ResourceType::TransactionalId => ErrorCode::TransactionalIdAuthorizationFailed,
    }
}

/// Settings plus the ACL index of one image: the whole decision input.
#[derive(Debug, Clone, Default)]
pub struct Authorizer {
    kind: AuthorizerKind,
    /// Few, so a scan beats hashing a fresh key per request.
    super_users: Vec<(String, String)>,
    allow_everyone: bool,
    index: AclIndex,
}

impl Authorizer {
    /// An authorizer over `index`; super users that do not parse are ignored
    /// ([`AuthorizerSettings::validate`] refuses them at start-up).
    pub fn new(settings: &AuthorizerSettings, index: AclIndex) -> Self {
        Authorizer {
            kind: settings.kind,
            super_users: settings
                .super_users
                .iter()
                .filter_map(|p| p.parse::<Principal>().ok())
                .map(|p| (p.kind, p.name))
                .collect(),
            allow_everyone: settings.allow_everyone_if_no_acl_found,
            index,
        }
    }

    /// Whether ACLs are enforced at all.
    pub fn enabled(&self) -> bool {
        self.kind == AuthorizerKind::Acl
    }

    pub fn index(&self) -> &AclIndex {
        &self.index
    }

    fn is_super_user(&self, p: &Principal) -> bool {
        self.super_users
            .iter()
            .any(|(k, n)| *k == p.kind && *n == p.name)
    }

    /// The rule that decides `action` (see the crate doc for the order).
    pub fn decide(&self, a: &Action<'_>) -> Rule {
        if !self.enabled() {
            return Rule::Disabled;
        }
        if self.is_super_user(a.principal) {
            return Rule::SuperUser;
        }
        let (kind, name) = (a.principal.kind.as_str(), a.principal.name.as_str());
        let (mut found, mut allowed, mut denied) = (false, false, false);
        self.index
            .for_each_match(a.resource_type, a.resource_name, |e| {
                found = true;
                match e.verdict(kind, name, a.host, a.operation) {
                    Some(AclPermission::Deny) => denied = true,
                    Some(AclPermission::Allow) => allowed = true,
                    None => {}
                }
                !denied
            });
        if denied {
            Rule::Acl(AclPermission::Deny)
        } else if allowed {
            Rule::Acl(AclPermission::Allow)
        } else if !found {
            Rule::NoAclFound
        } else {
            Rule::NoMatchingAllow
        }
    }

    /// Whether `action` is allowed.
    pub fn allows(&self, a: &Action<'_>) -> bool {
        self.decide(a).allowed(self.allow_everyone)
    }

    /// `Ok` when allowed; otherwise the refusal naming principal, operation
    /// and resource.
    pub fn authorize(&self, a: &Action<'_>) -> Result<(), Denied> {
        let rule = self.decide(a);
        if rule.allowed(self.allow_everyone) {
            return Ok(());
        }
        let why = match rule {
            Rule::Acl(AclPermission::Deny) => "a Deny ACL matches",
            Rule::NoAclFound => {
                "no ACL names the resource and allow_everyone_if_no_acl_found is false"
            }
            _ => "no ACL allows it",
        };
        let host = a
            .host
            .map_or_else(|| "unknown".to_string(), |h| h.to_string());
        Err(Denied {
            code: denial_code(a.resource_type),
            message: format!(
                "principal {} (host {host}) is not authorized to {:?} {:?} '{}': {why}",
                a.principal, a.operation, a.resource_type, a.resource_name
            ),
        })
    }

    /// Whether the principal may do `op` on at least one resource of the
    /// type (Kafka's `authorizeByResourceType`, used for IdempotentWrite's
    /// "Write on any topic"): some Allow binding applies that no Deny of the
    /// same or a wider pattern shadows.
    pub fn allows_any(
        &self,
        principal: &Principal,
        host: Option<IpAddr>,
        resource_type: ResourceType,
        op: AclOperation,
    ) -> bool {
        if !self.enabled() || self.is_super_user(principal) {
            return true;
        }
        let (kind, name) = (principal.kind.as_str(), principal.name.as_str());
        let mut any = false;
        let mut allows = Vec::new();
        let mut denies = Vec::new();
        for e in self.index.of_type(resource_type) {
            any = true;
            match e.verdict(kind, name, host, op) {
                Some(AclPermission::Allow) => allows.push(&e.binding),
                Some(AclPermission::Deny) => denies.push(&e.binding),
                None => {}
            }
        }
        if !any {
            return self.allow_everyone;
        }
        use ferry_common::security::PatternType::{Literal, Prefixed};
        let shadowed = |a: &ferry_common::security::AclBinding| {
            denies.iter().any(|d| match d.pattern_type {
                Literal if d.resource_name == WILDCARD => true,
                Literal => a.pattern_type == Literal && a.resource_name == d.resource_name,
                Prefixed => a.resource_name.starts_with(&d.resource_name),
            })
        };
        allows.iter().any(|a| !shadowed(a))
    }
}

#[cfg(test)]
mod tests;
