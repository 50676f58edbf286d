//! [`Aging`]: the policy that no priority level starves under a sustained flood of more
//! urgent work.
//!
//! ## Rule
//!
//! Each level has a *budget*. When a level has held work for longer than its budget
//! without being served, a worker serves one task of it ahead of more urgent levels, then
//! restarts the level's clock. The default, [`Aging::linear`] with a 1 ms step, gives
//! level `l` a budget of `(64 - l)` ms: 64 ms for [`Priority::LOWEST`], 32 ms for
//! [`Priority::NORMAL`], 1 ms for [`Priority::HIGHEST`] (which never needs it).
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
//!
//! How a worker applies it: `sched::worker::aging`.

use kairos_rt_core::Priority;
use std::fmt;
use std::time::Duration;

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
    ///
    /// ```
    /// use kairos_rt::{Aging, Priority};
    /// use std::time::Duration;
    ///
    /// let aging = Aging::linear(Duration::from_millis(2));
    /// assert_eq!(aging.budget(Priority::HIGHEST), Duration::from_millis(2));
    /// assert_eq!(aging.budget(Priority::LOWEST), Duration::from_millis(128));
    /// ```
    pub fn linear(step: Duration) -> Aging {
        Aging { budgets: core::array::from_fn(|l| step.saturating_mul((Priority::LEVELS - l) as u32)) }
    }

    /// Every level may wait `budget`.
    ///
    /// ```
    /// use kairos_rt::{Aging, Priority};
    /// use std::time::Duration;
    ///
    /// let aging = Aging::uniform(Duration::from_millis(20));
    /// assert_eq!(aging.budget(Priority::LOWEST), aging.budget(Priority::HIGH));
    /// ```
    pub fn uniform(budget: Duration) -> Aging {
        Aging { budgets: [budget; Priority::LEVELS] }
    }

    /// Sets the budget of one level.
    ///
    /// ```
    /// use kairos_rt::{Aging, Priority};
    /// use std::time::Duration;
    ///
    /// let aging = Aging::default().with_budget(Priority::LOW, Duration::from_millis(5));
    /// assert_eq!(aging.budget(Priority::LOW), Duration::from_millis(5));
    /// assert_eq!(aging.budget(Priority::NORMAL), Duration::from_millis(32)); // the default's
    /// ```
    pub fn with_budget(mut self, level: Priority, budget: Duration) -> Aging {
        self.budgets[level.index()] = budget;
        self
    }

    /// The budget of `level`.
    ///
    /// ```
    /// use kairos_rt::{Aging, Priority};
    /// use std::time::Duration;
    ///
    /// assert_eq!(Aging::default().budget(Priority::NORMAL), Duration::from_millis(32));
    /// ```
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
