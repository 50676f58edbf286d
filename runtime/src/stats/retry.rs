//! [`RetryGauges`]: the retry counts of one runtime, kept by the retry loop's hooks
//! (`task::retry`) and read by metrics snapshots.
//!
//! Rule: `waiting` goes up when a failed attempt starts its backoff and down when the
//! wait ends (or the retry is dropped while waiting); `retried` and `exhausted` only
//! grow.

use std::sync::atomic::AtomicU64;

/// Retry gauges and counters of one runtime.
#[derive(Debug, Default)]
pub(crate) struct RetryGauges {
    /// Tasks waiting for their next attempt right now.
    pub(crate) waiting: AtomicU64,
    /// Attempts after the first, ever.
    pub(crate) retried: AtomicU64,
    /// Retried tasks that ran out of attempts with an error, ever.
    pub(crate) exhausted: AtomicU64,
}
