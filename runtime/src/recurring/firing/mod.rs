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
//!   in its `Marks` the one `cancel` takes out of its wheel, and the one a stop found
//!   already dropped by shutdown (its handle reads cancelled, and only the schedule
//!   cancels its firings); one that ends otherwise was dropped by shutdown, and is told
//!   by its finished handle left in `next` with no stop set (`Firing::phase`). A firing
//!   the runtime refuses (shut down) is no task: the schedule stops, nothing is counted,
//!   and a refused first firing makes `spawn_recurring` an error and no schedule.
//! - `times` counts ticks consumed, `runs + skipped` of the schedule's tally: both move
//!   under the mutex, together with the tick they consume.
//!
//! ## Cost
//!
//! A waiting schedule holds three pieces of heap: its [`State`] in an `Arc` (16 bytes of
//! counts, the runtime handle 8, the [`Spec`] 16, the mutex and its `Firing` 88, then the
//! body's captures: 128 bytes plus the captures), its pending firing task (a timed
//! closure cell holding the `Arc`: header 16, wheel links 24, the `Arc` 8: 48 bytes) and
//! its `Weak` in the census (16 bytes, in a vector that doubles). With a body of 40 bytes
//! of captures that is 232 bytes (the bench's body has 72: 264, plus the vector's slack).
//!
//! - A plain `every` schedule (no `until`, `times` or jitter) keeps only its period and
//!   anchor, and [`Recurring::schedule`](crate::Recurring::schedule) makes the
//!   [`Schedule`] again (in the handle) when asked; any other (cron, bounded, jittered)
//!   keeps the `Schedule` itself, in a box of its own: 80 bytes more (a cron schedule's
//!   parsed table is shared with its clones through an `Arc`).
//! - A tick's jitter is not stored: it is a hash of the tick and the address of that box
//!   (`Spec::jitter`), uniform in `[0, max]`, and different for two schedules on one grid.
//! - The handle's counts ([`Tally`]) are plain integers under the mutex; the counts only
//!   the runtime's totals need (tasks, tasks run, lateness sum, count and maximum) go
//!   straight to the census, striped by thread. `next` holds either the pending firing's
//!   handle or, with none pending, when the sequential run started.
//! - Each firing allocates its task cell (48 bytes) and frees the last one.
//!
//! What bounds it: with one timed task per firing, the task cell, the body's captures
//! and the state the handle reads (tally 40, the tick and its mapping 16, `next` 16, the
//! rules and flags 8). A cell re-armed on the wheel at each tick, holding the state
//! itself, would save the `Arc`'s counts, the `Arc` in the cell and the handle in `next`
//! (40 bytes) and the allocation per firing; its floor is still the header and links
//! (40), the captures and the tally (40), above 128 bytes for the bench's 72-byte body.

mod record;
mod spec;

use super::census::{Census, Tally};
use super::nanos::{gap, minus, nanos_of, now_nanos, plus, system_time_of, time_of};
use super::schedule::{OnPanic, Overlap, Schedule};
use crate::sched::spawn::Due;
use crate::time::MissedTickBehavior;
use crate::time::ScheduleError;
use crate::Handle;
use chrono::Utc;
use kairos_rt_core::task::{JoinHandle, TaskStatus};
use kairos_rt_core::Priority;
use record::Firing;
use spec::*;
use std::borrow::Cow;
use std::num::NonZeroU64;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, PoisonError};
use std::time::{Duration, Instant, SystemTime};

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
        if !firing.marks.started() {
            // `start` refused it: never a schedule of the census.
            return;
        }
        let dropped = firing.marks.dropped() || (firing.stop.is_none() && firing.next.is_ok());
        let (stop, cancelled) = (firing.stop.unwrap_or(Stop::Shutdown), firing.marks.cancelled());
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

/// `mono`'s base minus `start` (a runtime clock's start), in nanoseconds (saturated).
pub(super) fn mono_offset_ns(start: Instant) -> i64 {
    let base = mono::base();
    let ns = |d: Duration| i64::try_from(d.as_nanos()).unwrap_or(i64::MAX);
    match base.checked_duration_since(start) {
        Some(after) => ns(after),
        None => -ns(start.duration_since(base)),
    }
}

