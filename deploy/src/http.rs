//! Tiny blocking-free HTTP helpers for readiness checks.

use std::time::{Duration, Instant};

/// Polls `url` until it answers 2xx or `timeout` passes.
pub async fn wait_ready(client: &reqwest::Client, url: &str, timeout: Duration) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        if let Ok(r) = client
            .get(url)
            .timeout(Duration::from_millis(500))
            .send()
            .await
        {
            if r.status().is_success() {
                return true;
            }
        }
        if Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
