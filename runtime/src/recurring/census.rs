//! The schedules of each runtime: how many are active, when the next is due, how each
//! finished schedule stopped, and the firings, skips, misses, panics and lateness of all
//! of them, including those already gone. Read as a [`SchedulesSnapshot`] by
//! [`Handle::schedules`](crate::Handle::schedules), `pending()`, `metrics()` and the
//! shutdown report.
//!
//! ## Protocol
//!
//! - A runtime's [`Census`] sits in its `Shared::schedules` (as a `ScheduleCensus`, the
//!   trait the lower layers read it through), made when its first schedule is spawned;
//!   a schedule reaches it through its runtime handle ([`Census::in_runtime`]), with no
//!   pointer of its own.
//! - A schedule registers a `Weak` to its state in its runtime's census when spawned;
//!   the list is pruned of dead entries each time it doubles.
//! - What a [`Recurring`](crate::Recurring) handle reads of its own schedule (runs,
//!   skips, misses, panics, largest lateness: a [`Tally`]) lives on the schedule, under
//!   its mutex. When its state is dropped, it adds its tally to the census's `retired`
//!   counts, with how it stopped and whether its last firing was dropped by shutdown or
//!   cancelled, so a snapshot is `retired + the sum over live states`. (A state being
//!   dropped while a snapshot runs may be missed or counted once; never twice, since its
//!   `Weak` no longer upgrades once its drop has begun.)
//! - What only the runtime's totals need (firing tasks submitted and run, lateness sum
//!   and count, the largest lateness) is counted straight into the census, in a few
//!   cache-line stripes picked by thread (relaxed atomics: statistics, not
//!   synchronisation), so it costs a schedule no bytes and two workers no shared line.

use super::firing::{mono_offset_ns, DynState, Phase, Stop};
use crate::clock::due_tick_of_nanos;
use crate::sched::shared::Shared;
use crate::sched::spawn::Due;
use crate::stats::{ScheduleCensus, SchedulesSnapshot};
use crate::Handle;
use std::any::{Any, TypeId};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering::Relaxed};
use std::sync::{Arc, Mutex, PoisonError, Weak};
use std::time::Duration;

/// What the handle of one schedule reads: kept on the schedule, under its mutex.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Tally {
    /// Runs started.
    pub(crate) runs: u64,
    /// Ticks that started no run by the overlap rule.
    pub(crate) skipped: u64,
    /// Ticks dropped as missed by the missed-tick behavior.
    pub(crate) missed: u64,
    /// Runs that panicked.
    pub(crate) panicked: u64,
    /// The largest lateness of a firing, in nanoseconds.
    pub(crate) lateness_max_ns: u64,
}

impl Tally {
    /// Adds the summed fields into `snap`.
    fn add_to(&self, snap: &mut SchedulesSnapshot) {
        snap.runs += self.runs;
        snap.skipped += self.skipped;
        snap.missed += self.missed;
        snap.panicked += self.panicked;
    }
}

/// The tallies of retired schedules, summed.
#[derive(Debug, Default)]
struct Retired {
    runs: AtomicU64,
    skipped: AtomicU64,
    missed: AtomicU64,
    panicked: AtomicU64,
}

/// Runtime-wide counts of the firing tasks and their lateness, one stripe of them.
#[derive(Debug, Default)]
#[repr(align(128))]
struct Stripe {
    /// Tasks submitted (firings and relays), and of them those whose body started.
    tasks: AtomicU64,
    tasks_run: AtomicU64,
    /// Firings whose lateness was recorded, and the sum of it.
    fired: AtomicU64,
    lateness_sum_ns: AtomicU64,
}

/// How many stripes the runtime-wide counts have (a power of two).
const STRIPES: usize = 8;

/// This thread's stripe.
fn stripe_index() -> usize {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    thread_local! {
        static INDEX: usize = NEXT.fetch_add(1, Relaxed) % STRIPES;
    }
    INDEX.with(|i| *i)
}

/// The schedules of one runtime.
#[derive(Debug)]
pub(crate) struct Census {
    /// Tallies of schedules whose state is gone.
    retired: Retired,
    /// How the retired schedules stopped, by [`Stop`] (`Stop::index`).
    retired_by: [AtomicU64; Stop::COUNT],
    /// Retired schedules whose pending firing was dropped by shutdown, or cancelled.
    retired_dropped: AtomicU64,
    retired_cancelled: AtomicU64,
    /// Firing tasks and lateness of every schedule, live or gone.
    stripes: [Stripe; STRIPES],
    lateness_max_ns: AtomicU64,
    live: Mutex<Live>,
    /// Where the firing loop's monotonic clock (`firing::mono`, nanoseconds after a base
    /// of the process) starts on this runtime's clock: the base minus the runtime's start,
    /// in nanoseconds, so a firing's due time becomes a wheel tick with no clock read.
    mono_offset_ns: i64,
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
    /// An empty census for a runtime whose clock starts `mono_offset_ns` before the firing
    /// loop's monotonic clock's base (negative: after it).
    fn new(mono_offset_ns: i64) -> Census {
        Census {
            retired: Retired::default(),
            retired_by: Default::default(),
            retired_dropped: AtomicU64::new(0),
            retired_cancelled: AtomicU64::new(0),
            stripes: Default::default(),
            lateness_max_ns: AtomicU64::new(0),
            live: Mutex::new(Live::default()),
            mono_offset_ns,
        }
    }

