//! `ferry-failover-bench`: partition failover time of a running ferry-local
//! cluster: SIGKILL the leader of an RF 3 partition under acks=all load and
//! time until the first acknowledged acks=all record sent after the kill;
//! restart the broker, wait for a full ISR, repeat.
//!
//! ```text
//! ferry-failover-bench --dir .ferry-local --trials 10
//! ```
//! Controller failover is `ferry-controller-bench failover`.
//!
//! Records go through the SDK's [`Producer`] (acks=all, idempotent), so the
//! figure includes the SDK finding the new leader. Only a record sent after
//! the kill counts: the dead leader cannot have acknowledged it.

use anyhow::{bail, Context, Result};
use clap::Parser;
use ferry_bench::stats::percentile;
use ferry_client::{AdminClient, Producer, ProducerConfig};
use ferry_local_cluster::LocalCluster;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

#[derive(Parser)]
#[command(about = "Time partition failover of a ferry-local cluster")]
struct Cli {
    #[arg(long, default_value = ".ferry-local")]
    dir: std::path::PathBuf,
    #[arg(long, default_value_t = 10)]
    trials: usize,
    /// The RF 3 topic to create (or reuse) and write to.
    #[arg(long, default_value = "failover-bench")]
    topic: String,
    /// Give up on a trial after this long.
    #[arg(long, default_value_t = 60)]
    trial_timeout_s: u64,
}

/// The earliest acknowledgement of a record sent after a mark.
#[derive(Debug)]
struct FirstAck {
    after: Instant,
    first: Option<Instant>,
}

type Acks = Arc<Mutex<FirstAck>>;

fn lock(acks: &Acks) -> std::sync::MutexGuard<'_, FirstAck> {
    acks.lock().unwrap_or_else(|p| p.into_inner())
}

#[tokio::main]
async fn main() -> Result<()> {
    let cli = Cli::parse();
    let cluster = LocalCluster::open(&cli.dir)?;
    if cluster.brokers().count() < 3 {
        bail!("the cluster needs at least 3 brokers for an RF 3 topic");
    }
    let admin = AdminClient::new(cluster.controller_urls());
    if admin.describe_topic(&cli.topic).await.is_err() {
        admin
            .create_topic(&cli.topic, 1, 3, [("min.insync.replicas", "2")])
            .await
            .context("creating the bench topic")?;
    }
    full_isr(&admin, &cli.topic, Duration::from_secs(60)).await?;
    let producer = Arc::new(
        Producer::connect(ProducerConfig {
            linger_ms: 1,
            retries: 1_000,
            retry_backoff_ms: 20,
            request_timeout_ms: 5_000,
            ..ProducerConfig::new(cluster.broker_urls(), cluster.controller_urls())
        })
        .await
        .context("connecting the producer")?,
    );
    let acks: Acks = Arc::new(Mutex::new(FirstAck {
        after: Instant::now(),
        first: None,
    }));
    let load = tokio::spawn(produce(producer, cli.topic.clone(), acks.clone()));

    let mut times = Vec::new();
    for trial in 0..cli.trials {
        wait_acks_after(&acks, Instant::now(), Duration::from_secs(30))
            .await
            .context("the load is not being acknowledged")?;
        let desc = admin.describe_topic(&cli.topic).await?;
        let leader = desc
            .partitions
            .first()
            .and_then(|p| p.leader)
            .context("partition 0 has no leader")?;
        let name = cluster
            .brokers()
            .find(|b| b.id == u64::from(leader.0))
            .map(|b| b.name.clone())
            .context("the leader is not part of this cluster")?;
        cluster.kill(&name)?;
        let killed = Instant::now();
        let timeout = Duration::from_secs(cli.trial_timeout_s);
        let Some(first) = wait_acks_after(&acks, killed, timeout).await else {
            bail!("no acknowledged write within {timeout:?} of killing {name}");
        };
        let elapsed = first.saturating_duration_since(killed);
        println!(
            "trial {trial}: killed {name}, first acks=all write acknowledged after {elapsed:?}"
        );
        times.push(elapsed);
        cluster.start(&name)?;
        cluster.wait_ready(&name, Duration::from_secs(60)).await?;
        full_isr(&admin, &cli.topic, Duration::from_secs(60)).await?;
    }
    load.abort();
    times.sort();
    println!(
        "partition failover over {} trials: median {:?}, max {:?}",
        times.len(),
        percentile(&times, 50.0),
        times.last().copied().unwrap_or_default()
    );
    Ok(())
}

/// Sends records to partition 0 without pause, a few hundred in flight at most.
async fn produce(producer: Arc<Producer>, topic: String, acks: Acks) {
    let in_flight = Arc::new(tokio::sync::Semaphore::new(256));
    let mut n = 0u64;
    loop {
        let Ok(permit) = in_flight.clone().acquire_owned().await else {
            return;
        };
        n += 1;
        let sent = Instant::now();
        let value = format!("failover-bench-{n}").into_bytes();
        let Ok(delivery) = producer.send_to(&topic, 0, None, value).await else {
            tokio::time::sleep(Duration::from_millis(10)).await;
            continue;
        };
        let acks = acks.clone();
        tokio::spawn(async move {
            if let Ok(Ok(_)) = delivery.await {
                let now = Instant::now();
                let mut a = lock(&acks);
                if sent > a.after && a.first.is_none_or(|f| now < f) {
                    a.first = Some(now);
                }
            }
            drop(permit);
        });
    }
}

/// The earliest acknowledgement of a record sent after `after`, waiting up to `timeout`.
async fn wait_acks_after(acks: &Acks, after: Instant, timeout: Duration) -> Option<Instant> {
    *lock(acks) = FirstAck { after, first: None };
    let deadline = Instant::now() + timeout;
    loop {
        let first = lock(acks).first;
        if first.is_some() || Instant::now() >= deadline {
            return first;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// Waits until partition 0 has a leader and all three replicas in its ISR.
async fn full_isr(admin: &AdminClient, topic: &str, within: Duration) -> Result<()> {
    let deadline = Instant::now() + within;
    loop {
        let d = admin.describe_topic(topic).await;
        let full = d.ok().and_then(|d| d.partitions.first().cloned());
        if full.is_some_and(|p| p.leader.is_some() && p.isr.len() == p.replicas.len()) {
            return Ok(());
        }
        if Instant::now() >= deadline {
            bail!("{topic}-0 did not regain a full ISR within {within:?}");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
