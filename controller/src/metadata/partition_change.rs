//! Pure partition-state transitions: leader election on fencing and unfencing,
//! preferred-leader election, the checks of an ISR change (AlterPartition), and
//! Kafka's eligible leader replicas (KIP-966).
//!
//! Every change bumps `partition_epoch`; a leader change also bumps `leader_epoch`.
//! Leaders come from the ISR, then from the ELR, and from outside both only if
//! the topic enables unclean election.
//!
//! The ELR: replicas that left the ISR while it was below `min.insync.replicas`.
//! The broker freezes the HW while the ISR is that small, so they hold every
//! committed record and may lead without losing any. It is empty whenever the
//! ISR has `min.insync.replicas` members. A broker that restarted without its
//! clean-shutdown marker may have lost its unsynced tail, so it leaves the ISR
//! and ELR ([`on_unclean_restart`]) unless it is the last replica either holds.

use super::commands::Rejection;
use ferry_common::metadata::PartitionState;
use ferry_common::{topic_config, BrokerId, ErrorCode};
use std::collections::BTreeMap;

/// The topic settings elections and ISR changes depend on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rules {
    /// `min.insync.replicas`: below it, replicas leaving the ISR join the ELR.
    pub min_isr: usize,
    /// `unclean.leader.election.enable`: elect outside ISR and ELR as a last resort.
    pub unclean_election: bool,
}

impl Rules {
    /// The rules of a topic with these configs.
    pub fn of(configs: &BTreeMap<String, String>) -> Self {
        Rules {
            min_isr: topic_config::effective(configs, "min.insync.replicas")
                .and_then(|v| v.parse().ok())
                .unwrap_or(1),
            unclean_election: topic_config::effective(configs, "unclean.leader.election.enable")
                == Some("true"),
        }
    }
}

/// Where an elected leader came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Source {
    Isr,
    Elr,
    Unclean,
}

/// The partition after `fenced` lost its session (or re-registered as a new
/// incarnation): it leaves the ISR unless it is the last member, and if it led,
/// the first eligible ISR (then ELR) member in replica order takes over.
pub fn on_broker_fenced(
    p: &PartitionState,
    fenced: BrokerId,
    eligible: impl Fn(BrokerId) -> bool,
    rules: Rules,
) -> Option<PartitionState> {
    if !p.replicas.contains(&fenced) {
        return None;
    }
    let mut next = p.clone();
    if next.isr.contains(&fenced) && next.isr.len() > 1 {
        next.isr.retain(|b| *b != fenced);
    }
    settle_elr(p, &mut next, rules, None);
    if next.leader == Some(fenced) || next.leader.is_none() {
        let ok = |b: BrokerId| b != fenced && eligible(b);
        let leader = elect_into(&mut next, p, ok, rules);
        if leader != next.leader || p.leader == Some(fenced) {
            next.leader = leader;
            next.leader_epoch += 1;
        }
    }
    finish(p, next)
}

/// The partition after `unfenced` came back: a leaderless partition gets a
/// leader if one is now eligible (`eligible` counts `unfenced` as unfenced).
pub fn on_broker_unfenced(
    p: &PartitionState,
    unfenced: BrokerId,
    eligible: impl Fn(BrokerId) -> bool,
    rules: Rules,
) -> Option<PartitionState> {
    if p.leader.is_some() || !p.replicas.contains(&unfenced) {
        return None;
    }
    let mut next = p.clone();
    let leader = elect_into(&mut next, p, eligible, rules)?;
    next.leader = Some(leader);
    next.leader_epoch += 1;
    finish(p, next)
}

/// The partition after `broker` registered saying its previous run ended
/// without a clean shutdown (Kafka's `handleBrokerUncleanShutdown`): its log
/// may have lost its unsynced tail, so it leaves the ISR and the ELR and may
/// only come back by catching up with a leader.
///
/// Unlike KIP-966, it stays when it is the only replica left in ISR and ELR:
/// removing it would leave the partition without any leader until an
/// operator enables unclean election, while no replica is known to hold more
/// (every one of them restarted uncleanly or left while the ISR was full). With
/// durable topics its fsynced log holds every committed record (the HW counts
/// fsynced offsets only); with `write.caching` topics it is the best left.
/// Expects `broker` fenced (a registering incarnation is).
pub fn on_unclean_restart(
    p: &PartitionState,
    broker: BrokerId,
    eligible: impl Fn(BrokerId) -> bool,
    rules: Rules,
) -> Option<PartitionState> {
    if !p.isr.contains(&broker) && !p.elr.contains(&broker) {
        return None;
    }
    let others = p.isr.iter().chain(&p.elr).any(|b| *b != broker);
    if !others {
        return None;
    }
    let mut next = p.clone();
    next.isr.retain(|b| *b != broker);
    next.elr.retain(|b| *b != broker);
    settle_elr(p, &mut next, rules, Some(broker));
    if next.leader == Some(broker) || next.leader.is_none() {
        let ok = |b: BrokerId| b != broker && eligible(b);
        let leader = elect_into(&mut next, p, ok, rules);
        if leader != next.leader || p.leader == Some(broker) {
            next.leader = leader;
            next.leader_epoch += 1;
        }
    }
    finish(p, next)
}

