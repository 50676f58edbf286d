//! [`ShutdownReport`]: how every task submitted to a runtime ended.

use super::RuntimeTimerCounts;
use crate::stats::{Count, SchedulesSnapshot, Totals};
use std::time::Duration;

/// What shutdown found: every task ever submitted, by how it ended.
///
/// Every [`sleep`](crate::sleep) (and [`timeout`](crate::timeout)), every run-timeout
/// limit ([`Task::timeout`](crate::Task::timeout)), every retry backoff and every start
/// deadline's expiry ([`Task::deadline`](crate::Task::deadline)) is a small timer task of
/// the runtime's own. Those are not user tasks: they are counted apart, in
/// [`runtime_timers`](Self::runtime_timers) (fired, cancelled because the sleep was
/// dropped, the future finished within its limit or the task started before its
/// deadline, dropped unfired at shutdown), and balance on their own.
///
/// Recurring schedules are accounted for in [`schedules`](Self::schedules): how many
/// shutdown stopped, and how each of their firing tasks (which are among the counts
/// above) ended.
///
/// The counts always balance: `submitted` equals the sum of all the other counts, and
/// every runtime timer is accounted for too ([`is_balanced`](Self::is_balanced)). A task
/// counted in `unfinished` was still queued or running on a worker (or a blocking thread)
/// the shutdown did not wait for (`unjoined_workers`, `unjoined_blocking_threads`): [`Runtime::shutdown_timeout`](crate::Runtime::shutdown_timeout)
/// gave up on it, or it was the caller's own worker.
///
/// Its `Display` is a one-line summary for people (`2 tasks: 1 completed, 1 timer
/// dropped; balanced; shut down in 1.2ms`): the non-zero counts, whether they balance,
/// how long shutdown took.
///
/// # Examples
///
/// ```
/// use kairos_rt::{Priority, Runtime};
/// use std::time::Duration;
///
/// let rt = Runtime::builder().workers(2).build()?;
/// rt.spawn(Priority::NORMAL, || ()).join().unwrap();
/// let timer = rt.spawn_after(Duration::from_secs(3600), Priority::LOW, || ());
/// let report = rt.shutdown();
/// assert_eq!(report.submitted, 2);
/// assert_eq!(report.completed, 1);
/// assert_eq!(report.timers_dropped, 1);
/// assert!(report.is_balanced());
/// println!("{report}"); // 2 tasks: 1 completed, 1 timer dropped; balanced; shut down in ...
/// assert!(timer.join().unwrap_err().is_shutdown());
/// # Ok::<(), kairos_rt::BuildError>(())
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ShutdownReport {
    /// Tasks handed to `spawn*` (including those refused).
    pub submitted: u64,
    /// Tasks whose body returned.
    pub completed: u64,
    /// Tasks whose body panicked (the panic was caught and handed to the join handle).
    pub panicked: u64,
    /// Tasks cancelled through their handle.
    pub cancelled: u64,
    /// Timed tasks still waiting for their due time at shutdown, dropped unrun.
    pub timers_dropped: u64,
    /// Futures not finished at shutdown, dropped at their last poll point.
    pub futures_dropped: u64,
    /// Tasks refused because the runtime was shutting down. (A spawn refused for room
    /// under `max_pending` is no submission: the task went back to its caller; see
    /// [`MetricsSnapshot::refused_full`](crate::MetricsSnapshot::refused_full).)
    pub rejected: u64,
    /// Tasks whose deadline passed before they started (they never ran).
    pub expired: u64,
    /// Futures dropped because they ran past their run timeout.
    pub run_timeouts: u64,
    /// Tasks still queued or running when the report was made, because some worker or
    /// blocking thread was not waited for (`unjoined_workers`,
    /// `unjoined_blocking_threads`). They end later, in the background.
    pub unfinished: u64,
    /// The runtime's own timers (sleeps, timeouts, run-timeout limits, retry backoffs),
    /// apart from the tasks above. After a shutdown that did not wait for every worker,
    /// some may be [`unaccounted`](RuntimeTimerCounts::unaccounted) (still in a running
    /// worker's wheel).
    pub runtime_timers: RuntimeTimerCounts,
    /// Whether `shutdown_timeout` stopped waiting before all workers exited.
    pub timed_out: bool,
    /// Workers the shutdown could not wait for: still busy when `shutdown_timeout`
    /// gave up, or the caller's own worker when the runtime was shut down (or dropped)
    /// inside one of its own tasks or hooks. Each finishes what it holds and exits by
    /// itself. Futures were not waited for: each ended with `Shutdown` (counted in
    /// `futures_dropped`); one being polled right then ends so when its poll returns,
    /// and is `unfinished` until then.
    pub unjoined_workers: usize,
    /// Blocking-pool threads the shutdown could not wait for: a
    /// [`spawn_blocking`](crate::Handle::spawn_blocking) call still running when
    /// `shutdown_timeout` gave up (a blocking call cannot be interrupted), a thread still
    /// finishing when some worker was not waited for, or the caller's own thread when the
    /// runtime was shut down (or dropped) inside a blocking job. Each runs the blocking
    /// jobs still queued and exits by itself; what it holds is `unfinished` until then.
    pub unjoined_blocking_threads: usize,
    /// How long the shutdown took.
    pub elapsed: Duration,
    /// The recurring schedules after shutdown: those it stopped
    /// ([`stopped_by_shutdown`](SchedulesSnapshot::stopped_by_shutdown)), those that
    /// had finished before, and every firing task by how it ended
    /// ([`firings_balance`](SchedulesSnapshot::firings_balance)).
    pub schedules: SchedulesSnapshot,
}

