//! When a worker waits for its timers in windows instead of one by one: only while its
//! wheel fires them densely.
//!
//! A worker whose next timer is closer than [`NEAR_DEADLINE`](super::park::NEAR_DEADLINE)
//! yields until it is due (for precision: a futex sleep that short wakes tens of
//! microseconds late), and one whose next timer is further parks until a little before it
//! and yields the rest. That is right for a light stream of timers; under a dense one
//! (100,000 recurring firings a second on 2 workers: a timer every 20 us per worker) the
//! next timer is always near, and both workers yield through every gap: 191-198% of a core
//! for work that needs a tenth of one.
//!
//! So each wheel counts the timers fired from it (by its owner, or by a peer helping a
//! busy owner) in windows of 2^[`WINDOW_SHIFT`] clock ticks (about 1 ms). While the last
//! whole window fired at least [`DENSE_FIRINGS`], or the window being counted already
//! has, the wheel is *dense*, and its owner parks until its next deadline plus the
//! *dense timer slack* ([`Builder::dense_timer_slack`](crate::Builder::dense_timer_slack),
//! 160 us by default) with no spin and no yield, and fires everything due when it wakes.
//! A timer is then late by up to the slack plus the wake-up, in exchange for one wake-up
//! per slack instead of a yield loop. The count does not depend on how the owner waits,
//! so switching between the two ways of waiting does not feed back into the decision. A
//! dense wheel's batches wake a sleeping peer to share them only from
//! [`DENSE_NOTIFY_BATCH`] tasks on.
//!
//! Measured (bench `recurring`, 100,000 schedules of 1 s, 2 workers, quiet machine):
//! process CPU 190% of a core before, 44-56% after with an 80 us slack and 33% with
//! 160 us; lateness p50 3 us before, 69-84 us after (100 us with 160 us); p99 1.5-3 ms
//! either way (not set by the wait). The light-load precision scenarios never reach
//! [`DENSE_FIRINGS`].
//!
//! What it costs is wake-ups: on this 2-core VM each costs about 15 us of CPU, and both
//! workers of the bench wake about once per slack (each holds half the schedules, and a
//! free worker watches a parked peer: `timers.rs`), about 11,000 wake-ups a second at
//! 160 us. `profiles/examples/probe_recurring.rs` (a body of one atomic add; `SLACK_US`
//! sets the slack) measured 20-25% of a core at 160 us, 13% at 500 us, 11% at 800 us;
//! the bench's `recurring` case, whose body also records its lateness in a slot of its
//! own (a cache miss per firing, for every peer alike), 28-32%, 21-24% and (1 ms) 20-21%.
//! The slack is the user's trade of lateness for CPU; the builder's docs give the curve.
//! It is added to the owner's own deadline only, never to its watch on a peer
//! (`WakeTicks::dense_target`), and its maximum keeps a parked dense owner's watch
//! (its park's end plus `STALL_GRACE`) before the help a peer gives a worker between
//! tasks (`HELP_AFTER`), and inside one window (asserted below and in `timers.rs`).
//!
//! Only time is at stake: a dense worker parks through the same register, fence and
//! re-check as any other, so work and messages wake it as before; only its own deadline
//! comes later.

use kairos_rt_core::sync::atomic::{AtomicU64, Ordering::Relaxed};

/// A window of this many clock ticks (2^10 ticks of 1,024 ns: about 1.05 ms).
pub(crate) const WINDOW_SHIFT: u32 = 10;

// The longest dense timer slack fits in a window: a dense owner's park never spans two
// windows' worth of firings, so a slack does not keep a wheel dense (see `MAX_DENSE_TIMER_SLACK`).
const _: () = assert!(crate::config::MAX_DENSE_TIMER_SLACK_TICKS < (1 << WINDOW_SHIFT));

/// Firings in one window from which the wheel is dense (about 19,000 a second per wheel;
/// the light-load precision scenario fires 2,500 a second per wheel).
pub(crate) const DENSE_FIRINGS: u32 = 20;

/// The smallest batch of fired timers for which a dense worker wakes a sleeping peer to
/// share them. A light worker wakes one for any batch of two or more; a dense one fires
/// a few in every window, and a wake-up each time (which the woken peer, finding work as
/// the last searcher, passed on again) cost more than running them: at 100,000 firings a
/// second (`profiles/examples/probe_recurring.rs`) the process used 44-63% of a core
/// with them and 32-35% without. The peer still takes its share when it wakes for its
/// own timers, or when a batch reaches this size.
pub(crate) const DENSE_NOTIFY_BATCH: usize = 16;

