//! Letting a batch build up in the injectors while a thread outside the runtime streams
//! tasks into them.
//!
//! A worker that drains the injectors as fast as an outside thread fills them takes one
//! task per steal, and every push and every steal then contend for the same cache lines:
//! the injector's tail index (each steal reads it, each push swaps it), its slots, and
//! the level mask (cleared when a steal finds the level empty, set again by the next
//! push). The submitter waits for those lines on every spawn. In a standalone test of a
//! crossbeam `Injector` (one submitter, one consumer that freed each task, 2 cores), the
//! submitter pushed 3.5-3.9 M tasks/s while the consumer stole as soon as a task was
//! there, and 22-28 M/s when the consumer waited 3 µs after a steal that took one task.
//!
//! So each worker keeps one bit, *armed*, and waits [`BATCH_WAIT`] before an injector
//! steal while it is set and its own queue is empty. The steal then moves what built up
//! meanwhile, up to 32 tasks (`sync::injector::MAX_BATCH`), into the worker's queue.
//!
//! ## Rule
//!
//! - A steal that took exactly one task without waiting arms the bit: the worker is
//!   caught up with a stream. Except the first steal that takes something after an idle
//!   spell longer than [`STREAM_GAP`]: one task found on waking is not yet a stream. (A
//!   paced stream, each task waking a parked worker, 200 µs apart in the bench's IoT
//!   scenario, otherwise paid the wait after every task for nothing: the wait found the
//!   injectors empty, and the worker parked again.) A stream fast enough for a batch to
//!   build in `BATCH_WAIT` keeps the worker from parking, and arms it on the next steal.
//! - A steal after a wait keeps it armed only if it took more than one task: otherwise
//!   the stream is slower than one task per wait, and waiting does not pay.
//! - A steal that took several tasks without waiting disarms it: there is a backlog.
//! - An idle spell (time in `park`) longer than [`STREAM_GAP`] disarms it: whatever
//!   stream there was has paused, and the next task should not wait.
//!
//! ## Cost
//!
//! Only time. A task from outside may start up to `BATCH_WAIT` later than it would have,
//! whatever its priority, while tasks arrive from outside less than about `STREAM_GAP`
//! apart; the wait looks at no shared state, so it cannot lose or reorder a task.
//! Spawns from inside the runtime go to the workers' own queues and never wait.

use std::cell::Cell;
use std::time::{Duration, Instant};

/// How long an armed worker waits before its next injector steal.
pub(crate) const BATCH_WAIT: Duration = Duration::from_micros(3);

/// An idle spell longer than this ends a stream (see the module docs).
pub(crate) const STREAM_GAP: Duration = Duration::from_micros(2);

/// How many tasks an injector steal moved (the one returned included).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Took {
    Nothing,
    One,
    Several,
}

/// One worker's armed bit (see the module docs). Not shared.
#[derive(Debug, Default)]
pub(crate) struct InjectorBatching {
    armed: Cell<bool>,
    /// Set by an idle spell longer than [`STREAM_GAP`], cleared by the next steal that
    /// took something: the first steal after waking does not arm.
    woke: Cell<bool>,
}

impl InjectorBatching {
    /// Whether the next injector steal should wait first (the caller checks that its own
    /// queue is empty).
    pub(crate) fn armed(&self) -> bool {
        self.armed.get()
    }

    /// Records an injector steal: whether it `waited` first, and what it `took`.
    pub(crate) fn after_steal(&self, waited: bool, took: Took) {
        let woke = self.woke.get();
        let armed = match (waited, took) {
            (true, took) => took == Took::Several,
            (false, Took::One) => !woke,
            (false, Took::Several) => false,
            (false, Took::Nothing) => self.armed.get(),
        };
        self.armed.set(armed);
        if took != Took::Nothing {
            self.woke.set(false);
        }
    }

    /// Records an idle spell of length `idle`.
    pub(crate) fn after_idle(&self, idle: Duration) {
        if idle > STREAM_GAP {
            self.armed.set(false);
            self.woke.set(true);
        }
    }
}

/// Spins for [`BATCH_WAIT`], touching no shared state.
pub(crate) fn wait_for_batch() {
    let until = Instant::now() + BATCH_WAIT;
    while Instant::now() < until {
        for _ in 0..8 {
            std::hint::spin_loop();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_single_task_steal_arms_and_a_paying_wait_keeps_it_armed() {
        let b = InjectorBatching::default();
        assert!(!b.armed(), "a new worker does not wait");
        b.after_steal(false, Took::One);
        assert!(b.armed());
        b.after_steal(true, Took::Several);
        assert!(b.armed(), "the wait built a batch: keep waiting");
    }

    #[test]
    fn the_first_single_task_steal_after_waking_does_not_arm() {
        let b = InjectorBatching::default();
        b.after_steal(false, Took::One);
        b.after_idle(Duration::from_micros(200));
        assert!(!b.armed());
        b.after_steal(false, Took::Nothing);
        b.after_steal(false, Took::One);
        assert!(!b.armed(), "one task found on waking is not a stream: no wait before the next steal");
        b.after_steal(false, Took::One);
        assert!(b.armed(), "a second single-task steal without an idle spell between is");
        b.after_idle(STREAM_GAP);
        b.after_steal(true, Took::Several);
        assert!(b.armed(), "an idle spell no longer than the gap is still the stream");
    }

    #[test]
    fn a_wait_that_builds_no_batch_disarms() {
        for took in [Took::One, Took::Nothing] {
            let b = InjectorBatching::default();
            b.after_steal(false, Took::One);
            b.after_steal(true, took);
            assert!(!b.armed(), "{took:?} after a wait");
        }
    }

    #[test]
    fn a_backlog_disarms_and_an_empty_steal_without_a_wait_changes_nothing() {
        let b = InjectorBatching::default();
        b.after_steal(false, Took::One);
        b.after_steal(false, Took::Nothing);
        assert!(b.armed(), "an empty steal says nothing about the stream");
        b.after_steal(false, Took::Several);
        assert!(!b.armed(), "a backlog needs no wait");
        b.after_steal(false, Took::Nothing);
        assert!(!b.armed());
    }

    #[test]
    fn only_an_idle_spell_longer_than_the_stream_gap_disarms() {
        let b = InjectorBatching::default();
        b.after_steal(false, Took::One);
        b.after_idle(STREAM_GAP);
        assert!(b.armed(), "a spell of exactly the gap is still a stream");
        b.after_idle(STREAM_GAP + Duration::from_nanos(1));
        assert!(!b.armed());
    }
}
