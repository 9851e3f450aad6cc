//! Consumer-group membership on the coordinator, as a pure state machine
//! (time passed in): members, epochs, the target assignment and the
//! reconciliation that moves partitions towards it (KIP-848's server-side
//! protocol).
//!
//! A partition moves from member A to member B in two steps: A is asked to
//! revoke it (it stays A's, pending revocation) and, only once A reports in a
//! heartbeat that it no longer holds it (having committed its position) or
//! A's session expires, it is given to B. So no partition is ever owned by
//! two live members. The first assignment of a new group waits for the
//! initial rebalance delay, so members that start together share it.

use super::assignor::{assign, Assignor};
use ferry_common::groups::{MemberDescription, TopicPartition};
use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

/// One member.
#[derive(Debug, Clone, PartialEq)]
pub struct Member {
    pub client_id: Option<String>,
    pub topics: Vec<String>,
    pub session_timeout: Duration,
    pub last_heartbeat: Instant,
    /// Bumped whenever `owned` changes; commits must carry it.
    pub epoch: u32,
    /// Partitions the member holds (may fetch and commit), including `revoking`.
    pub owned: BTreeSet<TopicPartition>,
    /// Of `owned`, those the target gives to someone else.
    pub revoking: BTreeSet<TopicPartition>,
}

/// One group's membership.
#[derive(Debug, Clone, PartialEq)]
pub struct Group {
    /// Bumped whenever membership or subscriptions change (the generation).
    pub epoch: u32,
    pub assignor: Assignor,
    pub members: BTreeMap<String, Member>,
    /// What each member should end up owning.
    pub target: BTreeMap<String, BTreeSet<TopicPartition>>,
    /// No assignment before this instant (the initial rebalance delay).
    pub assign_after: Instant,
    /// Partition counts the target was computed from.
    pub partitions: BTreeMap<String, u32>,
}

/// Why a commit is refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CommitRefusal {
    /// The member is not (or no longer) in the group.
    UnknownMember,
    /// A standalone commit (no member id) while the group has members.
    GroupHasMembers,
    /// The commit's epoch is newer than the member's.
    Fenced { current: u32 },
    /// The commit's epoch is older than the member's.
    Stale { current: u32 },
    /// The member does not own this partition.
    NotOwned(TopicPartition),
}

/// What a member is told after join or heartbeat.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemberView {
    pub epoch: u32,
    /// Owned partitions to keep.
    pub assignment: Vec<TopicPartition>,
    /// Owned partitions to give up.
    pub revoking: Vec<TopicPartition>,
}

impl Group {
    /// An empty group whose first assignment waits until `now + initial_delay`.
    pub fn new(assignor: Assignor, now: Instant, initial_delay: Duration) -> Self {
        Group {
            epoch: 0,
            assignor,
            members: BTreeMap::new(),
            target: BTreeMap::new(),
            assign_after: now + initial_delay,
            partitions: BTreeMap::new(),
        }
    }

    /// Adds `id` or updates its subscription and session; a new member or a
    /// changed subscription bumps the group epoch and moves the target.
    pub fn join(
        &mut self,
        id: &str,
        client_id: Option<String>,
        topics: Vec<String>,
        session_timeout: Duration,
        now: Instant,
        partitions: &BTreeMap<String, u32>,
    ) {
        let changed = self.members.get(id).is_none_or(|m| m.topics != topics);
        let m = self
            .members
            .entry(id.to_string())
            .or_insert_with(|| Member {
                client_id,
                topics: Vec::new(),
                session_timeout,
                last_heartbeat: now,
                epoch: 0,
                owned: BTreeSet::new(),
                revoking: BTreeSet::new(),
            });
        m.topics = topics;
        m.session_timeout = session_timeout;
        m.last_heartbeat = now;
        if changed {
            self.epoch += 1;
            self.retarget(now, partitions);
        }
        self.reconcile();
    }

    /// Keeps `id` alive; with `owned`, releases the partitions pending
    /// revocation that the member no longer holds. A report made at an older
    /// epoch than the member's releases nothing: it predates partitions the
    /// member has been given since and may already be fetching. False if
    /// `id` is unknown.
    pub fn heartbeat(
        &mut self,
        id: &str,
        owned: Option<&[TopicPartition]>,
        reported_epoch: Option<u32>,
        now: Instant,
        partitions: &BTreeMap<String, u32>,
    ) -> bool {
        let Some(m) = self.members.get_mut(id) else {
            return false;
        };
        m.last_heartbeat = now;
        let current = reported_epoch.is_none_or(|e| e == m.epoch);
        if let Some(owned) = owned.filter(|_| current) {
            let released: Vec<TopicPartition> = m
                .revoking
                .iter()
                .filter(|tp| !owned.contains(tp))
                .cloned()
                .collect();
            if !released.is_empty() {
                for tp in &released {
                    m.revoking.remove(tp);
                    m.owned.remove(tp);
                }
                m.epoch += 1;
            }
        }
        if *partitions != self.partitions && now >= self.assign_after {
            self.retarget(now, partitions);
        }
        self.reconcile();
        true
    }

