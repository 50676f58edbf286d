//! Aging as a worker applies it (the policy itself, [`Aging`], is in `config::aging`).
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

use crate::config::Aging;
use kairos_rt_core::{LevelMask, Priority};
use std::cell::Cell;

/// How often (in picks) a worker checks for overdue levels.
pub(crate) const CHECK_EVERY: u32 = 32;

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
    use std::time::Duration;

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
