//! [`RuntimeTimerCounts`]: how the runtime's own timers ended, counted apart from user
//! tasks in [`MetricsSnapshot`](super::MetricsSnapshot) and
//! [`ShutdownReport`](super::ShutdownReport).
//!
//! Rule (see `stats::counters`): every timer is counted once as `submitted` (armed, or
//! refused at shutdown) and once by how it ended, so
//! `submitted == fired + cancelled + dropped + refused` once every timer ended.

use crate::stats::{Count, Totals};

/// The runtime's own timers: the small no-op task behind every
/// [`sleep`](crate::sleep) and [`sleep_until`](crate::sleep_until) (and so every
/// [`timeout`](crate::timeout), [`interval`](crate::time::interval) tick, run-timeout
/// limit of [`Task::timeout`](crate::Task::timeout) and retry backoff).
///
/// They are not user tasks: they are not in `submitted`, `started`, `completed` or
/// `cancelled` of [`MetricsSnapshot`](crate::MetricsSnapshot) and
/// [`ShutdownReport`](crate::ShutdownReport), nor in [`PendingSnapshot::total`](crate::PendingSnapshot::total);
/// they balance on their own ([`unaccounted`](Self::unaccounted) is 0 once they all ended).
///
/// # Examples
///
/// ```
/// use kairos_rt::{Priority, Runtime};
/// use std::time::Duration;
///
/// let rt = Runtime::builder().workers(1).build()?;
/// rt.spawn_future(Priority::NORMAL, async {
///     kairos_rt::sleep(Duration::from_millis(1)).await;
///     kairos_rt::sleep(Duration::from_millis(1)).await;
/// })
/// .join()
/// .unwrap();
/// let report = rt.shutdown();
/// assert_eq!(report.submitted, 1, "one user task");
/// assert_eq!(report.runtime_timers.submitted, 2, "two sleeps");
/// assert_eq!(report.runtime_timers.fired, 2);
/// assert_eq!(report.runtime_timers.unaccounted(), 0);
/// assert!(report.is_balanced());
/// # Ok::<(), kairos_rt::BuildError>(())
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct RuntimeTimerCounts {
    /// Timers asked for, including those refused.
    pub submitted: u64,
    /// Timers that fired (their sleep's time came).
    pub fired: u64,
    /// Timers cancelled before they fired: the sleep or timeout was dropped (the timed
    /// future finished in time, the sleeping task was cancelled).
    pub cancelled: u64,
    /// Timers still waiting when the runtime shut down, dropped unfired.
    pub dropped: u64,
    /// Timers asked for while the runtime was shutting down (their sleep never ends in a
    /// task: shutdown drops the task at that `.await`).
    pub refused: u64,
}

impl RuntimeTimerCounts {
    /// The counts in `totals`.
    pub(crate) fn from_totals(totals: &Totals) -> RuntimeTimerCounts {
        RuntimeTimerCounts {
            submitted: totals.get(Count::TimerSet) + totals.get(Count::TimerRefused),
            fired: totals.get(Count::TimerFired),
            cancelled: totals.get(Count::TimerCancelled),
            dropped: totals.get(Count::TimerShutdown),
            refused: totals.get(Count::TimerRefused),
        }
    }

    /// Timers not (yet) ended: `submitted` minus every outcome count. While the runtime
    /// runs, these are the timers waiting or about to fire; after a shutdown that waited
    /// for its workers, 0.
    ///
    /// ```
    /// let counts = kairos_rt::metrics::RuntimeTimerCounts::default();
    /// assert_eq!(counts.unaccounted(), 0);
    /// ```
    pub fn unaccounted(&self) -> u64 {
        self.submitted.saturating_sub(self.ended())
    }

    /// The sum of every outcome count: `fired + cancelled + dropped + refused`.
    ///
    /// ```
    /// let counts = kairos_rt::metrics::RuntimeTimerCounts::default();
    /// assert_eq!(counts.ended(), 0);
    /// ```
    pub fn ended(&self) -> u64 {
        self.fired + self.cancelled + self.dropped + self.refused
    }
}
