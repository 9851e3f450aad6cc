//! `ferry-nemesis`: a Jepsen-style fault checker for a Ferry build.
//!
//! Starts a local cluster (3 controllers, 3 brokers) from the binaries in
//! `--bin-dir`, runs idempotent acks=all producers and a consumer group on an
//! RF 3 topic with `min.insync.replicas` 2, injects a seeded schedule of
//! faults for `--duration`, heals everything, then checks the history and
//! prints a table; the exit code is 0 with no violation, 1 with violations,
//! 2 when the run itself failed.
//!
//! - [`rng`]: the seeded generator behind the schedule.
//! - [`net`]: cgroup + iptables isolation of one node on loopback.
//! - [`view`]: leaders, ISRs, replica offsets through public endpoints.
//! - [`load`]: producers, consumers, committed-offset sampler; the history.
//! - [`faults`]: the schedule and each fault.
//! - [`check`]: the checks and the table.

mod check;
mod faults;
mod load;
mod net;
mod rng;
mod view;

use anyhow::{Context, Result};
use clap::Parser;
use ferry_local_cluster::{ClusterSpec, LocalCluster};
use ferry_test_cluster::PortBlock;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Controller setting: brokers missing heartbeats this long are fenced.
const SESSION_MS: u64 = 3_000;
const CONTROLLERS: usize = 3;
const BROKERS: usize = 3;
const RF: usize = 3;

#[derive(Parser, Debug)]
#[command(about = "Run a seeded fault schedule against a local Ferry cluster and check it")]
struct Args {
    /// Directory holding the `ferry-controller` and `ferry-broker` binaries.
    #[arg(long)]
    bin_dir: PathBuf,
    /// Seed of the fault schedule (default: from the clock; printed either way).
    #[arg(long)]
    seed: Option<u64>,
    /// How long to inject faults, in seconds.
    #[arg(long, default_value_t = 180)]
    duration: u64,
    #[arg(long, default_value_t = 4)]
    partitions: u32,
    #[arg(long, default_value_t = 2)]
    producers: usize,
    #[arg(long, default_value_t = 2)]
    consumers: usize,
    /// Records per second per producer.
    #[arg(long, default_value_t = 150)]
    rate: u32,
    /// Seconds the cluster gets after the schedule to have every ISR full.
    #[arg(long, default_value_t = 120)]
    heal_timeout: u64,
    /// Leave out network isolation (it needs root, iptables and cgroup v2).
    #[arg(long)]
    no_isolation: bool,
    /// Only these faults, comma-separated (default: all; an unknown name lists them).
    #[arg(long, value_delimiter = ',')]
    faults: Vec<String>,
    /// Keep the cluster directory (configs, data, logs) even when all checks pass.
    #[arg(long)]
    keep: bool,
}

fn main() {
    let args = Args::parse();
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("ferry-nemesis: starting the runtime: {e}");
            std::process::exit(2);
        }
    };
    let code = runtime.block_on(async {
        match run(args).await {
            Ok(violations) => i32::from(violations > 0),
            Err(e) => {
                eprintln!("ferry-nemesis: {e:#}");
                2
            }
        }
    });
    std::process::exit(code);
}

async fn run(args: Args) -> Result<usize> {
    let bin_dir = args
        .bin_dir
        .canonicalize()
        .with_context(|| format!("--bin-dir {}", args.bin_dir.display()))?;
    let kinds = faults::Kind::select(&args.faults)?;
    let seed = args.seed.unwrap_or_else(clock_seed);
    println!("ferry-nemesis: seed {seed} (--seed {seed} repeats the schedule)");
    let offsets: Vec<u16> = (1..=CONTROLLERS as u16)
        .chain((1..=BROKERS as u16).map(|i| 100 + i))
        .collect();
    let ports = PortBlock::reserve(&offsets)?;
    // Drop order (reverse of declaration): cluster (SIGKILL all), net (needs
    // the processes gone to remove the cgroups), then the directory.
    let dir = tempfile::Builder::new()
        .prefix("ferry-nemesis-")
        .tempdir()?;
    let mut net = None;
    let spec = ClusterSpec {
        controllers: CONTROLLERS,
        brokers: BROKERS,
        base_port: ports.base(),
        bin_dir,
        controller_settings: owned(&[
            ("broker_session_timeout_ms", &SESSION_MS.to_string()),
            ("leader_rebalance_interval_ms", "2000"),
        ]),
        broker_settings: owned(&[
            ("heartbeat_interval_ms", "500"),
            ("replica_lag_time_max_ms", "3000"),
        ]),
        data_roots: Default::default(),
        tls: false,
    };
    let mut cluster = LocalCluster::create(dir.path(), spec)?.kill_on_drop();
    if !args.no_isolation {
        let n = net.insert(net::Net::setup(ports.base(), &cluster.layout().nodes)?);
        cluster = cluster.with_cgroups(n.cgroup_root().to_path_buf());
    }
    println!("ferry-nemesis: cluster in {}", dir.path().display());
    let outcome = tokio::select! {
        r = check_run(&args, seed, kinds, &cluster, net.as_mut()) => r,
        _ = tokio::signal::ctrl_c() => Err(anyhow::anyhow!("interrupted")),
    };
    let keep = args.keep || !matches!(outcome, Ok(0));
    drop(cluster);
    drop(net);
    if keep {
        println!(
            "ferry-nemesis: cluster files kept in {}",
            dir.keep().display()
        );
    }
    outcome
}

