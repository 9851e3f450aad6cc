//! Client authentication on the public API (`/v1/...`): HTTP Basic checked
//! against SCRAM-SHA-256 credentials kept in the metadata log, and the
//! [`Principal`](ferry_common::security::Principal) every request acts as.
//!
//! - [`scram`]: deriving and verifying credentials (RFC 5802 / RFC 7677).
//! - [`cache`]: the bounded memory of successful checks (one PBKDF2 per
//!   steady client, not per request).
//! - [`layer`]: the axum layer ([`with_client_auth`]) that answers 401 before
//!   the body is read and puts the principal in the request's extensions and
//!   on its span.
//!
//! Cluster-internal paths (`/internal/`, `/raft/`) are the cluster secret's
//! ([`crate::auth`]); the ops paths (`/healthz`, `/readyz`, `/metrics`,
//! `/openapi.json`) stay open.

pub mod cache;
pub mod layer;
pub mod scram;

pub use layer::{with_client_auth, ClientAuth, CredentialStore};

use serde::{Deserialize, Serialize};

/// How the public API authenticates clients (`[security] client_auth`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ClientAuthMode {
    /// Nobody authenticates; every request is `User:ANONYMOUS`.
    #[default]
    None,
    /// HTTP Basic against the users in the metadata log; anything else is 401.
    Basic,
}

/// `[security] failed_authentication_delay_ms`: how long a wrong password
/// waits before its 401 (default 100, as Kafka's
/// `connection.failed.authentication.delay.ms`; 0 answers at once). Checked
/// when the config is parsed, so no service can hold a value out of bounds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "u64", into = "u64")]
pub struct FailedAuthDelayMs(u64);

impl FailedAuthDelayMs {
    /// Longest accepted: a minute, so that a typo cannot hang every client.
    pub const MAX: u64 = 60_000;

    pub fn duration(self) -> std::time::Duration {
        std::time::Duration::from_millis(self.0)
    }
}

impl TryFrom<u64> for FailedAuthDelayMs {
    type Error = String;

    fn try_from(ms: u64) -> Result<Self, String> {
        if ms > Self::MAX {
            return Err(format!(
                "security.failed_authentication_delay_ms is {ms}; at most {} (a minute)",
                Self::MAX
            ));
        }
        Ok(FailedAuthDelayMs(ms))
    }
}

impl From<FailedAuthDelayMs> for u64 {
    fn from(d: FailedAuthDelayMs) -> u64 {
        d.0
    }
}

impl Default for FailedAuthDelayMs {
    fn default() -> Self {
        FailedAuthDelayMs(100)
    }
}

/// The `WWW-Authenticate` challenge of a 401.
pub const CHALLENGE: &str = "Basic realm=\"ferry\"";

/// Logs, at start-up, what the chosen mode leaves open; `tls` says whether
/// the listener is TLS.
pub fn warn_at_start(mode: ClientAuthMode, tls: bool) {
    match mode {
        ClientAuthMode::None => tracing::warn!(
            "CLIENT AUTHENTICATION IS OFF (security.client_auth = \"none\"): anyone who can \
             reach this port can act as any client (User:ANONYMOUS) and read, write or delete \
             every topic; set security.client_auth = \"basic\" outside a local test setup"
        ),
        ClientAuthMode::Basic if !tls => tracing::warn!(
            "client authentication is HTTP Basic over plain HTTP: passwords cross the network \
             in the clear; put the listener behind TLS"
        ),
        ClientAuthMode::Basic => {
            tracing::info!("client authentication: HTTP Basic against SCRAM-SHA-256 credentials")
        }
    }
}
