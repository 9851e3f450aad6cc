//! The replica's role and replication rules as a pure state machine: events
//! in (a metadata update, a follower's fetch, the leader's HW, a shrink
//! tick), decisions out (role changes, HW advances, ISR proposals). Time and
//! the log end offset are passed in, so every rule is unit-testable.
//!
//! Every "LEO" here is where a replica's log *counts* to: its fsynced offset
//! (the log end only on `write.caching` topics), so a record is committed
//! only once it is on stable storage on the whole ISR; the driver passes it in.
//!
//! Leader: HW = the smallest LEO over the maximal ISR (pending additions
//! count at once, removals only once committed), where followers' LEOs come
//! from their fetch positions; it never moves backwards and does not move
//! while that ISR is smaller than `min.insync.replicas`. Follower: HW =
//! min(leader's HW, own LEO). Either way a truncation lowers it to the LEO.
//!
//! Only the leader of the current epoch appends, stamping that epoch; an
//! acks=all record counts as committed only if the HW passes it while this
//! replica still leads the epoch it was appended in
//! ([`Watermark::commit_of`](super::watermark::Watermark::commit_of)); see `appends`.

use super::leader_state::{self, FollowerState};
pub use super::leader_state::{IsrAnswer, IsrProposal};
use super::settings::PartitionSettings;
use ferry_common::metadata::PartitionState;
use ferry_common::BrokerId;
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

mod appends;
pub use appends::{AppendRefused, AppendStamp};

/// The leader's bookkeeping while this replica leads.
#[derive(Debug, Clone)]
pub struct LeaderState {
    pub leader_epoch: u32,
    pub since: Instant,
    /// LEO when this leadership began: followers must reach it to join the ISR.
    pub epoch_start_offset: u64,
    pub followers: BTreeMap<BrokerId, FollowerState>,
    /// ISR proposed to the controller and not settled yet (one change in flight).
    pub pending_isr: Option<IsrProposal>,
}

/// This replica's role in the partition's current leader epoch.
#[derive(Debug, Clone)]
pub enum Role {
    /// Another broker leads `leader_epoch` (or nobody does).
    Follower { leader_epoch: u32 },
    /// This broker leads.
    Leader(LeaderState),
}

/// What a metadata update did to the role.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RoleChange {
    /// Older than what the replica has (only the settings were taken).
    Stale,
    Unchanged,
    BecameLeader {
        leader_epoch: u32,
    },
    BecameFollower {
        leader_epoch: u32,
    },
}

/// A request made for another leader epoch than the replica's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EpochMismatch {
    /// The requester's epoch is older: it must refresh metadata.
    Fenced { requested: u32, current: u32 },
    /// The requester's epoch is newer than this replica knows yet.
    Unknown { requested: u32, current: u32 },
}

/// Everything a replica decides from: the latest partition metadata, the
/// topic's settings, the role and the high watermark.
#[derive(Debug, Clone)]
pub struct ReplicaState {
    metadata: PartitionState,
    settings: PartitionSettings,
    role: Role,
    hw: u64,
}

impl ReplicaState {
    /// A replica that has not taken a role yet (a follower of `metadata`'s
    /// epoch) with the checkpointed `hw`.
    pub fn new(metadata: PartitionState, settings: PartitionSettings, hw: u64) -> Self {
        ReplicaState {
            role: Role::Follower {
                leader_epoch: metadata.leader_epoch,
            },
            metadata,
            settings,
            hw,
        }
    }

    pub fn metadata(&self) -> &PartitionState {
        &self.metadata
    }

    pub fn settings(&self) -> &PartitionSettings {
        &self.settings
    }

    pub fn role(&self) -> &Role {
        &self.role
    }

    /// The leader bookkeeping, if this replica leads.
    pub fn leader(&self) -> Option<&LeaderState> {
        match &self.role {
            Role::Leader(l) => Some(l),
            Role::Follower { .. } => None,
        }
    }

