//! Pure replication rules, free of I/O: the leader's view of its followers,
//! the high watermark, ISR expansion and shrink, the ISR proposal in flight.
//! Time is passed in so every rule is unit-testable; [`super::role`] applies them.

use ferry_common::BrokerId;
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

/// What the leader knows about one follower, from its fetches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FollowerState {
    /// The follower's log end offset (its last fetch offset).
    pub leo: u64,
    /// Last time the follower had everything the leader had.
    pub caught_up_at: Instant,
    /// Leader LEO and time of the follower's previous fetch (Kafka's rule: a
    /// fetch reaching the LEO of the previous fetch proves it was caught up then).
    pub prev_fetch_leader_leo: u64,
    pub prev_fetch_at: Instant,
}

impl FollowerState {
    /// A follower the leader has not heard from since `since` (it becomes leader).
    pub fn unknown(since: Instant) -> Self {
        FollowerState {
            leo: 0,
            caught_up_at: since,
            prev_fetch_leader_leo: 0,
            prev_fetch_at: since,
        }
    }

    /// Records a fetch at `fetch_offset` while the leader's LEO is `leader_leo`.
    pub fn on_fetch(&mut self, fetch_offset: u64, leader_leo: u64, now: Instant) {
        if fetch_offset >= leader_leo {
            self.caught_up_at = now;
        } else if fetch_offset >= self.prev_fetch_leader_leo
            && self.prev_fetch_at > self.caught_up_at
        {
            self.caught_up_at = self.prev_fetch_at;
        }
        self.leo = fetch_offset;
        self.prev_fetch_leader_leo = leader_leo;
        self.prev_fetch_at = now;
    }
}

/// An ISR change sent to the controller whose outcome is not known yet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IsrProposal {
    pub isr: Vec<BrokerId>,
    /// Epochs of the state it was computed from: the controller's compare-and-set.
    pub leader_epoch: u32,
    pub partition_epoch: u32,
}

/// How an ISR proposal ended at the controller.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IsrAnswer {
    /// Committed; the answered state has been taken.
    Committed,
    /// Refused against the current partition epoch (ineligible replica, invalid
    /// request): not applied by this or any other attempt.
    Rejected,
    /// Refused because this replica's view is old (fenced leader epoch,
    /// partition epoch moved): an earlier attempt may have been committed, and
    /// the metadata that says so is on its way.
    Stale,
    /// No answer (timeout, controller failover): it may have been committed.
    Unknown,
}

/// HW = the smallest LEO over `isr` (the maximal ISR while a change is
/// pending), counting the leader's own LEO; never below `current`.
pub fn high_watermark(
    current: u64,
    me: BrokerId,
    leader_leo: u64,
    isr: &[BrokerId],
    followers: &BTreeMap<BrokerId, FollowerState>,
) -> u64 {
    let min = isr
        .iter()
        .filter(|b| **b != me)
        .map(|b| followers.get(b).map_or(0, |f| f.leo))
        .fold(leader_leo, u64::min);
    min.max(current)
}

/// Followers outside the ISR that may join: they reached the HW and hold the
/// current leader epoch's records (their LEO is at least where it began).
pub fn isr_joiners(
    replicas: &[BrokerId],
    isr: &[BrokerId],
    followers: &BTreeMap<BrokerId, FollowerState>,
    hw: u64,
    epoch_start_offset: u64,
) -> Vec<BrokerId> {
    replicas
        .iter()
        .filter(|b| !isr.contains(b))
        .filter(|b| {
            followers
                .get(b)
                .is_some_and(|f| f.leo >= hw && f.leo >= epoch_start_offset)
        })
        .copied()
        .collect()
}

/// ISR members (other than the leader) not caught up within `max_lag`.
pub fn isr_laggards(
    me: BrokerId,
    isr: &[BrokerId],
    followers: &BTreeMap<BrokerId, FollowerState>,
    now: Instant,
    max_lag: Duration,
    leader_since: Instant,
) -> Vec<BrokerId> {
    isr.iter()
        .filter(|b| **b != me)
        .filter(|b| {
            let caught_up = followers.get(b).map_or(leader_since, |f| f.caught_up_at);
            now.saturating_duration_since(caught_up) > max_lag
        })
        .copied()
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b(i: u32) -> BrokerId {
        BrokerId(i)
    }

    fn followers(t: Instant, leos: &[(u32, u64)]) -> BTreeMap<BrokerId, FollowerState> {
        leos.iter()
            .map(|&(id, leo)| {
                (
                    b(id),
                    FollowerState {
                        leo,
                        ..FollowerState::unknown(t)
                    },
                )
            })
            .collect()
    }

    #[test]
    fn hw_is_min_leo_over_isr_and_never_moves_back() {
        let t = Instant::now();
        let f = followers(t, &[(2, 7), (3, 4)]);
        assert_eq!(high_watermark(0, b(1), 10, &[b(1), b(2), b(3)], &f), 4);
        assert_eq!(high_watermark(0, b(1), 10, &[b(1), b(2)], &f), 7);
        assert_eq!(high_watermark(0, b(1), 10, &[b(1)], &f), 10);
        assert_eq!(
            high_watermark(6, b(1), 10, &[b(1), b(3)], &f),
            6,
            "never backwards"
        );
        assert_eq!(
            high_watermark(0, b(1), 10, &[b(1), b(9)], &f),
            0,
            "unknown follower holds it"
        );
    }

    #[test]
    fn caught_up_time_follows_kafkas_rule() {
        let t0 = Instant::now();
        let mut f = FollowerState::unknown(t0);
        let t1 = t0 + Duration::from_secs(1);
        f.on_fetch(5, 5, t1);
        assert_eq!(f.caught_up_at, t1, "fetch at the leader's LEO");
        let t2 = t0 + Duration::from_secs(2);
        f.on_fetch(5, 9, t2);
        assert_eq!(
            f.caught_up_at, t1,
            "behind now, but it had caught up to the previous LEO"
        );
        let t3 = t0 + Duration::from_secs(3);
        f.on_fetch(9, 12, t3);
        assert_eq!(
            f.caught_up_at, t2,
            "reached the LEO seen at the previous fetch"
        );
    }

    #[test]
    fn laggards_and_joiners() {
        let t0 = Instant::now();
        let mut f = followers(t0, &[(2, 10), (3, 3)]);
        f.get_mut(&b(2)).unwrap().caught_up_at = t0 + Duration::from_secs(9);
        let lag = Duration::from_secs(5);
        let now = t0 + Duration::from_secs(10);
        assert_eq!(
            isr_laggards(b(1), &[b(1), b(2), b(3)], &f, now, lag, t0),
            vec![b(3)]
        );
        assert!(isr_laggards(
            b(1),
            &[b(1), b(2)],
            &f,
            t0 + Duration::from_secs(3),
            lag,
            t0
        )
        .is_empty());
        assert_eq!(
            isr_joiners(&[b(1), b(2), b(3)], &[b(1)], &f, 10, 0),
            vec![b(2)]
        );
        assert!(
            isr_joiners(&[b(1), b(2)], &[b(1)], &f, 10, 11).is_empty(),
            "must hold the current epoch's start"
        );
    }
}
