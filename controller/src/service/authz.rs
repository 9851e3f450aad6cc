//! The controller's one authorization point: every public handler asks
//! [`Authz`] before it acts, against the ACLs of this controller's applied
//! image (README, "Security", the endpoint table).

use crate::error::ControllerError;
use crate::metadata::state_view::StateView;
use ferry_authz::{Action, Authorizer, AuthorizerCache, AuthorizerSettings};
use ferry_common::acls::CLUSTER_RESOURCE_NAME;
use ferry_common::security::{AclOperation, ResourceType};
use ferry_http::Caller;
use std::sync::Arc;

/// Decides whether a caller may do an operation on a resource.
pub struct Authz {
    cache: AuthorizerCache,
    view: Arc<StateView>,
}

/// One caller's decisions against one image, for filtering many resources.
pub struct Decisions<'a> {
    caller: &'a Caller,
    authorizer: Option<Arc<Authorizer>>,
}

impl Decisions<'_> {
    /// Whether `op` on `resource_type` `name` is allowed.
    pub fn allows(&self, resource_type: ResourceType, name: &str, op: AclOperation) -> bool {
        self.check(resource_type, name, op).is_ok()
    }

    /// `Ok`, or the refusal naming principal, operation and resource.
    pub fn check(
        &self,
        resource_type: ResourceType,
        name: &str,
        op: AclOperation,
    ) -> Result<(), ControllerError> {
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
        .map_err(ControllerError::Unauthorized)
    }

    /// `op` on the cluster.
    pub fn check_cluster(&self, op: AclOperation) -> Result<(), ControllerError> {
        self.check(ResourceType::Cluster, CLUSTER_RESOURCE_NAME, op)
    }

    /// Whether `op` is allowed on some resource of the type.
    pub fn allows_any(&self, resource_type: ResourceType, op: AclOperation) -> bool {
        self.authorizer.as_ref().is_none_or(|a| {
            a.allows_any(&self.caller.principal, self.caller.host, resource_type, op)
        })
    }
}

impl Authz {
    pub fn new(settings: AuthorizerSettings, view: Arc<StateView>) -> Self {
        Authz {
            cache: AuthorizerCache::new(settings),
            view,
        }
    }

    /// Whether ACLs are enforced.
    pub fn enabled(&self) -> bool {
        self.cache.settings().kind == ferry_authz::AuthorizerKind::Acl
    }

    /// The decisions for `caller`; a signing cluster member is not
    /// authorized again (it relays for a client it authorized).
    pub fn decisions<'a>(&self, caller: &'a Caller) -> Decisions<'a> {
        let authorizer = (self.enabled() && caller.member.is_none()).then(|| {
            self.view
                .read(|s| self.cache.current(s.image.offset, &s.image.acls))
        });
        Decisions { caller, authorizer }
    }

    /// `Ok` when `caller` may do `op` on the resource.
    pub fn check(
        &self,
        caller: &Caller,
        resource_type: ResourceType,
        name: &str,
        op: AclOperation,
    ) -> Result<(), ControllerError> {
        self.decisions(caller).check(resource_type, name, op)
    }

    /// `Ok` when `caller` may do `op` on the cluster.
    pub fn check_cluster(&self, caller: &Caller, op: AclOperation) -> Result<(), ControllerError> {
        self.decisions(caller).check_cluster(op)
    }
}
