//! Signing and verifying internal requests. The signature is HMAC-SHA256 (the
//! RustCrypto `hmac` + `sha2` crates) over a canonical string of the method,
//! path and query, signer, timestamp, nonce and body hash; the verifier is a
//! pure check with the time passed in, plus a bounded cache of the nonces seen
//! within the timestamp window, so a captured request cannot be replayed.

use super::{
    ClusterKey, NodeIdentity, CONTENT_HASH_HEADER, NODE_HEADER, NONCE_HEADER, SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
};
use axum::http::{HeaderMap, HeaderValue, Method};
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};
use std::collections::{HashSet, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

type HmacSha256 = Hmac<Sha256>;

/// How far a request's timestamp may be from the verifier's clock, either way.
pub const TIMESTAMP_WINDOW: Duration = Duration::from_secs(30);

/// The most nonces remembered; past it the oldest are dropped and requests
/// signed no later than them are refused, so no replay gets through.
pub const NONCE_CACHE_MAX: usize = 200_000;

/// Why an internal request was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthFailure {
    #[error("missing {0} header: internal endpoints need a cluster credential")]
    Missing(&'static str),
    #[error("malformed {header} header: {reason}")]
    Malformed {
        header: &'static str,
        reason: String,
    },
    #[error("the signature does not match: wrong cluster secret or altered request")]
    BadSignature,
    #[error("signed at {signed_ms} ms, {skew_ms} ms from this node's clock; the window is {window_ms} ms")]
    OutOfWindow {
        signed_ms: u64,
        skew_ms: u64,
        window_ms: u64,
    },
    #[error("this request was already received (nonce reused)")]
    Replayed,
    #[error("the body does not match its signed x-ferry-content-sha256")]
    BodyMismatch,
}

/// The base64 SHA-256 of `body`, as sent in [`CONTENT_HASH_HEADER`].
pub fn content_hash(body: &[u8]) -> String {
    B64.encode(Sha256::digest(body))
}

fn canonical(
    method: &Method,
    path_and_query: &str,
    node: &str,
    ts: &str,
    nonce: &str,
    hash: &str,
) -> String {
    format!("ferry-internal-v1\n{method}\n{path_and_query}\n{node}\n{ts}\n{nonce}\n{hash}")
}

fn mac(key: &ClusterKey, text: &str) -> HmacSha256 {
    // HMAC takes keys of any length; `new_from_slice` cannot fail for it.
    let mut m = match HmacSha256::new_from_slice(key.bytes()) {
        Ok(m) => m,
        Err(_) => unreachable!("HMAC accepts every key length"),
    };
    m.update(text.as_bytes());
    m
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// Signs the internal requests of one node. Cheap to clone.
#[derive(Clone)]
pub struct Signer {
    key: ClusterKey,
    identity: Arc<dyn Fn() -> NodeIdentity + Send + Sync>,
}

impl std::fmt::Debug for Signer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Signer({})", (self.identity)())
    }
}

impl Signer {
    /// Signs as whatever `identity` answers at signing time (a broker learns
    /// its id when it registers).
    pub fn new(
        key: ClusterKey,
        identity: impl Fn() -> NodeIdentity + Send + Sync + 'static,
    ) -> Self {
        Signer {
            key,
            identity: Arc::new(identity),
        }
    }

    /// Always signs as `identity`.
    pub fn fixed(key: ClusterKey, identity: NodeIdentity) -> Self {
        Signer::new(key, move || identity)
    }

    /// The headers that authenticate `method url` with `body` as this node.
    /// `url` may be absolute or a path; only its path and query are signed.
    pub fn headers(&self, method: &Method, url: &str, body: &[u8]) -> HeaderMap {
        self.headers_as((self.identity)(), method, url, body)
    }

    /// As [`Signer::headers`], signed as `identity`.
    pub fn headers_as(
        &self,
        identity: NodeIdentity,
        method: &Method,
        url: &str,
        body: &[u8],
    ) -> HeaderMap {
        let nonce = uuid::Uuid::new_v4().simple().to_string();
        self.headers_at(identity, method, url, body, now_ms(), &nonce)
    }

    pub(crate) fn headers_at(
        &self,
        identity: NodeIdentity,
        method: &Method,
        url: &str,
        body: &[u8],
        ts_ms: u64,
        nonce: &str,
    ) -> HeaderMap {
        let node = identity.to_string();
        let ts = ts_ms.to_string();
        let hash = content_hash(body);
        let text = canonical(method, path_and_query(url), &node, &ts, nonce, &hash);
        let sig = B64.encode(mac(&self.key, &text).finalize().into_bytes());
        let mut h = HeaderMap::new();
        for (name, value) in [
            (NODE_HEADER, node),
            (TIMESTAMP_HEADER, ts),
            (NONCE_HEADER, nonce.to_string()),
            (CONTENT_HASH_HEADER, hash),
            (SIGNATURE_HEADER, sig),
        ] {
            // Every value is ASCII: digits, hex, base64, `kind:id`.
            if let Ok(v) = HeaderValue::from_str(&value) {
                h.insert(name, v);
            }
        }
        h
    }
}

/// The path and query of an absolute URL or of a path.
fn path_and_query(url: &str) -> &str {
    let rest = match url.find("://") {
        Some(i) => &url[i + 3..],
        None => return if url.is_empty() { "/" } else { url },
    };
    match rest.find('/') {
        Some(i) => &rest[i..],
        None => "/",
    }
}

