//! What acks=all waiters see of a replica, and Kafka's delayed-produce rule
//! over it: a record is committed only if the HW passes it while the replica
//! still leads the epoch it was appended in.

/// The HW together with the epoch this replica leads in (`None`: it
/// follows), published as one value so an acks=all waiter never pairs a HW
/// with a role it was not reached in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Watermark {
    pub hw: u64,
    pub leading_epoch: Option<u32>,
}

/// Where an acks=all wait stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CommitWait {
    /// The HW passed the record while this replica still led its epoch.
    Committed,
    /// The role changed since the append (follower, or another epoch): the
    /// record may have been truncated and its offset reused, so the outcome
    /// is unknown to this replica.
    NotLeader,
    Pending,
}

impl Watermark {
    /// Kafka's delayed-produce rule for a record at `last_offset` appended
    /// (or found, for a duplicate) while leading `leader_epoch`.
    pub fn commit_of(&self, leader_epoch: u32, last_offset: u64) -> CommitWait {
        if self.leading_epoch != Some(leader_epoch) {
            CommitWait::NotLeader
        } else if self.hw > last_offset {
            CommitWait::Committed
        } else {
            CommitWait::Pending
        }
    }
}
