//! ISR proposals whose outcome is not known yet (issue 10, scenario 9): the
//! leader keeps the maximal ISR until an answer or newer metadata settles it.

use super::*;

fn b(i: u32) -> BrokerId {
    BrokerId(i)
}

fn meta(partition_epoch: u32, isr: &[u32]) -> PartitionState {
    PartitionState {
        partition: 0,
        leader: Some(b(1)),
        leader_epoch: 1,
        partition_epoch,
        replicas: vec![b(1), b(2), b(3)],
        isr: isr.iter().map(|i| b(*i)).collect(),
        elr: vec![],
    }
}

fn settings() -> PartitionSettings {
    PartitionSettings {
        min_insync_replicas: 1,
        ..PartitionSettings::from_configs(&BTreeMap::new())
    }
}

/// Broker 1 leads with ISR {1, 2} at LEO 10, and broker 3 has just caught up
/// to it: answers the state and the expansion it proposed.
fn expanding(t: Instant) -> (ReplicaState, IsrProposal) {
    let mut s = ReplicaState::new(meta(1, &[1, 2]), settings(), 0);
    s.on_metadata(meta(1, &[1, 2]), settings(), b(1), 10, t);
    assert_eq!(s.on_follower_fetch(b(1), b(2), 10, 10, t), None);
    assert_eq!(s.high_watermark(), 10);
    let proposal = s.on_follower_fetch(b(1), b(3), 10, 10, t);
    let expected = IsrProposal {
        isr: vec![b(1), b(2), b(3)],
        leader_epoch: 1,
        partition_epoch: 1,
    };
    assert_eq!(proposal.as_ref(), Some(&expected));
    // The leader appends up to 20; broker 2 follows, broker 3 does not yet.
    s.on_follower_fetch(b(1), b(2), 20, 20, t);
    (s, expected)
}

#[test]
fn scenario_9_isr_expansion_with_unknown_outcome_keeps_the_maximal_isr() {
    let t = Instant::now();
    let (mut s, proposal) = expanding(t);
    assert_eq!(s.high_watermark(), 10, "the joiner holds the HW at once");

    // Timeout or controller failover: the controller may have committed {1, 2, 3}.
    s.on_isr_answer(&proposal, IsrAnswer::Unknown);
    s.advance_hw(b(1), 20);
    assert_eq!(
        s.high_watermark(),
        10,
        "HW bounded by the joining follower's LEO while the outcome is unknown"
    );
    assert!(s.isr_in_flight(&proposal), "still in flight: retry it");
    assert_eq!(
        s.on_follower_fetch(b(1), b(3), 10, 20, t),
        None,
        "no other change while it is unsettled"
    );

    // A refusal from a stale view (the partition epoch moved) waits for the metadata.
    s.on_isr_answer(&proposal, IsrAnswer::Stale);
    s.advance_hw(b(1), 20);
    assert_eq!(s.high_watermark(), 10);
    assert!(s.isr_in_flight(&proposal));

    // The metadata arrives: it was committed.
    s.on_metadata(meta(2, &[1, 2, 3]), settings(), b(1), 20, t);
    assert!(!s.isr_in_flight(&proposal));
    assert_eq!(s.high_watermark(), 10, "now a committed member holds it");
    s.on_follower_fetch(b(1), b(3), 20, 20, t);
    assert_eq!(s.high_watermark(), 20);
}

#[test]
fn scenario_9_only_a_definite_answer_or_newer_metadata_settles_a_proposal() {
    let t = Instant::now();
    // A definite rejection: nothing was applied, the committed ISR rules again.
    let (mut s, proposal) = expanding(t);
    s.on_isr_answer(&proposal, IsrAnswer::Rejected);
    assert!(!s.isr_in_flight(&proposal));
    s.advance_hw(b(1), 20);
    assert_eq!(s.high_watermark(), 20);

    // Newer metadata without the joiner (another change took the partition
    // epoch, so the compare-and-set of this one cannot succeed): settled.
    let (mut s, proposal) = expanding(t);
    s.on_isr_answer(&proposal, IsrAnswer::Unknown);
    s.on_metadata(meta(1, &[1, 2]), settings(), b(1), 20, t);
    assert!(
        s.isr_in_flight(&proposal),
        "the same partition epoch settles nothing"
    );
    s.on_metadata(meta(2, &[1, 2]), settings(), b(1), 20, t);
    assert!(!s.isr_in_flight(&proposal));
    assert_eq!(s.high_watermark(), 20);

    // A late answer to an older proposal leaves the newer one alone.
    let next = s.on_follower_fetch(b(1), b(3), 20, 20, t);
    assert_eq!(next.as_ref().map(|p| p.partition_epoch), Some(2));
    s.on_isr_answer(&proposal, IsrAnswer::Rejected);
    assert!(next.is_some_and(|p| s.isr_in_flight(&p)));

    // A role change drops whatever was in flight.
    let (mut s, proposal) = expanding(t);
    let mut moved = meta(3, &[2, 3]);
    moved.leader = Some(b(2));
    moved.leader_epoch = 2;
    s.on_metadata(moved, settings(), b(1), 20, t);
    assert!(!s.isr_in_flight(&proposal));
}
