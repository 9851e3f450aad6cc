//! The idempotent producer's sequence state of one partition (pure): the
//! producer id, epoch and base sequence the next batch carries, and how a
//! batch's end moves them, as Kafka's producer does.
//!
//! A batch the broker provably did not write gives its sequence numbers to
//! the next batch (rewind); otherwise the next batch would leave a gap the
//! broker refuses with `OUT_OF_ORDER_SEQUENCE_NUMBER` forever. A batch that
//! may have been written moves the partition to the next epoch, which the
//! broker accepts from sequence 0 and which fences a late copy of the old
//! batch. The broker keeps producer state per partition, so the epoch moves
//! for this partition only; past the last epoch a new producer id is taken.

use crate::error::FerryError;
use ferry_common::ErrorCode;

/// How a batch ended, as far as the producer can tell.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum BatchEnd {
    /// Written (or answered as a duplicate of a written batch).
    Written,
    /// Refused, and no attempt may have written it.
    NotWritten,
    /// Not written, but the broker expects other sequence numbers from us.
    OutOfSync,
    /// A newer epoch of our producer id wrote to the partition.
    Fenced,
    /// May or may not have been written.
    Unknown,
}

/// What one failed attempt says about its batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum AttemptFailure {
    /// Retry with the same sequence numbers; `maybe_written` if this attempt
    /// may have written the batch.
    Retry { maybe_written: bool },
    /// Stop retrying: the batch ended so.
    Final(BatchEnd),
}

/// Classifies a failed attempt. Only answers that prove the batch was not
/// written count as such: rewinding after a write would make the next batch
/// look like a duplicate of it, while moving to a new epoch is always safe.
pub(crate) fn classify(e: &FerryError) -> AttemptFailure {
    use ErrorCode::*;
    let code = match e {
        FerryError::OutcomeUnknown(_) => {
            return AttemptFailure::Retry {
                maybe_written: true,
            }
        }
        // Not connected, or an error answer that is not the cluster's.
        FerryError::Transport(_) => {
            return AttemptFailure::Retry {
                maybe_written: false,
            }
        }
        FerryError::Config(_) => return AttemptFailure::Final(BatchEnd::NotWritten),
        FerryError::Api { code, .. } => *code,
    };
    match code {
        // Checked before the append.
        NotEnoughReplicas
        | UnknownTopicOrPartition
        | LeaderNotAvailable
        | FencedLeaderEpoch
        | UnknownLeaderEpoch
        | NotController
        | CoordinatorNotAvailable => AttemptFailure::Retry {
            maybe_written: false,
        },
        // Appended but not acknowledged, or the leader lost its role while
        // the batch waited for replication, or a disk failed mid-write.
        RequestTimedOut | NotLeaderOrFollower | KafkaStorageError => AttemptFailure::Retry {
            maybe_written: true,
        },
        MessageTooLarge
        | RequestTooLarge
        | InvalidRequest
        | UnsupportedMediaType
        | InvalidTopicException
        | NotFound
        | MethodNotAllowed => AttemptFailure::Final(BatchEnd::NotWritten),
        OutOfOrderSequenceNumber => AttemptFailure::Final(BatchEnd::OutOfSync),
        InvalidProducerEpoch => AttemptFailure::Final(BatchEnd::Fenced),
        _ => AttemptFailure::Final(BatchEnd::Unknown),
    }
}

/// A batch's end given its final attempt and whether an earlier one may have written it.
pub(crate) fn end_of(last: AttemptFailure, earlier_maybe_written: bool) -> BatchEnd {
    let end = match last {
        AttemptFailure::Retry { maybe_written } if maybe_written => BatchEnd::Unknown,
        AttemptFailure::Retry { .. } => BatchEnd::NotWritten,
        AttemptFailure::Final(end) => end,
    };
    match end {
        BatchEnd::NotWritten if earlier_maybe_written => BatchEnd::Unknown,
        end => end,
    }
}

/// One partition's producer identity and next sequence number.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Sequencer {
    /// `None`: a new producer id must be taken before the next batch.
    identity: Option<(i64, i16)>,
    /// Wider than a sequence so that passing `i32::MAX` shows.
    next: i64,
}

impl Sequencer {
    pub(crate) fn new(identity: (i64, i16)) -> Self {
        Sequencer {
            identity: Some(identity),
            next: 0,
        }
    }

    /// The producer id and epoch for the next batch; `None` until [`Self::adopt`].
    pub(crate) fn identity(&self) -> Option<(i64, i16)> {
        self.identity
    }

