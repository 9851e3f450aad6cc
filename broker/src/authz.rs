//! The broker's one authorization point: every public handler asks [`Authz`]
//! before it acts, against the ACLs of the metadata image this broker holds
//! (pushed by the controller with every other delta). README, "Security",
//! has the endpoint -> (resource, operation) table.

use crate::error::BrokerError;
use crate::metadata::MetadataCache;
use ferry_authz::{Action, Authorizer, AuthorizerCache, AuthorizerKind, AuthorizerSettings};
use ferry_common::acls::CLUSTER_RESOURCE_NAME;
use ferry_common::security::{AclOperation, ResourceType};
use ferry_http::Caller;
use std::sync::Arc;

/// Decides whether a caller may do an operation on a resource.
pub struct Authz {
    cache: AuthorizerCache,
    metadata: Arc<MetadataCache>,
}

/// One caller's decisions against one image, for checking many resources.
pub struct Decisions<'a> {
    caller: &'a Caller,
    /// `None`: nothing to check (authorizer off, or a signing cluster member).
    authorizer: Option<Arc<Authorizer>>,
}

impl Decisions<'_> {
    /// `Ok`, or the refusal naming principal, operation and resource.
    pub fn check(
        &self,
        resource_type: ResourceType,
        name: &str,
        op: AclOperation,
    ) -> Result<(), BrokerError> {
        let Some(a) = &self.authorizer else {
            return Ok(());
        };
        a.authorize(&Action {
            principal: &self.caller.principal,
            host: self.caller.host,
            resource_type,
            resource_name: name,
            operation: op,
        })
        .map_err(BrokerError::Unauthorized)
    }

    pub fn allows(&self, resource_type: ResourceType, name: &str, op: AclOperation) -> bool {
        self.check(resource_type, name, op).is_ok()
    }

    pub fn topic(&self, name: &str, op: AclOperation) -> Result<(), BrokerError> {
        self.check(ResourceType::Topic, name, op)
    }

    pub fn group(&self, name: &str, op: AclOperation) -> Result<(), BrokerError> {
        self.check(ResourceType::Group, name, op)
    }

    pub fn cluster(&self, op: AclOperation) -> Result<(), BrokerError> {
        self.check(ResourceType::Cluster, CLUSTER_RESOURCE_NAME, op)
    }
}

impl Authz {
    pub fn new(settings: AuthorizerSettings, metadata: Arc<MetadataCache>) -> Self {
        Authz {
            cache: AuthorizerCache::new(settings),
            metadata,
        }
    }

    /// The decisions for `caller`. A signing cluster member relays for a
    /// client it authorized (a forwarded produce, a group call sent to the
    /// coordinator), so it is not authorized again.
    pub fn decisions<'a>(&self, caller: &'a Caller) -> Decisions<'a> {
        let on = self.cache.settings().kind == AuthorizerKind::Acl && caller.member.is_none();
        let authorizer = on.then(|| {
            self.metadata
                .read(|img| self.cache.current(img.offset, &img.acls))
        });
        Decisions { caller, authorizer }
    }
}
