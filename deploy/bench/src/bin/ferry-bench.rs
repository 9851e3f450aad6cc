//! `ferry-bench`: producer and consumer throughput and latency, like Kafka's
//! `kafka-producer-perf-test` / `kafka-consumer-perf-test`, against any cluster.
//!
//! ```text
//! ferry-bench produce --topic bench --partitions 6 --records 200000 --record-size 100 --batch 200 --concurrency 4 --acks 1
//! ferry-bench consume --topic bench
//! ```
//!
//! Requests go through the SDK: [`AdminClient`] creates the topic, and a
//! [`PartitionClient`] sends each produce request and each fetch, one request
//! per call, so the latencies reported are request latencies.

use anyhow::{bail, Context, Result};
use clap::{Parser, Subcommand};
use ferry_bench::pool::{self, Outcome};
use ferry_bench::stats::percentile;
use ferry_client::{AdminClient, Credentials, FetchLimits, PartitionClient};
use ferry_common::records::{ProduceRecord, ProduceRequest};
use ferry_common::ErrorCode;
use serde_json::Value;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

#[derive(Parser)]
#[command(about = "Benchmark Ferry's produce and fetch paths")]
struct Cli {
    /// A broker URL to read metadata from.
    #[arg(long, global = true, default_value = "http://127.0.0.1:7201")]
    broker: String,
    /// A controller URL, for creating the topic (writes follow the 307 to the leader).
    #[arg(long, global = true, default_value = "http://127.0.0.1:7101")]
    controller: String,
    #[arg(long, global = true, default_value = "ferry-bench")]
    topic: String,
    /// CA of a TLS cluster's certificates (`ferry-local up --tls` prints it).
    #[arg(long, global = true, env = "FERRY_CA_FILE")]
    ca_file: Option<std::path::PathBuf>,
    /// User for a cluster with client authentication on (HTTP Basic on every request).
    #[arg(long, global = true, env = "FERRY_USER")]
    user: Option<String>,
    #[arg(long, global = true, env = "FERRY_PASSWORD", hide_env_values = true)]
    password: Option<String>,
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Produce records to the partition leaders.
    Produce {
        /// Create the topic with this many partitions if it does not exist.
        #[arg(long, default_value_t = 6)]
        partitions: u32,
        #[arg(long, default_value_t = 1)]
        replication_factor: u32,
        #[arg(long, default_value_t = 100_000)]
        records: usize,
        /// Value size in bytes.
        #[arg(long, default_value_t = 100)]
        record_size: usize,
        /// Records per request.
        #[arg(long, default_value_t = 100)]
        batch: usize,
        /// Requests in flight.
        #[arg(long, default_value_t = 4)]
        concurrency: usize,
        /// all, 1 or 0.
        #[arg(long, default_value = "1")]
        acks: String,
        /// Target records/s over all producers (0 = as fast as possible), to
        /// measure latency below saturation.
        #[arg(long, default_value_t = 0)]
        rate: u64,
        /// Topic config for a topic created here, `KEY=VALUE` (repeatable),
        /// e.g. `--topic-config write.caching=true`.
        #[arg(long = "topic-config", value_parser = key_value)]
        topic_configs: Vec<(String, String)>,
    },
    /// Read every partition from the start up to its high watermark.
    Consume {
        #[arg(long, default_value_t = 1000)]
        max_records: usize,
    },
}

/// What one produce run sends.
struct Load {
    records: usize,
    record_size: usize,
    batch: usize,
    concurrency: usize,
    acks: String,
    rate: u64,
}