    /// Takes a newly allocated producer id; sequences restart at 0.
    pub(crate) fn adopt(&mut self, identity: (i64, i16)) {
        self.identity = Some(identity);
        self.next = 0;
    }

    /// The base sequence for the next batch of `count` records. Sequence
    /// numbers never wrap (the broker refuses negative ones): a batch that
    /// would pass `i32::MAX` starts a new epoch.
    pub(crate) fn base(&mut self, count: usize) -> i32 {
        if self.next + count as i64 - 1 > i64::from(i32::MAX) {
            self.next_epoch();
        }
        self.next as i32
    }

    /// Moves past a batch of `count` records sent at [`Self::base`].
    pub(crate) fn finish(&mut self, count: usize, end: BatchEnd) {
        match end {
            BatchEnd::Written => self.next += count as i64,
            BatchEnd::NotWritten => {}
            BatchEnd::OutOfSync | BatchEnd::Unknown => self.next_epoch(),
            BatchEnd::Fenced => {
                self.identity = None;
                self.next = 0;
            }
        }
    }

    fn next_epoch(&mut self) {
        self.next = 0;
        self.identity = match self.identity {
            Some((id, epoch)) if epoch < i16::MAX => Some((id, epoch + 1)),
            _ => None,
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn api(code: ErrorCode) -> FerryError {
        FerryError::Api {
            code,
            message: String::new(),
            leader_url: None,
        }
    }

    #[test]
    fn scenario_11_a_refused_batch_leaves_its_sequences_to_the_next_batch() {
        let mut s = Sequencer::new((7, 0));
        assert_eq!(s.base(3), 0);
        s.finish(3, BatchEnd::Written);
        assert_eq!(s.base(2), 3);
        let end = end_of(classify(&api(ErrorCode::MessageTooLarge)), false);
        assert_eq!(end, BatchEnd::NotWritten);
        s.finish(2, end);
        assert_eq!((s.base(1), s.identity()), (3, Some((7, 0))), "rewound");
        // Retries exhausted on an error that proves nothing was written.
        let end = end_of(classify(&api(ErrorCode::UnknownTopicOrPartition)), false);
        s.finish(1, end);
        assert_eq!((s.base(1), s.identity()), (3, Some((7, 0))));
    }

    #[test]
    fn scenario_11_an_unknown_outcome_starts_a_new_epoch_from_sequence_0() {
        let mut s = Sequencer::new((7, 0));
        s.finish(5, BatchEnd::Written);
        for e in [
            FerryError::OutcomeUnknown("timed out".into()),
            api(ErrorCode::RequestTimedOut),
            api(ErrorCode::NotLeaderOrFollower),
        ] {
            assert_eq!(end_of(classify(&e), false), BatchEnd::Unknown, "{e}");
        }
        assert_eq!(
            end_of(classify(&api(ErrorCode::UnknownServerError)), false),
            BatchEnd::Unknown
        );
        // A definite refusal after an attempt that may have written is unknown too.
        assert_eq!(
            end_of(classify(&api(ErrorCode::MessageTooLarge)), true),
            BatchEnd::Unknown
        );
        s.finish(2, BatchEnd::Unknown);
        assert_eq!((s.base(1), s.identity()), (0, Some((7, 1))));
        s.finish(1, BatchEnd::OutOfSync);
        assert_eq!((s.base(1), s.identity()), (0, Some((7, 2))));
    }

    #[test]
    fn past_the_last_epoch_or_when_fenced_a_new_producer_id_is_needed() {
        let mut s = Sequencer::new((7, i16::MAX));
        s.finish(1, BatchEnd::Unknown);
        assert_eq!(s.identity(), None);
        s.adopt((8, 0));
        s.finish(4, BatchEnd::Written);
        s.finish(1, BatchEnd::Fenced);
        assert_eq!(s.identity(), None);
        s.adopt((9, 0));
        assert_eq!((s.base(1), s.identity()), (0, Some((9, 0))));
    }

    #[test]
    fn sequences_never_pass_i32_max() {
        let mut s = Sequencer::new((7, 0));
        s.next = i64::from(i32::MAX) - 1;
        assert_eq!(s.base(2), i32::MAX - 1, "the last sequence is i32::MAX");
        s.finish(2, BatchEnd::Written);
        assert_eq!(s.base(1), 0, "a new epoch instead of a negative sequence");
        assert_eq!(s.identity(), Some((7, 1)));
    }
}