    pub fn high_watermark(&self) -> u64 {
        self.hw
    }

    /// Takes the latest metadata and switches role when it says so. Older
    /// states (lower partition and leader epochs) are ignored but for their
    /// settings, since an ISR change answered by the controller may arrive
    /// before its push.
    pub fn on_metadata(
        &mut self,
        state: PartitionState,
        settings: PartitionSettings,
        me: BrokerId,
        leo: u64,
        now: Instant,
    ) -> RoleChange {
        let cur = &self.metadata;
        let older = state.leader_epoch < cur.leader_epoch
            || (state.leader_epoch == cur.leader_epoch
                && state.partition_epoch < cur.partition_epoch);
        self.settings = settings;
        if older {
            return RoleChange::Stale;
        }
        let leading = state.leader == Some(me);
        let change = match &mut self.role {
            Role::Leader(l) if leading && l.leader_epoch == state.leader_epoch => {
                // Our ISR change landed, or a newer partition epoch settled
                // it (its compare-and-set either made that epoch or lost to it).
                if l.pending_isr.as_ref().is_some_and(|p| {
                    p.isr == state.isr || state.partition_epoch > p.partition_epoch
                }) {
                    l.pending_isr = None;
                }
                for r in state.replicas.iter().filter(|r| **r != me) {
                    l.followers
                        .entry(*r)
                        .or_insert_with(|| FollowerState::unknown(now));
                }
                RoleChange::Unchanged
            }
            _ if leading => {
                self.role = Role::Leader(LeaderState {
                    leader_epoch: state.leader_epoch,
                    since: now,
                    epoch_start_offset: leo,
                    followers: state
                        .replicas
                        .iter()
                        .filter(|r| **r != me)
                        .map(|r| (*r, FollowerState::unknown(now)))
                        .collect(),
                    pending_isr: None,
                });
                RoleChange::BecameLeader {
                    leader_epoch: state.leader_epoch,
                }
            }
            role => {
                let was_leader = matches!(role, Role::Leader(_));
                *role = Role::Follower {
                    leader_epoch: state.leader_epoch,
                };
                if was_leader {
                    RoleChange::BecameFollower {
                        leader_epoch: state.leader_epoch,
                    }
                } else {
                    RoleChange::Unchanged
                }
            }
        };
        self.metadata = state;
        self.advance_hw(me, leo);
        change
    }

    /// Leader: recomputes the HW from the maximal ISR (followers: no-op).
    /// Answers the new HW when it moved.
    pub fn advance_hw(&mut self, me: BrokerId, leo: u64) -> Option<u64> {
        let Role::Leader(l) = &self.role else {
            return None;
        };
        let state = &self.metadata;
        if state.leader != Some(me) {
            return None;
        }
        // Maximal ISR: additions count at once, removals only once committed.
        let mut isr = state.isr.clone();
        if let Some(p) = &l.pending_isr {
            isr.extend(p.isr.iter().filter(|b| !state.isr.contains(b)));
        }
        if isr.len() < self.settings.min_insync_replicas {
            return None;
        }
        let hw = leader_state::high_watermark(self.hw, me, leo, &isr, &l.followers);
        self.raise_hw(hw)
    }

    /// This replica's own log now counts to `leo` (its sync task made more
    /// durable): a leader recomputes the HW; a follower waits for the
    /// leader's HW. Answers the new HW when it moved.
    pub fn on_own_progress(&mut self, leo: u64) -> Option<u64> {
        match (&self.role, self.metadata.leader) {
            (Role::Leader(_), Some(me)) => self.advance_hw(me, leo),
            _ => None,
        }
    }

    /// Follower: HW = min(leader's HW, own LEO); answers the new HW when it moved.
    pub fn on_leader_hw(&mut self, leader_hw: u64, leo: u64) -> Option<u64> {
        self.raise_hw(leader_hw.min(leo))
    }

