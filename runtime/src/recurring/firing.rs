//! The firing loop behind a [`Recurring`](crate::Recurring) schedule.
//!
//! ## Protocol
//!
//! A schedule has at most one pending *firing*: a timed closure task at the schedule's
//! priority, due at its tick (plus jitter), in a timing wheel. No thread waits for it.
//! Everything below happens under the schedule's mutex, except running the body.
//!
//! A firing for tick `T` that starts at `S` returns at once if the schedule is stopped
//! (cancelled, exhausted, stopped by a panic): a firing that loses the race with
//! `cancel` does nothing. Otherwise it records its lateness, counts the tick, starts a
//! run (`running += 1`, `runs += 1`) and, by the overlap rule:
//!
//! - `Skip` and `QueueOne` (*sequential*): runs the body first and schedules the next
//!   firing after it, so no firing waits in a wheel while the run holds the worker
//!   (a run blocks its worker's own wheel; issue 20). After a run ending at `E`: the next
//!   tick `N` comes from `T` under the missed-tick behavior judged at `S`. If `N > E`, or
//!   under `Burst` (which never loses a tick), the firing of `N` is spawned (at once if
//!   it is due). Otherwise the ticks in `[N, E]` came during the run: `Skip` counts them
//!   all as skipped and goes on from the last; `QueueOne` counts all but the last as
//!   skipped and runs again at once for the last, then repeats.
//! - `Concurrent`: schedules the next firing first, through a *relay*: a ready task that
//!   spawns it. The relay sits in this worker's run queue, where a free worker steals it
//!   and puts the next firing in its own wheel, so ticks keep firing, on other workers,
//!   while this run holds this one. Then it runs the body.
//!
//! ## Invariants
//!
//! - A run *starts* exactly when `runs` is incremented, under the mutex, after checking
//!   that the schedule is not stopped. [`Recurring::cancel`](crate::Recurring::cancel) sets the stop under the same
//!   mutex, so once it returns `true` no run starts (a run already started may finish).
//! - Ticks come from the grid, never from when a run ended: no drift.
//! - The schedule's tasks never pile up: one pending firing (or relay) at most, plus the
//!   runs going (at most 1 for `Skip` and `QueueOne`, and with no firing pending while it
//!   runs; for `Concurrent`, at most one per busy worker, since a run's relay waits for a
//!   free one).
//! - The mutex is never held while user code runs; it is held while the next firing is
//!   spawned (a worker's spawn never blocks; the first spawn from outside may wait for
//!   room under `max_pending`, before any firing exists).
//! - Firings and relays are ordinary tasks: the shutdown report counts each as completed
//!   (panics in the body are caught and counted here, in `panicked`), and a pending
//!   firing dropped by shutdown as a dropped timer. The census counts them too (tasks
//!   when spawned, tasks run when their body starts: `census.rs`), and the schedule notes
//!   in `Firing::cancelled` the one `cancel` takes out of its wheel; one that ends
//!   otherwise was dropped by shutdown, and is told by its finished handle left in `next`
//!   with no stop set (`Firing::phase`).
//! - `times` counts ticks consumed, `runs + skipped` of the schedule's tally: both move
//!   under the mutex, together with the tick they consume.
//!
//! ## Cost
//!
//! A waiting schedule holds three pieces of heap: its [`State`] in an `Arc` (16 bytes of
//! counts, the runtime handle 8, the [`Spec`] 16, the mutex and its `Firing` 104, then
//! the body's captures: 144 bytes plus the captures), its pending firing task (a timed
//! closure cell holding the `Arc`: 48 bytes) and its `Weak` in the census (16 bytes, in
//! a vector that doubles). With a body of 40 bytes of captures that is 248 bytes. A
//! plain `every` schedule (no `until`, `times` or jitter) keeps only its period and
//! anchor; any other (cron, bounded, jittered) keeps the [`Schedule`] itself, in a box
//! of its own (80 bytes more, plus the cron table's `Arc` it shares with its clones).
//! The counts only the runtime's totals need live in the census, not in the schedule.
//! Each firing allocates its task cell (48 bytes) and frees the last one.
//!
//! The floor of this protocol with one timed task per firing is the task cell (header
//! and wheel links, 40 bytes) plus the body's captures plus the state the handle reads
//! (tally 40, tick and its mapping 24, the pending handle 16); a re-armed cell would save
//! the `Arc`'s counts and the handle in `next` (24 bytes) and the allocation per firing,
//! not more.

