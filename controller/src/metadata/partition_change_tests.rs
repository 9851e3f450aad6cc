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
        elr: vec![],
    }
}

fn with_elr(mut p: PartitionState, elr: &[u32]) -> PartitionState {
    p.elr = b(elr);
    p
}

/// `min.insync.replicas = 1`, no unclean election: the defaults.
const DEFAULT: Rules = Rules {
    min_isr: 1,
    unclean_election: false,
};

/// RF 3 with `min.insync.replicas = 2`, where the ELR matters.
const MIN2: Rules = Rules {
    min_isr: 2,
    unclean_election: false,
};

const UNCLEAN: Rules = Rules {
    min_isr: 1,
    unclean_election: true,
};

fn all(_: BrokerId) -> bool {
    true
}

fn except(down: &[u32]) -> impl Fn(BrokerId) -> bool + '_ {
    move |x| !down.contains(&x.0)
}

#[test]
fn fencing_the_leader_elects_from_isr_and_bumps_epochs() {
    let p = part(Some(1), &[1, 2, 3], &[1, 2, 3]);
    let n = on_broker_fenced(&p, BrokerId(1), all, DEFAULT).unwrap();
    assert_eq!(n.leader, Some(BrokerId(2)));
    assert_eq!(n.isr, b(&[2, 3]));
    assert_eq!((n.leader_epoch, n.partition_epoch), (6, 8));
}

#[test]
fn fencing_a_follower_shrinks_isr_keeps_leader_epoch() {
    let p = part(Some(1), &[1, 2, 3], &[1, 2, 3]);
    let n = on_broker_fenced(&p, BrokerId(3), all, DEFAULT).unwrap();
    assert_eq!(n.leader, Some(BrokerId(1)));
    assert_eq!(n.isr, b(&[1, 2]));
    assert_eq!((n.leader_epoch, n.partition_epoch), (5, 8));
}

#[test]
fn fenced_isr_members_are_not_elected() {
    let p = part(Some(1), &[1, 2, 3], &[1, 2, 3]);
    let n = on_broker_fenced(&p, BrokerId(1), except(&[2]), DEFAULT).unwrap();
    assert_eq!(n.leader, Some(BrokerId(3)));
}

#[test]
fn last_isr_member_stays_and_partition_goes_leaderless() {
    let p = part(Some(1), &[1, 2], &[1]);
    let n = on_broker_fenced(&p, BrokerId(1), all, DEFAULT).unwrap();
    assert_eq!(n.leader, None);
    assert_eq!(n.isr, b(&[1]));
    assert_eq!(n.leader_epoch, 6);
    // It comes back: leads again with a new epoch.
    let back = on_broker_unfenced(&n, BrokerId(1), all, DEFAULT).unwrap();
    assert_eq!(back.leader, Some(BrokerId(1)));
    assert_eq!(back.leader_epoch, 7);
    // A non-ISR replica coming back does not lead (no unclean election).
    assert!(on_broker_unfenced(&n, BrokerId(2), except(&[1]), DEFAULT).is_none());
}

#[test]
fn unclean_election_when_enabled() {
    let p = with_elr(part(None, &[1, 2, 3], &[1]), &[3]);
    let n = on_broker_unfenced(&p, BrokerId(2), except(&[1, 3]), UNCLEAN).unwrap();
    assert_eq!(n.leader, Some(BrokerId(2)));
    assert_eq!(n.isr, b(&[2]));
    assert!(n.elr.is_empty(), "an unclean leader starts a new history");
}

#[test]
fn preferred_leader_returns_once_in_sync() {
    let p = part(Some(2), &[1, 2, 3], &[2, 3]);
    assert!(elect_preferred(&p, all).is_none(), "not in the ISR yet");
    let p = part(Some(2), &[1, 2, 3], &[2, 3, 1]);
    let n = elect_preferred(&p, all).unwrap();
    assert_eq!(
        (n.leader, n.leader_epoch, n.partition_epoch),
        (Some(BrokerId(1)), 6, 8)
    );
    assert!(
        elect_preferred(&p, except(&[1])).is_none(),
        "fenced preferred replica"
    );
    assert!(elect_preferred(&n, all).is_none(), "already leads");
}

