//! Server-wide bounds on the fetch path: how many fetches may wait for new
//! records at once, and how much memory all in-flight fetches may use.
//!
//! Each fetch is bounded by its `max_bytes`, but nothing bounded how many run
//! at once: 200 concurrent 64 MiB fetches would each decode their records and
//! build their JSON at the same time. A fetch reserves its share before it
//! reads and holds it until its answer is serialized; one that cannot get it
//! in time answers `THROTTLING_QUOTA_EXCEEDED` so that the client backs off.

use crate::error::BrokerError;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// Decoded records and their JSON take about this many times the stored bytes
/// (base64 is 4/3 of the bytes, plus the decoded copy and the field names).
const EXPANSION: usize = 3;
/// Per-record overhead of the decoded and JSON forms, beyond key and value.
const PER_RECORD: usize = 256;
/// The longest a fetch waits for memory before it is refused.
const MEMORY_WAIT: Duration = Duration::from_secs(2);
/// No fetch reserves more than this share of the budget, so that several run
/// at once; a larger `max_bytes` is read as a smaller one (it is a soft
/// bound anyway: the first batch is always returned whole).
const MAX_SHARE_DIVISOR: usize = 8;

/// The broker's fetch bounds.
pub struct FetchBudget {
    long_polls: Arc<Semaphore>,
    long_poll_limit: usize,
    memory: Arc<Semaphore>,
    memory_limit: usize,
}

/// A reservation of fetch memory, released when dropped.
pub struct MemoryGrant {
    _permit: OwnedSemaphorePermit,
    /// The `max_bytes` the read may use under this grant.
    pub max_bytes: usize,
}

/// A long-poll slot, released when dropped.
pub struct LongPollSlot {
    _permit: OwnedSemaphorePermit,
}

impl FetchBudget {
    /// At most `long_polls` waiting fetches and `memory_bytes` of fetch memory.
    pub fn new(long_polls: usize, memory_bytes: usize) -> Self {
        // Semaphore permits are capped; no real budget comes near it.
        let memory_bytes = memory_bytes.clamp(1, Semaphore::MAX_PERMITS);
        FetchBudget {
            long_polls: Arc::new(Semaphore::new(long_polls.max(1))),
            long_poll_limit: long_polls.max(1),
            memory: Arc::new(Semaphore::new(memory_bytes)),
            memory_limit: memory_bytes,
        }
    }

    /// A slot to wait for new records in, or `Overloaded` at once.
    pub fn long_poll(&self) -> Result<LongPollSlot, BrokerError> {
        self.long_polls
            .clone()
            .try_acquire_owned()
            .map(|p| LongPollSlot { _permit: p })
            .map_err(|_| BrokerError::Overloaded {
                what: "waiting fetches (max_long_polls)",
                limit: self.long_poll_limit as u64,
            })
    }

    /// Memory for a read of up to `max_bytes` and `max_records`, waiting a
    /// little for other fetches to finish. A read larger than its share of
    /// the budget is granted the share, with `max_bytes` cut to fit.
    pub async fn memory(
        &self,
        max_bytes: usize,
        max_records: usize,
    ) -> Result<MemoryGrant, BrokerError> {
        let records = max_records.saturating_mul(PER_RECORD);
        let cap = (self.memory_limit / MAX_SHARE_DIVISOR).max(1);
        let want = max_bytes
            .saturating_mul(EXPANSION)
            .saturating_add(records)
            .clamp(1, cap.min(u32::MAX as usize));
        let max_bytes = max_bytes.min((want.saturating_sub(records) / EXPANSION).max(1));
        let acquire = self.memory.clone().acquire_many_owned(want as u32);
        match tokio::time::timeout(MEMORY_WAIT, acquire).await {
            Ok(Ok(permit)) => Ok(MemoryGrant {
                _permit: permit,
                max_bytes,
            }),
            _ => Err(BrokerError::Overloaded {
                what: "bytes of fetch memory (fetch_memory_bytes)",
                limit: self.memory_limit as u64,
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ferry_common::ErrorCode;

    #[tokio::test]
    async fn long_polls_past_the_bound_are_refused_and_come_back() {
        let b = FetchBudget::new(2, 1 << 20);
        let (one, _two) = (b.long_poll().unwrap(), b.long_poll().unwrap());
        let err = b.long_poll().err().unwrap();
        assert_eq!(err.code(), ErrorCode::ThrottlingQuotaExceeded);
        drop(one);
        assert!(b.long_poll().is_ok());
    }

    #[tokio::test(start_paused = true)]
    async fn memory_is_shared_and_a_fetch_that_cannot_get_its_share_is_refused() {
        // Shares of at most 8 MiB / 8 = 1 MiB.
        let b = FetchBudget::new(1, 8 << 20);
        let grants: Vec<_> = futures_grants(&b, 8).await;
        assert!(
            grants.iter().all(|g| g.max_bytes < 1 << 20),
            "cut to fit the share"
        );
        let err = b.memory(1 << 20, 10).await.err().unwrap();
        assert_eq!(err.code(), ErrorCode::ThrottlingQuotaExceeded);
        drop(grants);
        // A small read reserves only what it needs and keeps its max_bytes.
        let small = b.memory(1000, 1).await.unwrap();
        assert_eq!(small.max_bytes, 1000);
    }

    async fn futures_grants(b: &FetchBudget, n: usize) -> Vec<MemoryGrant> {
        let mut out = Vec::new();
        for _ in 0..n {
            out.push(b.memory(64 << 20, 10).await.unwrap());
        }
        out
    }
}