use super::census::{Census, Tally};
use super::nanos::{gap, minus, nanos_of, now_nanos, plus, system_time_of, time_of};
use super::schedule::{OnPanic, Overlap, Schedule};
use crate::time::MissedTickBehavior;
use crate::time::ScheduleError;
use crate::Handle;
use chrono::Utc;
use kairos_rt_core::task::JoinHandle;
use kairos_rt_core::Priority;
use std::borrow::Cow;
use std::num::NonZeroU64;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, PoisonError};
use std::time::{Duration, SystemTime};

/// Why a schedule stopped firing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Stop {
    /// [`Recurring::cancel`](crate::Recurring::cancel).
    Cancelled,
    /// A run panicked under [`OnPanic::Stop`].
    Panicked,
    /// No tick left (`times`, `until`, or the end of a cron grid).
    Exhausted,
    /// The runtime refused the next firing, or dropped the pending one at shutdown.
    Shutdown,
}

impl Stop {
    pub(crate) const COUNT: usize = 4;
    pub(crate) const ALL: [Stop; Stop::COUNT] =
        [Stop::Cancelled, Stop::Panicked, Stop::Exhausted, Stop::Shutdown];

    /// The position of this reason in [`Stop::ALL`].
    pub(crate) fn index(self) -> usize {
        self as usize
    }
}

/// Where a schedule is in its life, for the census.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Phase {
    /// Live or with a run going; when its next firing is due, if it will fire again.
    Active(Option<SystemTime>),
    /// Over: why, and whether its pending firing was dropped unrun by shutdown.
    Finished { stop: Stop, dropped: bool },
}

/// The monotonic clock as nanoseconds after a base instant of the process (taken when
/// the first schedule starts): 8 bytes where an `Instant` takes 16.
mod mono {
    use std::sync::OnceLock;
    use std::time::{Duration, Instant};

    static BASE: OnceLock<Instant> = OnceLock::new();

    fn base() -> Instant {
        *BASE.get_or_init(Instant::now)
    }

    /// `at` as nanoseconds after the base (0 before it, saturated ~584 years after it).
    pub(super) fn of(at: Instant) -> u64 {
        u64::try_from(at.saturating_duration_since(base()).as_nanos()).unwrap_or(u64::MAX)
    }

    /// Now, as nanoseconds after the base.
    pub(super) fn now() -> u64 {
        of(Instant::now())
    }

    /// The instant `ns` nanoseconds after the base (far away if it does not fit).
    pub(super) fn instant(ns: u64) -> Instant {
        let base = base();
        base.checked_add(Duration::from_nanos(ns))
            .unwrap_or_else(|| base + Duration::from_secs(86_400 * 365 * 30))
    }
}

