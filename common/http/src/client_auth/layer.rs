//! The layer: every request under `/v1/` carries HTTP Basic credentials that
//! verify against the user's credential in this node's metadata image, or is
//! refused (`401 SASL_AUTHENTICATION_FAILED`, `WWW-Authenticate: Basic`) from
//! its headers alone.
//!
//! A request signed with the cluster secret (an [`AuthenticatedNode`], put
//! there by the cluster layer, which must run first) acts as
//! `Node:<identity>` (e.g. `Node:broker:3`): a cluster member, not a user.
//! With `client_auth = "none"` every other request acts as `User:ANONYMOUS`.

use super::cache::VerifyCache;
use super::scram::{self, DecodedCredential};
use super::{ClientAuthMode, CHALLENGE};
use crate::auth::AuthenticatedNode;
use crate::error::respond;
use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, HeaderValue};
use axum::middleware::Next;
use axum::response::Response;
use axum::Router;
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use ferry_common::security::{Principal, ScramCredential};
use ferry_common::{ErrorBody, ErrorCode};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Semaphore;

/// Where a node finds a user's current credential: its metadata image.
pub trait CredentialStore: Send + Sync + 'static {
    fn credential(&self, user: &str) -> Option<ScramCredential>;
}

/// The principal kind of a request signed with the cluster secret.
pub const NODE_PRINCIPAL_KIND: &str = "Node";

/// A service's client authentication, shared by every request.
#[derive(Clone)]
pub struct ClientAuth {
    inner: Arc<Inner>,
    /// How long a failed authentication waits before its 401 (Kafka's
    /// `connection.failed.authentication.delay.ms`).
    failed_delay: Duration,
}

struct Inner {
    mode: ClientAuthMode,
    store: Arc<dyn CredentialStore>,
    cache: VerifyCache,
    /// PBKDF2 runs on the blocking pool, at most this many at once, so a
    /// flood of wrong passwords cannot take every core.
    hashing: Semaphore,
    /// Verified against when the user does not exist, so that an unknown
    /// user costs the same time as a wrong password.
    decoy: DecodedCredential,
}

/// Why a request was refused; the message the client sees.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    #[error("this endpoint needs HTTP Basic credentials (Authorization: Basic)")]
    Missing,
    #[error("the Authorization header is not valid HTTP Basic credentials")]
    Malformed,
    /// Unknown user and wrong password answer alike.
    #[error("authentication failed: unknown user or wrong password")]
    Failed,
}

impl ClientAuth {
    pub fn new(mode: ClientAuthMode, store: Arc<dyn CredentialStore>) -> Self {
        let decoy =
            scram::credential_with_salt("decoy", b"ferry-decoy-salt", scram::DEFAULT_ITERATIONS);
        let parallel = std::thread::available_parallelism().map_or(2, |n| n.get());
        let inner = Arc::new(Inner {
            mode,
            store,
            cache: VerifyCache::new(VerifyCache::DEFAULT_CAPACITY),
            hashing: Semaphore::new(parallel),
            decoy: match DecodedCredential::new(&decoy) {
                Ok(d) => d,
                Err(_) => unreachable!("the decoy credential is well formed"),
            },
        });
        ClientAuth {
            inner,
            failed_delay: super::FailedAuthDelayMs::default().duration(),
        }
    }

    /// Waits `delay` before answering a wrong password or malformed
    /// credentials, so that a guesser gets one try per `delay` per
    /// connection. Missing credentials answer at once: that is the normal
    /// first step of the Basic challenge.
    pub fn with_failed_delay(mut self, delay: Duration) -> Self {
        self.failed_delay = delay;
        self
    }

    pub fn mode(&self) -> ClientAuthMode {
        self.inner.mode
    }

    /// Entries in the verification cache (for tests and metrics).
    pub fn cached(&self) -> usize {
        self.inner.cache.len()
    }

