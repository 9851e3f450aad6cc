//! Readiness checks over HTTP.

use std::time::Duration;

/// Polls `url` until it answers 2xx or `timeout` passes.
pub async fn wait_ready(client: &reqwest::Client, url: &str, timeout: Duration) -> bool {
    crate::wait::wait_for(timeout, || async {
        let r = client
            .get(url)
            .timeout(Duration::from_millis(500))
            .send()
            .await
            .ok()?;
        r.status().is_success().then_some(())
    })
    .await
    .is_some()
}