impl ShutdownReport {
    /// The report of a shutdown that ended with `totals`, gave up waiting if
    /// `timed_out`, and took `elapsed`. `unfinished` is what the counts do not account
    /// for.
    pub(crate) fn from_totals(
        totals: &Totals,
        timed_out: bool,
        unjoined_workers: usize,
        unjoined_blocking_threads: usize,
        elapsed: Duration,
    ) -> ShutdownReport {
        let mut report = ShutdownReport {
            submitted: totals.get(Count::Admitted) + totals.get(Count::Rejected),
            completed: totals.get(Count::Completed),
            panicked: totals.get(Count::Panicked),
            cancelled: totals.get(Count::Cancelled),
            timers_dropped: totals.get(Count::TimerDropped),
            futures_dropped: totals.get(Count::FutureDropped),
            rejected: totals.get(Count::Rejected),
            expired: totals.get(Count::Expired),
            run_timeouts: totals.get(Count::TimedOut),
            unfinished: 0,
            runtime_timers: RuntimeTimerCounts::from_totals(totals),
            timed_out,
            unjoined_workers,
            unjoined_blocking_threads,
            elapsed,
            schedules: SchedulesSnapshot::default(),
        };
        report.unfinished = report.submitted.saturating_sub(report.accounted());
        report
    }

    /// The sum of every outcome count.
    pub fn accounted(&self) -> u64 {
        self.completed
            + self.panicked
            + self.cancelled
            + self.timers_dropped
            + self.futures_dropped
            + self.rejected
            + self.expired
            + self.run_timeouts
            + self.unfinished
    }

    /// Whether every submitted task is accounted for: the counts add up, and no task is
    /// `unfinished` (nor any runtime timer
    /// [`unaccounted`](RuntimeTimerCounts::unaccounted)) unless some worker or blocking
    /// thread was not waited for (a task missing from every outcome count after every worker was joined would be
    /// a lost task).
    pub fn is_balanced(&self) -> bool {
        let timers = &self.runtime_timers;
        self.accounted() == self.submitted
            && timers.ended() <= timers.submitted
            && (self.unjoined_workers + self.unjoined_blocking_threads > 0
                || (self.unfinished == 0 && timers.ended() == timers.submitted))
    }
}
