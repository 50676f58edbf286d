//! The schedules of each runtime, for [`Handle::schedules`](crate::Handle::schedules):
//! how many are active, when the next is due, and the firings, skips, misses, panics and
//! lateness of all of them, including those already gone.
//!
//! ## Protocol
//!
//! - A process-wide list maps each runtime (by a `Weak` to its shared state, so a dropped
//!   runtime's entry is recognised and pruned) to its [`Census`].
//! - A schedule registers a `Weak` to its state in its runtime's census when spawned;
//!   the list is pruned of dead entries each time it doubles.
//! - A schedule's counters live on the schedule (`Counts`, relaxed atomics: they are
//!   statistics, not synchronisation). When its state is dropped, it adds them to the
//!   census's `retired` counts, so a snapshot is `retired + the sum over live states`.
//!   (A state being dropped while a snapshot runs may be missed or counted once; never
//!   twice, since its `Weak` no longer upgrades once its drop has begun.)

use super::firing::DynState;
use crate::sched::shared::Shared;
use crate::Handle;
use kairos_rt_core::sync::Arc as RtArc;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex, PoisonError, Weak};
use std::time::{Duration, SystemTime};

/// Firing statistics of one schedule, or of the retired schedules of a runtime.
#[derive(Debug, Default)]
pub(crate) struct Counts {
    pub(crate) runs: AtomicU64,
    pub(crate) skipped: AtomicU64,
    pub(crate) missed: AtomicU64,
    pub(crate) panicked: AtomicU64,
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
    fn fields(&self) -> [&AtomicU64; 6] {
        [&self.runs, &self.skipped, &self.missed, &self.panicked, &self.fired, &self.lateness_sum_ns]
    }

    pub(crate) fn add_to(&self, snap: &mut SchedulesSnapshot, lateness_sum: &mut u128, fired: &mut u64) {
        snap.runs += self.runs.load(Relaxed);
        snap.skipped += self.skipped.load(Relaxed);
        snap.missed += self.missed.load(Relaxed);
        snap.panicked += self.panicked.load(Relaxed);
        *fired += self.fired.load(Relaxed);
        *lateness_sum += u128::from(self.lateness_sum_ns.load(Relaxed));
        snap.max_lateness = snap.max_lateness.max(Duration::from_nanos(self.lateness_max_ns.load(Relaxed)));
    }
}

/// The schedules of one runtime.
#[derive(Debug, Default)]
pub(crate) struct Census {
    /// Counts of schedules whose state is gone, and how many they were.
    pub(crate) retired: Counts,
    pub(crate) retired_schedules: AtomicU64,
    live: Mutex<Live>,
}

#[derive(Debug, Default)]
struct Live {
    states: Vec<Weak<DynState>>,
    prune_at: usize,
}

impl Census {
    /// The census of the runtime owning `shared`, made on first use.
    pub(crate) fn of(shared: &RtArc<Shared>) -> Arc<Census> {
        static RUNTIMES: Mutex<Vec<(std::sync::Weak<Shared>, Arc<Census>)>> = Mutex::new(Vec::new());
        let mut runtimes = RUNTIMES.lock().unwrap_or_else(PoisonError::into_inner);
        runtimes.retain(|(rt, _)| rt.strong_count() > 0);
        if let Some((_, census)) =
            runtimes.iter().find(|(rt, _)| std::ptr::eq(rt.as_ptr(), RtArc::as_ptr(shared)))
        {
            return census.clone();
        }
        let census = Arc::new(Census::default());
        runtimes.push((RtArc::downgrade(shared), census.clone()));
        census
    }

    pub(crate) fn register(&self, state: Weak<DynState>) {
        let mut live = self.live.lock().unwrap_or_else(PoisonError::into_inner);
        if live.states.len() >= live.prune_at {
            live.states.retain(|s| s.strong_count() > 0);
            live.prune_at = (live.states.len() * 2).max(64);
        }
        live.states.push(state);
    }

    /// The live states, upgraded (dead entries are left for the next prune).
    pub(crate) fn live(&self) -> Vec<Arc<DynState>> {
        let live = self.live.lock().unwrap_or_else(PoisonError::into_inner);
        live.states.iter().filter_map(Weak::upgrade).collect()
    }
}

