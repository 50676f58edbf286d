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
//!   firing dropped by shutdown as a dropped timer. The schedule counts them too: `tasks`
//!   when spawned, `tasks_run` when their body starts, `Firing::cancelled` when `cancel`
//!   takes one out of its wheel; one that ends otherwise was dropped by shutdown, and is
//!   told by its finished handle left in `next` with no stop set (`Firing::phase`).

use super::census::{Census, Counts};
use super::nanos::{gap, minus, nanos_of, now_nanos, plus, system_time_of};
use super::schedule::{OnPanic, Overlap, Schedule};
use crate::time::MissedTickBehavior;
use crate::time::ScheduleError;
use crate::Handle;
use chrono::Utc;
use kairos_rt_core::task::JoinHandle;
use kairos_rt_core::Priority;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
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

/// The mutable part of a schedule, under its mutex.
#[derive(Debug)]
struct Firing {
    priority: Priority,
    /// The pending firing's task (or relay); `None` while a sequential run goes on.
    next: Option<JoinHandle<()>>,
    /// The next tick (in nanoseconds since the Unix epoch, UTC: `nanos.rs`), and when it
    /// is due (tick + jitter) on the monotonic clock (on the wall clock: `Firing::due`).
    tick: i64,
    due_instant: Instant,
    /// The next tick on the monotonic clock (without jitter), and whether it was mapped
    /// yet: an `every` grid is mapped once and then carried on by exact periods, with no
    /// clock read; a cron grid is mapped at each tick (the wall clock is its truth).
    tick_instant: Instant,
    mapped: bool,
    /// When the sequential run of `tick` started (on the grid).
    started: i64,
    /// Ticks consumed (that started a run or were skipped by the overlap rule).
    fired: u64,
    running: u32,
    stop: Option<Stop>,
    /// The pending firing was cancelled in its wheel (at most once: cancelling stops the
    /// schedule).
    cancelled: bool,
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
    fn phase(&self, schedule: &Schedule) -> Phase {
        if !self.is_over() {
            return Phase::Active(self.next_due(schedule));
        }
        let dropped = self.stop.is_none() && self.next.as_ref().is_some_and(JoinHandle::is_finished);
        Phase::Finished { stop: self.stop.unwrap_or(Stop::Shutdown), dropped }
    }

    /// When the next firing is due, if live: while a sequential run goes on (no firing
    /// pending yet), the tick that follows it if the run ends in time, without jitter.
    fn next_due(&self, schedule: &Schedule) -> Option<SystemTime> {
        if !self.is_live() {
            return None;
        }
        if self.next.is_none() {
            let more = self.ticks_left(schedule) > 0;
            let next = schedule.next_tick_counting_ns(self.tick, self.started).0;
            return next.filter(|_| more).map(system_time_of);
        }
        Some(system_time_of(self.due()))
    }

    /// The jitter drawn for the next tick.
    fn jitter(&self) -> Duration {
        self.due_instant.saturating_duration_since(self.tick_instant)
    }

    /// When the next firing is due on the wall clock: its tick plus jitter.
    fn due(&self) -> i64 {
        plus(self.tick, self.jitter())
    }

    /// Sets the next tick, drawing its jitter, and when it is due.
    fn set_next(&mut self, schedule: &Schedule, tick: i64) {
        let max = schedule.max_jitter();
        let jitter = if max.is_zero() {
            Duration::ZERO
        } else {
            Duration::from_nanos(fastrand::u64(0..=u64::try_from(max.as_nanos()).unwrap_or(u64::MAX)))
        };
        let tick_instant = if self.mapped && schedule.period().is_some() && tick >= self.tick {
            self.tick_instant.checked_add(gap(self.tick, tick))
        } else {
            // The monotonic clock is read after the wall clock, so the mapped instant is
            // never before the wall-clock tick (only up to the gap between the reads after).
            let now = now_nanos();
            let now_instant = Instant::now();
            now_instant.checked_add(gap(now, tick))
        };
        // A tick beyond what an `Instant` holds (centuries away) is far enough: never due.
        let tick_instant = tick_instant.unwrap_or_else(far_future);
        self.mapped = true;
        (self.tick, self.tick_instant) = (tick, tick_instant);
        self.due_instant = tick_instant.checked_add(jitter).unwrap_or(tick_instant);
    }