#[tokio::main]
async fn main() -> Result<()> {
    let cli = Cli::parse();
    if let Some(ca) = &cli.ca_file {
        ferry_client::trust_ca_file(ca)?;
    }
    let credentials = match (&cli.user, &cli.password) {
        (Some(u), Some(p)) => Some(Credentials::new(u, p)),
        (None, None) => None,
        _ => bail!("--user and --password go together"),
    };
    let client = Arc::new(PartitionClient::with_credentials(
        vec![cli.broker.clone()],
        Duration::from_secs(60),
        credentials.as_ref(),
    ));
    match cli.cmd {
        Cmd::Produce {
            partitions,
            replication_factor,
            records,
            record_size,
            batch,
            concurrency,
            acks,
            rate,
            topic_configs,
        } => {
            // Room for a whole request's batch per partition.
            let max_message_bytes = (batch * (record_size + 64) + 4096).max(1_048_588);
            let rf = u16::try_from(replication_factor).context("--replication-factor")?;
            ensure_topic(
                AdminClient::new(vec![cli.controller.clone()]).with_credentials_opt(credentials),
                &cli.topic,
                partitions,
                rf,
                max_message_bytes,
                &topic_configs,
            )
            .await?;
            let parts = leaders(&client, &cli.broker, &cli.topic).await?;
            let load = Load {
                records,
                record_size,
                batch: batch.max(1),
                concurrency: concurrency.max(1),
                acks,
                rate,
            };
            produce(client, &cli.topic, parts.into_keys().collect(), load).await
        }
        Cmd::Consume { max_records } => {
            let parts = leaders(&client, &cli.broker, &cli.topic).await?;
            consume(client, &cli.topic, parts.into_keys().collect(), max_records).await
        }
    }
}

async fn ensure_topic(
    admin: AdminClient,
    topic: &str,
    partitions: u32,
    rf: u16,
    max_message_bytes: usize,
    extra: &[(String, String)],
) -> Result<()> {
    let max = max_message_bytes.to_string();
    let mut configs = vec![("max.message.bytes", max.as_str())];
    configs.extend(extra.iter().map(|(k, v)| (k.as_str(), v.as_str())));
    match admin.create_topic(topic, partitions, rf, configs).await {
        Ok(_) => Ok(()),
        Err(e) if e.code() == Some(ErrorCode::TopicAlreadyExists) => Ok(()),
        Err(e) => bail!("creating topic {topic}: {e}"),
    }
}

/// Parses `KEY=VALUE`.
fn key_value(s: &str) -> Result<(String, String), String> {
    match s.split_once('=') {
        Some((k, v)) if !k.is_empty() => Ok((k.to_string(), v.to_string())),
        _ => Err(format!("expected KEY=VALUE, got '{s}'")),
    }
}