#[test]
fn unrelated_broker_changes_nothing() {
    let p = part(Some(1), &[1, 2], &[1, 2]);
    assert!(on_broker_fenced(&p, BrokerId(9), all, DEFAULT).is_none());
    assert!(on_unclean_restart(&p, BrokerId(9), all, DEFAULT).is_none());
}

#[test]
fn an_isr_shrinking_below_min_isr_keeps_the_removed_members_in_the_elr() {
    let p = part(Some(1), &[1, 2, 3], &[1, 2, 3]);
    // 3 of 3 -> 2: still at min.insync, no ELR.
    let n = on_broker_fenced(&p, BrokerId(3), except(&[3]), MIN2).unwrap();
    assert_eq!((n.isr.clone(), n.elr.clone()), (b(&[1, 2]), vec![]));
    // 2 -> 1: below it, so 2 holds every committed record (the HW froze).
    let n = on_broker_fenced(&n, BrokerId(2), except(&[2, 3]), MIN2).unwrap();
    assert_eq!((n.isr.clone(), n.elr.clone()), (b(&[1]), b(&[2])));
    // The leader's own shrink (AlterPartition) does the same.
    let p = part(Some(1), &[1, 2, 3], &[1, 2]);
    let n = alter_isr(&p, MIN2, BrokerId(1), 5, 7, &b(&[1]), all)
        .unwrap()
        .unwrap();
    assert_eq!((n.isr.clone(), n.elr.clone()), (b(&[1]), b(&[2])));
    // With the default min.insync of 1 there is never an ELR.
    let n = alter_isr(&p, DEFAULT, BrokerId(1), 5, 7, &b(&[1]), all)
        .unwrap()
        .unwrap();
    assert!(n.elr.is_empty());
}

#[test]
fn rejoining_the_isr_leaves_the_elr_and_reaching_min_isr_clears_it() {
    let p = with_elr(part(Some(1), &[1, 2, 3], &[1]), &[2, 3]);
    // 2 caught up: in the ISR (min.insync reached), so the ELR is cleared.
    let n = alter_isr(&p, MIN2, BrokerId(1), 5, 7, &b(&[1, 2]), all)
        .unwrap()
        .unwrap();
    assert_eq!((n.isr.clone(), n.elr.clone()), (b(&[1, 2]), vec![]));
    // With min.insync 3, 3 stays eligible while 2 moves to the ISR.
    let min3 = Rules { min_isr: 3, ..MIN2 };
    let n = alter_isr(&p, min3, BrokerId(1), 5, 7, &b(&[1, 2]), all)
        .unwrap()
        .unwrap();
    assert_eq!((n.isr.clone(), n.elr.clone()), (b(&[1, 2]), b(&[3])));
}

#[test]
fn an_elr_member_leads_when_no_isr_member_can() {
    // ISR [1] (last member, fenced), ELR [2]: 2 returns and leads with an ISR
    // of itself; 1, which holds the committed log too, becomes eligible.
    let p = with_elr(part(None, &[1, 2, 3], &[1]), &[2]);
    let n = on_broker_unfenced(&p, BrokerId(2), except(&[1, 3]), MIN2).unwrap();
    assert_eq!(n.leader, Some(BrokerId(2)));
    assert_eq!((n.isr.clone(), n.elr.clone()), (b(&[2]), b(&[1])));
    assert_eq!(n.leader_epoch, 6);
    // An eligible ISR member is always preferred over the ELR.
    let p = with_elr(part(Some(3), &[1, 2, 3], &[3, 1]), &[2]);
    let n = on_broker_fenced(&p, BrokerId(3), all, MIN2).unwrap();
    assert_eq!(n.leader, Some(BrokerId(1)));
    assert_eq!((n.isr.clone(), n.elr.clone()), (b(&[1]), b(&[2, 3])));
    // A replica out of both does not lead.
    let p = with_elr(part(None, &[1, 2, 3], &[1]), &[2]);
    assert!(on_broker_unfenced(&p, BrokerId(3), except(&[1, 2]), MIN2).is_none());
}

