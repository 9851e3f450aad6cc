//! `ferry-controller-bench`: metadata-write latency and throughput, and
//! controller failover time, against a running cluster.
//!
//! ```text
//! ferry-controller-bench writes   --bootstrap http://127.0.0.1:7101 --count 2000 --concurrency 32
//! ferry-controller-bench failover --dir .ferry-local --trials 10
//! ```
//! Topic creation needs an unfenced broker; with `--standin-broker` (default on)
//! the bench registers one and heartbeats it for the run.
//!
//! Topic writes and cluster queries go through the SDK's [`AdminClient`], with
//! one attempt per write so that a failed write is counted, not retried. The
//! stand-in broker speaks the controllers' internal API, which the SDK does
//! not offer.

use anyhow::{bail, Context, Result};
use clap::{Parser, Subcommand};
use ferry_bench::pool::{self, Outcome};
use ferry_bench::stats::percentile;
use ferry_client::AdminClient;
use ferry_common::internal::{HeartbeatRequest, RegisterBrokerRequest, RegisterBrokerResponse};
use ferry_http::auth::{ClusterKey, NodeIdentity, Signer};
use ferry_local_cluster::LocalCluster;
use std::sync::Arc;
use std::time::{Duration, Instant};

#[derive(Parser)]
#[command(about = "Benchmark Ferry's controller quorum")]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Create topics (1 partition, RF 1) as fast as allowed; report latency and writes/s.
    Writes {
        /// Controller URLs, comma-separated.
        #[arg(
            long,
            default_value = "http://127.0.0.1:7101,http://127.0.0.1:7102,http://127.0.0.1:7103"
        )]
        bootstrap: String,
        #[arg(long, default_value_t = 1000)]
        count: usize,
        #[arg(long, default_value_t = 1)]
        concurrency: usize,
        /// Register and heartbeat a stand-in broker so topics can be placed.
        #[arg(long, default_value_t = true, action = clap::ArgAction::Set)]
        standin_broker: bool,
        /// The cluster secret the stand-in broker signs its calls with.
        #[arg(long, default_value = ".ferry-local/cluster.secret")]
        cluster_secret_file: std::path::PathBuf,
    },
    /// SIGKILL the leader of a ferry-local cluster, time until the first successful write; repeat.
    Failover {
        #[arg(long, default_value = ".ferry-local")]
        dir: std::path::PathBuf,
        #[arg(long, default_value_t = 10)]
        trials: usize,
    },
}

#[tokio::main]
async fn main() -> Result<()> {
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()?;
    match Cli::parse().cmd {
        Cmd::Writes {
            bootstrap,
            count,
            concurrency,
            standin_broker,
            cluster_secret_file,
        } => {
            let urls: Vec<String> = bootstrap
                .split(',')
                .map(|s| s.trim().trim_end_matches('/').to_string())
                .collect();
            let leader = find_leader(&urls).await?;
            let _hb = if standin_broker {
                let key =
                    ClusterKey::from_file(&cluster_secret_file).map_err(anyhow::Error::msg)?;
                Some(standin(&http, &key, &leader, &urls).await?)
            } else {
                None
            };
            writes(&leader, count, concurrency).await
        }
        Cmd::Failover { dir, trials } => failover(&http, &dir, trials).await,
    }
}

/// An admin client that makes one attempt per call, so failures are counted.
fn once(urls: Vec<String>, timeout: Duration) -> AdminClient {
    AdminClient::new(urls)
        .with_attempts(1)
        .with_request_timeout(timeout)
}

