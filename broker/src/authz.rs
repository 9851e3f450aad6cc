//! The broker's one authorization point: every public handler asks [`Authz`]
//! before it acts, against the ACLs of the metadata image this broker holds
//! (pushed by the controller with every other delta). README, "Security",
//! has the endpoint -> (resource, operation) table.

use crate::metadata::MetadataCache;
use ferry_authz::{AuthorizerCache, AuthorizerKind, AuthorizerSettings, Decisions};
use ferry_http::Caller;
use std::sync::Arc;

/// Decides whether a caller may do an operation on a resource.
pub struct Authz {
    cache: AuthorizerCache,
    metadata: Arc<MetadataCache>,
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
        Decisions::new(&caller.principal, caller.host, authorizer)
    }
}
