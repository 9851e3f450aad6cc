//! `ferry-fetch-load`: a broker's peak memory and produce latency under the
//! fetch storm of `broker/tests/bounds.rs` (200 concurrent fetches asking for
//! 64 MiB each of a topic filled with 16 MiB of binary values, plus 1,000
//! idle connections), on a fresh one-broker cluster started from the given
//! binaries, so a build of an older commit can be measured the same way.
//!
//! ```text
//! ferry-fetch-load --bin-dir target/release --label after
//! ferry-fetch-load --bin-dir /tmp/before/release --label before
//! ferry-fetch-load --bin-dir target/release --label unbounded \
//!     --broker-set fetch_memory_bytes=1099511627776 --broker-set max_long_polls=1000000000
//! ```
//!
//! The broker's resident set is sampled from `/proc/<pid>/status` (VmRSS)
//! every 20 ms and its VmHWM read at the end. Past `--rss-cap-mib` the broker
//! is killed and the row says so: the machine is shared, and an unbounded
//! broker must not take the others down with it.

use anyhow::{bail, Context, Result};
use base64::Engine;
use clap::Parser;
use ferry_bench::stats::percentile;
use serde_json::json;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

#[derive(Parser)]
#[command(about = "Peak broker RSS and produce latency under a fetch storm")]
struct Cli {
    /// Directory holding ferry-local, ferry-controller and ferry-broker.
    #[arg(long)]
    bin_dir: PathBuf,
    /// Name of this run in the output row.
    #[arg(long, default_value = "run")]
    label: String,
    /// Controllers on BASE+1, the broker on BASE+101.
    #[arg(long, default_value_t = 7700)]
    base_port: u16,
    /// Extra broker setting passed to `ferry-local up --broker-set` (repeatable).
    #[arg(long = "broker-set", value_name = "KEY=VALUE")]
    broker_settings: Vec<String>,
    #[arg(long, default_value_t = 200)]
    fetches: usize,
    #[arg(long, default_value_t = 1000)]
    idle: usize,
    /// Produce requests of 8 records of 64 KiB binary values filling the topic.
    #[arg(long, default_value_t = 32)]
    fill_requests: usize,
    /// Concurrent single-record producers during the storm.
    #[arg(long, default_value_t = 4)]
    producers: usize,
    /// Kill the broker if its resident set passes this.
    #[arg(long, default_value_t = 6144)]
    rss_cap_mib: u64,
}

#[tokio::main]
async fn main() -> Result<()> {
    let cli = Cli::parse();
    let dir = std::env::temp_dir().join(format!(
        "ferry-fetch-load-{}-{}",
        cli.label,
        std::process::id()
    ));
    let local = cli.bin_dir.join("ferry-local");
    let mut up = Command::new(&local);
    up.args(["up", "--controllers", "1", "--brokers", "1", "--base-port"])
        .arg(cli.base_port.to_string())
        .arg("--dir")
        .arg(&dir);
    for s in &cli.broker_settings {
        up.arg("--broker-set").arg(s);
    }
    let status = up
        .stdout(std::process::Stdio::null())
        .status()
        .with_context(|| format!("running {}", local.display()))?;
    let result = if status.success() {
        storm(&cli, &dir).await
    } else {
        Err(anyhow::anyhow!("ferry-local up failed: {status}"))
    };
    let _ = Command::new(&local)
        .args(["down", "--dir"])
        .arg(&dir)
        .stdout(std::process::Stdio::null())
        .status();
    let _ = std::fs::remove_dir_all(&dir);
    let row = result?;
    println!("{row}");
    Ok(())
}

/// The broker's pid from the runner's pid file.
fn broker_pid(dir: &Path) -> Result<u32> {
    let raw = std::fs::read_to_string(dir.join("broker-1.pid")).context("broker-1.pid")?;
    raw.trim().parse().context("parsing broker-1.pid")
}

/// `field` (VmRSS, VmHWM) of `/proc/<pid>/status` in KiB; None once the process is gone.
fn proc_kib(pid: u32, field: &str) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
}

