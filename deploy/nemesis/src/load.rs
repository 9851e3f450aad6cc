//! The load the faults run against, and the history it records:
//! - idempotent SDK producers (acks=all) sending unique values `p<i>-<n>`
//!   round-robin over the partitions; every acknowledgement is recorded in
//!   acknowledgement order (one recorder per producer and partition awaits
//!   the delivery futures in send order, the order the SDK completes them);
//! - SDK consumers in one group, auto-committing; every record they read is
//!   recorded, to check later that nothing above the HW was ever served;
//! - a sampler of the group's committed offsets, recording any that moved back.

use ferry_client::{Consumer, DeliveryFuture, OffsetReset, Producer, ProducerConfig};
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

/// One acknowledged record.
#[derive(Debug, Clone)]
pub struct Ack {
    pub producer: usize,
    pub partition: u32,
    pub offset: u64,
    pub value: String,
    pub at: Instant,
}

/// Everything the load observed.
#[derive(Default)]
pub struct History {
    pub acks: Mutex<Vec<Ack>>,
    /// Sends that failed or whose outcome is unknown (not acknowledged).
    pub failed: AtomicU64,
    /// `(partition, offset, value)` as consumers read them.
    pub consumed: Mutex<Vec<(u32, u64, String)>>,
    pub commit_samples: AtomicU64,
    /// `(partition, from, to)` for every committed offset seen moving back.
    pub offset_regressions: Mutex<Vec<(u32, u64, u64)>>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl History {
    pub fn acks(&self) -> Vec<Ack> {
        lock(&self.acks).clone()
    }
    pub fn consumed(&self) -> Vec<(u32, u64, String)> {
        lock(&self.consumed).clone()
    }
    pub fn offset_regressions(&self) -> Vec<(u32, u64, u64)> {
        lock(&self.offset_regressions).clone()
    }
}

/// Where the load goes.
#[derive(Clone)]
pub struct Target {
    pub brokers: Vec<String>,
    pub controllers: Vec<String>,
    pub topic: String,
    pub partitions: u32,
    pub group: String,
}

/// Producer `i`: `rate` records per second until `stop`; returns once every
/// record it sent is acknowledged or failed.
pub fn spawn_producer(
    i: usize,
    target: Target,
    rate: u32,
    history: Arc<History>,
    stop: Arc<AtomicBool>,
) -> JoinHandle<()> {
    tokio::spawn(async move {
        let mut cfg = ProducerConfig::new(target.brokers.clone(), target.controllers.clone());
        cfg.batch_size = 100;
        cfg.buffer_records = 5_000;
        cfg.retries = 10;
        cfg.retry_backoff_ms = 200;
        cfg.request_timeout_ms = 5_000;
        let producer = loop {
            match Producer::connect(cfg.clone()).await {
                Ok(p) => break p,
                Err(e) if !stop.load(Ordering::Relaxed) => {
                    eprintln!("ferry-nemesis: producer {i} connecting: {e}");
                    tokio::time::sleep(Duration::from_millis(500)).await;
                }
                Err(_) => return,
            }
        };
        let mut recorders = Vec::new();
        let mut queues = Vec::new();
        for partition in 0..target.partitions {
            let (tx, rx) = mpsc::unbounded_channel::<(String, DeliveryFuture)>();
            queues.push(tx);
            recorders.push(tokio::spawn(record(i, partition, rx, history.clone())));
        }
        let mut tick = tokio::time::interval(Duration::from_secs(1) / rate.max(1));
        let mut n = 0u64;
        while !stop.load(Ordering::Relaxed) {
            tick.tick().await;
            let partition = (n % u64::from(target.partitions)) as u32;
            let value = format!("p{i}-{n}");
            n += 1;
            match producer
                .send_to(&target.topic, partition, None, value.clone().into_bytes())
                .await
            {
                Ok(fut) => {
                    let _ = queues[partition as usize].send((value, fut));
                }
                Err(_) => {
                    history.failed.fetch_add(1, Ordering::Relaxed);
                }
            }
        }
        drop(queues);
        for r in recorders {
            let _ = r.await;
        }
    })
}

async fn record(
    producer: usize,
    partition: u32,
    mut rx: mpsc::UnboundedReceiver<(String, DeliveryFuture)>,
    history: Arc<History>,
) {
    while let Some((value, fut)) = rx.recv().await {
        match fut.await {
            Ok(Ok(meta)) if meta.offset >= 0 => lock(&history.acks).push(Ack {
                producer,
                partition,
                offset: meta.offset as u64,
                value,
                at: Instant::now(),
            }),
            _ => {
                history.failed.fetch_add(1, Ordering::Relaxed);
            }
        }
    }
}

/// Consumer `i` of the group; on repeated errors it starts over with another
/// broker first in its list (the SDK sends group requests to the first).
pub fn spawn_consumer(
    i: usize,
    target: Target,
    history: Arc<History>,
    stop: Arc<AtomicBool>,
) -> JoinHandle<()> {
    tokio::spawn(async move {
        let mut attempt = i;
        while !stop.load(Ordering::Relaxed) {
            let mut brokers = target.brokers.clone();
            let first = attempt % brokers.len().max(1);
            brokers.rotate_left(first);
            attempt += 1;
            let mut c = Consumer::new(brokers, OffsetReset::Earliest);
            c.auto_commit_interval = Some(Duration::from_secs(1));
            let subscribed = tokio::time::timeout(
                Duration::from_secs(20),
                c.subscribe(&target.group, &[&target.topic], Duration::from_secs(6)),
            )
            .await;
            if !matches!(subscribed, Ok(Ok(()))) {
                tokio::time::sleep(Duration::from_millis(500)).await;
                continue;
            }
            let mut errors = 0;
            while !stop.load(Ordering::Relaxed) && errors < 5 {
                match tokio::time::timeout(
                    Duration::from_secs(20),
                    c.poll(Duration::from_millis(500)),
                )
                .await
                {
                    Ok(Ok(records)) => {
                        errors = 0;
                        let mut consumed = lock(&history.consumed);
                        for r in records {
                            let v = String::from_utf8_lossy(r.value.as_deref().unwrap_or_default());
                            consumed.push((r.partition, r.offset, v.into_owned()));
                        }
                    }
                    _ => {
                        errors += 1;
                        tokio::time::sleep(Duration::from_millis(200)).await;
                    }
                }
            }
            if stop.load(Ordering::Relaxed) {
                let _ = tokio::time::timeout(Duration::from_secs(10), c.close()).await;
            }
        }
    })
}

/// Samples the group's committed offsets every 250 ms through any broker.
pub fn spawn_offset_sampler(
    target: Target,
    history: Arc<History>,
    stop: Arc<AtomicBool>,
) -> JoinHandle<()> {
    tokio::spawn(async move {
        let http = reqwest::Client::new();
        // Per partition: the highest offset seen, and the last one seen (a
        // regression is recorded once, not at every sample that shows it).
        let mut max: BTreeMap<u32, (u64, u64)> = BTreeMap::new();
        let mut next = 0usize;
        while !stop.load(Ordering::Relaxed) {
            tokio::time::sleep(Duration::from_millis(250)).await;
            let broker = &target.brokers[next % target.brokers.len().max(1)];
            let url = format!("{broker}/v1/groups/{}/offsets", target.group);
            let Some(v) = crate::view::get_json(&http, &url, Duration::from_secs(1)).await else {
                next += 1;
                continue;
            };
            history.commit_samples.fetch_add(1, Ordering::Relaxed);
            for o in v["offsets"].as_array().into_iter().flatten() {
                let (Some(p), Some(off)) = (o["partition"].as_u64(), o["offset"].as_u64()) else {
                    continue;
                };
                let (high, last) = max.entry(p as u32).or_insert((off, off));
                if off < *high && off != *last {
                    lock(&history.offset_regressions).push((p as u32, *high, off));
                }
                *high = (*high).max(off);
                *last = off;
            }
        }
    })
}
