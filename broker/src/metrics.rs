//! Prometheus metrics: traffic per topic, produce/fetch latency, partition sizes,
//! and HTTP request count and latency ([`ferry_http::RequestMetrics`]).
//!
//! A leaf: produce, fetch and the HTTP layer write into [`Metrics`]; gauges
//! are set from a [`NodeSample`] the caller takes when `/metrics` is scraped,
//! as are the group-commit counters (fsyncs, records and bytes they covered).

use ferry_common::records::Acks;
use ferry_common::BrokerId;
use ferry_http::RequestMetrics;
use prometheus::{
    HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge, IntGaugeVec, Opts, Registry,
};
use std::time::Duration;

/// The broker's metric registry.
pub struct Metrics {
    registry: Registry,
    bytes_in: IntCounterVec,
    records_in: IntCounterVec,
    bytes_out: IntCounterVec,
    records_out: IntCounterVec,
    produce_latency: HistogramVec,
    fetch_latency: HistogramVec,
    http: RequestMetrics,
    leo: IntGaugeVec,
    hw: IntGaugeVec,
    size: IntGaugeVec,
    metadata_offset: IntGauge,
    fenced: IntGauge,
    partitions: IntGauge,
    leaders: IntGauge,
    under_replicated: IntGauge,
    offline_replicas: IntGauge,
    follower_lag: IntGaugeVec,
    fsyncs: IntCounter,
    fsync_records: IntCounter,
    fsync_bytes: IntCounter,
}

/// The node-wide values the gauges show, taken at scrape time.
#[derive(Debug, Clone, Default)]
pub struct NodeSample {
    pub metadata_offset: u64,
    pub fenced: bool,
    pub partitions: Vec<PartitionSample>,
    /// Partition directories kept on disk but not served (failed to open).
    pub offline_replicas: usize,
    /// Group-commit totals over every log: (fsyncs, records, bytes covered).
    pub fsyncs: (u64, u64, u64),
}

/// One local replica's gauges.
#[derive(Debug, Clone)]
pub struct PartitionSample {
    pub topic: String,
    pub partition: u32,
    pub log_end_offset: u64,
    pub high_watermark: u64,
    pub size_bytes: u64,
    /// This broker leads the partition.
    pub leading: bool,
    /// The ISR is smaller than the replica set.
    pub under_replicated: bool,
    /// Leader LEO minus each follower's LEO (only while leading).
    pub follower_lag: Vec<(BrokerId, u64)>,
}

const LATENCY_BUCKETS: &[f64] = &[
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
    5.0, 10.0, 30.0,
];

impl Metrics {
    pub fn new() -> Result<Self, prometheus::Error> {
        let registry = Registry::new();
        let counter =
            |name: &str, help: &str, labels: &[&str]| -> Result<IntCounterVec, prometheus::Error> {
                let c = IntCounterVec::new(Opts::new(name, help), labels)?;
                registry.register(Box::new(c.clone()))?;
                Ok(c)
            };
        let bytes_in = counter(
            "ferry_broker_bytes_in_total",
            "Key and value bytes appended, by topic",
            &["topic"],
        )?;
        let records_in = counter(
            "ferry_broker_records_in_total",
            "Records appended, by topic",
            &["topic"],
        )?;
        let bytes_out = counter(
            "ferry_broker_bytes_out_total",
            "Key and value bytes fetched, by topic",
            &["topic"],
        )?;
        let records_out = counter(
            "ferry_broker_records_out_total",
            "Records fetched, by topic",
            &["topic"],
        )?;
        let http = RequestMetrics::register(
            &registry,
            "ferry_broker_http_requests_total",
            "ferry_broker_http_request_duration_seconds",
        )?;
        let hist =
            |name: &str, help: &str, labels: &[&str]| -> Result<HistogramVec, prometheus::Error> {
                let h = HistogramVec::new(
                    HistogramOpts::new(name, help).buckets(LATENCY_BUCKETS.to_vec()),
                    labels,
                )?;
                registry.register(Box::new(h.clone()))?;
                Ok(h)
            };
        let produce_latency = hist(
            "ferry_broker_produce_latency_seconds",
            "Local produce latency by acks",
            &["acks"],
        )?;
        let fetch_latency = hist(
            "ferry_broker_fetch_latency_seconds",
            "Fetch latency including long-poll wait",
            &[],
        )?;
        let gauge_vec = |name: &str, help: &str| -> Result<IntGaugeVec, prometheus::Error> {
            let g = IntGaugeVec::new(Opts::new(name, help), &["topic", "partition"])?;
            registry.register(Box::new(g.clone()))?;
            Ok(g)
        };
        let leo = gauge_vec(
            "ferry_broker_log_end_offset",
            "Log end offset per local partition",
        )?;
        let hw = gauge_vec(
            "ferry_broker_high_watermark",
            "High watermark per local partition",
        )?;
        let size = gauge_vec(
            "ferry_broker_log_size_bytes",
            "Log size per local partition",
        )?;
        let gauge = |name: &str, help: &str| -> Result<IntGauge, prometheus::Error> {
            let g = IntGauge::new(name, help)?;
            registry.register(Box::new(g.clone()))?;
            Ok(g)
        };
        let metadata_offset = gauge(
            "ferry_broker_metadata_offset",
            "Metadata offset applied by this broker",
        )?;
        let fenced = gauge("ferry_broker_fenced", "1 while this broker is fenced")?;
        let partitions = gauge("ferry_broker_partitions", "Local partition replicas")?;
        let leaders = gauge(
            "ferry_broker_leader_partitions",
            "Partitions this broker leads",
        )?;
        let under_replicated = gauge(
            "ferry_broker_under_replicated_partitions",
            "Partitions led here whose ISR is smaller than their replica set",
        )?;
        let offline_replicas = gauge(
            "ferry_broker_offline_replicas",
            "Partition directories that failed to open: kept on disk, not served",
        )?;
        let follower_lag = IntGaugeVec::new(
            Opts::new(
                "ferry_broker_follower_lag_records",
                "Leader LEO minus follower LEO, per follower",
            ),
            &["topic", "partition", "follower"],
        )?;
        registry.register(Box::new(follower_lag.clone()))?;
        let total = |name: &str, help: &str| -> Result<IntCounter, prometheus::Error> {
            let c = IntCounter::new(name, help)?;
            registry.register(Box::new(c.clone()))?;
            Ok(c)
        };
        let fsyncs = total(
            "ferry_broker_log_fsyncs_total",
            "fdatasync calls of group commit, over every local log",
        )?;
        let fsync_records = total(
            "ferry_broker_log_fsync_records_total",
            "Records made durable by those fsyncs (records/fsync = this / fsyncs)",
        )?;
        let fsync_bytes = total(
            "ferry_broker_log_fsync_bytes_total",
            "Batch bytes made durable by those fsyncs",
        )?;
        Ok(Metrics {
            registry,
            bytes_in,
            records_in,
            bytes_out,
            records_out,
            produce_latency,
            fetch_latency,
            http,
            leo,
            hw,
            size,
            metadata_offset,
            fenced,
            partitions,
            leaders,
            under_replicated,
            offline_replicas,
            follower_lag,
            fsyncs,
            fsync_records,
            fsync_bytes,
        })
    }

