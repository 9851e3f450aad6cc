//! The controller's one authorization point: every public handler asks
//! [`Authz`] before it acts, against the ACLs of this controller's applied
//! image (README, "Security", the endpoint table).

use crate::metadata::state_view::StateView;
use ferry_authz::{AuthorizerCache, AuthorizerKind, AuthorizerSettings, Decisions};
use ferry_http::Caller;
use std::sync::Arc;

/// Decides whether a caller may do an operation on a resource.
pub struct Authz {
    cache: AuthorizerCache,
    view: Arc<StateView>,
}

impl Authz {
    pub fn new(settings: AuthorizerSettings, view: Arc<StateView>) -> Self {
        Authz {
            cache: AuthorizerCache::new(settings),
            view,
        }
    }

    /// The decisions for `caller`; a signing cluster member is not
    /// authorized again (it relays for a client it authorized).
    pub fn decisions<'a>(&self, caller: &'a Caller) -> Decisions<'a> {
        let on = self.cache.settings().kind == AuthorizerKind::Acl && caller.member.is_none();
        let authorizer = on.then(|| {
            self.view
                .read(|s| self.cache.current(s.image.offset, &s.image.acls))
        });
        Decisions::new(&caller.principal, caller.host, authorizer)
    }
}
