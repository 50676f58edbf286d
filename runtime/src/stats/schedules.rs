//! [`SchedulesSnapshot`]: the recurring schedules of one runtime at a moment, and
//! [`ScheduleCensus`], the one thing the lower layers know of them.
//!
//! Rule: the schedules live in the `recurring` layer, above the scheduler, and keep their
//! counters on themselves (relaxed atomics on each schedule: no counter shared by all
//! firings, so firing costs no contended write). A runtime's census registers itself in
//! `Shared::schedules` when its first schedule is spawned; `pending()`, `metrics()` and the
//! shutdown report read it through this trait, and a runtime that never had a schedule
//! reports [`SchedulesSnapshot::default`] (all zero).

use std::any::Any;
use std::fmt::Debug;
use std::time::{Duration, SystemTime};

/// What the `recurring` layer's census gives the lower layers.
pub(crate) trait ScheduleCensus: Any + Send + Sync + Debug {
    /// Every schedule of the runtime now, including those already gone.
    fn snapshot(&self) -> SchedulesSnapshot;
}

/// Every recurring schedule of a runtime at a moment: from
/// [`Handle::schedules`](crate::Handle::schedules), and inside
/// [`MetricsSnapshot::schedules`](crate::MetricsSnapshot::schedules) and
/// [`ShutdownReport::schedules`](crate::ShutdownReport::schedules).
///
/// The counts include schedules that have finished and were dropped. Gathered without
/// stopping the workers (one short lock per live schedule): exact when nothing fires
/// meanwhile.
///
/// Each firing is a task of the runtime (a timed task in a wheel; a `Concurrent`
/// schedule also submits a small ready *relay* task per firing, counted here too), so
/// [`firings`](Self::firings) are a part of the runtime's submitted tasks. Once the
/// runtime has shut down, every one of them is accounted for:
/// `firings == firings_run + firings_cancelled + firings_dropped`
/// ([`firings_balance`](Self::firings_balance)).
///
/// ```
/// use kairos_rt::{Priority, Runtime, Schedule};
///
/// let rt = Runtime::builder().workers(1).build()?;
/// let job = rt.spawn_recurring(Schedule::cron("@daily").unwrap(), Priority::LOW, || ()).unwrap();
/// let s = rt.handle().schedules();
/// assert_eq!((s.active, s.runs, s.firings), (1, 0, 1));
/// assert_eq!(s.next_due, job.next_due());
/// let report = rt.shutdown();
/// assert_eq!((report.schedules.active, report.schedules.stopped_by_shutdown), (0, 1));
/// assert_eq!(report.schedules.firings_dropped, 1, "the pending firing, dropped unrun");
/// assert!(report.schedules.firings_balance());
/// # Ok::<(), kairos_rt::BuildError>(())
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct SchedulesSnapshot {
    /// Schedules that will fire again or have a run going.
    pub active: u64,
    /// Schedules that are over, including dropped ones: the sum of `cancelled`,
    /// `exhausted`, `stopped_by_panic` and `stopped_by_shutdown`.
    pub finished: u64,
    /// Finished schedules stopped by [`Recurring::cancel`](crate::Recurring::cancel).
    pub cancelled: u64,
    /// Finished schedules that ran out of ticks (`times`, `until`, the end of a cron grid).
    pub exhausted: u64,
    /// Finished schedules stopped by a panicking run under
    /// [`OnPanic::Stop`](crate::OnPanic::Stop).
    pub stopped_by_panic: u64,
    /// Finished schedules stopped by the runtime's shutdown (their pending firing was
    /// dropped unrun, or the runtime refused the next one).
    pub stopped_by_shutdown: u64,
    /// The earliest next due time of the active schedules.
    pub next_due: Option<SystemTime>,
    /// Tasks the schedules submitted: one per firing put in a timing wheel, and one per
    /// relay of a `Concurrent` schedule.
    pub firings: u64,
    /// Of `firings`, the tasks that ran (a firing that found its schedule stopped ran
    /// too, and did nothing).
    pub firings_run: u64,
    /// Of `firings`, the pending firings cancelled in their wheel (by `cancel`, or by a
    /// panic under `OnPanic::Stop`).
    pub firings_cancelled: u64,
    /// Of `firings`, the pending firings dropped unrun by shutdown.
    pub firings_dropped: u64,
    /// Runs started (a `QueueOne` schedule may start a queued run inside a firing).
    pub runs: u64,
    /// Ticks skipped by the overlap rule.
    pub skipped: u64,
    /// Ticks dropped as missed.
    pub missed: u64,
    /// Runs that panicked.
    pub panicked: u64,
    /// The mean lateness of firings (how long after their due time they started).
    pub mean_lateness: Duration,
    /// The largest lateness of a firing.
    pub max_lateness: Duration,
}

impl SchedulesSnapshot {
    /// Whether every firing task is accounted for: `firings` equals
    /// `firings_run + firings_cancelled + firings_dropped`. True once the runtime has shut
    /// down (while it runs, the firings waiting in wheels or running make up the gap).
    ///
    /// ```
    /// let rt = kairos_rt::Runtime::builder().workers(1).build()?;
    /// assert!(rt.shutdown().schedules.firings_balance());
    /// # Ok::<(), kairos_rt::BuildError>(())
    /// ```
    pub fn firings_balance(&self) -> bool {
        self.firings == self.firings_run + self.firings_cancelled + self.firings_dropped
    }
}