    pub fn record_produce(
        &self,
        topic: &str,
        records: usize,
        bytes: usize,
        acks: Acks,
        elapsed: Duration,
    ) {
        self.records_in
            .with_label_values(&[topic])
            .inc_by(records as u64);
        self.bytes_in
            .with_label_values(&[topic])
            .inc_by(bytes as u64);
        self.produce_latency
            .with_label_values(&[acks.label()])
            .observe(elapsed.as_secs_f64());
    }

    pub fn record_fetch(&self, topic: &str, records: usize, bytes: usize, elapsed: Duration) {
        self.records_out
            .with_label_values(&[topic])
            .inc_by(records as u64);
        self.bytes_out
            .with_label_values(&[topic])
            .inc_by(bytes as u64);
        self.fetch_latency
            .with_label_values::<&str>(&[])
            .observe(elapsed.as_secs_f64());
    }

    /// Request count and latency, recorded by the router's request layer.
    pub fn http(&self) -> &RequestMetrics {
        &self.http
    }

    /// Sets the gauges from `sample` and renders the text format.
    pub fn render(&self, sample: &NodeSample) -> String {
        self.metadata_offset.set(sample.metadata_offset as i64);
        self.fenced.set(i64::from(sample.fenced));
        self.offline_replicas
            .set(i64::try_from(sample.offline_replicas).unwrap_or(i64::MAX));
        // Monotonic totals kept by the storage layer: catch the counters up.
        let (fsyncs, records, bytes) = sample.fsyncs;
        for (c, v) in [
            (&self.fsyncs, fsyncs),
            (&self.fsync_records, records),
            (&self.fsync_bytes, bytes),
        ] {
            c.inc_by(v.saturating_sub(c.get()));
        }
        let parts = &sample.partitions;
        self.partitions.set(parts.len() as i64);
        self.leaders
            .set(parts.iter().filter(|p| p.leading).count() as i64);
        self.leo.reset();
        self.follower_lag.reset();
        let mut under = 0;
        self.hw.reset();
        self.size.reset();
        for p in parts {
            let labels = [p.topic.as_str(), &p.partition.to_string()];
            self.leo
                .with_label_values(&labels)
                .set(p.log_end_offset as i64);
            self.hw
                .with_label_values(&labels)
                .set(p.high_watermark as i64);
            self.size
                .with_label_values(&labels)
                .set(p.size_bytes as i64);
            if p.leading {
                if p.under_replicated {
                    under += 1;
                }
                for (id, lag) in &p.follower_lag {
                    self.follower_lag
                        .with_label_values(&[labels[0], labels[1], &id.to_string()])
                        .set(*lag as i64);
                }
            }
        }
        self.under_replicated.set(under);
        ferry_http::ops::encode_text(&self.registry)
    }
}