/// Partition -> leader URL, once every partition has a leader the broker knows
/// and every leader serves its partition.
async fn leaders(
    client: &PartitionClient,
    broker: &str,
    topic: &str,
) -> Result<BTreeMap<u32, String>> {
    for _ in 0..100 {
        match client.leaders(topic).await {
            Ok(Some(map)) => {
                // Leaders open their replicas right after the metadata arrives; wait for them.
                let mut all_open = true;
                for p in map.keys() {
                    all_open &= client.offsets(topic, *p).await.is_ok();
                }
                if all_open {
                    return Ok(map);
                }
            }
            Ok(None) => {}
            Err(e) if e.is_retriable() => {}
            Err(e) => return Err(e.into()),
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    bail!("topic {topic} has no leaders for all partitions in {broker}'s metadata")
}

fn request(first: usize, n: usize, value: &str, acks: &str) -> ProduceRequest {
    let records = (first..first + n)
        .map(|k| ProduceRecord {
            key: Some(Value::String(format!("k{k}"))),
            value: Some(Value::String(value.to_string())),
            ..Default::default()
        })
        .collect();
    ProduceRequest {
        records,
        acks: Some(Value::String(acks.to_string())),
        timeout_ms: None,
        leader_epoch: None,
        producer_id: None,
        producer_epoch: None,
        base_sequence: None,
    }
}

async fn produce(
    client: Arc<PartitionClient>,
    topic: &str,
    parts: Vec<u32>,
    load: Load,
) -> Result<()> {
    let Load {
        records,
        record_size,
        batch,
        concurrency,
        ref acks,
        rate,
    } = load;
    let value: Arc<str> = "x".repeat(record_size).into();
    let requests = records.div_ceil(batch);
    let parts = Arc::new(parts);
    let topic: Arc<str> = topic.into();
    let acks_label: Arc<str> = acks.as_str().into();
    let started = Instant::now();
    let Outcome {
        latencies: lat,
        errors,
    } = pool::run(concurrency, requests, Some("produce"), move |i| {
        let (client, parts, topic, value, acks) = (
            client.clone(),
            parts.clone(),
            topic.clone(),
            value.clone(),
            acks_label.clone(),
        );
        async move {
            if rate > 0 {
                // Request i is due when the records before it fit the rate.
                let due = started + Duration::from_secs_f64((i * batch) as f64 / rate as f64);
                tokio::time::sleep_until(due.into()).await;
            }
            let n = batch.min(records - i * batch);
            let p = parts[i % parts.len()];
            let body = request(i * batch, n, &value, &acks);
            let t = Instant::now();
            client.produce(&topic, p, &body).await.map(|_| t.elapsed())
        }
    })
    .await
    .context("producer task")?;
    let secs = started.elapsed().as_secs_f64();
    let ok_records = (lat.len() * batch).min(records);
    println!(
        "produce: {ok_records} records ({} requests, {errors} failed) of {record_size} B, batch {batch}, concurrency {concurrency}, acks {acks}",
        lat.len()
    );
    println!(
        "  {:.0} records/s, {:.1} MB/s; request latency p50 {:?} p99 {:?} p99.9 {:?} max {:?}",
        ok_records as f64 / secs,
        ok_records as f64 * record_size as f64 / secs / 1e6,
        percentile(&lat, 50.0),
        percentile(&lat, 99.0),
        percentile(&lat, 99.9),
        lat.last().copied().unwrap_or_default()
    );
    Ok(())
}

async fn consume(
    client: Arc<PartitionClient>,
    topic: &str,
    parts: Vec<u32>,
    max_records: usize,
) -> Result<()> {
    let limits = FetchLimits {
        max_records,
        max_bytes: Some(4 * 1024 * 1024),
        max_wait_ms: None,
    };
    let started = Instant::now();
    let mut tasks = Vec::new();
    for p in parts {
        let (client, topic) = (client.clone(), topic.to_string());
        tasks.push(tokio::spawn(async move {
            let offsets = client.offsets(&topic, p).await?;
            let hw = offsets.high_watermark;
            let mut offset = offsets.log_start_offset;
            let (mut n, mut bytes, mut lat) = (0usize, 0usize, Vec::new());
            while offset < hw {
                let t = Instant::now();
                let v = client.fetch(&topic, p, offset, limits).await?;
                lat.push(t.elapsed());
                if v.records.is_empty() {
                    break;
                }
                n += v.records.len();
                bytes += v
                    .records
                    .iter()
                    .map(|r| r.value.as_ref().map_or(0, String::len))
                    .sum::<usize>();
                offset = v.next_offset;
            }
            anyhow::Ok((n, bytes, lat))
        }));
    }
    let (mut n, mut bytes, mut lat) = (0, 0, Vec::new());
    for t in tasks {
        let (a, b, l) = t.await.context("consumer task")??;
        n += a;
        bytes += b;
        lat.extend(l);
    }
    let secs = started.elapsed().as_secs_f64();
    lat.sort();
    println!(
        "consume: {n} records, {:.0} records/s, {:.1} MB/s",
        n as f64 / secs,
        bytes as f64 / secs / 1e6
    );
    println!(
        "  fetch latency p50 {:?} p99 {:?} p99.9 {:?}",
        percentile(&lat, 50.0),
        percentile(&lat, 99.0),
        percentile(&lat, 99.9)
    );
    Ok(())
}
