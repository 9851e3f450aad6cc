//! `ferry-startup-bench`: broker start-up time and open descriptors against
//! the amount of data and the number of replicas it holds.
//!
//! ```text
//! ferry-startup-bench --dir /tmp/startup --bin-dir target/release \
//!     --partitions 1000 --bytes-per-partition 10485760 --segment-bytes 2097152 --trials 3
//! ferry-startup-bench --dir /tmp/fds --partitions 20000 --bytes-per-partition 0
//! ```
//!
//! Lays out (or reuses) a one-controller, one-broker ferry-local cluster in
//! `--dir`, creates topics totalling `--partitions` RF 1 partitions, fills
//! every partition with `--bytes-per-partition` bytes through the broker's
//! produce API, then per trial stops the broker cleanly (SIGTERM), starts it
//! again and reports the time to `/readyz` 200, its open descriptors
//! (`/proc/<pid>/fd`) and RSS. Meanwhile `/healthz` is polled every 100 ms
//! and every failed probe is counted. The nodes are stopped at the end; the
//! data stays in `--dir`: delete it.

use anyhow::{bail, Context, Result};
use clap::Parser;
use ferry_client::{AdminClient, PartitionClient};
use ferry_common::records::{ProduceRecord, ProduceRequest};
use ferry_common::ErrorCode;
use ferry_local_cluster::layout::{ClusterSpec, DataRoots};
use ferry_local_cluster::{LocalCluster, NodeState};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

#[derive(Parser)]
#[command(about = "Time broker start-up over many partitions and much data")]
struct Cli {
    /// Cluster directory (laid out on first use, reused after).
    #[arg(long)]
    dir: PathBuf,
    /// Where ferry-broker and ferry-controller are.
    #[arg(long, default_value = "target/release")]
    bin_dir: PathBuf,
    #[arg(long, default_value_t = 17000)]
    base_port: u16,
    /// Partitions in total (RF 1), over topics of at most `--per-topic`.
    #[arg(long, default_value_t = 1000)]
    partitions: u32,
    #[arg(long, default_value_t = 1000)]
    per_topic: u32,
    /// Bytes of record values to write to each partition (0: none).
    #[arg(long, default_value_t = 10 << 20)]
    bytes_per_partition: u64,
    #[arg(long, default_value_t = 2 << 20)]
    segment_bytes: u64,
    #[arg(long, default_value_t = 1000)]
    record_size: usize,
    #[arg(long, default_value_t = 500)]
    batch: usize,
    /// Produce requests in flight while filling.
    #[arg(long, default_value_t = 8)]
    concurrency: usize,
    /// Restarts to time.
    #[arg(long, default_value_t = 3)]
    trials: usize,
    /// Extra controller settings, `KEY=VALUE` (TOML values), repeatable;
    /// e.g. `max_replicas_per_broker=25000` for 20,000 replicas on one broker.
    #[arg(long = "controller-setting", value_parser = key_value)]
    controller_settings: Vec<(String, String)>,
    /// Extra broker settings, `KEY=VALUE` (TOML values), repeatable.
    #[arg(long = "broker-setting", value_parser = key_value)]
    broker_settings: Vec<(String, String)>,
}

fn key_value(s: &str) -> Result<(String, String), String> {
    s.split_once('=')
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .ok_or_else(|| format!("expected KEY=VALUE, got {s}"))
}

const BROKER: &str = "broker-1";

#[tokio::main]
async fn main() -> Result<()> {
    let cli = Cli::parse();
    let cluster = if cli.dir.join("cluster.json").exists() {
        LocalCluster::open(&cli.dir)?
    } else {
        let mut broker_settings = vec![
            // One broker holds every leader: there is nowhere to move them.
            (
                "controlled_shutdown_timeout_ms".to_string(),
                "1000".to_string(),
            ),
        ];
        broker_settings.extend(cli.broker_settings.iter().cloned());
        LocalCluster::create(
            &cli.dir,
            ClusterSpec {
                controllers: 1,
                brokers: 1,
                base_port: cli.base_port,
                bin_dir: cli.bin_dir.canonicalize().context("--bin-dir")?,
                controller_settings: cli.controller_settings.clone(),
                broker_settings,
                data_roots: DataRoots::default(),
                tls: false,
            },
        )?
    };
    let up = Instant::now();
    cluster.up(Duration::from_secs(600)).await?;
    println!("cluster up in {:?}", up.elapsed());
    let health = Health::start(format!("{}/healthz", cluster.node(BROKER)?.url()));
    let topics = create_topics(&cluster, &cli).await?;
    println!(
        "{} partitions over {} topics; after creation: {}",
        cli.partitions,
        topics.len(),
        sample(&cluster)?
    );
    if cli.bytes_per_partition > 0 {
        fill(&cluster, &cli, &topics).await?;
    }
    println!("before the first restart: {}", sample(&cluster)?);
    for trial in 0..cli.trials {
        let stop = Instant::now();
        cluster.stop(BROKER)?;
        let stopped = stop.elapsed();
        let start = Instant::now();
        cluster.start(BROKER)?;
        let s = watch_start(&cluster, start).await?;
        let serving = all_serving(&cluster, &topics, start).await?;
        println!(
            "trial {trial}: clean stop {stopped:?}, start-up: first /healthz 200 after {:?}, \
             /readyz 200 after {:?}, every partition answering after {serving:?}, \
             /healthz failures after the first 200: {}, peak fds {}; {}",
            s.healthy,
            s.ready,
            s.health_failures,
            s.peak_fds,
            sample(&cluster)?
        );
    }
    let (probes, failed) = health.stop().await;
    println!("/healthz probes during the run: {probes}, failed: {failed}");
    // Left running, the nodes would hold the ports of the next run.
    cluster.down()
}