/// Spawns the firing of the next tick set in `firing`, judged due or not at `now` (on
/// `mono`, read a moment ago); marks the schedule stopped if the runtime refuses it.
fn spawn_firing<F: Fn() + Send + Sync + 'static>(state: &Arc<State<F>>, firing: &mut Firing, now: u64) {
    if state.handle.is_shutdown() {
        firing.stop = Some(Stop::Shutdown);
        firing.take_next();
        return;
    }
    let this = state.clone();
    let due = state.census().due(firing.due_at(&state.spec), now);
    let next = state.handle.try_spawn_due(due, firing.priority, move || fire(&this));
    keep_next(state, firing, next);
}

/// Keeps the task just spawned as the schedule's pending one (a firing or a relay), or,
/// if the runtime refused it (shutdown closed it since the caller's check: no task was
/// made), stops the schedule.
fn keep_next<F: ?Sized>(state: &State<F>, firing: &mut Firing, next: Option<JoinHandle<()>>) {
    match next {
        Some(next) => {
            firing.next = Ok(next);
            state.census().tasks_spawned(1);
        }
        None => {
            firing.stop = Some(Stop::Shutdown);
            firing.take_next();
        }
    }
}

/// Cancels the pending firing, if any, noting it if it was still in its wheel, or if
/// shutdown had already dropped it unrun (only this schedule cancels its firings, under
/// its mutex, so a firing that reads cancelled and was not cancelled here was dropped).
fn cancel_next(firing: &mut Firing) {
    if let Some(next) = firing.take_next() {
        let cancelled = next.cancel();
        firing.marks.set_cancelled(cancelled);
        firing.marks.set_dropped(!cancelled && next.status() == TaskStatus::Cancelled);
    }
}