    /// The principal the request with `headers` acts as, or why it may not.
    pub async fn authenticate(&self, headers: &HeaderMap) -> Result<Principal, Refusal> {
        if self.inner.mode == ClientAuthMode::None {
            return Ok(Principal::anonymous());
        }
        let (user, password) = basic_credentials(headers)?;
        let stored = self
            .inner
            .store
            .credential(&user)
            .and_then(|c| DecodedCredential::new(&c).ok());
        let Some(cred) = stored else {
            self.hash(self.inner.decoy.clone(), password).await;
            return Err(Refusal::Failed);
        };
        if self.inner.cache.contains(&user, &password, &cred) {
            return Ok(Principal::user(user));
        }
        if !self.hash(cred.clone(), password.clone()).await {
            return Err(Refusal::Failed);
        }
        self.inner.cache.insert(&user, &password, &cred);
        Ok(Principal::user(user))
    }

    /// Verifies on the blocking pool; false if that failed.
    async fn hash(&self, cred: DecodedCredential, password: Vec<u8>) -> bool {
        let Ok(_permit) = self.inner.hashing.acquire().await else {
            return false;
        };
        tokio::task::spawn_blocking(move || cred.verify(&password))
            .await
            .unwrap_or(false)
    }
}

/// `user:password` from `Authorization: Basic <base64>`.
fn basic_credentials(headers: &HeaderMap) -> Result<(String, Vec<u8>), Refusal> {
    let value = headers
        .get(header::AUTHORIZATION)
        .ok_or(Refusal::Missing)?
        .to_str()
        .map_err(|_| Refusal::Malformed)?;
    let (scheme, encoded) = value.trim().split_once(' ').ok_or(Refusal::Malformed)?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return Err(Refusal::Missing);
    }
    let decoded = B64.decode(encoded.trim()).map_err(|_| Refusal::Malformed)?;
    let colon = decoded
        .iter()
        .position(|&b| b == b':')
        .ok_or(Refusal::Malformed)?;
    let (user, password) = (&decoded[..colon], &decoded[colon + 1..]);
    let user = std::str::from_utf8(user).map_err(|_| Refusal::Malformed)?;
    if scram::check_user_name(user).is_err()
        || password.is_empty()
        || password.len() > scram::MAX_PASSWORD_BYTES
    {
        return Err(Refusal::Failed);
    }
    Ok((user.to_string(), password.to_vec()))
}

/// Whether `path` is on the public API client authentication covers.
pub fn is_public_api(path: &str) -> bool {
    path == "/v1" || path.starts_with("/v1/")
}

/// Puts `auth` in front of every `/v1/` route of `router`; wrap the result in
/// the cluster layer ([`crate::auth::with_cluster_auth`]) so that signed
/// requests are known here, and in [`crate::Observe`] for the span.
pub fn with_client_auth<S>(router: Router<S>, auth: ClientAuth) -> Router<S>
where
    S: Clone + Send + Sync + 'static,
{
    router.layer(axum::middleware::from_fn_with_state(auth, authenticate))
}

async fn authenticate(State(auth): State<ClientAuth>, mut req: Request, next: Next) -> Response {
    if !is_public_api(req.uri().path()) {
        return next.run(req).await;
    }
    let principal = match req.extensions().get::<AuthenticatedNode>() {
        Some(AuthenticatedNode(node)) => Principal {
            kind: NODE_PRINCIPAL_KIND.to_string(),
            name: node.to_string(),
        },
        None => match auth.authenticate(req.headers()).await {
            Ok(p) => p,
            Err(refusal) => {
                tracing::info!(path = req.uri().path(), error = %refusal, "refused a client request");
                if refusal != Refusal::Missing {
                    tokio::time::sleep(auth.failed_delay).await;
                }
                return refuse(&refusal);
            }
        },
    };
    tracing::Span::current().record("principal", tracing::field::display(&principal));
    req.extensions_mut().insert(principal);
    next.run(req).await
}

/// The 401 for `refusal`, with the Basic challenge.
fn refuse(refusal: &Refusal) -> Response {
    let body = ErrorBody::new(ErrorCode::SaslAuthenticationFailed, refusal.to_string());
    let mut res = respond(body, None);
    res.headers_mut().insert(
        header::WWW_AUTHENTICATE,
        HeaderValue::from_static(CHALLENGE),
    );
    res
}

#[cfg(test)]
#[path = "layer_tests.rs"]
mod tests;
