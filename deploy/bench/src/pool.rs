//! A fixed pool of workers sharing one numbered sequence of requests, as both
//! benchmarks drive their load.

use std::fmt::Display;
use std::future::Future;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// Latencies of the successful requests and the number of failed ones.
#[derive(Debug, Default)]
pub struct Outcome {
    /// Ascending.
    pub latencies: Vec<Duration>,
    pub errors: usize,
}

/// Runs requests `0..count` on `concurrency` tasks, each taking the next
/// number when it is free. `request(i)` answers the latency it measured, or
/// the failure; with a `label`, each worker prints its first two failures as
/// `LABEL error: ...`.
pub async fn run<F, Fut, E>(
    concurrency: usize,
    count: usize,
    label: Option<&'static str>,
    request: F,
) -> anyhow::Result<Outcome>
where
    F: Fn(usize) -> Fut + Clone + Send + 'static,
    Fut: Future<Output = Result<Duration, E>> + Send,
    E: Display,
{
    let next = Arc::new(AtomicUsize::new(0));
    let mut tasks = Vec::new();
    for _ in 0..concurrency.max(1) {
        let (next, request) = (next.clone(), request.clone());
        tasks.push(tokio::spawn(async move {
            let mut out = Outcome::default();
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= count {
                    break;
                }
                match request(i).await {
                    Ok(latency) => out.latencies.push(latency),
                    Err(e) => {
                        out.errors += 1;
                        if let Some(label) = label.filter(|_| out.errors < 3) {
                            let head: String = e.to_string().chars().take(300).collect();
                            eprintln!("{label} error: {head}");
                        }
                    }
                }
            }
            out
        }));
    }
    let mut all = Outcome::default();
    for t in tasks {
        let out = t.await?;
        all.latencies.extend(out.latencies);
        all.errors += out.errors;
    }
    all.latencies.sort();
    Ok(all)
}