    /// The wall-clock time at instant `at`: read from the monotonic grid for an `every`
    /// schedule (no clock read, and no wall-clock step can move the grid), from the wall
    /// clock for cron.
    fn wall_at(&self, schedule: &Schedule, at: Instant) -> i64 {
        if schedule.period().is_none() || !self.mapped {
            return now_nanos();
        }
        match at.checked_duration_since(self.tick_instant) {
            Some(after) => plus(self.tick, after),
            None => minus(self.tick, self.tick_instant.duration_since(at)),
        }
    }

    fn exhaust(&mut self) {
        self.stop = Some(Stop::Exhausted);
        self.next = None;
    }

    /// How many more ticks `times` allows.
    fn ticks_left(&self, schedule: &Schedule) -> u64 {
        schedule.max_firings().map_or(u64::MAX, |n| n.saturating_sub(self.fired))
    }
}

/// A schedule's shared state: what the pending firing, the running runs and the
/// [`Recurring`](crate::Recurring) handle all point at. `F` is the body, last so the state can be unsized.
pub(crate) struct State<F: ?Sized> {
    pub(crate) schedule: Schedule,
    handle: Handle,
    pub(crate) counts: Counts,
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
        Census::of(&self.handle.shared).retire(&self.counts, stop, dropped, cancelled);
    }
}

