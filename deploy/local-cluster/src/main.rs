//! `ferry-local`: run a Ferry cluster as local processes on loopback.

use anyhow::{bail, Context, Result};
use clap::{Parser, Subcommand};
use ferry_local_cluster::{ClusterSpec, LocalCluster, NodeKind, NodeState};
use std::path::{Path, PathBuf};
use std::time::Duration;

#[derive(Parser)]
#[command(
    name = "ferry-local",
    version,
    about = "Run a Ferry cluster as local processes"
)]
struct Cli {
    /// Directory for data, logs, configs and pid files.
    #[arg(long, global = true, default_value = ".ferry-local")]
    dir: PathBuf,
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Start the cluster (controllers on 127.0.0.1:7101.., brokers on :7201..) and wait until ready.
    Up {
        #[arg(long, default_value_t = 3)]
        controllers: usize,
        #[arg(long, default_value_t = 3)]
        brokers: usize,
        /// Controllers listen on BASE+1.., brokers on BASE+101...
        #[arg(long, default_value_t = 7100)]
        base_port: u16,
        /// Extra controller setting, e.g. `--set broker_session_timeout_ms=3000`
        /// or `--set raft.snapshot_every_entries=100` (repeatable).
        #[arg(long = "set", value_name = "KEY=VALUE")]
        settings: Vec<String>,
        /// Extra broker setting, e.g. `--broker-set flush_on_append=true` (repeatable).
        #[arg(long = "broker-set", value_name = "KEY=VALUE")]
        broker_settings: Vec<String>,
        /// Seconds to wait for readiness.
        #[arg(long, default_value_t = 60)]
        timeout: u64,
        /// Serve TLS on every node: a throwaway CA and node certificates are
        /// made in DIR/tls on first start (clients need DIR/tls/ca.pem).
        #[arg(long)]
        tls: bool,
    },
    /// Show every node, its URL, process state and (for controllers) Raft role.
    Status,
    /// SIGKILL a node.
    Kill { name: String },
    /// SIGTERM a node (graceful stop).
    Stop { name: String },
    /// Start a stopped node and wait until it is ready.
    Start {
        name: String,
        #[arg(long, default_value_t = 60)]
        timeout: u64,
    },
    /// SIGSTOP a node.
    Pause { name: String },
    /// SIGCONT a paused node.
    Resume { name: String },
    /// Stop every node (data is kept in --dir).
    Down,
}

#[tokio::main]
async fn main() -> Result<()> {
    let cli = Cli::parse();
    match cli.cmd {
        Cmd::Up {
            controllers,
            brokers,
            base_port,
            settings,
            broker_settings,
            timeout,
            tls,
        } => {
            check_existing(&cli.dir, controllers)?;
            let spec = ClusterSpec {
                controllers,
                brokers,
                base_port,
                bin_dir: bin_dir()?,
                controller_settings: parse_settings(&settings)?,
                broker_settings: parse_settings(&broker_settings)?,
                data_roots: Default::default(),
                tls,
            };
            let cluster = LocalCluster::create(&cli.dir, spec)?;
            cluster.up(Duration::from_secs(timeout)).await?;
            println!(
                "Ferry cluster is up ({controllers} controllers, {brokers} brokers) in {}",
                cluster.layout().dir.display()
            );
            print_status(&cluster).await?;
            let curl = match cluster.ca_file() {
                Some(ca) => {
                    println!("\nTLS is on; clients must trust the CA {}", ca.display());
                    println!(
                        "     ferry --bootstrap {} --ca-file {} cluster status",
                        cluster.controller_urls().join(","),
                        ca.display()
                    );
                    format!("curl -s --cacert {}", ca.display())
                }
                None => "curl -s".to_string(),
            };
            println!("\nTry: {curl} {}/v1/cluster", cluster.controller_urls()[0]);
            if let Some(b) = cluster.broker_urls().first() {
                println!("     {curl} {b}/v1/metadata");
            }
        }
        Cmd::Status => print_status(&LocalCluster::open(&cli.dir)?).await?,
        Cmd::Kill { name } => {
            LocalCluster::open(&cli.dir)?.kill(&name)?;
            println!("{name} killed (SIGKILL)");
        }
        Cmd::Stop { name } => {
            LocalCluster::open(&cli.dir)?.stop(&name)?;
            println!("{name} stopped");
        }
        Cmd::Start { name, timeout } => {
            let c = LocalCluster::open(&cli.dir)?;
            c.start(&name)?;
            c.wait_ready(&name, Duration::from_secs(timeout)).await?;
            println!("{name} started at {}", c.node(&name)?.url());
        }
        Cmd::Pause { name } => {
            LocalCluster::open(&cli.dir)?.pause(&name)?;
            println!("{name} paused (SIGSTOP)");
        }
        Cmd::Resume { name } => {
            LocalCluster::open(&cli.dir)?.resume(&name)?;
            println!("{name} resumed (SIGCONT)");
        }
        Cmd::Down => {
            LocalCluster::open(&cli.dir)?.down()?;
            println!("all nodes stopped; data kept in {}", cli.dir.display());
        }
    }
    Ok(())
}

