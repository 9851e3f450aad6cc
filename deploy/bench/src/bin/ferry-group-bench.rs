//! `ferry-group-bench`: consumer-group rebalance time and duplicates, and
//! offset commits per second over many groups, against a running cluster.
//!
//! ```text
//! ferry-group-bench rebalance --brokers http://127.0.0.1:7201 --controllers http://127.0.0.1:7101 --members 30 --partitions 60
//! ferry-group-bench commits   --brokers http://127.0.0.1:7201 --groups 100 --seconds 10
//! ```
//! Rebalance: N SDK consumers share a topic with records in it, commit after
//! every poll (as `ferry consume` does), then one more member joins and one
//! leaves cleanly; each is timed from the join (or leave) until the group is
//! `Stable` again with every partition owned. Duplicates are records
//! delivered to more than one member. Commits: one standalone commit at a
//! time per group, all groups at once.

use anyhow::{bail, Result};
use clap::{Parser, Subcommand};
use ferry_bench::stats::percentile;
use ferry_client::{
    AdminClient, Consumer, GroupAdminClient, OffsetReset, Producer, ProducerConfig,
};
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

#[derive(Parser)]
#[command(about = "Benchmark Ferry's consumer groups")]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Time a join and a clean leave in a group of `members` over `partitions`.
    Rebalance {
        #[arg(long, default_value = "http://127.0.0.1:7201")]
        brokers: String,
        #[arg(long, default_value = "http://127.0.0.1:7101")]
        controllers: String,
        #[arg(long, default_value_t = 3)]
        members: usize,
        #[arg(long, default_value_t = 60)]
        partitions: u32,
        #[arg(long, default_value_t = 6000)]
        records: usize,
    },
    /// Standalone commits over `groups` groups for `seconds`; report commits/s.
    Commits {
        #[arg(long, default_value = "http://127.0.0.1:7201")]
        brokers: String,
        #[arg(long, default_value = "http://127.0.0.1:7101")]
        controllers: String,
        #[arg(long, default_value_t = 100)]
        groups: usize,
        #[arg(long, default_value_t = 10)]
        seconds: u64,
    },
}

type Seen = Arc<Mutex<BTreeMap<(u32, u64), usize>>>;

