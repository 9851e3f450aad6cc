//! The controller's extractors: `ApiJson` / `ApiQuery` answering with a
//! [`ControllerError`] body (see [`ferry_http::extract`]), idempotency headers
//! and read options.

use crate::error::ControllerError;
use crate::metadata::commands::ClientRef;
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use serde::de::DeserializeOwned;

ferry_http::extractors!(ControllerError);

/// Parses a JSON body already read (Raft RPCs), naming what is wrong and where.
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ControllerError> {
    ferry_http::extract::parse_json(bytes)
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
#[derive(Debug, Default, serde::Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ReadOptions {
    /// Linearizable read, answered by the active controller only.
    #[serde(default)]
    pub consistent: bool,
}

/// The [`ClientIdentity`] headers as the OpenAPI document lists them.
#[derive(utoipa::IntoParams)]
#[into_params(parameter_in = Header)]
#[allow(dead_code)]
pub struct IdempotencyHeaders {
    /// 1-128 characters; send with `Ferry-Request-Seq` or not at all.
    #[param(rename = "Ferry-Client-Id")]
    client_id: Option<String>,
    /// Non-negative integer: a write with the same id and seq is applied once.
    #[param(rename = "Ferry-Request-Seq")]
    request_seq: Option<u64>,
}
