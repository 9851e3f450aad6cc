//! The append side of [`ReplicaState`]: who may append and with which
//! epoch, what waiters see, and the HW after a truncation.

use super::{EpochMismatch, ReplicaState};
use crate::partition::watermark::Watermark;
use crate::storage::TimestampType;
use ferry_common::BrokerId;

/// What a local append stamps on its batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AppendStamp {
    pub leader_epoch: u32,
    pub timestamp_type: TimestampType,
}

/// Why a replica refuses a local append.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AppendRefused {
    /// This replica does not lead the current epoch (`leader` does, if anyone).
    NotLeader { leader: Option<BrokerId> },
    /// The request named another leader epoch.
    Epoch(EpochMismatch),
}

impl ReplicaState {
    /// The leader epoch this replica leads in, if it leads.
    pub fn leading_epoch(&self) -> Option<u32> {
        self.leader().map(|l| l.leader_epoch)
    }

    /// What waiters on the HW see (see [`Watermark`]).
    pub fn watermark(&self) -> Watermark {
        Watermark {
            hw: self.hw,
            leading_epoch: self.leading_epoch(),
        }
    }

    /// What a local append stamps on its batch, or why this replica refuses
    /// it: only the leader of the current epoch appends, and a request that
    /// named an epoch must name that one. The caller holds the role still
    /// (see `Partition::append`) until the batch is written.
    pub fn append_stamp(&self, requested: Option<u32>) -> Result<AppendStamp, AppendRefused> {
        let current = self.metadata.leader_epoch;
        if let Some(requested) = requested.filter(|r| *r < current) {
            return Err(AppendRefused::Epoch(EpochMismatch::Fenced {
                requested,
                current,
            }));
        }
        if self.leading_epoch() != Some(current) {
            return Err(AppendRefused::NotLeader {
                leader: self.metadata.leader,
            });
        }
        if let Some(requested) = requested.filter(|r| *r > current) {
            return Err(AppendRefused::Epoch(EpochMismatch::Unknown {
                requested,
                current,
            }));
        }
        Ok(AppendStamp {
            leader_epoch: current,
            timestamp_type: self.settings.timestamp_type,
        })
    }

    /// The log was truncated to `leo` (a divergent suffix, recovery): the HW
    /// cannot stay above what the log holds. Answers the lowered HW, which
    /// the caller must checkpoint before the log grows again.
    pub fn on_truncated(&mut self, leo: u64) -> Option<u64> {
        (self.hw > leo).then(|| {
            self.hw = leo;
            leo
        })
    }
}
