//! One HTTP call with the cluster's error body decoded, and the retry loop
//! for calls whose failures are retriable.

use crate::credentials::Credentials;
use crate::error::FerryError;
use ferry_common::ErrorBody;
use serde::de::DeserializeOwned;
use serde::Serialize;
use std::time::Duration;

/// A reqwest client that does not follow redirects (we follow leader hints ourselves).
pub fn client(timeout: Duration) -> reqwest::Client {
    client_with(timeout, None)
}

/// As [`client`], sending `credentials` (HTTP Basic) on every request.
pub fn client_with(timeout: Duration, credentials: Option<&Credentials>) -> reqwest::Client {
    let mut headers = reqwest::header::HeaderMap::new();
    if let Some(v) = credentials.and_then(Credentials::header) {
        headers.insert(reqwest::header::AUTHORIZATION, v);
    }
    reqwest::Client::builder()
        .default_headers(headers)
        .redirect(reqwest::redirect::Policy::none())
        .connect_timeout(Duration::from_secs(2))
        .timeout(timeout)
        .tcp_nodelay(true)
        .build()
        .unwrap_or_default()
}

/// Sends `body` with `method` to `url`; for writes, a failure after the
/// request went out (no answer, or an answer that cannot be read) is
/// `OutcomeUnknown`.
pub async fn call<Req: Serialize, Resp: DeserializeOwned>(
    http: &reqwest::Client,
    method: reqwest::Method,
    url: &str,
    body: Option<&Req>,
) -> Result<Resp, FerryError> {
    let write = method != reqwest::Method::GET;
    let mut req = http.request(method, url);
    if let Some(b) = body {
        req = req.json(b);
    }
    let res = req.send().await.map_err(|e| {
        if e.is_connect() || !write {
            FerryError::Transport(format!("{url}: {e}"))
        } else {
            FerryError::OutcomeUnknown(format!("{url}: {e}"))
        }
    })?;
    let status = res.status();
    // A write whose answer is lost or unreadable may have been applied.
    let lost = |m: String| {
        if write {
            FerryError::OutcomeUnknown(m)
        } else {
            FerryError::Transport(m)
        }
    };
    let bytes = res
        .bytes()
        .await
        .map_err(|e| lost(format!("{url}: reading the answer: {e}")))?;
    if status.is_success() {
        return serde_json::from_slice(&bytes)
            .map_err(|e| lost(format!("{url}: unexpected answer: {e}")));
    }
    match serde_json::from_slice::<ErrorBody>(&bytes) {
        Ok(b) => Err(b.into()),
        Err(_) => Err(FerryError::Transport(format!("{url} answered {status}"))),
    }
}

/// Retries retriable failures (coordinator moving, metadata not there yet).
pub async fn retry<T, F, Fut>(mut f: F) -> Result<T, FerryError>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, FerryError>>,
{
    let mut last = None;
    for attempt in 0..30u64 {
        match f().await {
            Ok(v) => return Ok(v),
            Err(e) if e.is_retriable() => last = Some(e),
            Err(e) => return Err(e),
        }
        tokio::time::sleep(Duration::from_millis(100 * (attempt + 1).min(10))).await;
    }
    Err(last.unwrap_or_else(|| FerryError::Transport("retries exhausted".into())))
}
