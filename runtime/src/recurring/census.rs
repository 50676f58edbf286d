//! The schedules of each runtime: how many are active, when the next is due, how each
//! finished schedule stopped, and the firings, skips, misses, panics and lateness of all
//! of them, including those already gone. Read as a [`SchedulesSnapshot`] by
//! [`Handle::schedules`](crate::Handle::schedules), `pending()`, `metrics()` and the
//! shutdown report.
//!
//! ## Protocol
//!
//! - A runtime's [`Census`] sits in its `Shared::schedules` (as a `ScheduleCensus`, the
//!   trait the lower layers read it through), made when its first schedule is spawned.
//! - A schedule registers a `Weak` to its state in its runtime's census when spawned;
//!   the list is pruned of dead entries each time it doubles.
//! - A schedule's counters live on the schedule (`Counts`, relaxed atomics: they are
//!   statistics, not synchronisation). When its state is dropped, it adds them to the
//!   census's `retired` counts, with how it stopped and whether its last firing was
//!   dropped by shutdown, so a snapshot is `retired + the sum over live states`.
//!   (A state being dropped while a snapshot runs may be missed or counted once; never
//!   twice, since its `Weak` no longer upgrades once its drop has begun.)

use super::firing::{DynState, Phase, Stop};
use crate::sched::shared::Shared;
use crate::stats::{ScheduleCensus, SchedulesSnapshot};
use crate::Handle;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex, PoisonError, Weak};
use std::time::Duration;

/// Firing statistics of one schedule, or of the retired schedules of a runtime.
#[derive(Debug, Default)]
pub(crate) struct Counts {
    pub(crate) runs: AtomicU64,
    pub(crate) skipped: AtomicU64,
    pub(crate) missed: AtomicU64,
    pub(crate) panicked: AtomicU64,
    /// Tasks submitted (firings and relays), and of them those that ran. (The one a
    /// schedule may have cancelled in its wheel is noted in its `Firing`.)
    pub(crate) tasks: AtomicU64,
    pub(crate) tasks_run: AtomicU64,
    /// Firings whose lateness was recorded.
    pub(crate) fired: AtomicU64,
    pub(crate) lateness_sum_ns: AtomicU64,
    pub(crate) lateness_max_ns: AtomicU64,
}

impl Counts {
    pub(crate) fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Relaxed);
    }

    pub(crate) fn record_lateness(&self, late: Duration) {
        let ns = u64::try_from(late.as_nanos()).unwrap_or(u64::MAX);
        self.fired.fetch_add(1, Relaxed);
        self.lateness_sum_ns.fetch_add(ns, Relaxed);
        self.lateness_max_ns.fetch_max(ns, Relaxed);
    }

    /// Adds `other` into `self`.
    pub(crate) fn absorb(&self, other: &Counts) {
        for (mine, theirs) in self.fields().into_iter().zip(other.fields()) {
            mine.fetch_add(theirs.load(Relaxed), Relaxed);
        }
        self.lateness_max_ns.fetch_max(other.lateness_max_ns.load(Relaxed), Relaxed);
    }

    /// The summed fields (every one but the maximum).
    fn fields(&self) -> [&AtomicU64; 8] {
        [
            &self.runs,
            &self.skipped,
            &self.missed,
            &self.panicked,
            &self.tasks,
            &self.tasks_run,
            &self.fired,
            &self.lateness_sum_ns,
        ]
    }

    pub(crate) fn add_to(&self, snap: &mut SchedulesSnapshot, lateness_sum: &mut u128, fired: &mut u64) {
        snap.runs += self.runs.load(Relaxed);
        snap.skipped += self.skipped.load(Relaxed);
        snap.missed += self.missed.load(Relaxed);
        snap.panicked += self.panicked.load(Relaxed);
        snap.firings += self.tasks.load(Relaxed);
        snap.firings_run += self.tasks_run.load(Relaxed);
        *fired += self.fired.load(Relaxed);
        *lateness_sum += u128::from(self.lateness_sum_ns.load(Relaxed));
        snap.max_lateness = snap.max_lateness.max(Duration::from_nanos(self.lateness_max_ns.load(Relaxed)));
    }
}

/// The schedules of one runtime.
#[derive(Debug, Default)]
pub(crate) struct Census {
    /// Counts of schedules whose state is gone.
    pub(crate) retired: Counts,
    /// How the retired schedules stopped, by [`Stop`] (`Stop::index`).
    retired_by: [AtomicU64; Stop::COUNT],
    /// Retired schedules whose pending firing was dropped by shutdown, or cancelled.
    retired_dropped: AtomicU64,
    retired_cancelled: AtomicU64,
    live: Mutex<Live>,
}

#[derive(Debug, Default)]
struct Live {
    states: Vec<Weak<DynState>>,
    prune_at: usize,
}