/// What a verified request's headers established.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verified {
    pub identity: NodeIdentity,
    /// The SHA-256 the body must have.
    pub content_hash: [u8; 32],
}

/// Checks signed requests against the cluster key; remembers their nonces.
pub struct Verifier {
    key: ClusterKey,
    window_ms: u64,
    nonces: Mutex<NonceCache>,
}

impl Verifier {
    pub fn new(key: ClusterKey) -> Self {
        Verifier::with_bounds(key, TIMESTAMP_WINDOW, NONCE_CACHE_MAX)
    }

    pub(crate) fn with_bounds(key: ClusterKey, window: Duration, nonces_max: usize) -> Self {
        Verifier {
            key,
            window_ms: window.as_millis() as u64,
            nonces: Mutex::new(NonceCache::new(nonces_max)),
        }
    }

    /// Verifies the signature headers of `method path_and_query` at `now_ms`,
    /// and records the nonce; the body is checked separately against
    /// [`Verified::content_hash`].
    pub fn verify(
        &self,
        method: &Method,
        path_and_query: &str,
        headers: &HeaderMap,
        now_ms: u64,
    ) -> Result<Verified, AuthFailure> {
        let get = |name: &'static str| -> Result<&str, AuthFailure> {
            let v = headers.get(name).ok_or(AuthFailure::Missing(name))?;
            v.to_str().map_err(|_| AuthFailure::Malformed {
                header: name,
                reason: "not ASCII".into(),
            })
        };
        let sig = get(SIGNATURE_HEADER)?;
        let node = get(NODE_HEADER)?;
        let ts = get(TIMESTAMP_HEADER)?;
        let nonce = get(NONCE_HEADER)?;
        let hash = get(CONTENT_HASH_HEADER)?;
        let sig = B64.decode(sig).map_err(|e| AuthFailure::Malformed {
            header: SIGNATURE_HEADER,
            reason: e.to_string(),
        })?;
        let text = canonical(method, path_and_query, node, ts, nonce, hash);
        // Constant-time comparison, inside `hmac`.
        mac(&self.key, &text)
            .verify_slice(&sig)
            .map_err(|_| AuthFailure::BadSignature)?;
        // Signed, so the fields below are what a member sent.
        let malformed = |header, reason: String| AuthFailure::Malformed { header, reason };
        let identity = node.parse().map_err(|e| malformed(NODE_HEADER, e))?;
        let signed_ms: u64 = ts
            .parse()
            .map_err(|_| malformed(TIMESTAMP_HEADER, "not an integer".into()))?;
        let content_hash = B64
            .decode(hash)
            .ok()
            .and_then(|h| <[u8; 32]>::try_from(h).ok())
            .ok_or_else(|| malformed(CONTENT_HASH_HEADER, "not a base64 SHA-256".into()))?;
        let skew_ms = signed_ms.abs_diff(now_ms);
        if skew_ms > self.window_ms {
            return Err(AuthFailure::OutOfWindow {
                signed_ms,
                skew_ms,
                window_ms: self.window_ms,
            });
        }
        let nonce = nonce_key(nonce);
        let mut cache = self.nonces.lock().unwrap_or_else(|p| p.into_inner());
        cache.admit(nonce, signed_ms, now_ms.saturating_sub(self.window_ms))?;
        Ok(Verified {
            identity,
            content_hash,
        })
    }
}

/// A nonce as remembered: its SHA-256 prefix, so long nonces cost no more.
fn nonce_key(nonce: &str) -> u128 {
    let d = Sha256::digest(nonce.as_bytes());
    let mut k = [0u8; 16];
    k.copy_from_slice(&d[..16]);
    u128::from_le_bytes(k)
}

/// The nonces of requests signed within the window, oldest first, bounded.
struct NonceCache {
    seen: HashSet<u128>,
    order: VecDeque<(u64, u128)>,
    max: usize,
    /// Requests signed at or before this were dropped from the cache to keep
    /// it bounded: they are refused, as their nonces can no longer be checked.
    floor_ms: Option<u64>,
}

impl NonceCache {
    fn new(max: usize) -> Self {
        NonceCache {
            seen: HashSet::new(),
            order: VecDeque::new(),
            max: max.max(1),
            floor_ms: None,
        }
    }

    /// Records `nonce` signed at `signed_ms`, forgetting the nonces signed
    /// before `expired_before_ms` (the window refuses those anyway).
    fn admit(
        &mut self,
        nonce: u128,
        signed_ms: u64,
        expired_before_ms: u64,
    ) -> Result<(), AuthFailure> {
        while let Some(&(ts, n)) = self.order.front() {
            if ts >= expired_before_ms {
                break;
            }
            self.order.pop_front();
            self.seen.remove(&n);
        }
        if self.floor_ms.is_some_and(|f| signed_ms <= f) || self.seen.contains(&nonce) {
            return Err(AuthFailure::Replayed);
        }
        while self.order.len() >= self.max {
            if let Some((ts, n)) = self.order.pop_front() {
                self.seen.remove(&n);
                self.floor_ms = Some(self.floor_ms.map_or(ts, |f| f.max(ts)));
            }
        }
        self.seen.insert(nonce);
        self.order.push_back((signed_ms, nonce));
        Ok(())
    }
}

#[cfg(test)]
#[path = "sign_tests.rs"]
mod tests;