/// Brings the cluster up, runs load and faults, heals, checks, prints.
async fn check_run(
    args: &Args,
    seed: u64,
    kinds: Vec<faults::Kind>,
    cluster: &LocalCluster,
    mut net: Option<&mut net::Net>,
) -> Result<usize> {
    let topic = "nemesis".to_string();
    cluster.up(Duration::from_secs(60)).await?;
    let admin = view::admin(cluster);
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        match admin
            .create_topic(
                &topic,
                args.partitions,
                RF as u16,
                [("min.insync.replicas", "2")],
            )
            .await
        {
            Ok(_) => break,
            Err(e) if Instant::now() > deadline => return Err(e).context("creating the topic"),
            Err(_) => tokio::time::sleep(Duration::from_millis(500)).await,
        }
    }
    view::wait_healthy(&admin, &topic, Duration::from_secs(60))
        .await
        .context("the new topic never got full ISRs")?;

    let target = load::Target {
        brokers: cluster.broker_urls(),
        controllers: cluster.controller_urls(),
        topic: topic.clone(),
        partitions: args.partitions,
        group: "ferry-nemesis".into(),
    };
    let history = Arc::new(load::History::default());
    let stop_produce = Arc::new(AtomicBool::new(false));
    let stop_consume = Arc::new(AtomicBool::new(false));
    let started = Instant::now();
    let producers: Vec<_> = (0..args.producers)
        .map(|i| {
            load::spawn_producer(
                i,
                target.clone(),
                args.rate,
                history.clone(),
                stop_produce.clone(),
            )
        })
        .collect();
    let mut consumers: Vec<_> = (0..args.consumers)
        .map(|i| load::spawn_consumer(i, target.clone(), history.clone(), stop_consume.clone()))
        .collect();
    consumers.push(load::spawn_offset_sampler(
        target.clone(),
        history.clone(),
        stop_consume.clone(),
    ));

    let http = reqwest::Client::new();
    let mut nemesis = faults::Nemesis {
        cluster,
        net: net.as_deref_mut(),
        admin: view::admin(cluster),
        http: http.clone(),
        topic: topic.clone(),
        rng: rng::Rng::new(seed),
        session: Duration::from_millis(SESSION_MS),
        kinds,
    };
    let schedule = nemesis.run(Duration::from_secs(args.duration)).await;
    drop(nemesis);
    faults::heal_all(cluster, net).await?;
    let faults = schedule?;
    let ran = started.elapsed();

    let heal_deadline = Duration::from_secs(args.heal_timeout);
    let healed_in = view::wait_healthy(&admin, &topic, heal_deadline).await;
    // Let the last records be acknowledged and consumed, then stop the load.
    stop_produce.store(true, Ordering::Relaxed);
    for p in producers {
        let _ = tokio::time::timeout(Duration::from_secs(90), p).await;
    }
    tokio::time::sleep(Duration::from_secs(3)).await;
    stop_consume.store(true, Ordering::Relaxed);
    for c in consumers {
        let _ = tokio::time::timeout(Duration::from_secs(30), c).await;
    }

    let logs = check::read_back(cluster.broker_urls(), &topic, args.partitions).await?;
    let mut reports = check::analyse(&history.acks(), &history.consumed(), &logs, started);
    let replicas_synced = view::wait_replicas_in_sync(
        cluster,
        &http,
        &topic,
        args.partitions,
        RF,
        Duration::from_secs(60),
    )
    .await;
    cluster.down()?;
    let data_dirs: Vec<PathBuf> = cluster
        .brokers()
        .map(|b| cluster.data_dir(&b.name))
        .collect();
    let dirs: Vec<&std::path::Path> = data_dirs.iter().map(PathBuf::as_path).collect();
    for (p, bytes) in check::divergence(&dirs, &topic, args.partitions) {
        if let Some(r) = reports.iter_mut().find(|r| r.partition == p) {
            r.divergent_bytes = bytes;
        }
    }
    let regressions = history.offset_regressions();
    let summary = check::Summary {
        seed,
        ran,
        faults: &faults,
        partitions: &reports,
        failed_sends: history.failed.load(Ordering::Relaxed),
        consumed: history.consumed().len(),
        commit_samples: history.commit_samples.load(Ordering::Relaxed),
        offset_regressions: &regressions,
        healed_in,
        heal_deadline,
        replicas_synced,
    };
    println!("\n{}", summary.render());
    Ok(summary.violations())
}

fn owned(settings: &[(&str, &str)]) -> Vec<(String, String)> {
    settings
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn clock_seed() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64 % 1_000_000_007)
}
