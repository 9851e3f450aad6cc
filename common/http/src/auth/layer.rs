//! The server side: an axum layer over a whole router that authenticates
//! every request under the internal prefixes (`/internal/`, `/raft/`), so a
//! route added later is covered without a line of its own. The signature is
//! checked from the headers alone, before a byte of body is read; the body is
//! then checked against its signed hash as the handler reads it.
//!
//! A request elsewhere that carries a signature is verified too (a broker
//! creating an internal topic through the public API), and answered 401 if it
//! is bad; one without a signature passes as a client's.

use super::sign::{AuthFailure, Verifier};
use super::{ClusterKey, NodeIdentity, SIGNATURE_HEADER};
use crate::error::respond;
use axum::body::{Body, Bytes, HttpBody};
use axum::extract::{FromRequestParts, OptionalFromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::middleware::Next;
use axum::response::Response;
use axum::Router;
use ferry_common::{ErrorBody, ErrorCode};
use http_body::{Frame, SizeHint};
use sha2::{Digest, Sha256};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{SystemTime, UNIX_EPOCH};

/// Path prefixes only cluster members may call.
pub const INTERNAL_PREFIXES: &[&str] = &["/internal/", "/raft/"];

/// The node that signed a request, in its extensions once verified. As an
/// extractor it refuses (401) a request that carried no valid signature.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AuthenticatedNode(pub NodeIdentity);

impl<S: Send + Sync> FromRequestParts<S> for AuthenticatedNode {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Response> {
        parts
            .extensions
            .get::<AuthenticatedNode>()
            .copied()
            .ok_or_else(|| refuse(&AuthFailure::Missing(SIGNATURE_HEADER)))
    }
}

impl<S: Send + Sync> OptionalFromRequestParts<S> for AuthenticatedNode {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut Parts,
        _state: &S,
    ) -> Result<Option<Self>, Self::Rejection> {
        Ok(parts.extensions.get::<AuthenticatedNode>().copied())
    }
}

/// The verifier a service's router shares across requests.
#[derive(Clone)]
pub struct ClusterAuth {
    verifier: Arc<Verifier>,
}

impl ClusterAuth {
    pub fn new(key: ClusterKey) -> Self {
        ClusterAuth {
            verifier: Arc::new(Verifier::new(key)),
        }
    }
}

/// Puts `auth` in front of every route of `router` (see the module doc).
pub fn with_cluster_auth<S>(router: Router<S>, auth: ClusterAuth) -> Router<S>
where
    S: Clone + Send + Sync + 'static,
{
    router.layer(axum::middleware::from_fn_with_state(auth, authenticate))
}

/// Whether `path` is a cluster-internal endpoint.
pub fn is_internal_path(path: &str) -> bool {
    INTERNAL_PREFIXES.iter().any(|p| path.starts_with(p))
}

async fn authenticate(State(auth): State<ClusterAuth>, req: Request, next: Next) -> Response {
    let internal = is_internal_path(req.uri().path());
    if !internal && !req.headers().contains_key(SIGNATURE_HEADER) {
        return next.run(req).await;
    }
    let now_ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0);
    let path_and_query = req
        .uri()
        .path_and_query()
        .map(|p| p.as_str())
        .unwrap_or("/");
    let verified = auth
        .verifier
        .verify(req.method(), path_and_query, req.headers(), now_ms);
    let verified = match verified {
        Ok(v) => v,
        Err(failure) => {
            tracing::warn!(
                path = req.uri().path(),
                error = %failure,
                "refused an internal request without a valid cluster credential"
            );
            return refuse(&failure);
        }
    };
    let (mut parts, body) = req.into_parts();
    parts
        .extensions
        .insert(AuthenticatedNode(verified.identity));
    let body = Body::new(HashChecked {
        inner: body,
        hasher: Some(Sha256::new()),
        expected: verified.content_hash,
    });
    next.run(Request::from_parts(parts, body)).await
}

/// The 401 for `failure`.
fn refuse(failure: &AuthFailure) -> Response {
    let body = ErrorBody::new(ErrorCode::SaslAuthenticationFailed, failure.to_string());
    respond(body, None)
}

/// A body that fails at its end unless its bytes hash to `expected`: a
/// handler never sees the end of a body other than the one signed.
struct HashChecked {
    inner: Body,
    hasher: Option<Sha256>,
    expected: [u8; 32],
}

impl HttpBody for HashChecked {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        let this = &mut *self;
        match Pin::new(&mut this.inner).poll_frame(cx) {
            Poll::Ready(Some(Ok(frame))) => {
                if let (Some(data), Some(h)) = (frame.data_ref(), this.hasher.as_mut()) {
                    h.update(data);
                }
                Poll::Ready(Some(Ok(frame)))
            }
            Poll::Ready(None) => match this.hasher.take().map(Sha256::finalize) {
                Some(hash) if hash.as_slice() != this.expected => {
                    Poll::Ready(Some(Err(axum::Error::new(AuthFailure::BodyMismatch))))
                }
                _ => Poll::Ready(None),
            },
            other => other,
        }
    }

    fn is_end_stream(&self) -> bool {
        // The end is reported by `poll_frame` once the hash is checked.
        self.hasher.is_none() && self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

#[cfg(test)]
#[path = "layer_tests.rs"]
mod tests;
