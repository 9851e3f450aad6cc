//! `ferry-group-bench`: consumer-group rebalance time and duplicates, and
//! offset commits per second over many groups, against a running cluster.
//!
//! ```text
//! ferry-group-bench rebalance --brokers http://127.0.0.1:7201 --controllers http://127.0.0.1:7101 --members 30 --partitions 60
//! ferry-group-bench commits   --brokers http://127.0.0.1:7201 --groups 100 --seconds 10
//! ferry-group-bench failover  --dir .ferry-local --members 3 --partitions 6 --trials 5
//! ```
//! Rebalance: N SDK consumers share a topic with records in it, commit after
//! every poll (as `ferry consume` does), then one more member joins and one
//! leaves cleanly; each is timed from the join (or leave) until the group is
//! `Stable` again with every partition owned. Duplicates are records
//! delivered to more than one member. Commits: one standalone commit at a
//! time per group, all groups at once. Failover (a `ferry-local` cluster):
//! SIGKILL the broker coordinating a group of committing members, timed
//! until every member's heartbeat is answered again; whether the members
//! kept their ids, epochs and partitions; then restart it and repeat.

use anyhow::{bail, Result};
use clap::{Parser, Subcommand};
use ferry_bench::stats::percentile;
use ferry_client::{
    AdminClient, Consumer, GroupAdminClient, OffsetReset, Producer, ProducerConfig,
};
use ferry_common::groups::GroupDescription;
use ferry_local_cluster::LocalCluster;
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
    /// SIGKILL the coordinator of a group of `members`; time until every member heartbeats again.
    Failover {
        #[arg(long, default_value = ".ferry-local")]
        dir: std::path::PathBuf,
        #[arg(long, default_value_t = 3)]
        members: usize,
        #[arg(long, default_value_t = 6)]
        partitions: u32,
        #[arg(long, default_value_t = 5)]
        trials: usize,
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
        Cmd::Failover {
            dir,
            members,
            partitions,
            trials,
        } => failover(&dir, members, partitions, trials).await,
    }
}

/// Every heartbeat answer a failover-bench member saw, and its membership.
#[derive(Default)]
struct Beats {
    answered: Vec<Instant>,
    membership: Option<(String, u32, u32)>,
}

type SharedBeats = Arc<Mutex<Beats>>;

/// A member polling and committing until `stop`, noting its heartbeats.
fn beating_member(
    brokers: Vec<String>,
    group: String,
    topic: String,
    beats: SharedBeats,
    stop: Arc<AtomicBool>,
) -> tokio::task::JoinHandle<Result<()>> {
    tokio::spawn(async move {
        let mut c = Consumer::new(brokers, OffsetReset::Earliest);
        c.heartbeat_interval = Duration::from_millis(200);
        c.subscribe(&group, &[topic.as_str()], Duration::from_secs(10))
            .await?;
        while !stop.load(Ordering::SeqCst) {
            // Commits in the background: a commit retrying through the
            // failover must not hold up noting the heartbeats.
            if let Ok(records) = c.poll(Duration::from_millis(50)).await {
                if !records.is_empty() {
                    drop(c.commit_async());
                }
            }
            let mut b = beats.lock().unwrap_or_else(|p| p.into_inner());
            if let Some(t) = c.last_heartbeat() {
                if b.answered.last() != Some(&t) {
                    b.answered.push(t);
                }
            }
            b.membership = c.membership();
        }
        c.close().await?;
        Ok(())
    })
}

fn member_map(d: &GroupDescription) -> BTreeMap<String, (u32, Vec<u32>)> {
    d.members
        .iter()
        .map(|m| {
            let parts = m.assignment.iter().map(|tp| tp.partition).collect();
            (m.member_id.clone(), (m.member_epoch, parts))
        })
        .collect()
}

async fn failover(dir: &std::path::Path, n: usize, partitions: u32, trials: usize) -> Result<()> {
    let cluster = LocalCluster::open(dir)?;
    let (brokers, controllers) = (cluster.broker_urls(), cluster.controller_urls());
    let tag = std::process::id();
    let (topic, group) = (format!("fo-{tag}"), format!("fog-{tag}"));
    let admin = AdminClient::new(controllers.clone());
    admin.create_topic(&topic, partitions, 3, []).await?;
    let producer = Producer::connect(ProducerConfig::new(brokers.clone(), controllers)).await?;
    let mut sent = Vec::new();
    for i in 0..1000 {
        let key = Some(format!("k{i}").into_bytes());
        sent.push(producer.send(&topic, key, vec![b'x'; 100]).await?);
    }
    for d in sent {
        d.await??;
    }
    let stop = Arc::new(AtomicBool::new(false));
    let beats: Vec<SharedBeats> = (0..n).map(|_| SharedBeats::default()).collect();
    let tasks: Vec<_> = beats
        .iter()
        .map(|b| {
            beating_member(
                brokers.clone(),
                group.clone(),
                topic.clone(),
                b.clone(),
                stop.clone(),
            )
        })
        .collect();
    let groups = GroupAdminClient::new(brokers.clone());
    settle(&groups, &group, n, partitions).await?;
    let mut times = Vec::new();
    for trial in 0..trials {
        let offsets = admin.describe_topic("__consumer_offsets").await?;
        let p = ferry_common::partitioner::partition_for_key(
            group.as_bytes(),
            offsets.partitions.len() as u32,
        );
        let leader = offsets.partitions.get(p as usize).and_then(|p| p.leader);
        let Some(node) = cluster
            .brokers()
            .find(|b| leader.is_some_and(|l| b.id == u64::from(l.0)))
        else {
            bail!("the coordinator of {group} is not part of this cluster");
        };
        let (name, url) = (node.name.clone(), node.url());
        let survivors =
            GroupAdminClient::new(brokers.iter().filter(|b| **b != url).cloned().collect());
        let before = member_map(&survivors.describe_group(&group).await?);
        cluster.kill(&name)?;
        let killed = Instant::now();
        let deadline = killed + Duration::from_secs(60);
        let first_after = |b: &SharedBeats| {
            let b = b.lock().unwrap_or_else(|p| p.into_inner());
            b.answered.iter().find(|t| **t > killed).copied()
        };
        let back = loop {
            let firsts: Vec<Option<Instant>> = beats.iter().map(first_after).collect();
            if firsts.iter().all(Option::is_some) {
                break firsts.into_iter().flatten().max().unwrap_or(killed);
            }
            if Instant::now() > deadline {
                bail!("members did not heartbeat within 60 s of killing {name}");
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        };
        let elapsed = back.saturating_duration_since(killed);
        let after = member_map(&survivors.describe_group(&group).await?);
        println!(
            "trial {trial}: killed {name} (coordinator), every member heartbeating again after {elapsed:?}; ids, epochs and partitions {}",
            if after == before { "kept" } else { "CHANGED" }
        );
        times.push(elapsed);
        cluster.start(&name)?;
        cluster.wait_ready(&name, Duration::from_secs(60)).await?;
        // Let the restarted broker catch up (and leadership settle) before the next kill.
        tokio::time::sleep(Duration::from_secs(10)).await;
        settle(&survivors, &group, n, partitions).await?;
    }
    stop.store(true, Ordering::SeqCst);
    for t in tasks {
        t.await??;
    }
    times.sort();
    println!(
        "coordinator failover, {n} members, {trials} trials: median {:?}, max {:?}",
        percentile(&times, 50.0),
        times.last().copied().unwrap_or_default()
    );
    Ok(())
}
