//! The pure rules of scenarios 1, 2 and 5 of issue 10: appends fenced by
//! role and epoch, acks=all waits that a role change fails, HW lowered by
//! truncation.

use super::*;
use crate::partition::watermark::CommitWait;

fn b(i: u32) -> BrokerId {
    BrokerId(i)
}

fn meta(leader: u32, leader_epoch: u32) -> PartitionState {
    PartitionState {
        partition: 0,
        leader: Some(b(leader)),
        leader_epoch,
        partition_epoch: leader_epoch,
        replicas: vec![b(1), b(2), b(3)],
        isr: vec![b(1), b(2), b(3)],
        elr: vec![],
    }
}

fn settings() -> PartitionSettings {
    PartitionSettings {
        min_insync_replicas: 2,
        ..PartitionSettings::from_configs(&BTreeMap::new())
    }
}

/// Broker 1's replica after taking `m`, with LEO `leo`.
fn replica(m: PartitionState, leo: u64) -> ReplicaState {
    let mut s = ReplicaState::new(m.clone(), settings(), 0);
    s.on_metadata(m, settings(), b(1), leo, Instant::now());
    s
}

#[test]
fn scenario_2_only_the_leader_of_the_current_epoch_appends() {
    let t = Instant::now();
    let mut s = replica(meta(1, 1), 0);
    assert_eq!(s.append_stamp(None).map(|a| a.leader_epoch), Ok(1));
    assert_eq!(s.append_stamp(Some(1)).map(|a| a.leader_epoch), Ok(1));
    assert_eq!(
        s.append_stamp(Some(2)),
        Err(AppendRefused::Epoch(EpochMismatch::Unknown {
            requested: 2,
            current: 1
        }))
    );
    // Deposed: broker 2 leads epoch 2; this replica must not stamp epoch 2.
    s.on_metadata(meta(2, 2), settings(), b(1), 0, t);
    assert_eq!(
        s.append_stamp(None),
        Err(AppendRefused::NotLeader { leader: Some(b(2)) })
    );
    assert_eq!(
        s.append_stamp(Some(1)),
        Err(AppendRefused::Epoch(EpochMismatch::Fenced {
            requested: 1,
            current: 2
        }))
    );
    // Leading again in epoch 3: a request checked against epoch 2 is fenced.
    s.on_metadata(meta(1, 3), settings(), b(1), 0, t);
    assert_eq!(s.append_stamp(None).map(|a| a.leader_epoch), Ok(3));
    assert!(matches!(
        s.append_stamp(Some(2)),
        Err(AppendRefused::Epoch(EpochMismatch::Fenced { .. }))
    ));
}

#[test]
fn scenario_1_a_role_change_mid_wait_fails_the_wait() {
    let t = Instant::now();
    let mut s = replica(meta(1, 1), 1);
    let w = s.watermark();
    assert_eq!(w.commit_of(1, 0), CommitWait::Pending);
    s.on_follower_fetch(b(1), b(2), 1, 1, t);
    s.on_follower_fetch(b(1), b(3), 1, 1, t);
    assert_eq!(s.watermark().commit_of(1, 0), CommitWait::Committed);

    let mut s = replica(meta(1, 1), 1);
    s.on_metadata(meta(2, 2), settings(), b(1), 1, t);
    // The old leader's HW may pass offset 0 as a follower: never a commit.
    s.on_leader_hw(1, 1);
    assert_eq!(s.watermark().hw, 1);
    assert_eq!(s.watermark().commit_of(1, 0), CommitWait::NotLeader);
    // Nor once it leads again, in a later epoch.
    s.on_metadata(meta(1, 3), settings(), b(1), 1, t);
    assert_eq!(s.watermark().commit_of(1, 0), CommitWait::NotLeader);
    assert_eq!(s.watermark().commit_of(3, 0), CommitWait::Committed);
}

#[test]
fn scenario_5_truncation_below_the_hw_lowers_it() {
    let mut s = replica(meta(2, 1), 5);
    assert_eq!(s.on_leader_hw(5, 5), Some(5));
    assert_eq!(s.on_truncated(7), None, "above the HW: unchanged");
    assert_eq!(s.on_truncated(3), Some(3));
    assert_eq!(s.high_watermark(), 3);
    assert_eq!(s.on_leader_hw(5, 3), None, "no further than the LEO");
}
