//! Pure partition-state transitions: leader election on fencing and unfencing,
//! preferred-leader election, and the checks of an ISR change (AlterPartition).
//!
//! Every change bumps `partition_epoch`; a leader change also bumps `leader_epoch`.
//! Leaders come from the ISR only, unless the topic enables unclean election.

use super::commands::Rejection;
use ferry_common::metadata::PartitionState;
use ferry_common::{BrokerId, ErrorCode};

/// The partition after `fenced` lost its session (or re-registered as a new
/// incarnation): it leaves the ISR unless it is the last member, and if it led,
/// the first eligible ISR member in replica order takes over.
pub fn on_broker_fenced(
    p: &PartitionState,
    fenced: BrokerId,
    eligible: impl Fn(BrokerId) -> bool,
    unclean_allowed: bool,
) -> Option<PartitionState> {
    if !p.replicas.contains(&fenced) {
        return None;
    }
    let mut next = p.clone();
    if next.isr.contains(&fenced) && next.isr.len() > 1 {
        next.isr.retain(|b| *b != fenced);
    }
    if next.leader == Some(fenced) || next.leader.is_none() {
        let ok = |b: BrokerId| b != fenced && eligible(b);
        let new_leader = elect(&next, ok, unclean_allowed);
        if let Some((leader, unclean)) = new_leader {
            if unclean {
                next.isr = vec![leader];
            }
        }
        let leader = new_leader.map(|(l, _)| l);
        if leader != next.leader || p.leader == Some(fenced) {
            next.leader = leader;
            next.leader_epoch += 1;
        }
    }
    finish(p, next)
}

/// The partition after `unfenced` came back: leaderless partitions it can lead
/// get it as leader.
pub fn on_broker_unfenced(
    p: &PartitionState,
    unfenced: BrokerId,
    unclean_allowed: bool,
) -> Option<PartitionState> {
    if p.leader.is_some() || !p.replicas.contains(&unfenced) {
        return None;
    }
    let mut next = p.clone();
    let (leader, unclean) = elect(&next, |b| b == unfenced, unclean_allowed)?;
    if unclean {
        next.isr = vec![leader];
    }
    next.leader = Some(leader);
    next.leader_epoch += 1;
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

/// First ISR member in replica order that is eligible; `(leader, was_unclean)`.
fn elect(
    p: &PartitionState,
    eligible: impl Fn(BrokerId) -> bool,
    unclean_allowed: bool,
) -> Option<(BrokerId, bool)> {
    let clean = p
        .replicas
        .iter()
        .copied()
        .find(|b| p.isr.contains(b) && eligible(*b));
    match clean {
        Some(b) => Some((b, false)),
        None if unclean_allowed => p
            .replicas
            .iter()
            .copied()
            .find(|b| eligible(*b))
            .map(|b| (b, true)),
        None => None,
    }
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
/// new ISR must hold the leader and only unfenced replicas.
pub fn alter_isr(
    p: &PartitionState,
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
    next.partition_epoch += 1;
    Ok(Some(next))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b(ids: &[u32]) -> Vec<BrokerId> {
        ids.iter().map(|&i| BrokerId(i)).collect()
    }

    fn part(leader: Option<u32>, replicas: &[u32], isr: &[u32]) -> PartitionState {
        PartitionState {
            partition: 0,
            leader: leader.map(BrokerId),
            leader_epoch: 5,
            replicas: b(replicas),
            isr: b(isr),
            partition_epoch: 7,
        }
    }

    #[test]
    fn fencing_the_leader_elects_from_isr_and_bumps_epochs() {
        let p = part(Some(1), &[1, 2, 3], &[1, 2, 3]);
        let n = on_broker_fenced(&p, BrokerId(1), |_| true, false).unwrap();
        assert_eq!(n.leader, Some(BrokerId(2)));
        assert_eq!(n.isr, b(&[2, 3]));
        assert_eq!((n.leader_epoch, n.partition_epoch), (6, 8));
    }

    #[test]
    fn fencing_a_follower_shrinks_isr_keeps_leader_epoch() {
        let p = part(Some(1), &[1, 2, 3], &[1, 2, 3]);
        let n = on_broker_fenced(&p, BrokerId(3), |_| true, false).unwrap();
        assert_eq!(n.leader, Some(BrokerId(1)));
        assert_eq!(n.isr, b(&[1, 2]));
        assert_eq!((n.leader_epoch, n.partition_epoch), (5, 8));
    }

    #[test]
    fn fenced_isr_members_are_not_elected() {
        let p = part(Some(1), &[1, 2, 3], &[1, 2, 3]);
        let n = on_broker_fenced(&p, BrokerId(1), |x| x != BrokerId(2), false).unwrap();
        assert_eq!(n.leader, Some(BrokerId(3)));
    }

    #[test]
    fn last_isr_member_stays_and_partition_goes_leaderless() {
        let p = part(Some(1), &[1, 2], &[1]);
        let n = on_broker_fenced(&p, BrokerId(1), |_| true, false).unwrap();
        assert_eq!(n.leader, None);
        assert_eq!(n.isr, b(&[1]));
        assert_eq!(n.leader_epoch, 6);
        // It comes back: leads again with a new epoch.
        let back = on_broker_unfenced(&n, BrokerId(1), false).unwrap();
        assert_eq!(back.leader, Some(BrokerId(1)));
        assert_eq!(back.leader_epoch, 7);
        // A non-ISR replica coming back does not lead (no unclean election).
        assert!(on_broker_unfenced(&n, BrokerId(2), false).is_none());
    }

    #[test]
    fn unclean_election_when_enabled() {
        let p = part(None, &[1, 2], &[1]);
        let n = on_broker_unfenced(&p, BrokerId(2), true).unwrap();
        assert_eq!(n.leader, Some(BrokerId(2)));
        assert_eq!(n.isr, b(&[2]));
    }

    #[test]
    fn preferred_leader_returns_once_in_sync() {
        let p = part(Some(2), &[1, 2, 3], &[2, 3]);
        assert!(
            elect_preferred(&p, |_| true).is_none(),
            "not in the ISR yet"
        );
        let p = part(Some(2), &[1, 2, 3], &[2, 3, 1]);
        let n = elect_preferred(&p, |_| true).unwrap();
        assert_eq!(
            (n.leader, n.leader_epoch, n.partition_epoch),
            (Some(BrokerId(1)), 6, 8)
        );
        assert!(
            elect_preferred(&p, |b| b != BrokerId(1)).is_none(),
            "fenced preferred replica"
        );
        assert!(elect_preferred(&n, |_| true).is_none(), "already leads");
    }

    #[test]
    fn unrelated_broker_changes_nothing() {
        let p = part(Some(1), &[1, 2], &[1, 2]);
        assert!(on_broker_fenced(&p, BrokerId(9), |_| true, false).is_none());
    }
}
