//! Fault injection for tests (feature `fault-injection` only): every Nth
//! acknowledged append is answered `REQUEST_TIMED_OUT` although it was
//! written, like an acknowledgement lost on the way back.

use crate::error::BrokerError;
use std::sync::atomic::{AtomicU64, Ordering};

/// The `fault_lose_produce_ack_every` knob and its counter.
pub struct LoseAcks {
    every: u64,
    appends: AtomicU64,
}

impl LoseAcks {
    /// Loses every `every`-th acknowledgement (0 = never).
    pub fn new(every: u64) -> Self {
        LoseAcks {
            every,
            appends: AtomicU64::new(0),
        }
    }

    /// Counts one append of `base..=last`; the error when its ack is to be lost.
    pub fn check(&self, base: u64, last: u64) -> Result<(), BrokerError> {
        let every = self.every;
        if every > 0 && self.appends.fetch_add(1, Ordering::Relaxed) % every == every - 1 {
            return Err(BrokerError::TimedOut(format!(
                "fault injection: offsets {base}..={last} appended, acknowledgement dropped"
            )));
        }
        Ok(())
    }
}
