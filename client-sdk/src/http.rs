//! One HTTP call with the cluster's error body decoded, and the retry loop
//! for calls whose failures are retriable.

use crate::credentials::Credentials;
use crate::error::FerryError;
use ferry_common::ErrorBody;
use serde::de::DeserializeOwned;
use serde::Serialize;
use std::sync::RwLock;
use std::time::Duration;

/// CA certificates every client made from now on trusts ([`trust_ca_pem`]).
static TRUSTED_CAS: RwLock<Vec<reqwest::Certificate>> = RwLock::new(Vec::new());

/// Makes every client this process creates from now on (admin, producer,
/// consumer, group and partition clients, [`crate::Endpoints::discover`])
/// trust the CA certificates in `pem`, besides the public roots: what a
/// cluster started with TLS (`ferry-local up --tls`) needs. Clients created
/// before the call keep their trust.
pub fn trust_ca_pem(pem: &[u8]) -> Result<(), FerryError> {
    let certs = reqwest::Certificate::from_pem_bundle(pem)
        .map_err(|e| FerryError::Config(format!("CA certificates: {e}")))?;
    if certs.is_empty() {
        return Err(FerryError::Config(
            "no PEM certificate (-----BEGIN CERTIFICATE-----) in the CA file".into(),
        ));
    }
    TRUSTED_CAS
        .write()
        .unwrap_or_else(|p| p.into_inner())
        .extend(certs);
    Ok(())
}

/// [`trust_ca_pem`] with the contents of the file at `path`.
pub fn trust_ca_file(path: &std::path::Path) -> Result<(), FerryError> {
    let pem = std::fs::read(path)
        .map_err(|e| FerryError::Config(format!("reading CA file {}: {e}", path.display())))?;
    trust_ca_pem(&pem).map_err(|e| FerryError::Config(format!("{}: {e}", path.display())))
}

/// A reqwest client that does not follow redirects (we follow leader hints
/// ourselves) and trusts the CAs given to [`trust_ca_pem`].
pub fn client(timeout: Duration) -> reqwest::Client {
    client_with(timeout, None)
}

/// As [`client`], sending `credentials` (HTTP Basic) on every request.
pub fn client_with(timeout: Duration, credentials: Option<&Credentials>) -> reqwest::Client {
    let mut headers = reqwest::header::HeaderMap::new();
    if let Some(v) = credentials.and_then(Credentials::header) {
        headers.insert(reqwest::header::AUTHORIZATION, v);
    }
    let mut builder = reqwest::Client::builder().default_headers(headers);
    for ca in TRUSTED_CAS.read().unwrap_or_else(|p| p.into_inner()).iter() {
        builder = builder.add_root_certificate(ca.clone());
    }
    builder
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
        if let Some(tls) = untrusted_certificate(url, &e) {
            tls
        } else if e.is_connect() || !write {
            FerryError::Transport(format!("{url}: {}", chain(&e)))
        } else {
            FerryError::OutcomeUnknown(format!("{url}: {}", chain(&e)))
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

/// `e` and its causes, which carry the useful part (refused, TLS alert, ...).
pub fn chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        out.push_str(": ");
        out.push_str(&s.to_string());
        source = s.source();
    }
    out
}

/// The server's certificate was not trusted: a configuration error (the
/// cluster's CA was not given), not worth retrying.
pub fn untrusted_certificate(url: &str, e: &reqwest::Error) -> Option<FerryError> {
    let text = chain(e);
    text.contains("invalid peer certificate").then(|| {
        FerryError::Config(format!(
            "{url}: TLS: the server's certificate is not trusted ({text}); \
             give the cluster's CA file (ferry --ca-file / FERRY_CA_FILE, ferry_client::trust_ca_file)"
        ))
    })
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