/// `d` in nanoseconds, saturated.
fn ns_of(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

/// About 30 years from now, on the monotonic clock: the due time of a tick too far away
/// to be carried.
fn far_future() -> u64 {
    mono::now().saturating_add(86_400 * 365 * 30 * 1_000_000_000)
}

/// What the firing loop keeps of a schedule: 16 bytes for a plain `every` schedule.
#[derive(Debug)]
enum Spec {
    /// An [`every`](Schedule::every) schedule with no `until`, `times` or jitter: its
    /// period in nanoseconds and its anchor ([`starting_at`](Schedule::starting_at)) in
    /// nanoseconds since the Unix epoch, `i64::MIN` for none. Its rules are in `Firing`.
    Every { period: NonZeroU64, start: i64 },
    /// Any other schedule (cron, or with `until`, `times` or jitter), as given.
    Full(Box<Schedule>),
}

impl Spec {
    fn of(schedule: Schedule) -> Spec {
        let plain = schedule.until_time().is_none()
            && schedule.max_firings().is_none()
            && schedule.max_jitter().is_zero();
        let period =
            schedule.period().and_then(|p| u64::try_from(p.as_nanos()).ok()).and_then(NonZeroU64::new);
        let start = match schedule.start_time() {
            None => Some(i64::MIN),
            Some(t) => nanos_of(t).filter(|&ns| ns != i64::MIN),
        };
        match (plain, period, start) {
            (true, Some(period), Some(start)) => Spec::Every { period, start },
            _ => Spec::Full(Box::new(schedule)),
        }
    }

    /// The schedule for the tick functions: for a plain `every` schedule, one made again
    /// with its period and rules (the anchor plays no part after the first tick).
    fn grid(&self, firing: &Firing) -> Cow<'_, Schedule> {
        match self {
            Spec::Every { period, .. } => Cow::Owned(plain_every(*period, firing)),
            Spec::Full(schedule) => Cow::Borrowed(schedule),
        }
    }

    /// The schedule as it was spawned.
    fn schedule(&self, firing: &Firing) -> Cow<'_, Schedule> {
        match self {
            Spec::Every { period, start } => {
                let every = plain_every(*period, firing);
                Cow::Owned(if *start == i64::MIN { every } else { every.starting_at(time_of(*start)) })
            }
            Spec::Full(schedule) => Cow::Borrowed(schedule),
        }
    }

    /// Whether the grid is an `every` one (carried by exact periods on the monotonic clock).
    fn is_every(&self) -> bool {
        match self {
            Spec::Every { .. } => true,
            Spec::Full(schedule) => schedule.period().is_some(),
        }
    }

    fn max_jitter(&self) -> Duration {
        match self {
            Spec::Every { .. } => Duration::ZERO,
            Spec::Full(schedule) => schedule.max_jitter(),
        }
    }

    fn max_firings(&self) -> Option<u64> {
        match self {
            Spec::Every { .. } => None,
            Spec::Full(schedule) => schedule.max_firings(),
        }
    }
}

/// The `every` schedule of `period` under `firing`'s rules.
fn plain_every(period: NonZeroU64, firing: &Firing) -> Schedule {
    Schedule::every(Duration::from_nanos(period.get()))
        .unwrap_or_else(|_| unreachable!("the period of a schedule that was spawned is valid"))
        .missed_tick(firing.missed)
        .overlap(firing.overlap)
        .on_panic(firing.on_panic)
}

/// The mutable part of a schedule, under its mutex.
#[derive(Debug)]
struct Firing {
    /// The pending firing's task (or relay); `None` while a sequential run goes on.
    next: Option<JoinHandle<()>>,
    /// The next tick (in nanoseconds since the Unix epoch, UTC: `nanos.rs`), and the same
    /// tick on the monotonic clock (`mono`, without jitter): an `every` grid is mapped
    /// once and then carried on by exact periods, with no clock read; a cron grid is
    /// mapped at each tick (the wall clock is its truth).
    tick: i64,
    tick_at: u64,
    /// The jitter drawn for the next tick, in nanoseconds: it is due at `tick_at + jitter`.
    jitter: u64,
    /// When the sequential run of `tick` started (on the grid).
    started: i64,
    /// What the handle reads. Ticks consumed (that started a run or were skipped by the
    /// overlap rule, what `times` counts) are `runs + skipped`.
    tally: Tally,
    running: u16,
    priority: Priority,
    stop: Option<Stop>,
    /// The pending firing was cancelled in its wheel (at most once: cancelling stops the
    /// schedule).
    cancelled: bool,
    /// The schedule's rules, here for every shape of [`Spec`].
    missed: MissedTickBehavior,
    overlap: Overlap,
    on_panic: OnPanic,
}

