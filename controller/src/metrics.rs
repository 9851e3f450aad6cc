//! Prometheus metrics: request counters and latencies
//! ([`ferry_http::RequestMetrics`]), plus Raft and metadata gauges sampled at
//! scrape time.

use crate::service::admin::AdminService;
use ferry_http::RequestMetrics;
use openraft::ServerState;
use prometheus::{IntGauge, IntGaugeVec, Opts, Registry};

/// The controller's metric registry.
pub struct Metrics {
    registry: Registry,
    http: RequestMetrics,
    gauges: Gauges,
}

struct Gauges {
    term: IntGauge,
    is_leader: IntGauge,
    leader_id: IntGauge,
    role: IntGaugeVec,
    commit_index: IntGauge,
    applied_index: IntGauge,
    last_log_index: IntGauge,
    snapshot_index: IntGauge,
    metadata_offset: IntGauge,
    brokers: IntGauge,
    fenced: IntGauge,
    topics: IntGauge,
    partitions: IntGauge,
    unclean_restarts: IntGauge,
    elr_replicas: IntGauge,
}

fn gauge(registry: &Registry, name: &str, help: &str) -> Result<IntGauge, prometheus::Error> {
    let g = IntGauge::new(name, help)?;
    registry.register(Box::new(g.clone()))?;
    Ok(g)
}

impl Metrics {
    pub fn new() -> Result<Self, prometheus::Error> {
        let registry = Registry::new();
        let http = RequestMetrics::register(
            &registry,
            "ferry_controller_http_requests_total",
            "ferry_controller_http_request_duration_seconds",
        )?;
        let role = IntGaugeVec::new(
            Opts::new(
                "ferry_controller_raft_role",
                "1 for this node's current Raft role",
            ),
            &["role"],
        )?;
        registry.register(Box::new(role.clone()))?;
        let r = &registry;
        let gauges = Gauges {
            term: gauge(r, "ferry_controller_raft_term", "Current Raft term")?,
            is_leader: gauge(
                r,
                "ferry_controller_raft_is_leader",
                "1 if this node is the active controller",
            )?,
            leader_id: gauge(
                r,
                "ferry_controller_raft_leader_id",
                "Id of the known leader, -1 if none",
            )?,
            role,
            commit_index: gauge(
                r,
                "ferry_controller_raft_commit_index",
                "Highest committed Raft log index known here",
            )?,
            applied_index: gauge(
                r,
                "ferry_controller_raft_applied_index",
                "Highest Raft log index applied here",
            )?,
            last_log_index: gauge(
                r,
                "ferry_controller_raft_last_log_index",
                "Last Raft log index stored here",
            )?,
            snapshot_index: gauge(
                r,
                "ferry_controller_raft_snapshot_index",
                "Log index of the latest snapshot",
            )?,
            metadata_offset: gauge(
                r,
                "ferry_controller_metadata_offset",
                "Metadata offset of the applied image",
            )?,
            brokers: gauge(
                r,
                "ferry_controller_brokers_registered",
                "Registered brokers",
            )?,
            fenced: gauge(r, "ferry_controller_brokers_fenced", "Fenced brokers")?,
            topics: gauge(r, "ferry_controller_topics", "Topics")?,
            partitions: gauge(
                r,
                "ferry_controller_partitions",
                "Partitions over all topics",
            )?,
            unclean_restarts: gauge(
                r,
                "ferry_controller_broker_unclean_restarts",
                "Broker registrations that reported no clean-shutdown marker, over the cluster's life (metadata log)",
            )?,
            elr_replicas: gauge(
                r,
                "ferry_controller_elr_replicas",
                "Eligible leader replicas (KIP-966) over all partitions: out of an ISR below min.insync.replicas but holding every committed record",
            )?,
        };
        Ok(Metrics {
            registry,
            http,
            gauges,
        })
    }

    /// Request count and latency, recorded by the router's request layer.
    pub fn http(&self) -> &RequestMetrics {
        &self.http
    }

    /// Samples the gauges and renders everything in the text format.
    pub fn render(&self, admin: &AdminService) -> String {
        let m = admin.write_path().raft_metrics();
        let g = &self.gauges;
        g.term.set(m.current_term as i64);
        g.is_leader.set(i64::from(m.state == ServerState::Leader));
        g.leader_id.set(m.current_leader.map_or(-1, |l| l as i64));
        for (state, name) in [
            (ServerState::Leader, "leader"),
            (ServerState::Follower, "follower"),
            (ServerState::Candidate, "candidate"),
            (ServerState::Learner, "learner"),
        ] {
            g.role
                .with_label_values(&[name])
                .set(i64::from(m.state == state));
        }
        let info = admin.cluster_info();
        g.commit_index.set(info.commit_index as i64);
        g.applied_index
            .set(m.last_applied.map_or(0, |l| l.index as i64));
        g.last_log_index.set(m.last_log_index.unwrap_or(0) as i64);
        g.snapshot_index
            .set(m.snapshot.map_or(0, |l| l.index as i64));
        let (offset, brokers, fenced, topics, partitions) = admin.view().read(|s| {
            (
                s.image.offset,
                s.image.brokers.len(),
                s.image.brokers.values().filter(|b| b.fenced).count(),
                s.image.topics.len(),
                s.image
                    .topics
                    .values()
                    .map(|t| t.partitions.len())
                    .sum::<usize>(),
            )
        });
        let (unclean, elr) = admin.view().read(|s| {
            let unclean: u64 = s.image.brokers.values().map(|b| b.unclean_restarts).sum();
            let elr: usize = s
                .image
                .topics
                .values()
                .flat_map(|t| &t.partitions)
                .map(|p| p.elr.len())
                .sum();
            (unclean, elr)
        });
        g.unclean_restarts.set(unclean as i64);
        g.elr_replicas.set(elr as i64);
        g.metadata_offset.set(offset as i64);
        g.brokers.set(brokers as i64);
        g.fenced.set(fenced as i64);
        g.topics.set(topics as i64);
        g.partitions.set(partitions as i64);
        ferry_http::ops::encode_text(&self.registry)
    }
}