/// The binaries sit next to `ferry-local` (same cargo target dir).
fn bin_dir() -> Result<PathBuf> {
    let exe = std::env::current_exe().context("locating ferry-local")?;
    Ok(exe.parent().map(Path::to_path_buf).unwrap_or_default())
}

fn parse_settings(raw: &[String]) -> Result<Vec<(String, String)>> {
    raw.iter()
        .map(|s| {
            let (k, v) = s
                .split_once('=')
                .with_context(|| format!("--set '{s}' is not KEY=VALUE"))?;
            Ok((k.trim().to_string(), v.trim().to_string()))
        })
        .collect()
}

/// A different quorum size over existing Raft data would not form a quorum.
fn check_existing(dir: &Path, controllers: usize) -> Result<()> {
    if let Ok(existing) = LocalCluster::open(dir) {
        let had = existing.controllers().count();
        if had != controllers {
            bail!(
                "{} holds a cluster with {had} controllers; run `ferry-local down` and delete it, or use another --dir",
                dir.display()
            );
        }
    }
    Ok(())
}

async fn print_status(cluster: &LocalCluster) -> Result<()> {
    let client = cluster.probe_client();
    println!(
        "{:<14} {:<24} {:<9} {:<8} ROLE",
        "NAME", "URL", "STATE", "PID"
    );
    for n in &cluster.layout().nodes {
        let (state, pid) = match cluster.state(&n.name)? {
            NodeState::Running(p) => ("running", p.to_string()),
            NodeState::Paused(p) => ("paused", p.to_string()),
            NodeState::Stopped => ("stopped", "-".into()),
        };
        let role = match (state, n.kind) {
            ("running", NodeKind::Controller) => role_of(client, &n.url(), n.id).await,
            ("running", NodeKind::Broker) => broker_state(client, &n.url()).await,
            _ => "-".into(),
        };
        println!(
            "{:<14} {:<24} {:<9} {:<8} {role}",
            n.name,
            n.url(),
            state,
            pid
        );
    }
    Ok(())
}

async fn broker_state(client: &reqwest::Client, url: &str) -> String {
    match client
        .get(format!("{url}/readyz"))
        .timeout(Duration::from_secs(1))
        .send()
        .await
    {
        Ok(r) if r.status().is_success() => "broker (ready)".into(),
        Ok(_) => "broker (fenced or catching up)".into(),
        Err(_) => "unreachable".into(),
    }
}

async fn role_of(client: &reqwest::Client, url: &str, id: u64) -> String {
    let res = client
        .get(format!("{url}/v1/cluster"))
        .timeout(Duration::from_secs(1))
        .send()
        .await;
    let Ok(body) = res else {
        return "unreachable".into();
    };
    let Ok(v) = body.json::<serde_json::Value>().await else {
        return "?".into();
    };
    match v.get("leader_id").and_then(|l| l.as_u64()) {
        Some(l) if l == id => format!("leader (term {})", v["term"]),
        Some(l) => format!("follower of {l}"),
        None => "no leader".into(),
    }
}