/// Samples VmRSS until told to stop; kills the process past the cap.
fn sampler(
    pid: u32,
    cap_kib: u64,
    peak: Arc<AtomicU64>,
    capped: Arc<AtomicBool>,
    stop: Arc<AtomicBool>,
) {
    while !stop.load(Ordering::Relaxed) {
        match proc_kib(pid, "VmRSS") {
            Some(kib) => {
                peak.fetch_max(kib, Ordering::Relaxed);
                if kib > cap_kib && !capped.swap(true, Ordering::Relaxed) {
                    let _ = Command::new("kill").args(["-9", &pid.to_string()]).status();
                }
            }
            None => return,
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

async fn storm(cli: &Cli, dir: &Path) -> Result<String> {
    let controller = format!("http://127.0.0.1:{}", cli.base_port + 1);
    let broker = format!("http://127.0.0.1:{}", cli.base_port + 101);
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(300))
        .build()?;
    let res = http
        .post(format!("{controller}/v1/topics"))
        .json(&json!({"name": "big", "partitions": 1, "replication_factor": 1}))
        .send()
        .await?;
    if !res.status().is_success() {
        bail!("creating the topic: {} {}", res.status(), res.text().await?);
    }
    let url = format!("{broker}/v1/topics/big/partitions/0/records");
    let value = base64::engine::general_purpose::STANDARD.encode(vec![0xffu8; 64 * 1024]);
    let fill = json!({"records": (0..8).map(|_| json!({"value_b64": value})).collect::<Vec<_>>()});
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut filled = 0;
    while filled < cli.fill_requests {
        let res = http.post(&url).json(&fill).send().await?;
        if res.status().is_success() {
            filled += 1;
        } else if Instant::now() > deadline {
            bail!("filling the topic: {} {}", res.status(), res.text().await?);
        } else {
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
    let pid = broker_pid(dir)?;
    let base_kib = proc_kib(pid, "VmHWM").context("reading the broker's VmHWM")?;

    let addr = broker.trim_start_matches("http://").to_string();
    let mut idle = Vec::with_capacity(cli.idle);
    for _ in 0..cli.idle {
        idle.push(tokio::net::TcpStream::connect(&addr).await?);
    }

    let (peak, capped, stop) = (
        Arc::new(AtomicU64::new(0)),
        Arc::new(AtomicBool::new(false)),
        Arc::new(AtomicBool::new(false)),
    );
    let sampling = {
        let (peak, capped, stop) = (peak.clone(), capped.clone(), stop.clone());
        let cap = cli.rss_cap_mib * 1024;
        std::thread::spawn(move || sampler(pid, cap, peak, capped, stop))
    };
    let started = Instant::now();
    let fetches: Vec<_> = (0..cli.fetches)
        .map(|_| {
            let (http, url) = (http.clone(), url.clone());
            tokio::spawn(async move {
                let res = http
                    .get(format!(
                        "{url}?offset=0&max_bytes=67108864&max_records=100000"
                    ))
                    .send()
                    .await;
                match res {
                    Ok(r) => {
                        let s = r.status().as_u16();
                        let body = r.bytes().await.map(|b| b.len()).unwrap_or(0);
                        (s, body, started.elapsed())
                    }
                    Err(_) => (0, 0, started.elapsed()),
                }
            })
        })
        .collect();
    let storm_on = Arc::new(AtomicBool::new(true));
    let producers: Vec<_> = (0..cli.producers)
        .map(|p| {
            let (http, url, on) = (http.clone(), url.clone(), storm_on.clone());
            tokio::spawn(async move {
                let mut lat = Vec::new();
                let mut failed = Vec::new();
                let mut n = 0;
                while on.load(Ordering::Relaxed) {
                    let t = Instant::now();
                    let body = json!({"records": [{"value": format!("during-{p}-{n}")}]});
                    let sent = http
                        .post(&url)
                        .json(&body)
                        .timeout(Duration::from_secs(30))
                        .send()
                        .await;
                    let failure = match sent {
                        Ok(r) if r.status().is_success() => None,
                        Ok(r) => Some(format!(
                            "{} {}",
                            r.status(),
                            r.text().await.unwrap_or_default()
                        )),
                        Err(e) => Some(format!("{e:?}")),
                    };
                    match failure {
                        None => lat.push(t.elapsed()),
                        Some(why) => {
                            failed.push(format!("after {:?}: {why}", t.elapsed()));
                            tokio::time::sleep(Duration::from_millis(50)).await;
                        }
                    }
                    n += 1;
                }
                (lat, failed)
            })
        })
        .collect();
    let (mut served, mut refused, mut other, mut bytes) = (0usize, 0usize, 0usize, 0u64);
    let mut storm_time = Duration::ZERO;
    for f in fetches {
        let (status, body, at) = f.await?;
        storm_time = storm_time.max(at);
        bytes += body as u64;
        match status {
            200 => served += 1,
            503 => refused += 1,
            _ => other += 1,
        }
    }
    storm_on.store(false, Ordering::Relaxed);
    let (mut lat, mut failures) = (Vec::new(), Vec::new());
    for p in producers {
        let (l, f) = p.await?;
        lat.extend(l);
        failures.extend(f);
    }
    // Why produce failed, for the reader of the row (stderr keeps the table clean).
    for f in &failures {
        eprintln!("{}: produce failed {f}", cli.label);
    }
    let failed = failures.len();
    lat.sort();
    let hwm_kib = proc_kib(pid, "VmHWM");
    let alive = hwm_kib.is_some() && !capped.load(Ordering::Relaxed);
    stop.store(true, Ordering::Relaxed);
    let _ = sampling.join();
    drop(idle);
    let mib = |kib: u64| kib / 1024;
    let peak_text = match hwm_kib {
        Some(h) if alive => format!("{}", mib(h)),
        _ => format!(
            "> {} (killed at the cap)",
            mib(peak.load(Ordering::Relaxed))
        ),
    };
    Ok(format!(
        "| {} | {} | {} / {} / {} | {:.1} | {} | {} | {} | {} / {} | {:.1} | {:.1} | {:.1} |",
        cli.label,
        cli.fetches,
        served,
        refused,
        other,
        storm_time.as_secs_f64(),
        bytes >> 20,
        mib(base_kib),
        peak_text,
        lat.len(),
        failed,
        ms(percentile(&lat, 50.0)),
        ms(percentile(&lat, 99.0)),
        ms(lat.last().copied().unwrap_or_default()),
    ))
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}
