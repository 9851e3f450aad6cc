//! Reporting brokers that refuse connections to the active controller, so a
//! dead broker is fenced in well under its session timeout.
//!
//! A refused connection (nothing listens on the port) is proof the process
//! is gone; a timeout is not (a paused broker still completes handshakes in
//! its kernel), so only refusals are reported. The controller probes the
//! suspect itself before fencing it. [`ReportGate`] is the pure rate limit;
//! [`SuspectReporter`] the driver that peer calls feed.

use super::controller_client::ControllerClient;
use crate::metadata::MetadataCache;
use crate::node::Node;
use crate::peer_client::RefusalSink;
use ferry_common::internal::UnreachableReport;
use ferry_common::BrokerId;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Least time between two reports about the same broker: a follower retries
/// its fetch every few hundred milliseconds, and one report per retry is
/// plenty while the controller probes.
pub const REPORT_GAP: Duration = Duration::from_millis(200);

/// When each suspect was last reported; pure (time passed in).
#[derive(Debug, Default)]
pub struct ReportGate {
    last: HashMap<BrokerId, Instant>,
}

impl ReportGate {
    /// Whether to report `suspect` now; records the report if so.
    pub fn admit(&mut self, suspect: BrokerId, now: Instant) -> bool {
        match self.last.get(&suspect) {
            Some(at) if now.saturating_duration_since(*at) < REPORT_GAP => false,
            _ => {
                self.last.insert(suspect, now);
                true
            }
        }
    }
}

/// Sends a report to the controller for each refused connection to a known
/// broker, at most one per [`REPORT_GAP`] per broker.
pub struct SuspectReporter {
    node: Arc<Node>,
    metadata: Arc<MetadataCache>,
    controller: Arc<ControllerClient>,
    gate: Mutex<ReportGate>,
}

impl SuspectReporter {
    pub fn new(
        node: Arc<Node>,
        metadata: Arc<MetadataCache>,
        controller: Arc<ControllerClient>,
    ) -> Self {
        SuspectReporter {
            node,
            metadata,
            controller,
            gate: Mutex::default(),
        }
    }

    /// The broker whose advertised URL `url` starts with (not this one).
    fn broker_at(&self, url: &str) -> Option<BrokerId> {
        let me = self.node.id();
        self.metadata.read(|img| {
            img.brokers
                .values()
                .find(|b| {
                    let base = b.url.trim_end_matches('/');
                    url.strip_prefix(base)
                        .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
                })
                .map(|b| b.id)
                .filter(|id| Some(*id) != me)
        })
    }
}

impl RefusalSink for SuspectReporter {
    fn refused(&self, url: &str) {
        let Some(reporter_id) = self.node.id() else {
            return;
        };
        let Some(suspect) = self.broker_at(url) else {
            return;
        };
        let admitted = self
            .gate
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .admit(suspect, Instant::now());
        if !admitted || self.node.is_shutting_down() {
            return;
        }
        let report = UnreachableReport {
            reporter_id,
            reporter_epoch: self.node.broker_epoch(),
        };
        let controller = self.controller.clone();
        // Off the caller's path: a fetch loop must not wait for the verdict.
        tokio::spawn(async move {
            match controller.report_unreachable(suspect, &report).await {
                Ok(v) => tracing::info!(
                    broker_id = suspect.0,
                    fenced = v.fenced,
                    reason = %v.reason,
                    "reported a broker that refused a connection"
                ),
                Err(e) => {
                    tracing::debug!(broker_id = suspect.0, error = %e, "unreachable report failed")
                }
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reporter_with(brokers: &[(u32, &str)], me: u32) -> SuspectReporter {
        let node = Arc::new(Node::new(Default::default(), "http://me".into()));
        node.registered(BrokerId(me), 1, "c".into());
        let metadata = Arc::new(MetadataCache::default());
        let mut img = ferry_common::metadata::MetadataImage::default();
        for (id, url) in brokers {
            img.brokers.insert(
                BrokerId(*id),
                ferry_common::metadata::BrokerRegistration {
                    id: BrokerId(*id),
                    url: url.to_string(),
                    rack: None,
                    incarnation_id: "i".into(),
                    epoch: 1,
                    fenced: false,
                    unclean_restarts: 0,
                },
            );
        }
        metadata.install_snapshot(img);
        let controller = Arc::new(ControllerClient::new(
            vec![],
            crate::peer_client::test_signer(),
        ));
        SuspectReporter::new(node, metadata, controller)
    }

    #[test]
    fn a_refused_url_is_traced_to_the_broker_advertising_it_never_to_a_port_prefix() {
        let r = reporter_with(
            &[
                (1, "http://127.0.0.1:1"),
                (2, "http://127.0.0.1:12/"),
                (3, "http://me3"),
            ],
            3,
        );
        assert_eq!(r.broker_at("http://127.0.0.1:1"), Some(BrokerId(1)));
        assert_eq!(
            r.broker_at("http://127.0.0.1:12/internal/v1/replica/fetch"),
            Some(BrokerId(2)),
            "not broker 1, whose URL is a prefix of 2's"
        );
        assert_eq!(r.broker_at("http://127.0.0.1:1/v1/x"), Some(BrokerId(1)));
        assert_eq!(
            r.broker_at("http://me3/v1"),
            None,
            "never this broker itself"
        );
        assert_eq!(r.broker_at("http://elsewhere:9"), None);
    }

    #[test]
    fn one_report_per_gap_per_suspect() {
        let t0 = Instant::now();
        let mut g = ReportGate::default();
        assert!(g.admit(BrokerId(1), t0));
        assert!(!g.admit(BrokerId(1), t0 + Duration::from_millis(50)));
        assert!(g.admit(BrokerId(2), t0), "other suspects are not held back");
        assert!(g.admit(BrokerId(1), t0 + REPORT_GAP));
    }
}
