//! Component tests of [`Partition`] over a real log in a temporary
//! directory: role fencing of appends.

use super::role::{AppendRefused, EpochMismatch};
use super::test_support::{b, meta, open, rec, settings, stamped_epochs};
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