/// What one start-up looked like from outside.
struct StartUp {
    healthy: Duration,
    ready: Duration,
    /// `/healthz` probes that failed once one had answered 200.
    health_failures: u64,
    /// Most descriptors seen open while starting.
    peak_fds: usize,
}

/// Polls `/healthz`, `/readyz` and the fd count every 20 ms until ready.
async fn watch_start(cluster: &LocalCluster, start: Instant) -> Result<StartUp> {
    let url = cluster.node(BROKER)?.url();
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(2))
        .build()?;
    let ok = |path: &'static str| {
        let (http, url) = (&http, &url);
        async move {
            http.get(format!("{url}{path}"))
                .send()
                .await
                .is_ok_and(|r| r.status().is_success())
        }
    };
    let (mut healthy, mut health_failures, mut peak_fds) = (None, 0, 0);
    loop {
        if start.elapsed() > Duration::from_secs(1800) {
            bail!("{BROKER} not ready within 1800 s");
        }
        if let NodeState::Running(pid) = cluster.state(BROKER)? {
            if let Ok(d) = std::fs::read_dir(format!("/proc/{pid}/fd")) {
                peak_fds = peak_fds.max(d.count());
            }
        }
        if ok("/healthz").await {
            healthy.get_or_insert(start.elapsed());
        } else if healthy.is_some() {
            health_failures += 1;
        }
        if ok("/readyz").await {
            return Ok(StartUp {
                healthy: healthy.unwrap_or_else(|| start.elapsed()),
                ready: start.elapsed(),
                health_failures,
                peak_fds,
            });
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Time from `start` until every partition answers its offsets (its
/// replica is open): what start-up means for clients, whatever `/readyz` says.
async fn all_serving(
    cluster: &LocalCluster,
    topics: &[(String, u32)],
    start: Instant,
) -> Result<Duration> {
    let client = PartitionClient::new(cluster.broker_urls(), Duration::from_secs(30));
    for (topic, n) in topics {
        for p in 0..*n {
            retrying(|| client.offsets(topic, p)).await?;
        }
    }
    Ok(start.elapsed())
}

/// The broker process's open descriptors and RSS.
fn sample(cluster: &LocalCluster) -> Result<String> {
    let NodeState::Running(pid) = cluster.state(BROKER)? else {
        bail!("{BROKER} is not running");
    };
    let fds = std::fs::read_dir(format!("/proc/{pid}/fd"))?.count();
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    let rss = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .map_or("?".to_string(), |v| v.trim().to_string());
    Ok(format!("open fds {fds}, RSS {rss}"))
}

async fn create_topics(cluster: &LocalCluster, cli: &Cli) -> Result<Vec<(String, u32)>> {
    let admin = AdminClient::new(cluster.controller_urls());
    let max_message = (cli.batch * (cli.record_size + 64) + 4096).max(1_048_588);
    let (seg, max) = (cli.segment_bytes.to_string(), max_message.to_string());
    let mut topics = Vec::new();
    let mut left = cli.partitions;
    while left > 0 {
        let n = left.min(cli.per_topic.max(1));
        let name = format!("startup-{}", topics.len());
        let configs = [
            ("segment.bytes", seg.as_str()),
            ("max.message.bytes", max.as_str()),
            // The fill is not what is measured; a clean stop flushes it.
            ("write.caching", "true"),
        ];
        match admin.create_topic(&name, n, 1, configs).await {
            Ok(_) => {}
            Err(e) if e.code() == Some(ErrorCode::TopicAlreadyExists) => {}
            Err(e) => bail!("creating {name}: {e}"),
        }
        topics.push((name, n));
        left -= n;
    }
    let client = PartitionClient::new(cluster.broker_urls(), Duration::from_secs(60));
    for (name, _) in &topics {
        let deadline = Instant::now() + Duration::from_secs(600);
        while client.leaders(name).await.ok().flatten().is_none() {
            if Instant::now() > deadline {
                bail!("{name} has no leaders after 600 s");
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
    Ok(topics)
}

/// Writes `bytes_per_partition` to every partition that holds less.
async fn fill(cluster: &LocalCluster, cli: &Cli, topics: &[(String, u32)]) -> Result<()> {
    let client = Arc::new(PartitionClient::new(
        cluster.broker_urls(),
        Duration::from_secs(120),
    ));
    let records_each = cli.bytes_per_partition.div_ceil(cli.record_size as u64);
    let value = "x".repeat(cli.record_size);
    let mut work = Vec::new();
    for (topic, n) in topics {
        for p in 0..*n {
            let have = retrying(|| client.offsets(topic, p)).await?.log_end_offset;
            if have < records_each {
                work.push((topic.clone(), p, records_each - have));
            }
        }
    }
    let total: u64 = work.iter().map(|w| w.2).sum();
    println!("filling {} partitions with {total} records", work.len());
    let started = Instant::now();
    let work = Arc::new(std::sync::Mutex::new(work));
    let written = Arc::new(AtomicU64::new(0));
    let mut tasks = Vec::new();
    for _ in 0..cli.concurrency.max(1) {
        let (client, work, written, value) =
            (client.clone(), work.clone(), written.clone(), value.clone());
        let batch = cli.batch as u64;
        tasks.push(tokio::spawn(async move {
            loop {
                let next = work.lock().unwrap_or_else(|p| p.into_inner()).pop();
                let Some((topic, p, mut left)) = next else {
                    return Ok::<(), anyhow::Error>(());
                };
                while left > 0 {
                    let n = left.min(batch);
                    let req = ProduceRequest {
                        records: (0..n)
                            .map(|_| ProduceRecord {
                                value: Some(serde_json::Value::String(value.clone())),
                                ..Default::default()
                            })
                            .collect(),
                        acks: Some(serde_json::json!("1")),
                        timeout_ms: None,
                        leader_epoch: None,
                        producer_id: None,
                        producer_epoch: None,
                        base_sequence: None,
                    };
                    retrying(|| client.produce(&topic, p, &req))
                        .await
                        .with_context(|| format!("producing to {topic}/{p}"))?;
                    left -= n;
                    written.fetch_add(n, Ordering::Relaxed);
                }
            }
        }));
    }
    for t in tasks {
        t.await??;
    }
    let secs = started.elapsed().as_secs_f64();
    let n = written.load(Ordering::Relaxed);
    println!(
        "filled {n} records in {secs:.1} s ({:.1} MB/s)",
        (n * cli.record_size as u64) as f64 / secs / 1e6
    );
    Ok(())
}

/// Retries a call while it fails retriably (replicas still opening), for up to 1800 s.
async fn retrying<T, F, Fut>(mut call: F) -> Result<T>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, ferry_client::FerryError>>,
{
    let deadline = Instant::now() + Duration::from_secs(1800);
    loop {
        match call().await {
            Ok(v) => return Ok(v),
            Err(e) if e.is_retriable() && Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            Err(e) => return Err(e.into()),
        }
    }
}

/// Polls `/healthz` every 100 ms; counts probes and failures.
struct Health {
    probes: Arc<AtomicU64>,
    failed: Arc<AtomicU64>,
    task: tokio::task::JoinHandle<()>,
}

impl Health {
    fn start(url: String) -> Health {
        let (probes, failed) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
        let (p, f) = (probes.clone(), failed.clone());
        let task = tokio::spawn(async move {
            let http = reqwest::Client::builder()
                .timeout(Duration::from_secs(2))
                .build()
                .unwrap_or_default();
            loop {
                tokio::time::sleep(Duration::from_millis(100)).await;
                p.fetch_add(1, Ordering::Relaxed);
                let ok = http
                    .get(&url)
                    .send()
                    .await
                    .is_ok_and(|r| r.status().is_success());
                if !ok {
                    f.fetch_add(1, Ordering::Relaxed);
                }
            }
        });
        Health {
            probes,
            failed,
            task,
        }
    }

    /// Probes and failures so far. A probe while the broker is restarting
    /// fails too; those are expected (the process is down).
    async fn stop(self) -> (u64, u64) {
        self.task.abort();
        let _ = self.task.await;
        (
            self.probes.load(Ordering::Relaxed),
            self.failed.load(Ordering::Relaxed),
        )
    }
}