/// Adds a finished schedule that stopped by `stop` to `snap`.
fn add_finished(snap: &mut SchedulesSnapshot, stop: Stop, n: u64) {
    snap.finished += n;
    *match stop {
        Stop::Cancelled => &mut snap.cancelled,
        Stop::Exhausted => &mut snap.exhausted,
        Stop::Panicked => &mut snap.stopped_by_panic,
        Stop::Shutdown => &mut snap.stopped_by_shutdown,
    } += n;
}

impl Census {
    /// The census of the runtime owning `shared`, made (and set in it) on first use.
    pub(crate) fn of(shared: &Shared) -> Arc<Census> {
        let census: Arc<dyn ScheduleCensus> = shared.schedule_census_or_init(|| Arc::new(Census::default()));
        let any: Arc<dyn std::any::Any + Send + Sync> = census;
        any.downcast::<Census>()
            .unwrap_or_else(|_| unreachable!("only a `Census` is set in `Shared::schedules`"))
    }

    pub(crate) fn register(&self, state: Weak<DynState>) {
        let mut live = self.live.lock().unwrap_or_else(PoisonError::into_inner);
        if live.states.len() >= live.prune_at {
            live.states.retain(|s| s.strong_count() > 0);
            live.prune_at = (live.states.len() * 2).max(64);
        }
        live.states.push(state);
    }

    /// Takes in the counts of a schedule whose state is being dropped, finished by `stop`,
    /// its pending firing dropped by shutdown if `dropped`, or cancelled if `cancelled`.
    pub(crate) fn retire(&self, counts: &Counts, stop: Stop, dropped: bool, cancelled: bool) {
        self.retired.absorb(counts);
        self.retired_by[stop.index()].fetch_add(1, Relaxed);
        self.retired_dropped.fetch_add(u64::from(dropped), Relaxed);
        self.retired_cancelled.fetch_add(u64::from(cancelled), Relaxed);
    }

    /// The live states, upgraded (dead entries are left for the next prune).
    fn live(&self) -> Vec<Arc<DynState>> {
        let live = self.live.lock().unwrap_or_else(PoisonError::into_inner);
        live.states.iter().filter_map(Weak::upgrade).collect()
    }
}

impl ScheduleCensus for Census {
    fn snapshot(&self) -> SchedulesSnapshot {
        let mut snap = SchedulesSnapshot::default();
        let (mut lateness_sum, mut fired) = (0u128, 0u64);
        self.retired.add_to(&mut snap, &mut lateness_sum, &mut fired);
        for stop in Stop::ALL {
            add_finished(&mut snap, stop, self.retired_by[stop.index()].load(Relaxed));
        }
        snap.firings_dropped = self.retired_dropped.load(Relaxed);
        snap.firings_cancelled = self.retired_cancelled.load(Relaxed);
        for state in self.live() {
            state.counts.add_to(&mut snap, &mut lateness_sum, &mut fired);
            let (phase, cancelled) = state.phase();
            snap.firings_cancelled += u64::from(cancelled);
            match phase {
                Phase::Active(due) => {
                    snap.active += 1;
                    if let Some(due) = due {
                        snap.next_due = Some(snap.next_due.map_or(due, |d| d.min(due)));
                    }
                }
                Phase::Finished { stop, dropped } => {
                    add_finished(&mut snap, stop, 1);
                    snap.firings_dropped += u64::from(dropped);
                }
            }
        }
        if fired > 0 {
            let mean = lateness_sum / u128::from(fired);
            snap.mean_lateness = Duration::from_nanos(u64::try_from(mean).unwrap_or(u64::MAX));
        }
        snap
    }
}

impl Handle {
    /// Every schedule of this runtime: how many are active and finished (and how each
    /// stopped), the next due time, their firing tasks and how those ended, and their
    /// runs, skips, misses, panics and lateness. It keeps working after shutdown
    /// (schedules stopped by it then count as finished). The same figures are in
    /// [`metrics`](Self::metrics) and in the [`ShutdownReport`](crate::ShutdownReport).
    ///
    /// ```
    /// use kairos_rt::{Priority, Runtime, Schedule};
    /// use std::time::Duration;
    ///
    /// let rt = Runtime::builder().workers(1).build()?;
    /// let handle = rt.handle();
    /// let twice = Schedule::every(Duration::from_millis(1)).unwrap().times(2);
    /// let job = handle.spawn_recurring(twice, Priority::NORMAL, || ()).unwrap();
    /// while !job.is_finished() { std::thread::sleep(Duration::from_millis(1)); }
    /// let daily = handle.spawn_recurring(Schedule::cron("@daily").unwrap(), Priority::LOW, || ()).unwrap();
    /// let s = handle.schedules();
    /// assert_eq!((s.active, s.finished, s.exhausted, s.runs), (1, 1, 1, 2));
    /// drop(rt.shutdown());
    /// let s = handle.schedules();
    /// assert_eq!((s.active, s.stopped_by_shutdown), (0, 1), "shutdown stopped the daily job");
    /// # drop(daily);
    /// # Ok::<(), kairos_rt::BuildError>(())
    /// ```
    pub fn schedules(&self) -> SchedulesSnapshot {
        self.shared.schedules_snapshot()
    }
}
