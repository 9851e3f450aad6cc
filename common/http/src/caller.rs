//! [`Caller`]: who sent a request, as authorization needs it: the principal
//! the client-auth layer put into the extensions (`User:ANONYMOUS` when none
//! did), the client's address, and the cluster member that signed it, if any.

use crate::auth::{AuthenticatedNode, NodeIdentity};
use crate::serve::PeerAddr;
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use ferry_common::security::Principal;
use std::convert::Infallible;
use std::net::IpAddr;

/// The sender of one request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    pub principal: Principal,
    /// The socket's address; `None` when the router runs without [`crate::serve`].
    pub host: Option<IpAddr>,
    /// A cluster member whose signature was verified: it relays or acts for a
    /// client it has authorized itself, so it is not authorized again.
    pub member: Option<NodeIdentity>,
}

impl Caller {
    /// An unauthenticated client from nowhere (tests).
    pub fn anonymous() -> Self {
        Caller {
            principal: Principal::anonymous(),
            host: None,
            member: None,
        }
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Caller {
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Infallible> {
        let ext = &parts.extensions;
        Ok(Caller {
            principal: ext
                .get::<Principal>()
                .cloned()
                .unwrap_or_else(Principal::anonymous),
            host: ext.get::<PeerAddr>().map(|p| p.0.ip().to_canonical()),
            member: ext.get::<AuthenticatedNode>().map(|n| n.0),
        })
    }
}