    /// The census of the runtime owning `shared`, made (and set in it) on first use.
    pub(crate) fn of(shared: &Shared) -> Arc<Census> {
        let census: Arc<dyn ScheduleCensus> =
            shared.schedule_census_or_init(|| Arc::new(Census::new(mono_offset_ns(shared.clock_start()))));
        let any: Arc<dyn std::any::Any + Send + Sync> = census;
        any.downcast::<Census>()
            .unwrap_or_else(|_| unreachable!("only a `Census` is set in `Shared::schedules`"))
    }

    /// The census of `handle`'s runtime, borrowed (no reference count is touched: a
    /// firing counts through this). Made by [`of`](Self::of) when the runtime's first
    /// schedule was spawned, which is before any of its schedules counts anything.
    pub(crate) fn in_runtime(handle: &Handle) -> &Census {
        let census: &dyn ScheduleCensus = handle
            .shared
            .schedule_census()
            .unwrap_or_else(|| unreachable!("a schedule's runtime has a census"));
        assert!(
            Any::type_id(census) == TypeId::of::<Census>(),
            "only a `Census` is set in `Shared::schedules`"
        );
        // SAFETY: the census behind the trait object is a `Census` (its type id, checked
        // above); dropping the metadata of the wide pointer leaves a pointer to it, valid
        // for as long as the borrow of `handle` keeps the runtime's `Shared` alive.
        unsafe { &*(census as *const dyn ScheduleCensus).cast::<Census>() }
    }

    /// When a firing due at `due` on the firing loop's monotonic clock is due on this
    /// runtime, judged at `now` on that clock (read a moment ago): now if it has come,
    /// else the first wheel tick at or after it.
    pub(crate) fn due(&self, due: u64, now: u64) -> Due {
        if due <= now {
            return Due::Now;
        }
        let since_start = i128::from(due) + i128::from(self.mono_offset_ns);
        Due::At(due_tick_of_nanos(u128::try_from(since_start).unwrap_or(0)))
    }

    fn stripe(&self) -> &Stripe {
        &self.stripes[stripe_index()]
    }

    /// Counts `n` firing tasks (firings or relays) submitted.
    pub(crate) fn tasks_spawned(&self, n: u64) {
        self.stripe().tasks.fetch_add(n, Relaxed);
    }

    /// Counts a firing task whose body started, and the lateness of the firing it
    /// started, in nanoseconds, if it is one (not a relay, nor a firing that found its
    /// schedule stopped). Returns that lateness (0 for none).
    pub(crate) fn task_ran(&self, late_ns: Option<u64>) -> u64 {
        let stripe = self.stripe();
        stripe.tasks_run.fetch_add(1, Relaxed);
        let Some(ns) = late_ns else { return 0 };
        stripe.fired.fetch_add(1, Relaxed);
        stripe.lateness_sum_ns.fetch_add(ns, Relaxed);
        if ns > self.lateness_max_ns.load(Relaxed) {
            self.lateness_max_ns.fetch_max(ns, Relaxed);
        }
        ns
    }

    pub(crate) fn register(&self, state: Weak<DynState>) {
        let mut live = self.live.lock().unwrap_or_else(PoisonError::into_inner);
        if live.states.len() >= live.prune_at {
            live.states.retain(|s| s.strong_count() > 0);
            live.prune_at = (live.states.len() * 2).max(64);
        }
        live.states.push(state);
    }

    /// Takes in the tally of a schedule whose state is being dropped, finished by `stop`,
    /// its pending firing dropped by shutdown if `dropped`, or cancelled if `cancelled`.
    pub(crate) fn retire(&self, tally: &Tally, stop: Stop, dropped: bool, cancelled: bool) {
        self.retired.runs.fetch_add(tally.runs, Relaxed);
        self.retired.skipped.fetch_add(tally.skipped, Relaxed);
        self.retired.missed.fetch_add(tally.missed, Relaxed);
        self.retired.panicked.fetch_add(tally.panicked, Relaxed);
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
        for stripe in &self.stripes {
            snap.firings += stripe.tasks.load(Relaxed);
            snap.firings_run += stripe.tasks_run.load(Relaxed);
            fired += stripe.fired.load(Relaxed);
            lateness_sum += u128::from(stripe.lateness_sum_ns.load(Relaxed));
        }
        snap.max_lateness = Duration::from_nanos(self.lateness_max_ns.load(Relaxed));
        snap.runs = self.retired.runs.load(Relaxed);
        snap.skipped = self.retired.skipped.load(Relaxed);
        snap.missed = self.retired.missed.load(Relaxed);
        snap.panicked = self.retired.panicked.load(Relaxed);
        for stop in Stop::ALL {
            add_finished(&mut snap, stop, self.retired_by[stop.index()].load(Relaxed));
        }
        snap.firings_dropped = self.retired_dropped.load(Relaxed);
        snap.firings_cancelled = self.retired_cancelled.load(Relaxed);
        for state in self.live() {
            let (phase, cancelled, tally) = state.phase();
            tally.add_to(&mut snap);
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
