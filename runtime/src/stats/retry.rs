//! [`RetryGauges`]: the retry counts of one runtime, kept by the retry loop's hooks
//! (`task::builder::retrying`, through `Shared`) and read by metrics snapshots.
//!
//! Rule: `waiting` goes up when a failed attempt starts its backoff and down when the
//! wait ends (or the retry is dropped while waiting); `retried` and `exhausted` only
//! grow. All `Relaxed`: they are gauges, read without any ordering against the tasks.

use std::sync::atomic::AtomicU64;
use std::sync::atomic::Ordering::Relaxed;

/// Retry gauges and counters of one runtime.
#[derive(Debug, Default)]
pub(crate) struct RetryGauges {
    /// Tasks waiting for their next attempt right now.
    waiting: AtomicU64,
    /// Attempts after the first, ever.
    retried: AtomicU64,
    /// Retried tasks that ran out of attempts with an error, ever.
    exhausted: AtomicU64,
    /// The highest `completed` a metrics snapshot reported ([`completed`](Self::completed)).
    completed_reported: AtomicU64,
}

/// The retry gauges at one moment (each read on its own, `Relaxed`).
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct RetryCounts {
    /// Tasks waiting for their next attempt.
    pub(crate) waiting: u64,
    /// Attempts after the first, ever.
    pub(crate) retried: u64,
    /// Retried tasks that ran out of attempts with an error, ever.
    pub(crate) exhausted: u64,
}

impl RetryGauges {
    /// A failed attempt starts waiting for its backoff.
    #[inline]
    pub(crate) fn wait_began(&self) {
        self.waiting.fetch_add(1, Relaxed);
    }

    /// A backoff wait ended (the next attempt is due, or the retry was dropped).
    #[inline]
    pub(crate) fn wait_ended(&self) {
        self.waiting.fetch_sub(1, Relaxed);
    }

    /// An attempt after the first starts.
    #[inline]
    pub(crate) fn retried(&self) {
        self.retried.fetch_add(1, Relaxed);
    }

    /// A retried task ran out of attempts with an error.
    #[inline]
    pub(crate) fn exhausted(&self) {
        self.exhausted.fetch_add(1, Relaxed);
    }

    /// `completed` as a metrics snapshot reports it: `completed_tasks` (read first)
    /// minus `exhausted` (read after): an exhausted retry returns its last error as its
    /// output, and counts as failed. It is counted exhausted a moment before its task
    /// counts as completed, so the difference alone could go down between two snapshots
    /// by the retries ending at that moment: the highest value reported so far is
    /// reported instead. Both stay true counts: with the reads in that order, each
    /// difference is at most the tasks completed (not exhausted) by the first read.
    pub(crate) fn completed(&self, completed_tasks: u64, exhausted: u64) -> u64 {
        let now = completed_tasks.saturating_sub(exhausted);
        self.completed_reported.fetch_max(now, Relaxed).max(now)
    }

    /// The gauges now.
    pub(crate) fn read(&self) -> RetryCounts {
        RetryCounts {
            waiting: self.waiting.load(Relaxed),
            retried: self.retried.load(Relaxed),
            exhausted: self.exhausted.load(Relaxed),
        }
    }
}
