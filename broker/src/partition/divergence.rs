//! Leader-epoch arithmetic (KIP-279/KIP-320), pure: where a follower's log
//! diverged from the leader's, as the leader answers it and as the follower
//! truncates.

use ferry_common::internal::EpochEndOffset;

/// Kafka's `endOffsetForEpoch`: for the largest epoch `<= requested` in the
/// epoch cache `(epoch, start_offset)`, that epoch and the offset where it
/// ended (the next epoch's start, or `leo` for the latest). `None` when the
/// log has no epoch that old.
pub fn end_offset_for_epoch(cache: &[(u32, u64)], leo: u64, requested: u32) -> Option<(u32, u64)> {
    let idx = cache.iter().rposition(|(e, _)| *e <= requested)?;
    let end = cache.get(idx + 1).map_or(leo, |(_, start)| *start);
    Some((cache[idx].0, end))
}

/// Where a follower must truncate after the leader reported that its log for
/// `leader_epoch` ends at `leader_end`: no further than the leader's end, and
/// no further than the follower's own end for that epoch.
pub fn truncation_point(
    own_cache: &[(u32, u64)],
    own_leo: u64,
    leader_epoch: u32,
    leader_end: u64,
) -> u64 {
    let own_end = end_offset_for_epoch(own_cache, own_leo, leader_epoch).map_or(0, |(e, end)| {
        // The follower's largest epoch <= leader_epoch is older: everything after it diverged.
        if e < leader_epoch {
            end.min(leader_end)
        } else {
            end
        }
    });
    own_end.min(leader_end).min(own_leo)
}

/// The leader's answer to a follower fetching at `fetch_offset` whose last
/// record is of `last_fetched_epoch`: the epoch and end offset to truncate
/// to when the follower's log diverged (its last epoch ends earlier here, or
/// not at all), `None` when it may fetch on.
pub fn diverging_epoch(
    leader_cache: &[(u32, u64)],
    log_start: u64,
    leo: u64,
    fetch_offset: u64,
    last_fetched_epoch: Option<u32>,
) -> Option<EpochEndOffset> {
    match last_fetched_epoch {
        Some(last_epoch) => {
            let ends = end_offset_for_epoch(leader_cache, leo, last_epoch);
            let diverged = match ends {
                Some((epoch, end)) => epoch < last_epoch || end < fetch_offset,
                None => fetch_offset > log_start,
            };
            diverged.then(|| {
                let (epoch, end_offset) = ends.unwrap_or((last_epoch, log_start));
                EpochEndOffset { epoch, end_offset }
            })
        }
        None => (fetch_offset > leo).then_some(EpochEndOffset {
            epoch: 0,
            end_offset: leo,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn epoch_end_offsets() {
        let cache = [(1, 0), (3, 10), (4, 15)];
        assert_eq!(end_offset_for_epoch(&cache, 20, 4), Some((4, 20)));
        assert_eq!(end_offset_for_epoch(&cache, 20, 3), Some((3, 15)));
        assert_eq!(
            end_offset_for_epoch(&cache, 20, 2),
            Some((1, 10)),
            "largest epoch <= 2 is 1"
        );
        assert_eq!(end_offset_for_epoch(&cache, 20, 9), Some((4, 20)));
        assert_eq!(end_offset_for_epoch(&cache, 20, 0), None);
        assert_eq!(end_offset_for_epoch(&[], 0, 5), None);
    }

    #[test]
    fn truncation_points_of_kip_279() {
        // Follower wrote epoch 2 records the new leader (epoch 3) never got.
        let follower = [(1, 0), (2, 8)];
        // Leader: epoch 1 ended at 8 (it never had epoch 2), now epoch 3 from 8.
        assert_eq!(truncation_point(&follower, 12, 1, 8), 8);
        // Same epoch but the leader has less of it.
        assert_eq!(truncation_point(&[(1, 0)], 12, 1, 10), 10);
        // The follower has less than the leader: nothing to cut.
        assert_eq!(truncation_point(&[(1, 0)], 6, 1, 10), 6);
        // The follower's epoch is older than what the leader reports.
        assert_eq!(truncation_point(&[(1, 0)], 12, 2, 10), 10);
        assert_eq!(
            truncation_point(&[], 5, 2, 10),
            0,
            "no epochs at all: start over"
        );
    }

    #[test]
    fn leader_answers_divergence_by_epoch() {
        let leader = [(1, 0), (3, 10)];
        assert_eq!(
            diverging_epoch(&leader, 0, 20, 10, Some(1)),
            None,
            "epoch 1 ends at 10"
        );
        assert_eq!(
            diverging_epoch(&leader, 0, 20, 12, Some(2)),
            Some(EpochEndOffset {
                epoch: 1,
                end_offset: 10
            }),
            "the leader never had epoch 2"
        );
        assert_eq!(
            diverging_epoch(&leader, 0, 20, 12, Some(1)),
            Some(EpochEndOffset {
                epoch: 1,
                end_offset: 10
            }),
            "epoch 1 ends earlier here"
        );
        assert_eq!(diverging_epoch(&leader, 0, 20, 15, Some(3)), None);
        assert_eq!(
            diverging_epoch(&[], 0, 0, 4, Some(1)),
            Some(EpochEndOffset {
                epoch: 1,
                end_offset: 0
            }),
            "no epochs here at all"
        );
        assert_eq!(
            diverging_epoch(&leader, 0, 20, 25, None),
            Some(EpochEndOffset {
                epoch: 0,
                end_offset: 20
            }),
            "no epoch, beyond the log end"
        );
        assert_eq!(diverging_epoch(&leader, 0, 20, 5, None), None);
    }
}
