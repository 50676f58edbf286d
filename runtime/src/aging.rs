//! Aging: no priority level starves under a sustained flood of more urgent work.
//!
//! ## Rule
//!
//! Each level has a *budget*. When a level has held work for longer than its budget
//! without being served, a worker serves one task of it ahead of more urgent levels, then
//! restarts the level's clock. The default, [`Aging::linear`] with a 1 ms step, gives
//! level `l` a budget of `(64 - l)` ms: 64 ms for [`Priority::LOWEST`], 32 ms for
//! [`Priority::NORMAL`], 1 ms for [`Priority::HIGHEST`] (which never needs it).
//!
//! ## How a worker tracks it (cheaply)
//!
//! Every [`CHECK_EVERY`] picks, and only when more than one level holds work, the worker
//! reads the clock once and walks the levels it can see (its own queue's mask and the
//! injectors' mask): a level seen non-empty for the first time gets `waiting_since = now`;
//! the most urgent level (the one being served) and empty levels are reset. A level
//! whose `waiting_since` is older than its budget is *overdue*: the worker takes one task
//! from it (own queue first, then the injectors) and restarts its clock. The view is
//! per worker and the tick is ~1 µs, so aging is approximate by design: a level waits
//! about its budget (plus up to `CHECK_EVERY` picks), never unboundedly.
//!
//! ## What it guarantees, and what not
//!
//! Aging bounds the wait of a level's *oldest* work, not of every task in it: each worker
//! serves an overdue level at a rate of one task per budget. Under a flood that never
//! ends, a level holding `n` tasks drains at about `workers` tasks per budget, so its
//! `n`-th task waits about `n / workers` budgets. A level that must drain faster under a
//! flood needs a smaller budget (or a higher priority). An aged pick that finds only an
//! entry left behind by [`JoinHandle::set_priority`](crate::JoinHandle::set_priority)
//! (a stale copy, skipped) still restarts the level's clock: the level waits one more
//! budget in that case.

use kairos_rt_core::{LevelMask, Priority};
use std::cell::Cell;
use std::fmt;
use std::time::Duration;

/// How often (in picks) a worker checks for overdue levels.
pub(crate) const CHECK_EVERY: u32 = 32;

/// The waiting budget of each priority level (see the module docs of `Builder::aging`).
///
/// Workers count budgets in clock ticks of 1.024 µs, so a budget under one tick (but not
/// zero, which the builder refuses) acts as one tick.
///
/// # Examples
///
/// ```
/// use kairos_rt::{Aging, Priority, Runtime};
/// use std::time::Duration;
///
/// // LOWEST waits at most ~640 ms behind a flood of urgent work, NORMAL ~320 ms.
/// let aging = Aging::linear(Duration::from_millis(10));
/// assert_eq!(aging.budget(Priority::LOWEST), Duration::from_millis(640));
/// let rt = Runtime::builder().workers(1).aging(aging).build()?;
/// # Ok::<(), kairos_rt::BuildError>(())
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct Aging {
    budgets: [Duration; Priority::LEVELS],
}

impl fmt::Debug for Aging {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Aging")
            .field("lowest", &self.budgets[0])
            .field("normal", &self.budgets[Priority::NORMAL.index()])
            .field("highest", &self.budgets[Priority::HIGHEST.index()])
            .finish()
    }
}

impl Default for Aging {
    /// [`Aging::linear`] with a 1 ms step.
    fn default() -> Self {
        Aging::linear(Duration::from_millis(1))
    }
}

impl Aging {
    /// Level `l` may wait `step × (64 − l)`: the less urgent, the longer.
    pub fn linear(step: Duration) -> Aging {
        Aging { budgets: core::array::from_fn(|l| step.saturating_mul((Priority::LEVELS - l) as u32)) }
    }

    /// Every level may wait `budget`.
    pub fn uniform(budget: Duration) -> Aging {
        Aging { budgets: [budget; Priority::LEVELS] }
    }

    /// Sets the budget of one level.
    pub fn with_budget(mut self, level: Priority, budget: Duration) -> Aging {
        self.budgets[level.index()] = budget;
        self
    }

    /// The budget of `level`.
    pub fn budget(&self, level: Priority) -> Duration {
        self.budgets[level.index()]
    }

    /// The first level with a zero budget, if any (a zero budget would put the level
    /// ahead of every other at every check: the builder refuses it).
    pub(crate) fn zero_level(&self) -> Option<Priority> {
        Priority::all().find(|l| self.budgets[l.index()].is_zero())
    }