/// Every schedule of a runtime at a moment: from [`Handle::schedules`].
///
/// The counts include schedules that have finished and were dropped. Gathered without
/// stopping the workers: exact when nothing fires meanwhile.
///
/// ```
/// use kairos_rt::{Priority, Runtime, Schedule};
///
/// let rt = Runtime::builder().workers(1).build()?;
/// let job = rt.spawn_recurring(Schedule::cron("@daily").unwrap(), Priority::LOW, || ()).unwrap();
/// let s = rt.handle().schedules();
/// assert_eq!((s.active, s.runs), (1, 0));
/// assert_eq!(s.next_due, job.next_due());
/// # Ok::<(), kairos_rt::BuildError>(())
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct SchedulesSnapshot {
    /// Schedules that will fire again or have a run going.
    pub active: u64,
    /// Schedules that are over (cancelled, out of ticks, stopped by a panic or by
    /// shutdown), including dropped ones.
    pub finished: u64,
    /// The earliest next due time of the active schedules.
    pub next_due: Option<SystemTime>,
    /// Runs started.
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
    /// The snapshot in the Prometheus text exposition format, to append to
    /// [`MetricsSnapshot::to_prometheus`](crate::MetricsSnapshot::to_prometheus):
    /// `kairos_schedules_active`, `kairos_schedules_finished` (gauges),
    /// `kairos_schedule_runs_total`, `kairos_schedule_skipped_total`,
    /// `kairos_schedule_missed_total`, `kairos_schedule_panicked_total` (counters) and
    /// `kairos_schedule_lateness_seconds{stat="mean"|"max"}` (gauge).
    ///
    /// ```
    /// let rt = kairos_rt::Runtime::builder().workers(1).build()?;
    /// let text = rt.handle().schedules().to_prometheus();
    /// assert!(text.contains("kairos_schedule_runs_total 0"));
    /// # Ok::<(), kairos_rt::BuildError>(())
    /// ```
    pub fn to_prometheus(&self) -> String {
        use std::fmt::Write;
        let mut out = String::with_capacity(1024);
        let families: [(&str, &str, &str, u64); 6] = [
            (
                "kairos_schedules_active",
                "gauge",
                "Schedules that will fire again or have a run going.",
                self.active,
            ),
            ("kairos_schedules_finished", "gauge", "Schedules that are over.", self.finished),
            ("kairos_schedule_runs_total", "counter", "Runs started by schedules.", self.runs),
            ("kairos_schedule_skipped_total", "counter", "Ticks skipped by the overlap rule.", self.skipped),
            ("kairos_schedule_missed_total", "counter", "Ticks dropped as missed.", self.missed),
            ("kairos_schedule_panicked_total", "counter", "Schedule runs that panicked.", self.panicked),
        ];
        for (name, kind, help, value) in families {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {value}");
        }
        let name = "kairos_schedule_lateness_seconds";
        let _ = writeln!(
            out,
            "# HELP {name} How long after their due time firings started.\n# TYPE {name} gauge"
        );
        for (stat, d) in [("mean", self.mean_lateness), ("max", self.max_lateness)] {
            let _ = writeln!(out, "{name}{{stat=\"{stat}\"}} {}", d.as_secs_f64());
        }
        out
    }
}

impl Handle {
    /// Every schedule of this runtime: how many are active and finished, the next due
    /// time, and their firings, skips, misses, panics and lateness. It keeps working after
    /// shutdown (schedules stopped by it then count as finished).
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
    /// assert_eq!((s.active, s.finished, s.runs), (1, 1, 2));
    /// drop(rt.shutdown());
    /// assert_eq!(handle.schedules().active, 0, "shutdown stopped the daily job");
    /// # drop(daily);
    /// # Ok::<(), kairos_rt::BuildError>(())
    /// ```
    pub fn schedules(&self) -> SchedulesSnapshot {
        let census = Census::of(&self.shared);
        let mut snap = SchedulesSnapshot::default();
        let (mut lateness_sum, mut fired) = (0u128, 0u64);
        census.retired.add_to(&mut snap, &mut lateness_sum, &mut fired);
        snap.finished = census.retired_schedules.load(Relaxed);
        for state in census.live() {
            state.counts.add_to(&mut snap, &mut lateness_sum, &mut fired);
            let (over, due) = state.status();
            if over {
                snap.finished += 1;
                continue;
            }
            snap.active += 1;
            if let Some(due) = due {
                snap.next_due = Some(snap.next_due.map_or(due, |d| d.min(due)));
            }
        }
        if fired > 0 {
            let mean = lateness_sum / u128::from(fired);
            snap.mean_lateness = Duration::from_nanos(u64::try_from(mean).unwrap_or(u64::MAX));
        }
        snap
    }
}