impl Firing {
    /// Whether a run may still start: not stopped, and a run is going (a sequential
    /// run schedules the next firing when it ends) or a firing is pending (a pending
    /// task that ended without replacing itself was dropped by shutdown).
    fn is_live(&self) -> bool {
        self.stop.is_none() && (self.running > 0 || self.next.as_ref().is_some_and(|h| !h.is_finished()))
    }

    /// No run going and none will start.
    fn is_over(&self) -> bool {
        self.running == 0 && !self.is_live()
    }

    /// Active, or finished and why. A schedule that is over with no stop set had its
    /// pending firing end unrun (a firing that runs replaces or clears `next` first):
    /// shutdown dropped it.
    fn phase(&self, spec: &Spec) -> Phase {
        if !self.is_over() {
            return Phase::Active(self.next_due(spec));
        }
        let dropped = self.stop.is_none() && self.next.as_ref().is_some_and(JoinHandle::is_finished);
        Phase::Finished { stop: self.stop.unwrap_or(Stop::Shutdown), dropped }
    }

    /// When the next firing is due, if live: while a sequential run goes on (no firing
    /// pending yet), the tick that follows it if the run ends in time, without jitter.
    fn next_due(&self, spec: &Spec) -> Option<SystemTime> {
        if !self.is_live() {
            return None;
        }
        if self.next.is_none() {
            let more = self.ticks_left(spec) > 0;
            let next = spec.grid(self).next_tick_counting_ns(self.tick, self.started).0;
            return next.filter(|_| more).map(system_time_of);
        }
        Some(system_time_of(self.due()))
    }

    /// The jitter drawn for the next tick.
    fn jitter(&self) -> Duration {
        Duration::from_nanos(self.jitter)
    }

    /// When the next firing is due on the wall clock: its tick plus jitter.
    fn due(&self) -> i64 {
        plus(self.tick, self.jitter())
    }

    /// When the next firing is due on the monotonic clock.
    fn due_at(&self) -> u64 {
        self.tick_at + self.jitter
    }

    /// Sets the next tick, drawing its jitter, and when it is due. `remap`: map the tick
    /// onto the monotonic clock by reading both clocks, even for an `every` grid (the
    /// first tick).
    fn set_next(&mut self, spec: &Spec, tick: i64, remap: bool) {
        let max = ns_of(spec.max_jitter());
        let jitter = if max == 0 { 0 } else { fastrand::u64(0..=max) };
        let tick_at = if !remap && spec.is_every() && tick >= self.tick {
            self.tick_at.checked_add(ns_of(gap(self.tick, tick)))
        } else {
            // The monotonic clock is read after the wall clock, so the mapped instant is
            // never before the wall-clock tick (only up to the gap between the reads after).
            let now = now_nanos();
            mono::now().checked_add(ns_of(gap(now, tick)))
        };
        // A tick beyond what the monotonic clock holds (centuries away) is far enough:
        // never due.
        let tick_at = tick_at.unwrap_or_else(far_future);
        (self.tick, self.tick_at) = (tick, tick_at);
        self.jitter = if tick_at.checked_add(jitter).is_some() { jitter } else { 0 };
    }

    /// The wall-clock time at `at` (on the monotonic clock): read from the monotonic grid
    /// for an `every` schedule (no clock read, and no wall-clock step can move the grid),
    /// from the wall clock for cron.
    fn wall_at(&self, spec: &Spec, at: u64) -> i64 {
        if !spec.is_every() {
            return now_nanos();
        }
        if at >= self.tick_at {
            plus(self.tick, Duration::from_nanos(at - self.tick_at))
        } else {
            minus(self.tick, Duration::from_nanos(self.tick_at - at))
        }
    }