    /// The budgets in clock ticks.
    pub(crate) fn ticks(&self) -> [u64; Priority::LEVELS] {
        core::array::from_fn(|l| {
            let nanos = self.budgets[l].as_nanos() / crate::clock::TICK_NANOS as u128;
            u64::try_from(nanos).unwrap_or(u64::MAX).max(1)
        })
    }
}

/// One worker's aging clocks.
pub(crate) struct AgingState {
    budgets: [u64; Priority::LEVELS],
    /// Tick since which each level has waited unserved (0: not waiting).
    since: [Cell<u64>; Priority::LEVELS],
}

impl AgingState {
    pub(crate) fn new(aging: &Aging) -> AgingState {
        AgingState { budgets: aging.ticks(), since: core::array::from_fn(|_| Cell::new(0)) }
    }

    /// Updates the clocks of the levels in `visible` at tick `now` (never 0) and
    /// returns the most overdue level below the most urgent one, if any.
    pub(crate) fn overdue(&self, visible: LevelMask, now: u64) -> Option<Priority> {
        let top = visible.highest()?;
        let mut worst: Option<(u64, Priority)> = None;
        for (level, since) in Priority::all().zip(self.since.iter()) {
            let l = level.index();
            if level == top || !visible.contains(level) {
                since.set(0);
                continue;
            }
            if since.get() == 0 {
                since.set(now);
                continue;
            }
            let late = now.saturating_sub(since.get()).saturating_sub(self.budgets[l]);
            if now.saturating_sub(since.get()) > self.budgets[l] && worst.is_none_or(|(w, _)| late > w) {
                worst = Some((late, level));
            }
        }
        worst.map(|(_, level)| level)
    }

    /// A task of `level` was served by aging: its clock restarts.
    pub(crate) fn served(&self, level: Priority, now: u64) {
        self.since[level.index()].set(now);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mask(levels: &[Priority]) -> LevelMask {
        LevelMask(levels.iter().fold(0, |m, l| m | LevelMask::bit(*l)))
    }

    #[test]
    fn a_level_is_overdue_only_after_its_budget() {
        let st = AgingState::new(&Aging::uniform(Duration::from_nanos(10 * crate::clock::TICK_NANOS)));
        let both = mask(&[Priority::LOWEST, Priority::HIGHEST]);
        assert_eq!(st.overdue(both, 100), None, "first sight starts the clock");
        assert_eq!(st.overdue(both, 110), None, "exactly the budget is not late");
        assert_eq!(st.overdue(both, 111), Some(Priority::LOWEST));
        st.served(Priority::LOWEST, 111);
        assert_eq!(st.overdue(both, 115), None, "served: its clock restarted");
    }

    #[test]
    fn the_top_level_and_empty_levels_never_age() {
        let st = AgingState::new(&Aging::uniform(Duration::from_nanos(crate::clock::TICK_NANOS)));
        let only_top = mask(&[Priority::NORMAL]);
        assert_eq!(st.overdue(only_top, 1), None);
        assert_eq!(st.overdue(only_top, 1000), None);
        let low = mask(&[Priority::LOW, Priority::NORMAL]);
        assert_eq!(st.overdue(low, 1000), None);
        assert_eq!(st.overdue(only_top, 2000), None, "LOW emptied: its clock resets");
        assert_eq!(st.overdue(low, 2001), None, "and starts again on next sight");
    }

    #[test]
    fn the_most_overdue_level_goes_first() {
        let aging = Aging::uniform(Duration::from_nanos(100 * crate::clock::TICK_NANOS))
            .with_budget(Priority::LOW, Duration::from_nanos(10 * crate::clock::TICK_NANOS));
        let st = AgingState::new(&aging);
        let m = mask(&[Priority::LOWEST, Priority::LOW, Priority::HIGH]);
        assert_eq!(st.overdue(m, 1), None);
        assert_eq!(st.overdue(m, 50), Some(Priority::LOW), "LOW's budget is shorter");
    }

    #[test]
    fn linear_budgets_grow_as_urgency_falls() {
        let a = Aging::linear(Duration::from_millis(1));
        assert_eq!(a.budget(Priority::LOWEST), Duration::from_millis(64));
        assert_eq!(a.budget(Priority::NORMAL), Duration::from_millis(32));
        assert_eq!(a.budget(Priority::HIGHEST), Duration::from_millis(1));
        assert_eq!(Aging::uniform(Duration::ZERO).zero_level(), Some(Priority::LOWEST));
        assert_eq!(a.zero_level(), None);
    }
}