/// Sets the next tick after `tick` for a firing that started at `started` (on the grid:
/// without its jitter), or marks the schedule exhausted. Returns whether there is one.
fn plan_next<F: ?Sized>(state: &State<F>, firing: &mut Firing, tick: i64, started: i64) -> bool {
    let next = if firing.ticks_left(&state.spec) == 0 {
        None
    } else {
        let (next, missed) = state.spec.next_tick(firing, tick, started);
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
    let mut firing = state.lock();
    if firing.stop.is_some() {
        state.census().task_ran(None);
        return;
    }
    let now = mono::now();
    let late = state.census().task_ran(Some(now.saturating_sub(firing.due_at(&state.spec))));
    firing.tally.lateness_max_ns = firing.tally.lateness_max_ns.max(late);
    // Missed ticks are judged on the grid: this firing's own jitter is not lateness.
    let started = minus(firing.wall_at(&state.spec, now), firing.jitter(&state.spec));
    let tick = firing.tick;
    firing.running += 1;
    firing.tally.runs += 1;
    if firing.overlap == Overlap::Concurrent {
        if plan_next(state, &mut firing, tick, started) {
            let this = state.clone();
            let relay = move || {
                this.census().task_ran(None);
                let mut firing = this.lock();
                if firing.stop.is_none() {
                    spawn_firing(&this, &mut firing, mono::now());
                }
            };
            let next = state.handle.try_spawn_due(Due::Now, firing.priority, relay);
            keep_next(state, &mut firing, next);
        }
        drop(firing);
        run_once(state);
        state.lock().running -= 1;
        return;
    }
    // Sequential: nothing pending while the body runs (`next_due` computes the next
    // tick from this run's tick and start).
    firing.next = Err(started);
    drop(firing);
    let (mut tick, mut started) = (tick, started);
    loop {
        run_once(state);
        let mut firing = state.lock();
        match after_run(state, &mut firing, tick, started) {
            Some(queued) => {
                (tick, started) = (queued, firing.wall_at(&state.spec, mono::now()));
                // The queued run is of `queued`, started now: what `next_due` works from.
                firing.set_next(&state.spec, queued, false);
                firing.next = Err(started);
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
    let now = mono::now();
    let end = firing.wall_at(&state.spec, now);
    loop {
        if firing.stop.is_some() || !plan_next(state, firing, tick, started) {
            return None;
        }
        if firing.tick > end || firing.missed == MissedTickBehavior::Burst {
            // Ahead, or Burst (which never loses a tick): its firing is due now.
            spawn_firing(state, firing, now);
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
        let firing = Firing::new(&schedule, first, priority);
        let state = Arc::new(State {
            handle: handle.clone(),
            spec: Spec::of(schedule),
            firing: Mutex::new(firing),
            body: f,
        });
        {
            let mut firing = state.lock();
            firing.set_next(&state.spec, first, true);
            spawn_firing(&state, &mut firing, mono::now());
            if firing.stop == Some(Stop::Shutdown) {
                return Err(ScheduleError::shutdown());
            }
            firing.marks.set_started();
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
        if let Ok(next) = &firing.next {
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
        (firing.phase(&self.spec), firing.marks.cancelled(), firing.tally)
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
    use crate::{MissedTickBehavior, OnPanic, Overlap, Priority, Schedule};
    use std::mem::size_of;
    use std::sync::Mutex;
    use std::time::{Duration, SystemTime};

    /// A plain `every` schedule is kept as its period and anchor and made again as it
    /// was given; any other is kept whole.
    #[test]
    fn a_plain_every_schedule_is_kept_small_and_made_again_as_given() {
        let at = SystemTime::UNIX_EPOCH + Duration::from_nanos(1_780_000_000_123_456_789);
        let every = Schedule::every(Duration::from_millis(1500)).unwrap();
        let plain = [
            every.clone(),
            every.clone().starting_at(at),
            every
                .clone()
                .starting_at(at)
                .missed_tick(MissedTickBehavior::Burst)
                .overlap(Overlap::QueueOne)
                .on_panic(OnPanic::Stop),
        ];
        for schedule in plain {
            let spec = Spec::of(schedule.clone());
            assert!(matches!(spec, Spec::Every { .. }), "{schedule:?}");
            let firing = Firing::new(&schedule, 0, Priority::NORMAL);
            assert_eq!(format!("{:?}", spec.schedule(&firing)), format!("{schedule:?}"));
        }
        let full = [
            every.clone().times(3),
            every.clone().until(at),
            every.clone().jitter(Duration::from_millis(1)),
            Schedule::cron("@hourly").unwrap(),
        ];
        for schedule in full {
            assert!(matches!(Spec::of(schedule.clone()), Spec::Full(_)), "{schedule:?}");
        }
    }

    /// A firing's due time on the loop's monotonic clock becomes the wheel tick that
    /// `spawn_at` would give the same instant, and a time already reached is due now.
    #[test]
    fn a_firing_gets_the_tick_spawn_at_would_give() {
        use super::spec::mono;
        use super::Census;
        use crate::sched::spawn::Due;
        use std::time::Instant;
        let rt = crate::Runtime::builder().workers(1).build().unwrap();
        let handle = rt.handle();
        let census = Census::of(&handle.shared);
        let now = Instant::now();
        let now_ns = mono::of(now);
        // A second ahead and more, so `due_at`'s own clock read still finds it ahead;
        // the odd nanoseconds try the rounding up to a tick.
        let second = 1_000_000_000;
        for ahead_ns in [second, second + 1, second + 1023, second + 1024, second + 1025, 86_400 * second + 7]
        {
            let at = now + Duration::from_nanos(ahead_ns);
            let expected = handle.due_at(at);
            assert!(matches!(expected, Due::At(_)), "{ahead_ns} ns ahead: {expected:?}");
            assert_eq!(census.due(mono::of(at), now_ns), expected, "{ahead_ns} ns ahead");
        }
        assert_eq!(census.due(now_ns, now_ns), Due::Now);
        assert_eq!(census.due(now_ns - 1, now_ns), Due::Now);
        drop(rt);
    }

    /// The offset between the loop's clock and a runtime's is signed: a runtime started
    /// after the loop's clock's base (any runtime built after the process's first
    /// schedule) has a negative one.
    #[test]
    fn the_loop_clock_offset_is_signed() {
        use super::mono_offset_ns;
        use super::spec::mono;
        let base = mono::base();
        assert_eq!(mono_offset_ns(base), 0);
        assert_eq!(mono_offset_ns(base + Duration::from_millis(5)), -5_000_000);
        if let Some(before) = base.checked_sub(Duration::from_millis(5)) {
            assert_eq!(mono_offset_ns(before), 5_000_000);
        }
    }

    /// A plain `every` schedule's next tick, worked out from its period, is the one its
    /// grid gives, on time, late and behind by many periods, under each missed-tick rule.
    #[test]
    fn a_plain_every_grid_steps_as_the_schedule_does() {
        let tick = 1_780_000_000_000_000_000i64;
        let period = 1_500_000i64;
        for missed in [MissedTickBehavior::Burst, MissedTickBehavior::Delay, MissedTickBehavior::Skip] {
            let schedule = Schedule::every(Duration::from_nanos(period as u64)).unwrap().missed_tick(missed);
            let spec = Spec::of(schedule.clone());
            assert!(matches!(spec, Spec::Every { .. }));
            let firing = Firing::new(&schedule, tick, Priority::NORMAL);
            for late in [-5, 0, 1, period - 1, period, period + 1, 7 * period + 3, 1_000_000 * period] {
                let started = tick + late;
                assert_eq!(
                    spec.next_tick(&firing, tick, started),
                    spec.grid(&firing).next_tick_counting_ns(tick, started),
                    "{missed:?}, started {late} ns after the tick"
                );
            }
        }
    }

    /// The jitter of a tick is within `[0, max]`, spread over it, and differs between two
    /// schedules on the same grid; a plain `every` schedule has none.
    #[test]
    fn jitter_is_bounded_and_spread() {
        let max = Duration::from_millis(10);
        let jittered = Schedule::every(Duration::from_millis(100)).unwrap().jitter(max);
        let (a, b) = (Spec::of(jittered.clone()), Spec::of(jittered));
        let max_ns = u64::try_from(max.as_nanos()).unwrap();
        let ticks: Vec<i64> = (0..1000).map(|k| 1_780_000_000_000_000_000 + k * 100_000_000).collect();
        let (ja, jb): (Vec<u64>, Vec<u64>) = ticks.iter().map(|&t| (a.jitter(t), b.jitter(t))).unzip();
        assert!(ja.iter().chain(&jb).all(|&j| j <= max_ns), "within [0, max]");
        let mean = ja.iter().sum::<u64>() / 1000;
        assert!((4_000_000..=6_000_000).contains(&mean), "uniform: mean {mean} ns");
        assert!(ja.iter().filter(|&&j| j < max_ns / 10).count() > 50, "reaches the low end");
        assert!(ja.iter().filter(|&&j| j > max_ns / 10 * 9).count() > 50, "reaches the high end");
        assert!(ja.iter().zip(&jb).filter(|(x, y)| x != y).count() > 990, "two schedules differ");
        let plain = Spec::of(Schedule::every(Duration::from_millis(100)).unwrap());
        assert!(ticks.iter().all(|&t| plain.jitter(t) == 0));
    }

    /// A schedule's heap cost is its state (in an `Arc`), one pending firing task (48
    /// bytes: header, wheel links and the `Arc`) and its entry in the census (a `Weak`,
    /// 16 bytes). Keep the state of a body with 40 bytes of captures, with the `Arc`'s
    /// two counts, within 192 bytes (an allocator size class; the next is 224; it is 168
    /// on 64-bit Linux, see the module's cost).
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
        assert!(size_of::<Mutex<Firing>>() <= 88, "{} bytes", size_of::<Mutex<Firing>>());
    }
}
