//! [`Firing`]: the mutable part of a schedule, under its mutex (the pending firing or the
//! run going on, the next tick, the handle's tally and the rules).

use super::spec::*;
use super::*;

/// The mutable part of a schedule, under its mutex.
#[derive(Debug)]
pub(super) struct Firing {
    /// The pending firing's task (or relay); else, when the sequential run going on
    /// started (on the grid; what is left there when the schedule stops is not read).
    pub(super) next: Result<JoinHandle<()>, i64>,
    /// The next tick (in nanoseconds since the Unix epoch, UTC: `nanos.rs`), and the same
    /// tick on the monotonic clock (`mono`, without jitter): an `every` grid is mapped
    /// once and then carried on by exact periods, with no clock read; a cron grid is
    /// mapped at each tick (the wall clock is its truth).
    pub(super) tick: i64,
    pub(super) tick_at: u64,
    /// What the handle reads. Ticks consumed (that started a run or were skipped by the
    /// overlap rule, what `times` counts) are `runs + skipped`.
    pub(super) tally: Tally,
    pub(super) running: u16,
    pub(super) priority: Priority,
    pub(super) stop: Option<Stop>,
    /// [`Marks`]: one byte, so the state keeps its allocator size class.
    pub(super) marks: Marks,
    /// The schedule's rules, here for every shape of [`Spec`].
    pub(super) missed: MissedTickBehavior,
    pub(super) overlap: Overlap,
    pub(super) on_panic: OnPanic,
}

impl Firing {
    /// The firing state of `schedule` before its first tick, `first` (not mapped yet).
    pub(super) fn new(schedule: &Schedule, first: i64, priority: Priority) -> Firing {
        Firing {
            next: Err(first),
            tick: first,
            tick_at: 0,
            tally: Tally::default(),
            running: 0,
            priority,
            stop: None,
            marks: Marks::default(),
            missed: schedule.missed_tick_behavior(),
            overlap: schedule.overlap_rule(),
            on_panic: schedule.on_panic_rule(),
        }
    }

    /// Whether a run may still start: not stopped, and a run is going (a sequential
    /// run schedules the next firing when it ends) or a firing is pending (a pending
    /// task that ended without replacing itself was dropped by shutdown).
    pub(super) fn is_live(&self) -> bool {
        self.stop.is_none() && (self.running > 0 || self.next.as_ref().is_ok_and(|h| !h.is_finished()))
    }

    /// No run going and none will start.
    pub(super) fn is_over(&self) -> bool {
        self.running == 0 && !self.is_live()
    }

    /// Active, or finished and why. A schedule that is over with no stop set had its
    /// pending firing end unrun (a firing that runs replaces or clears `next` first):
    /// shutdown dropped it.
    pub(super) fn phase(&self, spec: &Spec) -> Phase {
        if !self.is_over() {
            return Phase::Active(self.next_due(spec));
        }
        let dropped = self.marks.dropped()
            || (self.stop.is_none() && self.next.as_ref().is_ok_and(JoinHandle::is_finished));
        Phase::Finished { stop: self.stop.unwrap_or(Stop::Shutdown), dropped }
    }

    /// When the next firing is due, if live: while a sequential run goes on (no firing
    /// pending yet), the tick that follows it if the run ends in time, without jitter.
    pub(super) fn next_due(&self, spec: &Spec) -> Option<SystemTime> {
        if !self.is_live() {
            return None;
        }
        if let Err(started) = self.next {
            let more = self.ticks_left(spec) > 0;
            let next = spec.grid(self).next_tick_counting_ns(self.tick, started).0;
            return next.filter(|_| more).map(system_time_of);
        }
        Some(system_time_of(self.due(spec)))
    }

    /// The jitter of the next tick.
    pub(super) fn jitter(&self, spec: &Spec) -> Duration {
        Duration::from_nanos(spec.jitter(self.tick))
    }

    /// When the next firing is due on the wall clock: its tick plus jitter.
    pub(super) fn due(&self, spec: &Spec) -> i64 {
        plus(self.tick, self.jitter(spec))
    }

    /// When the next firing is due on the monotonic clock.
    pub(super) fn due_at(&self, spec: &Spec) -> u64 {
        self.tick_at.saturating_add(spec.jitter(self.tick))
    }

    /// Takes the pending firing's handle out, if any (a run's start is left in place).
    pub(super) fn take_next(&mut self) -> Option<JoinHandle<()>> {
        match std::mem::replace(&mut self.next, Err(self.tick)) {
            Ok(next) => Some(next),
            Err(started) => {
                self.next = Err(started);
                None
            }
        }
    }

    /// Sets the next tick and when it is due. `remap`: map the tick onto the monotonic
    /// clock by reading both clocks, even for an `every` grid (the first tick).
    pub(super) fn set_next(&mut self, spec: &Spec, tick: i64, remap: bool) {
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
    }

    /// The wall-clock time at `at` (on the monotonic clock): read from the monotonic grid
    /// for an `every` schedule (no clock read, and no wall-clock step can move the grid),
    /// from the wall clock for cron.
    pub(super) fn wall_at(&self, spec: &Spec, at: u64) -> i64 {
        if !spec.is_every() {
            return now_nanos();
        }
        if at >= self.tick_at {
            plus(self.tick, Duration::from_nanos(at - self.tick_at))
        } else {
            minus(self.tick, Duration::from_nanos(self.tick_at - at))
        }
    }

    pub(super) fn exhaust(&mut self) {
        self.stop = Some(Stop::Exhausted);
        self.take_next();
    }

    /// How many more ticks `times` allows.
    pub(super) fn ticks_left(&self, spec: &Spec) -> u64 {
        spec.max_firings().map_or(u64::MAX, |n| n.saturating_sub(self.tally.runs + self.tally.skipped))
    }
}

/// What happened to a schedule once, as bits of one byte.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(super) struct Marks(u8);

impl Marks {
    /// The pending firing was cancelled in its wheel (at most once: cancelling stops
    /// the schedule).
    const CANCELLED: u8 = 1;
    /// The pending firing had been dropped unrun by shutdown when a stop came to cancel
    /// it (one dropped with no stop set is told by its finished handle: `Firing::phase`).
    const DROPPED: u8 = 2;
    /// `start` spawned the first firing: the schedule is one of the census's.
    const STARTED: u8 = 4;

    fn set(&mut self, bit: u8, on: bool) {
        self.0 = if on { self.0 | bit } else { self.0 & !bit };
    }
    pub(super) fn cancelled(self) -> bool {
        self.0 & Self::CANCELLED != 0
    }
    pub(super) fn set_cancelled(&mut self, on: bool) {
        self.set(Self::CANCELLED, on);
    }
    pub(super) fn dropped(self) -> bool {
        self.0 & Self::DROPPED != 0
    }
    pub(super) fn set_dropped(&mut self, on: bool) {
        self.set(Self::DROPPED, on);
    }
    pub(super) fn started(self) -> bool {
        self.0 & Self::STARTED != 0
    }
    pub(super) fn set_started(&mut self) {
        self.set(Self::STARTED, true);
    }
}
