//! Fast fencing of dead brokers: what the active controller makes of a
//! broker's report that another broker refused its connection.
//!
//! A refused connection is proof the process is gone (nothing listens on the
//! port), unlike a timeout: a paused or overloaded broker still completes TCP
//! handshakes in its kernel. So a report alone fences nothing: the controller
//! probes the suspect's advertised address itself, and fences only when its
//! own connection is refused too and no heartbeat of that incarnation arrived
//! while it probed. Anything else (connected, timed out, unresolvable) leaves
//! the broker to its session timeout. Pure: time is passed in; the probe and
//! the fencing write are the driver's (`service::brokers`).

use ferry_common::types::BrokerEpoch;
use ferry_common::BrokerId;
use std::collections::HashMap;
use std::time::{Duration, Instant};

/// Least time between two probes of the same incarnation: reports from
/// several followers of one dead leader cost one probe, and a suspect that
/// answered is not probed in a tight loop.
pub const MIN_PROBE_GAP: Duration = Duration::from_millis(200);

/// A probe still unanswered after this long is taken as abandoned (its
/// driver was cancelled); the next report starts a new one.
pub const ABANDONED_PROBE: Duration = Duration::from_secs(3);

/// What the controller's own probe of a suspect found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProbeOutcome {
    /// The suspect's port refused the connection: no process listens there.
    Refused,
    /// The TCP handshake completed: something is alive (maybe paused).
    Connected,
    /// No answer in time: slow, paused, or a network problem; not proof.
    TimedOut,
    /// The address could not be tried (no route, unresolvable): not proof.
    Inconclusive,
}

/// Whether to probe on a report.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OnReport {
    /// Probe now; report the outcome with [`Suspicions::on_probe`].
    Probe,
    /// A probe of this incarnation is already running.
    InFlight,
    /// This incarnation was probed less than [`MIN_PROBE_GAP`] ago.
    Recent,
}

/// The decision after a probe.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Fence the incarnation now, through the same write as session expiry.
    Fence,
    /// Leave it to the session timeout, for this reason.
    Keep(&'static str),
}

#[derive(Debug, Clone, Copy)]
struct Probe {
    epoch: BrokerEpoch,
    started: Instant,
    in_flight: bool,
}

/// Probes under way or recently done, per suspect; pure (time passed in).
#[derive(Debug, Default)]
pub struct Suspicions {
    probes: HashMap<BrokerId, Probe>,
}

impl Suspicions {
    /// A report that `id` (incarnation `epoch`) refused a connection at `now`.
    pub fn on_report(&mut self, id: BrokerId, epoch: BrokerEpoch, now: Instant) -> OnReport {
        if let Some(p) = self.probes.get(&id).filter(|p| p.epoch == epoch) {
            let age = now.saturating_duration_since(p.started);
            if p.in_flight && age < ABANDONED_PROBE {
                return OnReport::InFlight;
            }
            if !p.in_flight && age < MIN_PROBE_GAP {
                return OnReport::Recent;
            }
        }
        self.probes.insert(
            id,
            Probe {
                epoch,
                started: now,
                in_flight: true,
            },
        );
        OnReport::Probe
    }

