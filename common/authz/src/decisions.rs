//! One caller's decisions against one ACL set, the shape both services'
//! handlers check through: a caller, and the authorizer in force for it
//! (`None` when nothing is checked: authorizer off, or a signing member).

use crate::{Action, Authorizer, Denied};
use ferry_common::acls::CLUSTER_RESOURCE_NAME;
use ferry_common::security::{AclOperation, Principal, ResourceType};
use std::net::IpAddr;
use std::sync::Arc;

/// Decisions for one caller, for checking or filtering many resources
/// against the same ACL set.
pub struct Decisions<'a> {
    principal: &'a Principal,
    host: Option<IpAddr>,
    authorizer: Option<Arc<Authorizer>>,
}

impl<'a> Decisions<'a> {
    /// `authorizer`: `None` allows everything.
    pub fn new(
        principal: &'a Principal,
        host: Option<IpAddr>,
        authorizer: Option<Arc<Authorizer>>,
    ) -> Self {
        Decisions {
            principal,
            host,
            authorizer,
        }
    }

    /// `Ok`, or the refusal naming principal, operation and resource.
    pub fn check(
        &self,
        resource_type: ResourceType,
        name: &str,
        op: AclOperation,
    ) -> Result<(), Denied> {
        let Some(a) = &self.authorizer else {
            return Ok(());
        };
        a.authorize(&Action {
            principal: self.principal,
            host: self.host,
            resource_type,
            resource_name: name,
            operation: op,
        })
    }

    /// Whether `op` on `resource_type` `name` is allowed.
    pub fn allows(&self, resource_type: ResourceType, name: &str, op: AclOperation) -> bool {
        self.check(resource_type, name, op).is_ok()
    }

    /// Whether `op` is allowed on some resource of the type.
    pub fn allows_any(&self, resource_type: ResourceType, op: AclOperation) -> bool {
        self.authorizer
            .as_ref()
            .is_none_or(|a| a.allows_any(self.principal, self.host, resource_type, op))
    }

    /// `op` on topic `name`.
    pub fn topic(&self, name: &str, op: AclOperation) -> Result<(), Denied> {
        self.check(ResourceType::Topic, name, op)
    }

    /// `op` on group `name`.
    pub fn group(&self, name: &str, op: AclOperation) -> Result<(), Denied> {
        self.check(ResourceType::Group, name, op)
    }

    /// `op` on the cluster.
    pub fn cluster(&self, op: AclOperation) -> Result<(), Denied> {
        self.check(ResourceType::Cluster, CLUSTER_RESOURCE_NAME, op)
    }
}