    fn raise_hw(&mut self, hw: u64) -> Option<u64> {
        (hw > self.hw).then(|| {
            self.hw = hw;
            hw
        })
    }

    /// Leader: records a follower's fetch at `fetch_offset` (own LEO `leo`)
    /// and advances the HW; answers a new ISR to propose when the follower
    /// may join it. Followers: no-op.
    pub fn on_follower_fetch(
        &mut self,
        me: BrokerId,
        follower: BrokerId,
        fetch_offset: u64,
        leo: u64,
        now: Instant,
    ) -> Option<IsrProposal> {
        let hw = self.hw;
        let Role::Leader(l) = &mut self.role else {
            return None;
        };
        let state = &self.metadata;
        l.followers
            .entry(follower)
            .or_insert_with(|| FollowerState::unknown(l.since))
            .on_fetch(fetch_offset, leo, now);
        // Only the fetching follower is considered: it is alive right now,
        // while a crashed one's last known LEO may still look caught up.
        let joiners: Vec<BrokerId> = leader_state::isr_joiners(
            &state.replicas,
            &state.isr,
            &l.followers,
            hw,
            l.epoch_start_offset,
        )
        .into_iter()
        .filter(|b| *b == follower)
        .collect();
        let proposal = if l.pending_isr.is_none() && !joiners.is_empty() {
            let mut isr = state.isr.clone();
            isr.extend(joiners);
            Some(put_in_flight(l, state, isr))
        } else {
            None
        };
        self.advance_hw(me, leo);
        proposal
    }

    /// Leader: an ISR without the followers that lagged longer than
    /// `max_lag`, to propose (at most one change in flight).
    pub fn isr_shrink(
        &mut self,
        me: BrokerId,
        now: Instant,
        max_lag: Duration,
    ) -> Option<IsrProposal> {
        let Role::Leader(l) = &mut self.role else {
            return None;
        };
        let state = &self.metadata;
        if l.pending_isr.is_some() || state.leader != Some(me) {
            return None;
        }
        let out = leader_state::isr_laggards(me, &state.isr, &l.followers, now, max_lag, l.since);
        if out.is_empty() {
            return None;
        }
        let isr: Vec<BrokerId> = state
            .isr
            .iter()
            .filter(|b| !out.contains(b))
            .copied()
            .collect();
        Some(put_in_flight(l, state, isr))
    }

    /// Leader: whether `proposal` is still the ISR change in flight.
    pub fn isr_in_flight(&self, proposal: &IsrProposal) -> bool {
        self.leader()
            .is_some_and(|l| l.pending_isr.as_ref() == Some(proposal))
    }

    /// Leader: the controller's answer to `proposal`. Only a commit or a
    /// definite rejection settles it; after a stale or missing answer the
    /// controller may hold the larger ISR, so the maximal ISR keeps counting
    /// until newer metadata (a higher partition epoch) or a retry settles it.
    pub fn on_isr_answer(&mut self, proposal: &IsrProposal, answer: IsrAnswer) {
        let Role::Leader(l) = &mut self.role else {
            return;
        };
        let settled = matches!(answer, IsrAnswer::Committed | IsrAnswer::Rejected);
        if settled && l.pending_isr.as_ref() == Some(proposal) {
            l.pending_isr = None;
        }
    }

    /// Refuses a request made for another leader epoch than the current one.
    pub fn check_leader_epoch(&self, requested: u32) -> Result<(), EpochMismatch> {
        let current = self.metadata.leader_epoch;
        if requested < current {
            return Err(EpochMismatch::Fenced { requested, current });
        }
        if requested > current {
            return Err(EpochMismatch::Unknown { requested, current });
        }
        Ok(())
    }
}