    fn exhaust(&mut self) {
        self.stop = Some(Stop::Exhausted);
        self.next = None;
    }

    /// How many more ticks `times` allows.
    fn ticks_left(&self, spec: &Spec) -> u64 {
        spec.max_firings().map_or(u64::MAX, |n| n.saturating_sub(self.tally.runs + self.tally.skipped))
    }
}

/// A schedule's shared state: what the pending firing, the running runs and the
/// [`Recurring`](crate::Recurring) handle all point at. `F` is the body, last so the
/// state can be unsized.
pub(crate) struct State<F: ?Sized> {
    handle: Handle,
    spec: Spec,
    firing: Mutex<Firing>,
    body: F,
}

/// The state with its body type erased.
pub(crate) type DynState = State<dyn Fn() + Send + Sync>;

impl<F: ?Sized> Drop for State<F> {
    fn drop(&mut self) {
        // No task and no handle holds the state any more: the schedule is over, and no
        // run is going. A firing still in `next` with no stop set is the task whose drop
        // is dropping this state (its closure held the last reference): shutdown dropped
        // it unrun, and its handle may not read finished yet.
        let firing = self.firing.get_mut().unwrap_or_else(PoisonError::into_inner);
        let dropped = firing.stop.is_none() && firing.next.is_some();
        let (stop, cancelled) = (firing.stop.unwrap_or(Stop::Shutdown), firing.cancelled);
        Census::in_runtime(&self.handle).retire(&firing.tally, stop, dropped, cancelled);
    }
}

impl<F: ?Sized> State<F> {
    fn lock(&self) -> MutexGuard<'_, Firing> {
        self.firing.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn census(&self) -> &Census {
        Census::in_runtime(&self.handle)
    }
}

/// Spawns the firing of the next tick set in `firing`; marks the schedule stopped if the
/// runtime refuses it.
fn spawn_firing<F: Fn() + Send + Sync + 'static>(state: &Arc<State<F>>, firing: &mut Firing) {
    if state.handle.is_shutdown() {
        firing.stop = Some(Stop::Shutdown);
        firing.next = None;
        return;
    }
    let this = state.clone();
    let due = mono::instant(firing.due_at());
    firing.next = Some(state.handle.spawn_at(due, firing.priority, move || fire(&this)));
    state.census().tasks_spawned(1);
}

/// Cancels the pending firing, if any, noting it if it was still in its wheel.
fn cancel_next(firing: &mut Firing) {
    if let Some(next) = firing.next.take() {
        firing.cancelled = next.cancel();
    }
}

/// Sets the next tick after `tick` for a firing that started at `started` (on the grid:
/// without its jitter), or marks the schedule exhausted. Returns whether there is one.
fn plan_next<F: ?Sized>(state: &State<F>, firing: &mut Firing, tick: i64, started: i64) -> bool {
    let next = if firing.ticks_left(&state.spec) == 0 {
        None
    } else {
        let (next, missed) = state.spec.grid(firing).next_tick_counting_ns(tick, started);
        firing.tally.missed += missed;
        next
    };
    match next {
        Some(next) => firing.set_next(&state.spec, next, false),
        None => firing.exhaust(),
    }
    next.is_some()
}