    /// Removes `id` (a clean leave); false if unknown.
    pub fn leave(&mut self, id: &str, now: Instant, partitions: &BTreeMap<String, u32>) -> bool {
        if self.members.remove(id).is_none() {
            return false;
        }
        self.epoch += 1;
        self.retarget(now, partitions);
        self.reconcile();
        true
    }

    /// Expires members whose session ran out and makes the first assignment
    /// once the initial delay has passed; true if anything changed.
    pub fn tick(&mut self, now: Instant, partitions: &BTreeMap<String, u32>) -> bool {
        let before = self.members.len();
        self.members
            .retain(|_, m| now.saturating_duration_since(m.last_heartbeat) < m.session_timeout);
        let expired = self.members.len() != before;
        let first =
            now >= self.assign_after && self.partitions.is_empty() && !partitions.is_empty();
        if expired {
            self.epoch += 1;
        }
        if expired || first {
            self.retarget(now, partitions);
            self.reconcile();
        }
        expired || first
    }

    /// Whether `member` (None: a standalone commit) at `epoch` may commit `tps`.
    pub fn check_commit(
        &self,
        member: Option<&str>,
        epoch: Option<u32>,
        tps: &[TopicPartition],
    ) -> Result<(), CommitRefusal> {
        let Some(id) = member else {
            return if self.members.is_empty() {
                Ok(())
            } else {
                Err(CommitRefusal::GroupHasMembers)
            };
        };
        let m = self.members.get(id).ok_or(CommitRefusal::UnknownMember)?;
        match epoch {
            Some(e) if e > m.epoch => return Err(CommitRefusal::Fenced { current: m.epoch }),
            Some(e) if e < m.epoch => return Err(CommitRefusal::Stale { current: m.epoch }),
            _ => {}
        }
        match tps.iter().find(|tp| !m.owned.contains(tp)) {
            Some(tp) => Err(CommitRefusal::NotOwned(tp.clone())),
            None => Ok(()),
        }
    }

    /// What `id` is told, if it is a member.
    pub fn view(&self, id: &str) -> Option<MemberView> {
        let m = self.members.get(id)?;
        Some(MemberView {
            epoch: m.epoch,
            assignment: m.owned.difference(&m.revoking).cloned().collect(),
            revoking: m.revoking.iter().cloned().collect(),
        })
    }

    /// `Assigning` (initial delay), `Reconciling` (partitions still moving) or `Stable`.
    pub fn state(&self, now: Instant) -> &'static str {
        let owned: usize = self.members.values().map(|m| m.owned.len()).sum();
        let target: usize = self.target.values().map(BTreeSet::len).sum();
        if self.members.is_empty() {
            "Empty"
        } else if now < self.assign_after {
            "Assigning"
        } else if self.members.values().any(|m| !m.revoking.is_empty()) || owned != target {
            "Reconciling"
        } else {
            "Stable"
        }
    }

    pub fn describe_members(&self, now: Instant) -> Vec<MemberDescription> {
        self.members
            .iter()
            .map(|(id, m)| MemberDescription {
                member_id: id.clone(),
                client_id: m.client_id.clone(),
                topics: m.topics.clone(),
                assignment: m.owned.difference(&m.revoking).cloned().collect(),
                last_heartbeat_ms: now.saturating_duration_since(m.last_heartbeat).as_millis()
                    as u64,
                member_epoch: m.epoch,
                pending_revocation: m.revoking.iter().cloned().collect(),
            })
            .collect()
    }

    /// Recomputes the target (after the initial delay; empty before it).
    fn retarget(&mut self, now: Instant, partitions: &BTreeMap<String, u32>) {
        if now < self.assign_after {
            return;
        }
        self.partitions = partitions.clone();
        let subs: BTreeMap<String, Vec<String>> = self
            .members
            .iter()
            .map(|(id, m)| (id.clone(), m.topics.clone()))
            .collect();
        self.target = assign(self.assignor, &subs, partitions)
            .into_iter()
            .map(|(id, tps)| (id, tps.into_iter().collect()))
            .collect();
    }

    /// Moves owners towards the target: asks owners to revoke what the target
    /// gives away, and gives each member the target partitions nobody holds.
    fn reconcile(&mut self) {
        let none = BTreeSet::new();
        for (id, m) in self.members.iter_mut() {
            let target = self.target.get(id).unwrap_or(&none);
            m.revoking = m.owned.difference(target).cloned().collect();
        }
        let mut held: BTreeSet<TopicPartition> = self
            .members
            .values()
            .flat_map(|m| m.owned.iter().cloned())
            .collect();
        for (id, m) in self.members.iter_mut() {
            let target = self.target.get(id).unwrap_or(&none);
            let mut gained = false;
            for tp in target {
                if !held.contains(tp) {
                    held.insert(tp.clone());
                    m.owned.insert(tp.clone());
                    gained = true;
                }
            }
            if gained {
                m.epoch += 1;
            }
        }
    }
}

#[cfg(test)]
mod tests;