impl<F: ?Sized> State<F> {
    fn lock(&self) -> MutexGuard<'_, Firing> {
        self.firing.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// About 30 years from now: the instant of a tick too far away for an `Instant`.
fn far_future() -> Instant {
    Instant::now() + Duration::from_secs(86_400 * 365 * 30)
}

/// Spawns the firing of the next tick set in `firing`; marks the schedule stopped if the
/// runtime refuses it.
fn spawn_firing(state: &Arc<DynState>, firing: &mut Firing) {
    if state.handle.is_shutdown() {
        firing.stop = Some(Stop::Shutdown);
        firing.next = None;
        return;
    }
    let this = state.clone();
    firing.next = Some(state.handle.spawn_at(firing.due_instant, firing.priority, move || fire(&this)));
    Counts::add(&state.counts.tasks, 1);
}

/// Cancels the pending firing, if any, noting it if it was still in its wheel.
fn cancel_next(firing: &mut Firing) {
    if let Some(next) = firing.next.take() {
        firing.cancelled = next.cancel();
    }
}

/// Sets the next tick after `tick` for a firing that started at `started` (on the grid:
/// without its jitter), or marks the schedule exhausted. Returns whether there is one.
fn plan_next(state: &DynState, firing: &mut Firing, tick: i64, started: i64) -> bool {
    let next = if firing.ticks_left(&state.schedule) == 0 {
        None
    } else {
        let (next, missed) = state.schedule.next_tick_counting_ns(tick, started);
        Counts::add(&state.counts.missed, missed);
        next
    };
    match next {
        Some(next) => firing.set_next(&state.schedule, next),
        None => firing.exhaust(),
    }
    next.is_some()
}

/// The body of a firing task (see the module's protocol).
fn fire(state: &Arc<DynState>) {
    Counts::add(&state.counts.tasks_run, 1);
    let mut firing = state.lock();
    if firing.stop.is_some() {
        return;
    }
    let now_instant = Instant::now();
    state.counts.record_lateness(now_instant.saturating_duration_since(firing.due_instant));
    // Missed ticks are judged on the grid: this firing's own jitter is not lateness.
    let started = minus(firing.wall_at(&state.schedule, now_instant), firing.jitter());
    let tick = firing.tick;
    firing.fired += 1;
    firing.running += 1;
    Counts::add(&state.counts.runs, 1);
    if state.schedule.overlap_rule() == Overlap::Concurrent {
        if plan_next(state, &mut firing, tick, started) {
            let this = state.clone();
            let relay = move || {
                Counts::add(&this.counts.tasks_run, 1);
                let mut firing = this.lock();
                if firing.stop.is_none() {
                    spawn_firing(&this, &mut firing);
                }
            };
            firing.next = Some(state.handle.spawn(firing.priority, relay));
            Counts::add(&state.counts.tasks, 1);
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
                (tick, started) = (queued, firing.wall_at(&state.schedule, Instant::now()));
                Counts::add(&state.counts.runs, 1);
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
fn after_run(state: &Arc<DynState>, firing: &mut Firing, mut tick: i64, mut started: i64) -> Option<i64> {
    let end = firing.wall_at(&state.schedule, Instant::now());
    loop {
        if firing.stop.is_some() || !plan_next(state, firing, tick, started) {
            return None;
        }
        if firing.tick > end || state.schedule.missed_tick_behavior() == MissedTickBehavior::Burst {
            // Ahead, or Burst (which never loses a tick): its firing is due now.
            spawn_firing(state, firing);
            return None;
        }
        // Ticks came while the run went on.
        let (came, last) = state.schedule.ticks_through(firing.tick, end, firing.ticks_left(&state.schedule));
        firing.fired += came;
        if state.schedule.overlap_rule() == Overlap::QueueOne {
            Counts::add(&state.counts.skipped, came - 1);
            return Some(last);
        }
        Counts::add(&state.counts.skipped, came);
        (tick, started) = (last, end);
    }
}

/// Runs the body once, catching a panic; counts it and applies [`OnPanic`].
fn run_once(state: &Arc<DynState>) {
    if catch_unwind(AssertUnwindSafe(|| (state.body)())).is_ok() {
        return;
    }
    Counts::add(&state.counts.panicked, 1);
    if state.schedule.on_panic_rule() == OnPanic::Stop {
        let mut firing = state.lock();
        if matches!(firing.stop, None | Some(Stop::Exhausted)) {
            firing.stop = Some(Stop::Panicked);
            cancel_next(&mut firing);
        }
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
        let state: Arc<DynState> = Arc::new(State {
            schedule,
            handle: handle.clone(),
            counts: Counts::default(),
            firing: Mutex::new(Firing {
                priority,
                next: None,
                tick: first,
                due_instant: Instant::now(),
                tick_instant: Instant::now(),
                mapped: false,
                started: first,
                fired: 0,
                running: 0,
                stop: None,
                cancelled: false,
            }),
            body: f,
        });
        {
            let mut firing = state.lock();
            firing.set_next(&state.schedule, first);
            spawn_firing(&state, &mut firing);
            if firing.stop == Some(Stop::Shutdown) {
                return Err(ScheduleError::shutdown());
            }
        }
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
        self.lock().next_due(&self.schedule)
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

    /// Active (and when its next firing is due), or finished and why; and whether its
    /// pending firing was cancelled in its wheel.
    pub(crate) fn phase(&self) -> (Phase, bool) {
        let firing = self.lock();
        (firing.phase(&self.schedule), firing.cancelled)
    }
}

#[cfg(test)]
mod tests {
    /// A schedule's heap cost is its state (in an `Arc`) plus one pending firing task:
    /// keep the state of a body with 40 bytes of captures, with the `Arc`'s two counts,
    /// within 320 bytes (an allocator size class; the next is 384).
    #[test]
    fn the_state_of_a_schedule_stays_small() {
        let captures = [0u64; 5];
        let body = move || {
            let _ = captures;
        };
        fn arc_size<F: Fn() + Send + Sync>(_: &F) -> usize {
            std::mem::size_of::<super::State<F>>() + 2 * std::mem::size_of::<usize>()
        }
        assert!(arc_size(&body) <= 320, "{} bytes", arc_size(&body));
    }
}
