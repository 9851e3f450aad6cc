//! Extractors whose failures are answered with our error body.

use crate::error::BrokerError;
use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::StatusCode;
use ferry_common::body;
use serde::de::DeserializeOwned;

/// A JSON body; content type not enforced so `curl -d` works.
pub struct ApiJson<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for ApiJson<T> {
    type Rejection = BrokerError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let ctype = req
            .headers()
            .get(axum::http::header::CONTENT_TYPE)
            .map(|v| v.to_str().unwrap_or("?"));
        if !body::json_content_type_ok(ctype) {
            return Err(BrokerError::UnsupportedMediaType(
                body::unsupported_content_type(ctype),
            ));
        }
        let bytes = Bytes::from_request(req, state).await.map_err(|e| {
            if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
                BrokerError::BodyTooLarge(format!("request body is too large: {}", e.body_text()))
            } else {
                BrokerError::InvalidRequest(format!(
                    "could not read the request body: {}",
                    e.body_text()
                ))
            }
        })?;
        body::parse_json(&bytes)
            .map(ApiJson)
            .map_err(BrokerError::InvalidRequest)
    }
}

/// Query string with our error body.
pub struct ApiQuery<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequestParts<S> for ApiQuery<T> {
    type Rejection = BrokerError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        axum::extract::Query::<T>::try_from_uri(&parts.uri)
            .map(|axum::extract::Query(v)| ApiQuery(v))
            .map_err(|e| {
                BrokerError::InvalidRequest(format!("invalid query string: {}", e.body_text()))
            })
    }
}

/// A partition number from the path.
pub fn partition_param(raw: &str) -> Result<u32, BrokerError> {
    raw.parse().map_err(|_| {
        BrokerError::InvalidRequest(format!("partition '{raw}' is not a non-negative integer"))
    })
}
