//! Extractors whose failures are answered with our error body, not axum's text.

use crate::error::ControllerError;
use crate::metadata::commands::ClientRef;
use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::StatusCode;
use ferry_common::body;
use serde::de::DeserializeOwned;

/// A JSON body. Content type is not enforced so that `curl -d` just works;
/// oversized, malformed and ill-typed bodies each get a clear message.
pub struct ApiJson<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for ApiJson<T> {
    type Rejection = ControllerError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let ctype = req
            .headers()
            .get(axum::http::header::CONTENT_TYPE)
            .map(|v| v.to_str().unwrap_or("?"));
        if !body::json_content_type_ok(ctype) {
            return Err(ControllerError::UnsupportedMediaType(
                body::unsupported_content_type(ctype),
            ));
        }
        let bytes = Bytes::from_request(req, state).await.map_err(|e| {
            if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
                ControllerError::BodyTooLarge(format!(
                    "request body is too large: {}",
                    e.body_text()
                ))
            } else {
                ControllerError::InvalidRequest(format!(
                    "could not read the request body: {}",
                    e.body_text()
                ))
            }
        })?;
        body::parse_json(&bytes)
            .map(ApiJson)
            .map_err(ControllerError::InvalidRequest)
    }
}

/// Parses a JSON body, naming what is wrong and where.
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ControllerError> {
    body::parse_json(bytes).map_err(ControllerError::InvalidRequest)
}

/// Idempotency headers: `Ferry-Client-Id` and `Ferry-Request-Seq`. A write with
/// the same pair is applied at most once.
pub struct ClientIdentity(pub Option<ClientRef>);

impl<S: Send + Sync> FromRequestParts<S> for ClientIdentity {
    type Rejection = ControllerError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let header = |name: &str| {
            parts
                .headers
                .get(name)
                .map(|v| v.to_str().map(str::to_string))
        };
        match (header("ferry-client-id"), header("ferry-request-seq")) {
            (None, None) => Ok(ClientIdentity(None)),
            (Some(Ok(id)), Some(Ok(seq))) if !id.is_empty() && id.len() <= 128 => {
                let seq = seq.trim().parse().map_err(|_| {
                    ControllerError::InvalidRequest(format!(
                        "Ferry-Request-Seq '{seq}' is not a non-negative integer"
                    ))
                })?;
                Ok(ClientIdentity(Some(ClientRef { id, seq })))
            }
            _ => Err(ControllerError::InvalidRequest(
                "send both Ferry-Client-Id (1-128 chars) and Ferry-Request-Seq, or neither".into(),
            )),
        }
    }
}

/// `?consistent=true` asks for a linearizable read (served by the leader only).
#[derive(Debug, Default, serde::Deserialize)]
pub struct ReadOptions {
    #[serde(default)]
    pub consistent: bool,
}

/// Query string extractor with our error body.
pub struct ApiQuery<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequestParts<S> for ApiQuery<T> {
    type Rejection = ControllerError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let q = parts.uri.query().unwrap_or("");
        serde_urlencoded_parse(q).map(ApiQuery)
    }
}

fn serde_urlencoded_parse<T: DeserializeOwned>(q: &str) -> Result<T, ControllerError> {
    axum::extract::Query::<T>::try_from_uri(
        &format!("/?{q}")
            .parse()
            .map_err(|_| ControllerError::InvalidRequest("unparseable query string".into()))?,
    )
    .map(|axum::extract::Query(v)| v)
    .map_err(|e| {
        ControllerError::InvalidRequest(format!("invalid query string: {}", e.body_text()))
    })
}