/// Makes `isr`, computed from `state`, the ISR change in flight.
fn put_in_flight(l: &mut LeaderState, state: &PartitionState, isr: Vec<BrokerId>) -> IsrProposal {
    let proposal = IsrProposal {
        isr,
        leader_epoch: state.leader_epoch,
        partition_epoch: state.partition_epoch,
    };
    l.pending_isr = Some(proposal.clone());
    proposal
}

#[cfg(test)]
#[path = "role_isr_tests.rs"]
mod isr_tests;

#[cfg(test)]
#[path = "role_fencing_tests.rs"]
mod fencing_tests;

#[cfg(test)]
mod tests {
    use super::*;

    fn b(i: u32) -> BrokerId {
        BrokerId(i)
    }

    fn meta(leader: u32, leader_epoch: u32, replicas: &[u32], isr: &[u32]) -> PartitionState {
        PartitionState {
            partition: 0,
            leader: Some(b(leader)),
            leader_epoch,
            partition_epoch: leader_epoch,
            replicas: replicas.iter().map(|i| b(*i)).collect(),
            isr: isr.iter().map(|i| b(*i)).collect(),
            elr: vec![],
        }
    }

    fn settings(min_insync: usize) -> PartitionSettings {
        PartitionSettings {
            min_insync_replicas: min_insync,
            ..PartitionSettings::from_configs(&BTreeMap::new())
        }
    }

    /// Broker 1 leading epoch 1 of a 3-replica partition with the full ISR.
    fn leading(t: Instant, min_insync: usize) -> ReplicaState {
        let m = meta(1, 1, &[1, 2, 3], &[1, 2, 3]);
        let mut s = ReplicaState::new(m.clone(), settings(min_insync), 0);
        let change = s.on_metadata(m, settings(min_insync), b(1), 10, t);
        assert_eq!(change, RoleChange::BecameLeader { leader_epoch: 1 });
        s
    }

    #[test]
    fn role_follows_metadata_and_ignores_stale_states() {
        let t = Instant::now();
        let mut s = leading(t, 1);
        assert_eq!(s.leader().map(|l| l.epoch_start_offset), Some(10));
        let same = s.on_metadata(meta(1, 1, &[1, 2, 3], &[1, 2, 3]), settings(1), b(1), 10, t);
        assert_eq!(same, RoleChange::Unchanged);
        let moved = s.on_metadata(meta(2, 2, &[1, 2, 3], &[1, 2, 3]), settings(1), b(1), 10, t);
        assert_eq!(moved, RoleChange::BecameFollower { leader_epoch: 2 });
        assert!(matches!(s.role(), Role::Follower { leader_epoch: 2 }));
        let stale = s.on_metadata(meta(1, 1, &[1, 2, 3], &[1, 2, 3]), settings(2), b(1), 10, t);
        assert_eq!(stale, RoleChange::Stale);
        assert_eq!(s.metadata().leader_epoch, 2, "older metadata is not taken");
        assert_eq!(s.settings().min_insync_replicas, 2, "its settings are");
        assert_eq!(
            s.check_leader_epoch(1),
            Err(EpochMismatch::Fenced {
                requested: 1,
                current: 2
            })
        );
        assert_eq!(
            s.check_leader_epoch(3),
            Err(EpochMismatch::Unknown {
                requested: 3,
                current: 2
            })
        );
        assert_eq!(s.check_leader_epoch(2), Ok(()));
    }

    #[test]
    fn hw_advances_with_the_slowest_isr_member_and_min_insync() {
        let t = Instant::now();
        let mut s = leading(t, 1);
        assert_eq!(s.high_watermark(), 0, "followers not heard from hold it");
        s.on_follower_fetch(b(1), b(2), 10, 10, t);
        assert_eq!(s.high_watermark(), 0);
        s.on_follower_fetch(b(1), b(3), 7, 10, t);
        assert_eq!(s.high_watermark(), 7);
        assert_eq!(s.advance_hw(b(1), 10), None, "nothing moved");
        // An ISR smaller than min.insync freezes the HW.
        let mut s = leading(t, 3);
        s.on_metadata(meta(1, 1, &[1, 2, 3], &[1, 2]), settings(3), b(1), 10, t);
        s.on_follower_fetch(b(1), b(2), 10, 10, t);
        assert_eq!(s.high_watermark(), 0);
    }

