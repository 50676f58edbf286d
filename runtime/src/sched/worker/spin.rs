//! When an idle worker spins before it parks: only while spinning has been paying off.
//!
//! Spinning for the configured budget (`Builder::spin_before_park`) before parking saves a
//! futex wake-up (the submitter's system call and ~10-15 µs before the worker runs) when
//! work comes back within the budget, and wastes the whole budget when it does not.
//! Under a steady light load whose gaps are longer than the budget, both workers of a
//! 2-worker runtime spun through every gap and parked anyway: at 10k-200k tasks/s the
//! process used 1.3-1.6 cores for the same latency as parking at once (0.4-0.6 cores).
//!
//! So each worker keeps a score of how many of its recent idle spells a full-budget spin
//! would have covered: work arrived within the budget, whether the worker was spinning
//! then or had parked. The score is an exponential moving average (weight 1/4 for the
//! newest spell) of 1 (covered) or 0 (not), in fixed point. The worker spins only while
//! the score is at least one half, and otherwise parks at once.
//!
//! - Bursts of work with short gaps (a fan-out's stealer, a submitter feeding the
//!   injectors) keep the score up, so the budget is spun as before.
//! - An idle runtime, or gaps longer than the budget, bring it down after a few spells,
//!   and the worker stops paying for spins that end in a park anyway.
//! - The score is judged on spells of any length: a parked worker still learns that a
//!   spin would have paid (a short spell ended by a wake-up), so spinning resumes as soon
//!   as work comes back in bursts.
//! - A wait for the worker's own next timer, when it is closer than
//!   [`NEAR_DEADLINE`](super::park::NEAR_DEADLINE) and yielded out for precision
//!   ([`Spell::TimerWait`]), is not scored: the worker knew when that work would come, so
//!   the spell says nothing about whether spinning for unknown work pays. Scoring them
//!   (each yield a "covered" spell of a few microseconds) turned spinning on after every
//!   timer: a runtime serving a light stream of timed tasks (the bench's IoT scenario,
//!   500 timers/s among 5,000 messages/s) spun its budget several times after each one.
//!
//! Only time is at stake: a worker that does not spin parks through the same
//! register, fence and re-check as one that does, so no wake-up is lost either way.

use std::cell::Cell;
use std::time::Duration;

/// The score's fixed-point one: a spell the budget covered.
const COVERED: u16 = 1 << 8;

/// Spin while the score is at least this (half the recent spells were covered).
const SPIN_THRESHOLD: u16 = COVERED / 2;

/// One worker's record of whether spinning pays (see the module docs). Not shared.
#[derive(Debug)]
pub(crate) struct SpinPolicy {
    score: Cell<u16>,
}

impl SpinPolicy {
    /// A policy that starts by spinning: a new worker expects work.
    pub(crate) fn new() -> SpinPolicy {
        SpinPolicy { score: Cell::new(COVERED) }
    }

    /// How long to spin before parking, given the configured `budget`.
    pub(crate) fn spin_for(&self, budget: Duration) -> Duration {
        if self.score.get() >= SPIN_THRESHOLD {
            budget
        } else {
            Duration::ZERO
        }
    }

    /// Records an idle spell (spin and park together) and, for a [`Spell::Idle`], whether a
    /// spin of `budget` would have covered it.
    pub(crate) fn record(&self, spell: Spell, budget: Duration) {
        let Spell::Idle(idle) = spell else { return };
        let covered = if idle <= budget { COVERED } else { 0 };
        let score = self.score.get();
        self.score.set(score - score / 4 + covered / 4);
    }
}

/// How one call of `park` spent its time, for [`SpinPolicy::record`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Spell {
    /// Waiting for work of unknown arrival (spinning, parked, or both), this long.
    Idle(Duration),
    /// Yielding out the last stretch before the worker's own next timer (not scored).
    TimerWait,
}

#[cfg(test)]
mod tests {
    use super::*;

    const BUDGET: Duration = Duration::from_micros(50);
    const SHORT: Duration = Duration::from_micros(10);
    const LONG: Duration = Duration::from_millis(2);

    /// Records the spells of `pattern`, in order, `times` times over.
    fn record_repeated(policy: &SpinPolicy, pattern: &[Duration], times: usize) {
        for _ in 0..times {
            for &idle in pattern {
                policy.record(Spell::Idle(idle), BUDGET);
            }
        }
    }

    #[test]
    fn a_new_worker_spins_the_budget() {
        assert_eq!(SpinPolicy::new().spin_for(BUDGET), BUDGET);
    }

    #[test]
    fn spells_longer_than_the_budget_stop_the_spinning() {
        let policy = SpinPolicy::new();
        policy.record(Spell::Idle(LONG), BUDGET);
        policy.record(Spell::Idle(LONG), BUDGET);
        assert_eq!(policy.spin_for(BUDGET), BUDGET, "two long spells are not yet a pattern");
        policy.record(Spell::Idle(LONG), BUDGET);
        assert_eq!(policy.spin_for(BUDGET), Duration::ZERO, "three are");
        record_repeated(&policy, &[LONG], 100);
        assert_eq!(policy.spin_for(BUDGET), Duration::ZERO);
    }

    #[test]
    fn short_spells_bring_the_spinning_back() {
        let policy = SpinPolicy::new();
        record_repeated(&policy, &[LONG], 100);
        policy.record(Spell::Idle(SHORT), BUDGET);
        policy.record(Spell::Idle(SHORT), BUDGET);
        assert_eq!(policy.spin_for(BUDGET), Duration::ZERO);
        policy.record(Spell::Idle(SHORT), BUDGET);
        assert_eq!(policy.spin_for(BUDGET), BUDGET, "three covered spells in a row");
    }

    #[test]
    fn a_spell_exactly_as_long_as_the_budget_counts_as_covered() {
        let policy = SpinPolicy::new();
        record_repeated(&policy, &[BUDGET], 100);
        assert_eq!(policy.spin_for(BUDGET), BUDGET);
    }

    #[test]
    fn alternating_spells_keep_spinning_only_if_half_are_covered() {
        let policy = SpinPolicy::new();
        record_repeated(&policy, &[LONG, LONG, SHORT], 100);
        assert_eq!(policy.spin_for(BUDGET), Duration::ZERO, "one covered spell in three");
    }

    #[test]
    fn waits_for_a_near_timer_do_not_turn_spinning_on() {
        // Gaps between messages longer than the budget, and before each timer a few
        // yields of a microsecond or two: the worker must stay parked between messages.
        let policy = SpinPolicy::new();
        record_repeated(&policy, &[LONG], 10);
        for _ in 0..100 {
            policy.record(Spell::Idle(LONG), BUDGET);
            for _ in 0..5 {
                policy.record(Spell::TimerWait, BUDGET);
            }
            assert_eq!(policy.spin_for(BUDGET), Duration::ZERO, "the timer waits turned spinning on");
        }
        // They do not turn it off either: short idle spells still count.
        let spinning = SpinPolicy::new();
        for _ in 0..10 {
            spinning.record(Spell::Idle(SHORT), BUDGET);
            spinning.record(Spell::TimerWait, BUDGET);
        }
        assert_eq!(spinning.spin_for(BUDGET), BUDGET);
    }
}