/// The URL of the controller leader, as the first answering controller sees it.
async fn find_leader(urls: &[String]) -> Result<String> {
    let admin = once(urls.to_vec(), Duration::from_secs(1));
    for _ in 0..100 {
        if let Ok(c) = admin.describe_cluster().await {
            if let Some(m) = c.members.iter().find(|m| Some(m.id) == c.leader_id) {
                return Ok(m.url.clone());
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    bail!("no controller leader found among {urls:?}")
}

/// Registers a broker that heartbeats from a background task until dropped.
async fn standin(
    http: &reqwest::Client,
    key: &ClusterKey,
    leader: &str,
    urls: &[String],
) -> Result<tokio::task::JoinHandle<()>> {
    let register = RegisterBrokerRequest {
        broker_id: None,
        url: "http://127.0.0.1:9".into(),
        rack: None,
        incarnation_id: format!("bench-{}", std::process::id()),
        cluster_id: None,
        previous_shutdown: Default::default(),
    };
    let url = format!("{leader}/internal/v1/brokers/register");
    let body = serde_json::to_vec(&register)?;
    let signer = Signer::fixed(key.clone(), NodeIdentity::NewBroker);
    let res = http
        .post(&url)
        .headers(signer.headers(&reqwest::Method::POST, &url, &body))
        .header(reqwest::header::CONTENT_TYPE, "application/json")
        .body(body)
        .send()
        .await?;
    let status = res.status();
    let text = res.text().await?;
    let r: RegisterBrokerResponse = serde_json::from_str(&text)
        .with_context(|| format!("registration failed: {status} {text}"))?;
    let (id, heartbeat) = (
        r.broker_id,
        HeartbeatRequest {
            broker_epoch: r.broker_epoch,
            metadata_offset: u64::MAX / 2,
        },
    );
    let (http, urls) = (http.clone(), urls.to_vec());
    let signer = Signer::fixed(key.clone(), NodeIdentity::Broker(id.0));
    let body = serde_json::to_vec(&heartbeat)?;
    let hb = tokio::spawn(async move {
        loop {
            // Whichever controller is active accepts it; the others say NOT_CONTROLLER.
            for u in &urls {
                let url = format!("{u}/internal/v1/brokers/{id}/heartbeat");
                let _ = http
                    .post(&url)
                    .headers(signer.headers(&reqwest::Method::POST, &url, &body))
                    .header(reqwest::header::CONTENT_TYPE, "application/json")
                    .body(body.clone())
                    .timeout(Duration::from_millis(500))
                    .send()
                    .await;
            }
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
    });
    tokio::time::sleep(Duration::from_millis(700)).await;
    Ok(hb)
}

async fn writes(leader: &str, count: usize, concurrency: usize) -> Result<()> {
    let run = format!(
        "{:x}",
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)?
            .as_millis()
    );
    let admin = Arc::new(once(vec![leader.to_string()], Duration::from_secs(10)));
    let started = Instant::now();
    let Outcome {
        latencies: lat,
        errors,
    } = pool::run(concurrency, count, None, move |i| {
        let (admin, name) = (admin.clone(), format!("bench-{run}-{i}"));
        async move {
            let t = Instant::now();
            admin
                .create_topic(&name, 1, 1, [])
                .await
                .map(|_| t.elapsed())
        }
    })
    .await?;
    let elapsed = started.elapsed();
    println!(
        "topic creates: {} ok, {} errors, concurrency {}, {:.0} writes/s",
        lat.len(),
        errors,
        concurrency,
        lat.len() as f64 / elapsed.as_secs_f64()
    );
    println!(
        "latency p50 {:?}  p99 {:?}  p99.9 {:?}  max {:?}",
        percentile(&lat, 50.0),
        percentile(&lat, 99.0),
        percentile(&lat, 99.9),
        lat.last().copied().unwrap_or_default()
    );
    Ok(())
}

async fn failover(http: &reqwest::Client, dir: &std::path::Path, trials: usize) -> Result<()> {
    let cluster = LocalCluster::open(dir)?;
    let urls = cluster.controller_urls();
    let leader_url = find_leader(&urls).await?;
    let key = ClusterKey::from_file(&cluster.secret_file()).map_err(anyhow::Error::msg)?;
    let _hb = standin(http, &key, &leader_url, &urls).await?;
    let mut times = Vec::new();
    for trial in 0..trials {
        let leader_url = find_leader(&urls).await?;
        let leader = cluster
            .controllers()
            .find(|c| c.url() == leader_url)
            .map(|c| c.name.clone())
            .context("leader is not part of this cluster")?;
        cluster.kill(&leader)?;
        let killed = Instant::now();
        let others: Vec<String> = urls.iter().filter(|u| **u != leader_url).cloned().collect();
        let admin = once(others, Duration::from_secs(2));
        let mut n = 0;
        let elapsed = loop {
            n += 1;
            let name = format!("failover-{}-{trial}-{n}", std::process::id());
            if admin.create_topic(&name, 1, 1, []).await.is_ok() {
                break killed.elapsed();
            }
            if killed.elapsed() > Duration::from_secs(60) {
                bail!("no successful write within 60 s of killing {leader}");
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        };
        println!("trial {trial}: killed {leader}, first write after {elapsed:?}");
        times.push(elapsed);
        cluster.start(&leader)?;
        cluster.wait_ready(&leader, Duration::from_secs(60)).await?;
        tokio::time::sleep(Duration::from_secs(2)).await;
    }
    times.sort();
    println!(
        "failover over {} trials: median {:?}, max {:?}",
        times.len(),
        percentile(&times, 50.0),
        times.last().copied().unwrap_or_default()
    );
    Ok(())
}