    #[test]
    fn a_caught_up_follower_is_proposed_once_and_counts_at_once() {
        let t = Instant::now();
        let mut s = ReplicaState::new(meta(1, 1, &[1, 2], &[1]), settings(1), 0);
        s.on_metadata(meta(1, 1, &[1, 2], &[1]), settings(1), b(1), 5, t);
        assert_eq!(s.high_watermark(), 5, "alone in the ISR");
        assert_eq!(
            s.on_follower_fetch(b(1), b(2), 3, 5, t),
            None,
            "behind the HW"
        );
        assert_eq!(
            s.on_follower_fetch(b(1), b(2), 5, 5, t).map(|p| p.isr),
            Some(vec![b(1), b(2)])
        );
        assert_eq!(
            s.on_follower_fetch(b(1), b(2), 5, 5, t),
            None,
            "one change in flight"
        );
        // Maximal ISR: the pending member already holds the HW back.
        assert_eq!(s.advance_hw(b(1), 8), None);
        s.on_metadata(meta(1, 1, &[1, 2], &[1, 2]), settings(1), b(1), 8, t);
        assert!(s.leader().is_some_and(|l| l.pending_isr.is_none()));
    }

    #[test]
    fn the_leaders_own_synced_offset_bounds_the_hw() {
        let t = Instant::now();
        let m = meta(1, 1, &[1, 2, 3], &[1, 2, 3]);
        let mut s = ReplicaState::new(m.clone(), settings(1), 0);
        // Appended 10, synced 4: the driver passes the synced offset.
        s.on_metadata(m, settings(1), b(1), 4, t);
        s.on_follower_fetch(b(1), b(2), 10, 4, t);
        s.on_follower_fetch(b(1), b(3), 10, 4, t);
        assert_eq!(s.high_watermark(), 4, "followers synced 10, the leader 4");
        assert_eq!(
            s.on_own_progress(10),
            Some(10),
            "the leader's fsync moves it"
        );
        let mut f = ReplicaState::new(meta(2, 1, &[1, 2], &[1, 2]), settings(1), 0);
        f.on_metadata(meta(2, 1, &[1, 2], &[1, 2]), settings(1), b(1), 0, t);
        assert_eq!(
            f.on_own_progress(10),
            None,
            "a follower waits for the leader's HW"
        );
    }

    #[test]
    fn laggards_are_proposed_out_and_followers_take_the_leaders_hw() {
        let t = Instant::now();
        let mut s = leading(t, 1);
        let lag = Duration::from_secs(5);
        s.on_follower_fetch(b(1), b(2), 10, 10, t + Duration::from_secs(9));
        let now = t + Duration::from_secs(10);
        let out = s.isr_shrink(b(1), now, lag);
        assert_eq!(out.as_ref().map(|p| p.isr.clone()), Some(vec![b(1), b(2)]));
        assert_eq!(s.isr_shrink(b(1), now, lag), None, "one change in flight");
        if let Some(p) = &out {
            s.on_isr_answer(p, IsrAnswer::Rejected);
        }
        assert!(s.isr_shrink(b(1), now, lag).is_some());

        let mut f = ReplicaState::new(meta(2, 1, &[1, 2], &[1, 2]), settings(1), 0);
        f.on_metadata(meta(2, 1, &[1, 2], &[1, 2]), settings(1), b(1), 4, t);
        assert_eq!(f.isr_shrink(b(1), now, lag), None);
        assert_eq!(f.on_leader_hw(9, 4), Some(4), "no further than its own LEO");
        assert_eq!(f.on_leader_hw(3, 4), None, "never backwards");
    }
}