/// A member polling and committing in its own task until `stop`.
fn member(
    brokers: Vec<String>,
    group: String,
    topic: String,
    seen: Seen,
    stop: Arc<AtomicBool>,
) -> tokio::task::JoinHandle<Result<()>> {
    tokio::spawn(async move {
        let mut c = Consumer::new(brokers, OffsetReset::Earliest);
        c.subscribe(&group, &[topic.as_str()], Duration::from_secs(10))
            .await?;
        while !stop.load(Ordering::SeqCst) {
            let records = c.poll(Duration::from_millis(200)).await?;
            {
                let mut s = seen.lock().unwrap_or_else(|p| p.into_inner());
                for r in &records {
                    *s.entry((r.partition, r.offset)).or_insert(0) += 1;
                }
            }
            if let Err(e) = c.commit().await {
                eprintln!("commit failed: {e}");
            }
            // Slow readers, so records are still flowing during the rebalances.
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        c.close().await?;
        Ok(())
    })
}

/// Waits until the group is Stable with `n` members and all partitions owned.
async fn settle(
    admin: &GroupAdminClient,
    group: &str,
    n: usize,
    partitions: u32,
) -> Result<Duration> {
    let start = Instant::now();
    loop {
        if let Ok(d) = admin.describe_group(group).await {
            let owned: usize = d.members.iter().map(|m| m.assignment.len()).sum();
            if d.members.len() == n && owned == partitions as usize && d.state == "Stable" {
                return Ok(start.elapsed());
            }
        }
        if start.elapsed() > Duration::from_secs(120) {
            bail!("group {group} did not settle with {n} members");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn dups(seen: &Seen) -> usize {
    let s = seen.lock().unwrap_or_else(|p| p.into_inner());
    s.values().filter(|n| **n > 1).count()
}

async fn rebalance(
    brokers: Vec<String>,
    controllers: Vec<String>,
    n: usize,
    partitions: u32,
    records: usize,
) -> Result<()> {
    let tag = std::process::id();
    let (topic, group) = (format!("rb-{n}-{tag}"), format!("rbg-{n}-{tag}"));
    AdminClient::new(controllers.clone())
        .create_topic(&topic, partitions, 3, [])
        .await?;
    let producer = Producer::connect(ProducerConfig::new(brokers.clone(), controllers)).await?;
    let mut ds = Vec::new();
    for i in 0..records {
        ds.push(
            producer
                .send(&topic, Some(format!("k{i}").into_bytes()), vec![b'x'; 100])
                .await?,
        );
    }
    for d in ds {
        d.await??;
    }
    let admin = GroupAdminClient::new(brokers.clone());
    let seen: Seen = Arc::default();
    let stop = Arc::new(AtomicBool::new(false));
    let start = Instant::now();
    let mut tasks: Vec<_> = (0..n)
        .map(|i| {
            member(
                vec![brokers[i % brokers.len()].clone()],
                group.clone(),
                topic.clone(),
                seen.clone(),
                stop.clone(),
            )
        })
        .collect();
    let first = settle(&admin, &group, n, partitions).await?;
    println!("{n} members, {partitions} partitions: first assignment after {:?} (includes the 3 s initial delay)", first.max(start.elapsed()));
    let before = dups(&seen);
    let late_stop = Arc::new(AtomicBool::new(false));
    let late = member(
        vec![brokers[0].clone()],
        group.clone(),
        topic.clone(),
        seen.clone(),
        late_stop.clone(),
    );
    let join = settle(&admin, &group, n + 1, partitions).await?;
    let after_join = dups(&seen);
    late_stop.store(true, Ordering::SeqCst);
    late.await??;
    let leave = settle(&admin, &group, n, partitions).await?;
    let after_leave = dups(&seen);
    println!(
        "  join:  every partition owned again after {join:?}; duplicates {}",
        after_join - before
    );
    println!(
        "  leave: every partition owned again after {leave:?}; duplicates {}",
        after_leave - after_join
    );
    stop.store(true, Ordering::SeqCst);
    for t in tasks.drain(..) {
        t.await??;
    }
    Ok(())
}

async fn commits(
    brokers: Vec<String>,
    controllers: Vec<String>,
    groups: usize,
    seconds: u64,
) -> Result<()> {
    let tag = std::process::id();
    let topic = format!("cb-{tag}");
    AdminClient::new(controllers)
        .create_topic(&topic, 1, 3, [])
        .await?;
    // The first commits wait for __consumer_offsets and its leaders.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let http = reqwest::Client::new();
    let done = Arc::new(AtomicU64::new(0));
    let until = Instant::now() + Duration::from_secs(seconds);
    let mut tasks = Vec::new();
    for g in 0..groups {
        let (http, done, topic, url) = (
            http.clone(),
            done.clone(),
            topic.clone(),
            format!(
                "{}/v1/groups/cg-{tag}-{g}/offsets",
                brokers[g % brokers.len()]
            ),
        );
        tasks.push(tokio::spawn(async move {
            let mut lat = Vec::new();
            let mut offset = 0u64;
            while Instant::now() < until {
                offset += 1;
                let body = serde_json::json!({"offsets": [{"topic": topic, "partition": 0, "offset": offset}]});
                let t = Instant::now();
                let ok = http.post(&url).json(&body).send().await.is_ok_and(|r| r.status().is_success());
                if ok {
                    lat.push(t.elapsed());
                    done.fetch_add(1, Ordering::Relaxed);
                }
            }
            lat
        }));
    }
    let mut lat = Vec::new();
    for t in tasks {
        lat.extend(t.await?);
    }
    lat.sort();
    let n = done.load(Ordering::Relaxed);
    println!(
        "{groups} groups, {seconds} s: {n} commits, {:.0} commits/s, p50 {:?}, p99 {:?}",
        n as f64 / seconds as f64,
        percentile(&lat, 50.0),
        percentile(&lat, 99.0)
    );
    Ok(())
}

#[tokio::main]
async fn main() -> Result<()> {
    let split = |s: &str| {
        s.split(',')
            .map(|u| u.trim().to_string())
            .collect::<Vec<_>>()
    };
    match Cli::parse().cmd {
        Cmd::Rebalance {
            brokers,
            controllers,
            members,
            partitions,
            records,
        } => {
            rebalance(
                split(&brokers),
                split(&controllers),
                members,
                partitions,
                records,
            )
            .await
        }
        Cmd::Commits {
            brokers,
            controllers,
            groups,
            seconds,
        } => commits(split(&brokers), split(&controllers), groups, seconds).await,
    }
}