/// The body of a firing task (see the module's protocol).
fn fire<F: Fn() + Send + Sync + 'static>(state: &Arc<State<F>>) {
    state.census().task_ran();
    let mut firing = state.lock();
    if firing.stop.is_some() {
        return;
    }
    let now = mono::now();
    let late = state.census().record_lateness(Duration::from_nanos(now.saturating_sub(firing.due_at())));
    firing.tally.lateness_max_ns = firing.tally.lateness_max_ns.max(late);
    // Missed ticks are judged on the grid: this firing's own jitter is not lateness.
    let started = minus(firing.wall_at(&state.spec, now), firing.jitter());
    let tick = firing.tick;
    firing.running += 1;
    firing.tally.runs += 1;
    if firing.overlap == Overlap::Concurrent {
        if plan_next(state, &mut firing, tick, started) {
            let this = state.clone();
            let relay = move || {
                this.census().task_ran();
                let mut firing = this.lock();
                if firing.stop.is_none() {
                    spawn_firing(&this, &mut firing);
                }
            };
            firing.next = Some(state.handle.spawn(firing.priority, relay));
            state.census().tasks_spawned(1);
        }
        drop(firing);
        run_once(state);
        state.lock().running -= 1;
        return;
    }
    // Sequential: nothing pending while the body runs (`next_due` computes the next
    // tick from this run's tick and start).
    firing.next = None;
    firing.started = started;
    drop(firing);
    let (mut tick, mut started) = (tick, started);
    loop {
        run_once(state);
        let mut firing = state.lock();
        match after_run(state, &mut firing, tick, started) {
            Some(queued) => {
                (tick, started) = (queued, firing.wall_at(&state.spec, mono::now()));
                firing.tally.runs += 1;
            }
            None => {
                firing.running -= 1;
                return;
            }
        }
    }
}

/// After a sequential run of `tick` that started at `started`: spawns the next firing,
/// or returns the tick to run again at once (`QueueOne`), or stops. See the protocol.
fn after_run<F: Fn() + Send + Sync + 'static>(
    state: &Arc<State<F>>,
    firing: &mut Firing,
    mut tick: i64,
    mut started: i64,
) -> Option<i64> {
    let end = firing.wall_at(&state.spec, mono::now());
    loop {
        if firing.stop.is_some() || !plan_next(state, firing, tick, started) {
            return None;
        }
        if firing.tick > end || firing.missed == MissedTickBehavior::Burst {
            // Ahead, or Burst (which never loses a tick): its firing is due now.
            spawn_firing(state, firing);
            return None;
        }
        // Ticks came while the run went on.
        let left = firing.ticks_left(&state.spec);
        let (came, last) = state.spec.grid(firing).ticks_through(firing.tick, end, left);
        if firing.overlap == Overlap::QueueOne {
            // The last of them runs (`runs` is counted by the caller), the others are skipped.
            firing.tally.skipped += came - 1;
            return Some(last);
        }
        firing.tally.skipped += came;
        (tick, started) = (last, end);
    }
}

/// Runs the body once, catching a panic; counts it and applies [`OnPanic`].
fn run_once<F: Fn() + Send + Sync + 'static>(state: &State<F>) {
    if catch_unwind(AssertUnwindSafe(|| (state.body)())).is_ok() {
        return;
    }
    let mut firing = state.lock();
    firing.tally.panicked += 1;
    if firing.on_panic == OnPanic::Stop && matches!(firing.stop, None | Some(Stop::Exhausted)) {
        firing.stop = Some(Stop::Panicked);
        cancel_next(&mut firing);
    }
}

impl DynState {
    /// Starts `schedule` on `handle`'s runtime: its first firing is spawned.
    pub(crate) fn start<F>(
        handle: &Handle,
        schedule: Schedule,
        priority: Priority,
        f: F,
    ) -> Result<Arc<DynState>, ScheduleError>
    where
        F: Fn() + Send + Sync + 'static,
    {
        schedule.validate()?;
        if handle.is_shutdown() {
            return Err(ScheduleError::shutdown());
        }
        let now = Utc::now();
        let Some(first) = schedule.first_tick(now) else {
            return Err(ScheduleError::invalid(format!(
                "the schedule has no tick at or after now ({now}): its until has passed"
            )));
        };
        let Some(first) = nanos_of(first) else {
            return Err(ScheduleError::invalid(format!(
                "the first tick ({first}) is after the year 2262, beyond the runtime's timers"
            )));
        };
        let census = Census::of(&handle.shared);
        let firing = Firing {
            next: None,
            tick: first,
            tick_at: 0,
            jitter: 0,
            started: first,
            tally: Tally::default(),
            running: 0,
            priority,
            stop: None,
            cancelled: false,
            missed: schedule.missed_tick_behavior(),
            overlap: schedule.overlap_rule(),
            on_panic: schedule.on_panic_rule(),
        };
        let state = Arc::new(State {
            handle: handle.clone(),
            spec: Spec::of(schedule),
            firing: Mutex::new(firing),
            body: f,
        });
        {
            let mut firing = state.lock();
            firing.set_next(&state.spec, first, true);
            spawn_firing(&state, &mut firing);
            if firing.stop == Some(Stop::Shutdown) {
                return Err(ScheduleError::shutdown());
            }
        }
        let state: Arc<DynState> = state;
        census.register(Arc::downgrade(&state));
        Ok(state)
    }

