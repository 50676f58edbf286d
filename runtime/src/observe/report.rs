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
/// gave up on it, or it was the caller's own worker. The blocking pool's share is
/// counted apart, job by job ([`blocking_unfinished`](Self::blocking_unfinished)), so
/// after every worker was joined `unfinished` must equal it exactly.
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
    /// Timed tasks still waiting for their due time at shutdown, dropped unrun; and
    /// blocking jobs admitted during shutdown that found no blocking thread and could
    /// not start one (the OS refused), ended unrun (their handles report
    /// [`is_shutdown`](crate::JoinError::is_shutdown)).
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
    /// `unjoined_blocking_threads`). They end later, in the background. Derived: what
    /// `submitted` has beyond every other count. With every worker waited for, it is
    /// exactly [`blocking_unfinished`](Self::blocking_unfinished), or a task was lost
    /// (and [`is_balanced`](Self::is_balanced) says no).
    pub unfinished: u64,
    /// Blocking jobs ([`spawn_blocking`](crate::Handle::spawn_blocking)) still running, or
    /// queued behind them, on the `unjoined_blocking_threads` when shutdown stopped
    /// waiting: counted one by one in the pool (not derived), at the same moment as the
    /// other counts, so a job is in exactly one of them. They end later, on those
    /// threads; their handles resolve then.
    ///
    /// ```
    /// use kairos_rt::{Priority, Runtime};
    /// use std::sync::mpsc;
    /// use std::time::Duration;
    ///
    /// let rt = Runtime::builder().workers(1).max_blocking_threads(1).build()?;
    /// let (started, has_started) = mpsc::channel();
    /// let (release, released) = mpsc::channel::<()>();
    /// let stuck = rt.spawn_blocking(Priority::NORMAL, move || {
    ///     started.send(()).unwrap();
    ///     let _ = released.recv(); // a blocking call that outlasts the timeout
    /// });
    /// has_started.recv().unwrap();
    /// let behind = rt.spawn_blocking(Priority::NORMAL, || "later"); // queued behind it
    /// let report = rt.shutdown_timeout(Duration::from_millis(200));
    /// if report.unjoined_workers == 0 {
    ///     // Nothing lost: both are still in the pool, one running, one queued.
    ///     assert_eq!((report.unfinished, report.blocking_unfinished), (2, 2), "{report:?}");
    /// }
    /// assert!(report.is_balanced(), "{report:?}");
    /// release.send(()).unwrap();
    /// stuck.join().unwrap();
    /// assert_eq!(behind.join().unwrap(), "later");
    /// # Ok::<(), kairos_rt::BuildError>(())
    /// ```
    pub blocking_unfinished: u64,
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
            blocking_unfinished: 0,
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
    ///
    /// ```
    /// use kairos_rt::{Priority, Runtime};
    /// use std::time::Duration;
    ///
    /// let rt = Runtime::builder().workers(1).build()?;
    /// rt.spawn(Priority::NORMAL, || ()).join().unwrap();
    /// let later = rt.spawn_after(Duration::from_secs(60), Priority::NORMAL, || ());
    /// assert!(later.cancel());
    /// let report = rt.shutdown();
    /// assert_eq!((report.completed, report.cancelled), (1, 1));
    /// assert_eq!(report.accounted(), report.submitted);
    /// # Ok::<(), kairos_rt::BuildError>(())
    /// ```
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

    /// Whether every submitted task is accounted for: the counts add up; with every
    /// worker waited for, `unfinished` is exactly the
    /// [`blocking_unfinished`](Self::blocking_unfinished) jobs still on blocking threads
    /// not waited for (none if every blocking thread was waited for), so a task missing
    /// from every count is a lost task, not mistaken for one still running; and no
    /// runtime timer is [`unaccounted`](RuntimeTimerCounts::unaccounted) unless some
    /// thread was not waited for. With a worker not waited for, what it still holds is
    /// known only as the difference (it counts on while the report is read), so
    /// `unfinished` is not checked against `blocking_unfinished` then.
    ///
    /// ```
    /// use kairos_rt::{Priority, Runtime};
    ///
    /// let rt = Runtime::builder().workers(1).build()?;
    /// rt.spawn_blocking(Priority::NORMAL, || ()).join().unwrap();
    /// let report = rt.shutdown();
    /// assert_eq!((report.unfinished, report.blocking_unfinished), (0, 0));
    /// assert!(report.is_balanced(), "{report:?}");
    /// # Ok::<(), kairos_rt::BuildError>(())
    /// ```
    pub fn is_balanced(&self) -> bool {
        let timers = &self.runtime_timers;
        let unfinished_explained = match self.unjoined_workers {
            0 => {
                self.unfinished == self.blocking_unfinished
                    && (self.unjoined_blocking_threads > 0 || self.blocking_unfinished == 0)
            }
            // A running worker counts on while the totals are read: no exact split.
            _ => true,
        };
        self.accounted() == self.submitted
            && timers.ended() <= timers.submitted
            && unfinished_explained
            && (self.unjoined_workers + self.unjoined_blocking_threads > 0
                || timers.ended() == timers.submitted)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A shutdown that waited for every worker but not for one blocking thread.
    fn one_blocking_thread_left(submitted: u64, completed: u64, blocking_unfinished: u64) -> ShutdownReport {
        let mut r = ShutdownReport {
            submitted,
            completed,
            blocking_unfinished,
            unjoined_blocking_threads: 1,
            timed_out: true,
            ..ShutdownReport::default()
        };
        r.unfinished = r.submitted - r.accounted();
        r
    }

    #[test]
    fn unfinished_tasks_must_all_be_in_the_blocking_pool_once_every_worker_was_joined() {
        // Two missing from the counts, two left in the pool: balanced.
        assert!(one_blocking_thread_left(5, 3, 2).is_balanced());
        // Two missing, one in the pool: the other is lost, though a thread was left.
        let lost = one_blocking_thread_left(5, 3, 1);
        assert!(!lost.is_balanced(), "{lost:?}");
        assert!(
            lost.to_string().contains("NOT BALANCED: 2 unfinished but 1 left in the blocking pool"),
            "{lost}"
        );
        // Jobs left in a pool whose threads were all waited for cannot be.
        let ghost =
            ShutdownReport { blocking_unfinished: 1, unfinished: 1, submitted: 1, ..Default::default() };
        assert!(!ghost.is_balanced(), "{ghost:?}");
        // With a worker not waited for, the split is unknown: the old rule holds.
        let worker_left = ShutdownReport { unjoined_workers: 1, ..lost };
        assert!(worker_left.is_balanced(), "{worker_left:?}");
    }
}