/// One wheel's count of the timers fired from it lately, by its owner or a helper. Written
/// only by the wheel's holder (`Relaxed`, like the wheel's gauges); read by anyone.
#[derive(Debug)]
pub(crate) struct TimerDensity {
    /// The window being counted (`tick >> WINDOW_SHIFT`).
    window: AtomicU64,
    /// Timers fired in it so far.
    fired: AtomicU64,
    /// The window before it, if it fired at least [`DENSE_FIRINGS`]; else `u64::MAX`.
    dense_window: AtomicU64,
}

impl TimerDensity {
    /// A wheel that has fired nothing yet: not dense.
    pub(crate) fn new() -> TimerDensity {
        TimerDensity {
            window: AtomicU64::new(0),
            fired: AtomicU64::new(0),
            dense_window: AtomicU64::new(u64::MAX),
        }
    }

    /// Records that `fired` timers were fired at `tick` (by the wheel's holder).
    pub(crate) fn record(&self, fired: usize, tick: u64) {
        let window = tick >> WINDOW_SHIFT;
        let current = self.window.load(Relaxed);
        let mut count = self.fired.load(Relaxed);
        if window != current {
            let dense = count >= u64::from(DENSE_FIRINGS);
            self.dense_window.store(if dense { current } else { u64::MAX }, Relaxed);
            self.window.store(window, Relaxed);
            count = 0;
        }
        self.fired.store(count.saturating_add(fired as u64), Relaxed);
    }

    /// Whether a batch of `moved` tasks just fired is worth waking a sleeping peer for
    /// (see [`DENSE_NOTIFY_BATCH`]).
    pub(crate) fn wakes_peer_for(&self, moved: usize) -> bool {
        // Judged in the window of the last record: the batch was just recorded there.
        let last_recorded = self.window.load(Relaxed) << WINDOW_SHIFT;
        moved > 1 && (moved >= DENSE_NOTIFY_BATCH || !self.is_dense(last_recorded))
    }

    /// Whether the wheel is dense at `tick`: the window of `tick` already holds
    /// [`DENSE_FIRINGS`], or the window just before it did.
    pub(crate) fn is_dense(&self, tick: u64) -> bool {
        let window = tick >> WINDOW_SHIFT;
        let current = self.window.load(Relaxed);
        let current_dense = self.fired.load(Relaxed) >= u64::from(DENSE_FIRINGS);
        if window == current {
            current_dense || self.dense_window.load(Relaxed) == current.wrapping_sub(1)
        } else {
            window == current.wrapping_add(1) && current_dense
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The window length, in ticks.
    const WINDOW_TICKS: u64 = 1 << WINDOW_SHIFT;

    /// Records `per_window` firings in each of `windows` windows from `first`, one at a
    /// time at evenly spread ticks.
    fn feed(d: &TimerDensity, first: u64, windows: u64, per_window: u64) {
        for w in first..first + windows {
            for i in 0..per_window {
                d.record(1, w * WINDOW_TICKS + i * WINDOW_TICKS / per_window);
            }
        }
    }

    #[test]
    fn a_new_worker_is_not_dense() {
        assert!(!TimerDensity::new().is_dense(5 * WINDOW_TICKS));
    }

    #[test]
    fn a_light_stream_is_not_dense() {
        let d = TimerDensity::new();
        feed(&d, 1, 10, u64::from(DENSE_FIRINGS) - 1);
        assert!(!d.is_dense(11 * WINDOW_TICKS));
        assert!(!d.is_dense(10 * WINDOW_TICKS + WINDOW_TICKS / 2));
    }

    #[test]
    fn a_dense_stream_is_dense_in_the_window_being_counted_and_the_next() {
        let d = TimerDensity::new();
        feed(&d, 1, 3, 50);
        assert!(d.is_dense(3 * WINDOW_TICKS + 1), "the window being counted");
        assert!(d.is_dense(4 * WINDOW_TICKS + 1), "the window after it");
        assert!(!d.is_dense(6 * WINDOW_TICKS), "two windows on, nothing was fired since");
    }

    #[test]
    fn a_new_window_stays_dense_until_it_proves_light() {
        let d = TimerDensity::new();
        feed(&d, 1, 3, 50);
        // The first firing of window 4: the window before was dense.
        d.record(1, 4 * WINDOW_TICKS);
        assert!(d.is_dense(4 * WINDOW_TICKS + 2));
        // Window 4 ends light: window 5 is not dense.
        d.record(1, 5 * WINDOW_TICKS);
        assert!(!d.is_dense(5 * WINDOW_TICKS + 2));
    }

    #[test]
    fn a_pause_ends_density() {
        let d = TimerDensity::new();
        feed(&d, 1, 3, 50);
        d.record(0, 9 * WINDOW_TICKS);
        assert!(!d.is_dense(9 * WINDOW_TICKS + 1));
    }
}
