//! Component tests of [`Partition`] over a real log in a temporary
//! directory: role fencing of appends, HW on truncation, HW checkpoints.

use super::role::{AppendRefused, EpochMismatch};
use super::test_support::{b, leader_batch, meta, open, rec, settings, stamped_epochs};
use super::AppendOutcome;

/// Scenario 2: a leader deposed by a metadata update (broker 2 leads epoch 2)
/// must not append, let alone stamp the new leader's epoch on its batch.
#[test]
fn scenario_2_a_deposed_leader_cannot_append() {
    let dir = tempfile::tempdir().unwrap();
    let part = open(dir.path(), "id", meta(1, 1, &[1, 2, 3], &[1, 2, 3]));
    part.update(meta(2, 2, &[1, 2, 3], &[1, 2, 3]), settings(2), b(1));
    let out = part.append(&[rec("x")], 1, None, None);
    assert!(
        !matches!(out, Ok(AppendOutcome::Appended { .. })),
        "a follower appended as leader: {out:?}, stamped {:?}",
        stamped_epochs(&part)
    );
    assert_eq!(part.log.log_end_offset(), 0, "nothing written");
}

/// Scenario 2: a request checked against epoch 1 whose append comes after
/// this broker began leading epoch 2 is fenced, not stamped with epoch 2.
#[test]
fn scenario_2_an_append_naming_an_older_epoch_is_fenced() {
    let dir = tempfile::tempdir().unwrap();
    let part = open(dir.path(), "id", meta(1, 1, &[1, 2, 3], &[1, 2, 3]));
    part.check_leader_epoch(Some(1)).unwrap();
    part.update(meta(1, 2, &[1, 2, 3], &[1, 2, 3]), settings(2), b(1));
    let out = part.append(&[rec("x")], 1, None, Some(1));
    assert!(
        matches!(
            out,
            Ok(AppendOutcome::Refused(AppendRefused::Epoch(
                EpochMismatch::Fenced {
                    requested: 1,
                    current: 2
                }
            )))
        ),
        "{out:?}"
    );
    let out = part.append(&[rec("y")], 1, None, Some(2));
    assert!(matches!(
        out,
        Ok(AppendOutcome::Appended {
            leader_epoch: 2,
            ..
        })
    ));
    assert_eq!(stamped_epochs(&part), vec![2]);
}

/// Scenario 5: a follower truncating a divergent suffix below its HW lowers
/// the HW to the new log end and checkpoints it before it appends anything
/// else, so a crash cannot bring back the old HW over the new leader's
/// uncommitted records.
#[test]
fn scenario_5_truncation_lowers_and_checkpoints_the_hw() {
    let dir = tempfile::tempdir().unwrap();
    let part = open(dir.path(), "id", meta(2, 1, &[1, 2, 3], &[1, 2, 3]));
    for (offset, v) in ["a", "b", "c"].into_iter().enumerate() {
        part.append_replicated(&leader_batch(offset as u64, 1, &[v]))
            .unwrap();
    }
    part.follower_hw(3);
    part.checkpoint_hw().unwrap();
    assert_eq!(part.high_watermark(), 3);

    part.truncate_to(1).unwrap();
    assert_eq!(
        part.high_watermark(),
        1,
        "HW = min(HW, LEO) after truncation"
    );
    part.append_replicated(&leader_batch(1, 2, &["x", "y"]))
        .unwrap();
    drop(part); // a crash: no periodic checkpoint ran since

    let reopened = open(dir.path(), "id", meta(2, 2, &[1, 2, 3], &[1, 2, 3]));
    assert_eq!(reopened.log.log_end_offset(), 3);
    assert_eq!(
        reopened.high_watermark(),
        1,
        "the checkpoint must hold the lowered HW"
    );
}

/// Scenario 5: a handle of a deleted topic incarnation that checkpoints late
/// must not plant its HW in the directory of the re-created topic.
#[test]
fn scenario_5_an_old_incarnation_cannot_checkpoint_into_a_recreated_topic() {
    let dir = tempfile::tempdir().unwrap();
    let old = open(dir.path(), "old-id", meta(2, 1, &[1, 2, 3], &[1, 2, 3]));
    old.append_replicated(&leader_batch(0, 1, &["a", "b", "c"]))
        .unwrap();
    old.follower_hw(3);
    // The topic is deleted and re-created; broker 1 leads the new one, whose
    // three records nobody has replicated yet.
    old.log.delete().unwrap();
    std::fs::create_dir_all(dir.path()).unwrap();
    let new = open(dir.path(), "new-id", meta(1, 1, &[1, 2, 3], &[1, 2, 3]));
    for v in ["x", "y", "z"] {
        new.append(&[rec(v)], 1, None, None).unwrap();
    }
    assert_eq!(new.high_watermark(), 0);
    let _ = old.checkpoint_hw(); // the old handle's late periodic checkpoint
    drop(new);

    let reopened = open(dir.path(), "new-id", meta(1, 1, &[1, 2, 3], &[1, 2, 3]));
    assert_eq!(
        reopened.high_watermark(),
        0,
        "the new incarnation's records are not committed"
    );
    drop(reopened);
    // Had the old handle checked just before the deletion and written just
    // after the re-creation, its checkpoint names the old incarnation.
    std::fs::write(dir.path().join("high-watermark"), "3 old-id\n").unwrap();
    let reopened = open(dir.path(), "new-id", meta(1, 1, &[1, 2, 3], &[1, 2, 3]));
    assert_eq!(reopened.high_watermark(), 0);
}
