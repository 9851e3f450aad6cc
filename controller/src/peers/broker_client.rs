//! HTTP client for controller -> broker calls (metadata push), signed as this
//! controller.

use crate::tasks::metadata_push::{DeltaSink, PushError};
use ferry_common::internal::{MetadataPush, MetadataPushResponse};
use ferry_http::auth::Signer;
use std::time::Duration;

/// Pushes metadata deltas to `POST {broker}/internal/v1/metadata/deltas`.
pub struct HttpDeltaSink {
    client: reqwest::Client,
    signer: Signer,
}

impl HttpDeltaSink {
    pub fn new(signer: Signer) -> Self {
        Self::with_tls(signer, &ferry_http::tls::ClientTls::default())
    }

    /// Brokers are reached with `tls` (the cluster CA, https only).
    pub fn with_tls(signer: Signer, tls: &ferry_http::tls::ClientTls) -> Self {
        let client = tls
            .apply(reqwest::Client::builder())
            .connect_timeout(Duration::from_millis(500))
            .timeout(Duration::from_secs(3))
            .tcp_nodelay(true)
            .build()
            .unwrap_or_default();
        HttpDeltaSink { client, signer }
    }
}

impl DeltaSink for HttpDeltaSink {
    async fn push(&self, url: &str, push: &MetadataPush) -> Result<u64, PushError> {
        let url = format!("{}/internal/v1/metadata/deltas", url.trim_end_matches('/'));
        let failed = |e: reqwest::Error| PushError::Failed(e.to_string());
        let body = serde_json::to_vec(push).map_err(|e| PushError::Failed(e.to_string()))?;
        let headers = self.signer.headers(&reqwest::Method::POST, &url, &body);
        let res = self
            .client
            .post(&url)
            .headers(headers)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(body)
            .send()
            .await
            .map_err(failed)?;
        let status = res.status();
        if status == reqwest::StatusCode::PAYLOAD_TOO_LARGE {
            return Err(PushError::TooLarge(format!("{url} answered {status}")));
        }
        if !status.is_success() {
            return Err(PushError::Failed(format!("{url} answered {status}")));
        }
        let body: MetadataPushResponse = res.json().await.map_err(failed)?;
        Ok(body.applied_offset)
    }
}