    /// The probe of `id`/`epoch` started by [`Self::on_report`] found
    /// `outcome`; `last_heartbeat` is when that incarnation was last heard
    /// from, if ever. Fences only on a refusal with no heartbeat since the
    /// probe began: a heartbeat during the probe means the process lived
    /// then, so the refusal has another explanation (a wrong advertised
    /// address, a listener restarting) and a later probe may decide.
    pub fn on_probe(
        &mut self,
        id: BrokerId,
        epoch: BrokerEpoch,
        outcome: ProbeOutcome,
        last_heartbeat: Option<Instant>,
    ) -> Verdict {
        let Some(p) = self.probes.get_mut(&id).filter(|p| p.epoch == epoch) else {
            return Verdict::Keep("no probe of this incarnation was started");
        };
        p.in_flight = false;
        let started = p.started;
        match outcome {
            ProbeOutcome::Refused if last_heartbeat.is_some_and(|at| at > started) => {
                Verdict::Keep("heartbeat during the probe")
            }
            ProbeOutcome::Refused => Verdict::Fence,
            ProbeOutcome::Connected => Verdict::Keep("the suspect accepted a connection"),
            ProbeOutcome::TimedOut => Verdict::Keep("the probe timed out"),
            ProbeOutcome::Inconclusive => Verdict::Keep("the probe was inconclusive"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const B: BrokerId = BrokerId(2);

    #[test]
    fn a_refused_probe_fences_and_anything_else_keeps_the_broker() {
        let t0 = Instant::now();
        for (outcome, fence) in [
            (ProbeOutcome::Refused, true),
            (ProbeOutcome::Connected, false),
            (ProbeOutcome::TimedOut, false),
            (ProbeOutcome::Inconclusive, false),
        ] {
            let mut s = Suspicions::default();
            assert_eq!(s.on_report(B, 7, t0), OnReport::Probe);
            let v = s.on_probe(B, 7, outcome, Some(t0 - Duration::from_millis(50)));
            assert_eq!(v == Verdict::Fence, fence, "{outcome:?} -> {v:?}");
        }
    }

    #[test]
    fn a_heartbeat_during_the_probe_vetoes_a_refusal() {
        let t0 = Instant::now();
        let mut s = Suspicions::default();
        assert_eq!(s.on_report(B, 7, t0), OnReport::Probe);
        let v = s.on_probe(
            B,
            7,
            ProbeOutcome::Refused,
            Some(t0 + Duration::from_millis(1)),
        );
        assert!(matches!(v, Verdict::Keep(_)));
        // Once the gap has passed, a new report probes again and may fence.
        let later = t0 + MIN_PROBE_GAP;
        assert_eq!(s.on_report(B, 7, later), OnReport::Probe);
        let v = s.on_probe(B, 7, ProbeOutcome::Refused, Some(t0));
        assert_eq!(v, Verdict::Fence);
    }

    #[test]
    fn reports_during_a_probe_or_right_after_it_cost_no_second_probe() {
        let t0 = Instant::now();
        let mut s = Suspicions::default();
        assert_eq!(s.on_report(B, 7, t0), OnReport::Probe);
        assert_eq!(
            s.on_report(B, 7, t0 + Duration::from_secs(1)),
            OnReport::InFlight,
            "a slow probe is still in flight"
        );
        assert_eq!(
            s.on_report(B, 7, t0 + ABANDONED_PROBE),
            OnReport::Probe,
            "an abandoned probe does not block the next one"
        );
        s.on_probe(B, 7, ProbeOutcome::Connected, None);
        let mut s = Suspicions::default();
        assert_eq!(s.on_report(B, 7, t0), OnReport::Probe);
        s.on_probe(B, 7, ProbeOutcome::Connected, None);
        assert_eq!(
            s.on_report(B, 7, t0 + Duration::from_millis(10)),
            OnReport::Recent
        );
        assert_eq!(
            s.on_report(B, 7, t0 + MIN_PROBE_GAP),
            OnReport::Probe,
            "probed again once the gap passed"
        );
    }

    #[test]
    fn a_new_incarnation_is_probed_afresh_and_old_outcomes_do_not_fence_it() {
        let t0 = Instant::now();
        let mut s = Suspicions::default();
        assert_eq!(s.on_report(B, 7, t0), OnReport::Probe);
        assert_eq!(
            s.on_report(B, 8, t0),
            OnReport::Probe,
            "a re-registered broker"
        );
        assert!(matches!(
            s.on_probe(B, 7, ProbeOutcome::Refused, None),
            Verdict::Keep(_)
        ));
        assert_eq!(
            s.on_probe(B, 8, ProbeOutcome::Refused, None),
            Verdict::Fence
        );
    }

    #[test]
    fn an_unsolicited_outcome_fences_nothing() {
        let mut s = Suspicions::default();
        assert!(matches!(
            s.on_probe(B, 7, ProbeOutcome::Refused, None),
            Verdict::Keep(_)
        ));
    }
}
