//! Cluster-internal authentication: every call between cluster members
//! (Raft RPCs, broker -> controller, metadata pushes, replica fetches, group
//! relays) is signed with HMAC-SHA256 over a secret shared by the cluster.
//!
//! - [`sign`]: the canonical string, the [`Signer`] every internal client uses,
//!   and the pure [`Verifier`] (signature, timestamp window, nonce cache).
//! - [`layer`]: the axum layer ([`with_cluster_auth`]) that refuses unsigned
//!   internal requests before their body is read, checks the body against its
//!   signed hash while it is read, and puts the [`AuthenticatedNode`] in the
//!   request's extensions.
//!
//! A shared secret proves membership, not which member: identity binding in
//! the handlers (a follower fetches as itself, a broker heartbeats as itself)
//! keeps honest members from acting as each other by mistake, while anyone
//! without the secret is refused outright.

pub mod layer;
pub mod sign;

pub use layer::{with_cluster_auth, AuthenticatedNode, ClusterAuth};
pub use sign::{AuthFailure, Signer, Verifier};

use std::fmt;
use std::path::Path;
use std::sync::Arc;

/// Header: who signed, e.g. `broker:3`, `controller:1`, `broker:new`.
pub const NODE_HEADER: &str = "x-ferry-node";
/// Header: when it was signed, Unix milliseconds.
pub const TIMESTAMP_HEADER: &str = "x-ferry-timestamp";
/// Header: a random value used once.
pub const NONCE_HEADER: &str = "x-ferry-nonce";
/// Header: base64 SHA-256 of the body (of the empty body when there is none).
pub const CONTENT_HASH_HEADER: &str = "x-ferry-content-sha256";
/// Header: base64 HMAC-SHA256 of the canonical string.
pub const SIGNATURE_HEADER: &str = "x-ferry-signature";

/// The shortest cluster secret accepted, in bytes.
pub const SECRET_LEN_MIN: usize = 32;

/// The cluster secret, the HMAC key of every internal call.
#[derive(Clone)]
pub struct ClusterKey(Arc<[u8]>);

impl fmt::Debug for ClusterKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ClusterKey(..)")
    }
}

impl ClusterKey {
    /// A key from the secret's bytes (surrounding whitespace is not part of
    /// it, so a file written by `echo` works); at least [`SECRET_LEN_MIN`].
    pub fn new(secret: &[u8]) -> Result<Self, String> {
        let secret = secret.trim_ascii();
        if secret.len() < SECRET_LEN_MIN {
            return Err(format!(
                "the cluster secret is {} bytes long; it must be at least {SECRET_LEN_MIN}",
                secret.len()
            ));
        }
        Ok(ClusterKey(secret.into()))
    }

    /// Reads the key from `path`, naming the file in any error.
    pub fn from_file(path: &Path) -> Result<Self, String> {
        let bytes = std::fs::read(path)
            .map_err(|e| format!("reading the cluster secret {}: {e}", path.display()))?;
        ClusterKey::new(&bytes).map_err(|e| format!("{}: {e}", path.display()))
    }

    /// Reads the key from the configured `path`, which is required; `env`
    /// names the variable that sets it, for the error.
    pub fn from_setting(path: Option<&Path>, env: &str) -> Result<Self, String> {
        let path = path.ok_or_else(|| {
            format!(
                "cluster_secret_file is required: a file with the secret (32+ bytes) every \
                 node of this cluster shares, e.g. `head -c 32 /dev/urandom | base64 > \
                 cluster.secret` ({env})"
            )
        })?;
        ClusterKey::from_file(path)
    }

    /// A fresh random key, for tests and stand-ins that need some key.
    pub fn random() -> Self {
        ClusterKey(random_secret().into_bytes().into())
    }

    pub(crate) fn bytes(&self) -> &[u8] {
        &self.0
    }
}

/// A random secret fit for a cluster secret file: 96 hex digits, three v4
/// UUIDs (366 bits from the OS generator).
pub fn random_secret() -> String {
    format!(
        "{}{}{}",
        uuid::Uuid::new_v4().simple(),
        uuid::Uuid::new_v4().simple(),
        uuid::Uuid::new_v4().simple()
    )
}

/// Who signed an internal request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum NodeIdentity {
    /// A registered broker, or one registering with a known id.
    Broker(u32),
    /// A broker registering without an id (the controller allocates one).
    NewBroker,
    /// A controller of the quorum.
    Controller(u64),
}

impl NodeIdentity {
    /// The broker id, if a broker with one signed.
    pub fn broker_id(self) -> Option<u32> {
        match self {
            NodeIdentity::Broker(id) => Some(id),
            _ => None,
        }
    }

    /// The controller node id, if a controller signed.
    pub fn controller_id(self) -> Option<u64> {
        match self {
            NodeIdentity::Controller(id) => Some(id),
            _ => None,
        }
    }
}

impl fmt::Display for NodeIdentity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NodeIdentity::Broker(id) => write!(f, "broker:{id}"),
            NodeIdentity::NewBroker => f.write_str("broker:new"),
            NodeIdentity::Controller(id) => write!(f, "controller:{id}"),
        }
    }
}

impl std::str::FromStr for NodeIdentity {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let bad =
            || format!("'{s}' is not a node identity (broker:<id>, broker:new, controller:<id>)");
        match s.split_once(':') {
            Some(("broker", "new")) => Ok(NodeIdentity::NewBroker),
            Some(("broker", id)) => id.parse().map(NodeIdentity::Broker).map_err(|_| bad()),
            Some(("controller", id)) => id.parse().map(NodeIdentity::Controller).map_err(|_| bad()),
            _ => Err(bad()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identities_round_trip_and_junk_is_refused() {
        for id in [
            NodeIdentity::Broker(3),
            NodeIdentity::NewBroker,
            NodeIdentity::Controller(1),
        ] {
            assert_eq!(id.to_string().parse::<NodeIdentity>(), Ok(id));
        }
        for bad in [
            "",
            "broker",
            "broker:",
            "broker:-1",
            "client:1",
            "controller:x",
        ] {
            assert!(bad.parse::<NodeIdentity>().is_err(), "{bad}");
        }
    }

    #[test]
    fn short_secrets_are_refused_and_whitespace_is_trimmed() {
        assert!(ClusterKey::new(b"short").is_err());
        let a = ClusterKey::new(format!("  {}\n", "k".repeat(32)).as_bytes()).unwrap();
        assert_eq!(a.bytes(), "k".repeat(32).as_bytes());
        assert_eq!(random_secret().len(), 96);
        assert_ne!(random_secret(), random_secret());
    }
}