/// The partition led by its preferred replica (the first), when that replica
/// is in the ISR and eligible but does not lead (Kafka's preferred-leader election).
pub fn elect_preferred(
    p: &PartitionState,
    eligible: impl Fn(BrokerId) -> bool,
) -> Option<PartitionState> {
    let preferred = *p.replicas.first()?;
    if p.leader == Some(preferred) || !p.isr.contains(&preferred) || !eligible(preferred) {
        return None;
    }
    let mut next = p.clone();
    next.leader = Some(preferred);
    next.leader_epoch += 1;
    finish(p, next)
}

/// Keeps the ELR in step with an ISR change from `before` to `next`
/// (Kafka's `maybePopulateTargetElr`): empty once the ISR has `min_isr`
/// members; otherwise the old ELR plus whoever just left the ISR, minus ISR
/// members, non-replicas and `unclean` (a log that may be short). Replica order.
fn settle_elr(
    before: &PartitionState,
    next: &mut PartitionState,
    rules: Rules,
    unclean: Option<BrokerId>,
) {
    if next.isr.len() >= rules.min_isr {
        next.elr.clear();
        return;
    }
    let candidate = |b: &BrokerId| next.elr.contains(b) || before.isr.contains(b);
    next.elr = next
        .replicas
        .iter()
        .copied()
        .filter(|b| candidate(b) && !next.isr.contains(b) && Some(*b) != unclean)
        .collect();
}

/// Elects a leader for `next` and adjusts its ISR and ELR to match: an ELR
/// member leads with an ISR of itself (the fenced ISR members it replaces join
/// the ELR), an unclean leader with an ISR of itself and no ELR.
fn elect_into(
    next: &mut PartitionState,
    before: &PartitionState,
    eligible: impl Fn(BrokerId) -> bool,
    rules: Rules,
) -> Option<BrokerId> {
    let (leader, source) = elect(next, eligible, rules.unclean_election)?;
    match source {
        Source::Isr => {}
        Source::Elr => {
            next.isr = vec![leader];
            next.elr.retain(|b| *b != leader);
            settle_elr(before, next, rules, None);
        }
        Source::Unclean => {
            next.isr = vec![leader];
            next.elr.clear();
        }
    }
    Some(leader)
}

/// The first eligible ISR member in replica order, else the first eligible
/// ELR member, else (if allowed) any eligible replica.
fn elect(
    p: &PartitionState,
    eligible: impl Fn(BrokerId) -> bool,
    unclean_allowed: bool,
) -> Option<(BrokerId, Source)> {
    let first = |set: Option<&[BrokerId]>| {
        p.replicas
            .iter()
            .copied()
            .find(|b| set.is_none_or(|s| s.contains(b)) && eligible(*b))
    };
    if let Some(b) = first(Some(&p.isr)) {
        return Some((b, Source::Isr));
    }
    if let Some(b) = first(Some(&p.elr)) {
        return Some((b, Source::Elr));
    }
    if unclean_allowed {
        return first(None).map(|b| (b, Source::Unclean));
    }
    None
}

fn finish(before: &PartitionState, mut next: PartitionState) -> Option<PartitionState> {
    if &next == before {
        return None;
    }
    next.partition_epoch += 1;
    Some(next)
}

/// Kafka's AlterPartition checks: the requester must be the current leader in the
/// current leader epoch, the partition epoch must match (compare-and-set), and the
/// new ISR must hold the leader and only unfenced replicas. The ELR follows
/// the new ISR (see [`settle_elr`]).
pub fn alter_isr(
    p: &PartitionState,
    rules: Rules,
    requester: BrokerId,
    leader_epoch: u32,
    partition_epoch: u32,
    new_isr: &[BrokerId],
    unfenced: impl Fn(BrokerId) -> bool,
) -> Result<Option<PartitionState>, Rejection> {
    if leader_epoch < p.leader_epoch || p.leader != Some(requester) {
        return Err(Rejection::new(
            ErrorCode::FencedLeaderEpoch,
            format!(
                "broker {requester} with leader epoch {leader_epoch} is not the leader; leader is {:?} at epoch {}",
                p.leader.map(|b| b.0),
                p.leader_epoch
            ),
        ));
    }
    if leader_epoch > p.leader_epoch {
        return Err(Rejection::new(
            ErrorCode::UnknownLeaderEpoch,
            format!(
                "leader epoch {leader_epoch} is newer than the controller's {}",
                p.leader_epoch
            ),
        ));
    }
    if partition_epoch != p.partition_epoch {
        return Err(Rejection::new(
            ErrorCode::InvalidUpdateVersion,
            format!(
                "partition epoch {partition_epoch} does not match the current {}",
                p.partition_epoch
            ),
        ));
    }
    if !new_isr.contains(&requester) {
        return Err(Rejection::new(
            ErrorCode::InvalidRequest,
            "the new ISR must contain the leader",
        ));
    }
    let mut isr: Vec<BrokerId> = Vec::with_capacity(new_isr.len());
    for b in new_isr {
        if !p.replicas.contains(b) || !unfenced(*b) {
            return Err(Rejection::new(
                ErrorCode::IneligibleReplica,
                format!("broker {b} cannot join the ISR: it is not an unfenced replica of this partition"),
            ));
        }
        if !isr.contains(b) {
            isr.push(*b);
        }
    }
    if isr == p.isr {
        return Ok(None);
    }
    let mut next = p.clone();
    next.isr = isr;
    settle_elr(p, &mut next, rules, None);
    next.partition_epoch += 1;
    Ok(Some(next))
}

#[cfg(test)]
#[path = "partition_change_tests.rs"]
mod tests;