    /// Stops the schedule if it is live (see `Recurring::cancel`).
    pub(crate) fn cancel(&self) -> bool {
        let mut firing = self.lock();
        if !firing.is_live() {
            return false;
        }
        firing.stop = Some(Stop::Cancelled);
        cancel_next(&mut firing);
        true
    }

    /// When the next firing is due, if the schedule is live.
    pub(crate) fn next_due(&self) -> Option<SystemTime> {
        self.lock().next_due(&self.spec)
    }

    pub(crate) fn priority(&self) -> Priority {
        self.lock().priority
    }

    /// Sets the priority of the next firings, the pending one included, if live.
    pub(crate) fn set_priority(&self, priority: Priority) -> bool {
        let mut firing = self.lock();
        if !firing.is_live() {
            return false;
        }
        firing.priority = priority;
        if let Some(next) = &firing.next {
            let _ = next.set_priority(priority);
        }
        true
    }

    /// No run going and none will start.
    pub(crate) fn is_over(&self) -> bool {
        self.lock().is_over()
    }

    /// What the handle reads.
    pub(crate) fn tally(&self) -> Tally {
        self.lock().tally
    }

    /// Active (and when its next firing is due), or finished and why; whether its
    /// pending firing was cancelled in its wheel; and its tally.
    pub(crate) fn phase(&self) -> (Phase, bool, Tally) {
        let firing = self.lock();
        (firing.phase(&self.spec), firing.cancelled, firing.tally)
    }

    /// The schedule as spawned: borrowed for a cron or bounded schedule, made again from
    /// its period, anchor and rules for a plain `every` one and kept in `cache`.
    pub(crate) fn schedule<'a>(&'a self, cache: &'a OnceLock<Box<Schedule>>) -> &'a Schedule {
        match &self.spec {
            Spec::Full(schedule) => schedule,
            Spec::Every { .. } => {
                cache.get_or_init(|| Box::new(self.spec.schedule(&self.lock()).into_owned()))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{Firing, Spec, State};
    use std::mem::size_of;
    use std::sync::Mutex;

    /// A schedule's heap cost is its state (in an `Arc`), one pending firing task (48
    /// bytes: header, wheel links and the `Arc`) and its entry in the census (a `Weak`,
    /// 16 bytes). Keep the state of a body with 40 bytes of captures, with the `Arc`'s
    /// two counts, within 192 bytes (an allocator size class; the next is 224).
    #[test]
    fn the_state_of_a_schedule_stays_small() {
        let captures = [0u64; 5];
        let body = move || {
            let _ = captures;
        };
        fn arc_size<F: Fn() + Send + Sync>(_: &F) -> usize {
            size_of::<State<F>>() + 2 * size_of::<usize>()
        }
        assert!(arc_size(&body) <= 192, "{} bytes", arc_size(&body));
        assert_eq!(size_of::<Spec>(), 16, "a plain `every` schedule is kept in two words");
        assert!(size_of::<Mutex<Firing>>() <= 104, "{} bytes", size_of::<Mutex<Firing>>());
    }
}