#[test]
fn an_unclean_restart_leaves_isr_and_elr_while_a_full_log_remains() {
    // The stale-ISR case: 1 was the last ISR member and came back without its
    // marker; 2 (ELR) still holds the committed log. 1 must not lead from the
    // ISR it kept: it leaves, and the partition waits for 2.
    let p = with_elr(part(None, &[1, 2, 3], &[1]), &[2]);
    let n = on_unclean_restart(&p, BrokerId(1), except(&[1, 2]), MIN2).unwrap();
    assert_eq!(
        (n.isr.clone(), n.elr.clone(), n.leader),
        (vec![], b(&[2]), None)
    );
    assert_eq!(n.partition_epoch, 8);
    assert!(
        on_broker_unfenced(&n, BrokerId(1), except(&[2]), MIN2).is_none(),
        "the short replica is not elected"
    );
    let led = on_broker_unfenced(&n, BrokerId(2), all, MIN2).unwrap();
    assert_eq!((led.leader, led.isr.clone()), (Some(BrokerId(2)), b(&[2])));
    // An ELR member restarting uncleanly leaves the ELR, and does not come
    // back into it when the ISR changes later.
    let p = with_elr(part(Some(1), &[1, 2, 3], &[1]), &[2, 3]);
    let n = on_unclean_restart(&p, BrokerId(3), except(&[3]), MIN2).unwrap();
    assert_eq!((n.isr.clone(), n.elr.clone()), (b(&[1]), b(&[2])));
    // If the ELR member is up already, it leads at once.
    let p = with_elr(part(None, &[1, 2, 3], &[1]), &[2]);
    let n = on_unclean_restart(&p, BrokerId(1), except(&[1]), MIN2).unwrap();
    assert_eq!((n.leader, n.isr.clone()), (Some(BrokerId(2)), b(&[2])));
}

#[test]
fn an_unclean_restart_outside_isr_and_elr_changes_nothing() {
    // Fencing already took it out of the ISR: nothing left to withdraw, and it
    // rejoins by catching up with the leader (AlterPartition).
    let p = part(Some(1), &[1, 2, 3], &[1, 2]);
    assert!(on_unclean_restart(&p, BrokerId(3), all, MIN2).is_none());
}

#[test]
fn when_every_holder_restarted_uncleanly_the_last_one_stays_and_leads() {
    // A power cut of every node: ISR [3] (fenced last), ELR [2]. Each comes
    // back without a marker. 2 registers first and leaves (3 might still hold
    // more); 3 is then the only replica either set holds. Removing it too
    // would leave no leader at all until an operator enables unclean
    // election, although no replica is known to hold more than it; so it stays
    // and leads when it is unfenced. (Had 3 registered first, 2 would be the
    // one kept, in the ELR, and lead from there.)
    let p = with_elr(part(None, &[1, 2, 3], &[3]), &[2]);
    let n = on_unclean_restart(&p, BrokerId(2), except(&[1, 2, 3]), MIN2).unwrap();
    assert_eq!((n.isr.clone(), n.elr.clone()), (b(&[3]), vec![]));
    assert!(on_unclean_restart(&n, BrokerId(3), except(&[1, 2, 3]), MIN2).is_none());
    assert!(on_unclean_restart(&n, BrokerId(1), except(&[1, 2, 3]), MIN2).is_none());
    let led = on_broker_unfenced(&n, BrokerId(3), except(&[1, 2]), MIN2).unwrap();
    assert_eq!(led.leader, Some(BrokerId(3)));
    // The other order: 3 first (2 is still a possible full log), then 2 stays.
    let n = on_unclean_restart(&p, BrokerId(3), except(&[1, 2, 3]), MIN2).unwrap();
    assert_eq!((n.isr.clone(), n.elr.clone()), (vec![], b(&[2])));
    assert!(on_unclean_restart(&n, BrokerId(2), except(&[1, 2, 3]), MIN2).is_none());
    let led = on_broker_unfenced(&n, BrokerId(2), except(&[1, 3]), MIN2).unwrap();
    assert_eq!((led.leader, led.isr.clone()), (Some(BrokerId(2)), b(&[2])));
}

#[test]
fn unclean_election_is_the_only_way_outside_isr_and_elr() {
    let p = part(None, &[1, 2, 3], &[]);
    assert!(on_broker_unfenced(&p, BrokerId(2), all, MIN2).is_none());
    let unclean = Rules {
        unclean_election: true,
        ..MIN2
    };
    let n = on_broker_unfenced(&p, BrokerId(2), except(&[1, 3]), unclean).unwrap();
    assert_eq!((n.leader, n.isr.clone()), (Some(BrokerId(2)), b(&[2])));
}
