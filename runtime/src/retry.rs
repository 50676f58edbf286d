//! Retry policies and the retry loop behind `Task::retry`.
//!
//! (Skeleton: filled in by the retry work.)

use std::sync::atomic::AtomicU64;

/// Retry gauges and counters of one runtime.
#[derive(Debug, Default)]
pub(crate) struct RetryStats {
    /// Tasks waiting for their next attempt right now.
    pub(crate) waiting: AtomicU64,
    /// Attempts after the first, ever.
    pub(crate) retried: AtomicU64,
}
