//! `ferry-bench`: producer and consumer throughput and latency, like Kafka's
//! `kafka-producer-perf-test` / `kafka-consumer-perf-test`, against any cluster.
//!
//! ```text
//! ferry-bench produce --topic bench --partitions 6 --records 200000 --record-size 100 --batch 200 --concurrency 4 --acks 1
//! ferry-bench consume --topic bench
//! ```

use anyhow::{bail, Context, Result};
use clap::{Parser, Subcommand};
use ferry_common::records::FetchResponse;
use ferry_deploy::stats::percentile;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
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
    },
    /// Read every partition from the start up to its high watermark.
    Consume {
        #[arg(long, default_value_t = 1000)]
        max_records: usize,
    },
}

#[tokio::main]
async fn main() -> Result<()> {
    let cli = Cli::parse();
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(60))
        .tcp_nodelay(true)
        .build()?;
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
        } => {
            // Room for a whole request's batch per partition.
            let max_message_bytes = (batch * (record_size + 64) + 4096).max(1_048_588);
            let (c, t) = (&cli.controller, &cli.topic);
            ensure_topic(
                &http,
                c,
                t,
                partitions,
                replication_factor,
                max_message_bytes,
            )
            .await?;
            let leaders = leaders(&http, &cli.broker, &cli.topic).await?;
            produce(
                &http,
                &cli.topic,
                leaders,
                records,
                record_size,
                batch.max(1),
                concurrency.max(1),
                &acks,
                rate,
            )
            .await
        }
        Cmd::Consume { max_records } => {
            let leaders = leaders(&http, &cli.broker, &cli.topic).await?;
            consume(&http, &cli.topic, leaders, max_records).await
        }
    }
}

async fn ensure_topic(
    http: &reqwest::Client,
    controller: &str,
    topic: &str,
    partitions: u32,
    rf: u32,
    max_message_bytes: usize,
) -> Result<()> {
    let configs = json!({"max.message.bytes": max_message_bytes});
    let res = http
        .post(format!("{controller}/v1/topics"))
        .json(&json!({"name": topic, "partitions": partitions, "replication_factor": rf, "configs": configs}))
        .send()
        .await?;
    let status = res.status();
    let body: Value = res.json().await.unwrap_or_default();
    if status.is_success() || body["error_code"] == "TOPIC_ALREADY_EXISTS" {
        return Ok(());
    }
    bail!("creating topic {topic}: {status} {body}")
}

/// Partition -> leader URL, once every partition has a leader the broker knows.
async fn leaders(
    http: &reqwest::Client,
    broker: &str,
    topic: &str,
) -> Result<BTreeMap<u32, String>> {
    for _ in 0..100 {
        let v: Value = http
            .get(format!("{broker}/v1/metadata?topics={topic}"))
            .send()
            .await?
            .json()
            .await?;
        let parts = v["topics"][0]["partitions"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        let map: BTreeMap<u32, String> = parts
            .iter()
            .filter_map(|p| {
                Some((
                    p["partition"].as_u64()? as u32,
                    p["leader_url"].as_str()?.to_string(),
                ))
            })
            .collect();
        if !map.is_empty() && map.len() == parts.len() {
            // Leaders open their replicas right after the metadata arrives; wait for them.
            let mut all_open = true;
            for (p, url) in &map {
                let r = http
                    .get(format!("{url}/v1/topics/{topic}/partitions/{p}/offsets"))
                    .send()
                    .await?;
                all_open &= r.status().is_success();
            }
            if all_open {
                return Ok(map);
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    bail!("topic {topic} has no leaders for all partitions in {broker}'s metadata")
}

#[allow(clippy::too_many_arguments)]
async fn produce(
    http: &reqwest::Client,
    topic: &str,
    leaders: BTreeMap<u32, String>,
    records: usize,
    record_size: usize,
    batch: usize,
    concurrency: usize,
    acks: &str,
    rate: u64,
) -> Result<()> {
    let value = "x".repeat(record_size);
    let requests = records.div_ceil(batch);
    let next = Arc::new(AtomicUsize::new(0));
    let parts: Arc<Vec<(u32, String)>> = Arc::new(leaders.into_iter().collect());
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..concurrency {
        let (http, next, parts, topic, value, acks) = (
            http.clone(),
            next.clone(),
            parts.clone(),
            topic.to_string(),
            value.clone(),
            acks.to_string(),
        );
        tasks.push(tokio::spawn(async move {
            let mut lat = Vec::new();
            let mut errors = 0usize;
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= requests {
                    break;
                }
                if rate > 0 {
                    // Request i is due when the records before it fit the rate.
                    let due = started + Duration::from_secs_f64((i * batch) as f64 / rate as f64);
                    tokio::time::sleep_until(due.into()).await;
                }
                let n = batch.min(records - i * batch);
                let (p, url) = &parts[i % parts.len()];
                let recs: Vec<Value> = (0..n)
                    .map(|j| json!({"key": format!("k{}", i * batch + j), "value": value}))
                    .collect();
                let body = json!({"records": recs, "acks": acks});
                let t = Instant::now();
                match http
                    .post(format!("{url}/v1/topics/{topic}/partitions/{p}/records"))
                    .json(&body)
                    .send()
                    .await
                {
                    Ok(r) if r.status().is_success() => lat.push(t.elapsed()),
                    Ok(r) => {
                        errors += 1;
                        if errors < 3 {
                            let status = r.status();
                            let text = r.text().await.unwrap_or_default();
                            let head: String = text.chars().take(300).collect();
                            eprintln!("produce error: {status} {head}");
                        }
                    }
                    Err(e) => {
                        errors += 1;
                        if errors < 3 {
                            eprintln!("produce error: {e}");
                        }
                    }
                }
            }
            (lat, errors)
        }));
    }
    let mut lat = Vec::new();
    let mut errors = 0;
    for t in tasks {
        let (l, e) = t.await.context("producer task")?;
        lat.extend(l);
        errors += e;
    }
    let secs = started.elapsed().as_secs_f64();
    let ok_records = (lat.len() * batch).min(records);
    lat.sort();
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
    http: &reqwest::Client,
    topic: &str,
    leaders: BTreeMap<u32, String>,
    max_records: usize,
) -> Result<()> {
    let started = Instant::now();
    let mut tasks = Vec::new();
    for (p, url) in leaders {
        let (http, topic) = (http.clone(), topic.to_string());
        tasks.push(tokio::spawn(async move {
            let base = format!("{url}/v1/topics/{topic}/partitions/{p}");
            let offsets: Value = http.get(format!("{base}/offsets")).send().await?.json().await?;
            let hw = offsets["high_watermark"].as_u64().unwrap_or(0);
            let mut offset = offsets["log_start_offset"].as_u64().unwrap_or(0);
            let (mut n, mut bytes, mut lat) = (0usize, 0usize, Vec::new());
            while offset < hw {
                let t = Instant::now();
                let v: FetchResponse = http
                    .get(format!("{base}/records?offset={offset}&max_records={max_records}&max_bytes=4194304"))
                    .send()
                    .await?
                    .json()
                    .await?;
                lat.push(t.elapsed());
                if v.records.is_empty() {
                    break;
                }
                n += v.records.len();
                bytes += v.records.iter().map(|r| r.value.as_ref().map_or(0, String::len)).sum::<usize>();
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
