//! [`MissedTickBehavior`]: what a periodic schedule does when a whole tick went by before
//! it could fire (the runtime was busy, the process was paused, the machine slept).
//!
//! ## Rule
//!
//! A firing for tick `T` that starts at `now` computes the next tick `N` from `T` (never
//! from `now`, so lateness does not drift the schedule). If `N > now`, nothing was missed
//! and `N` is next. If `N <= now`, at least one tick was missed, and the policy decides:
//!
//! - `Burst`: `N` fires at once, and so do the ticks after it until the schedule has
//!   caught up (every missed tick fires, late).
//! - `Delay`: the missed ticks are dropped and the schedule restarts one period after
//!   `now` (the grid moves).
//! - `Skip`: the missed ticks are dropped and the next tick is the first one of the
//!   original grid after `now` (the grid stays).
//!
//! Unlike tokio (which applies the policy to any tick more than 5 ms late), lateness
//! shorter than a period changes nothing here, so `Delay` never drifts by small delays.

/// What a periodic schedule or an [`Interval`](crate::time::Interval) does when it missed
/// one or more ticks, named as tokio names it.
///
/// The default is [`Skip`](Self::Skip) for [`Schedule`](crate::Schedule) (a job that was
/// stalled for an hour should run once, then keep its grid: a nightly job stays at 02:00,
/// and a backlog of firings never piles up on a busy runtime) and
/// [`Burst`](Self::Burst) for [`Interval`](crate::time::Interval) (what tokio users
/// expect of `interval`).
///
/// For a cron schedule, `Delay` and `Skip` are the same: a cron grid cannot move, so the
/// next firing is the first occurrence after now.
///
/// With `Burst`, a schedule loses no tick: the ticks that came while a run went on fire
/// too, one after another once it ends (as in a tokio `interval` loop), so the
/// [overlap rule](crate::Overlap) then only keeps runs from overlapping and skips
/// nothing.
///
/// ```
/// use kairos_rt::{MissedTickBehavior, Schedule};
/// use std::time::Duration;
///
/// let s = Schedule::every(Duration::from_secs(1))?.missed_tick(MissedTickBehavior::Burst);
/// assert_eq!(s.missed_tick_behavior(), MissedTickBehavior::Burst);
/// assert_eq!(MissedTickBehavior::default(), MissedTickBehavior::Skip);
/// # Ok::<(), kairos_rt::ScheduleError>(())
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum MissedTickBehavior {
    /// Fire every missed tick, at once, until caught up.
    Burst,
    /// Drop the missed ticks; the next tick is one period after now (the grid moves).
    Delay,
    /// Drop the missed ticks; the next tick is the first on the grid after now.
    #[default]
    Skip,
}

impl MissedTickBehavior {
    /// For a periodic grid: given `elapsed` nanoseconds from the tick that fired to now,
    /// and the `period` in nanoseconds (> 0), the next tick as an offset from the tick
    /// that fired, and how many ticks were dropped.
    pub(crate) fn next_periodic(self, elapsed: u128, period: u128) -> (u128, u64) {
        debug_assert!(period > 0);
        if period > elapsed {
            return (period, 0);
        }
        let missed = u64::try_from(elapsed / period).unwrap_or(u64::MAX);
        match self {
            MissedTickBehavior::Burst => (period, 0),
            MissedTickBehavior::Delay => (elapsed + period, missed),
            MissedTickBehavior::Skip => ((elapsed / period + 1) * period, missed),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::MissedTickBehavior::*;

    #[test]
    fn on_time_or_a_little_late_keeps_the_grid() {
        for p in [Burst, Delay, Skip] {
            assert_eq!(p.next_periodic(0, 10), (10, 0));
            assert_eq!(p.next_periodic(9, 10), (10, 0));
        }
    }

    #[test]
    fn a_missed_tick_follows_the_policy() {
        // Fired 25 ns after its tick with a period of 10: ticks at 10 and 20 were missed.
        assert_eq!(Burst.next_periodic(25, 10), (10, 0));
        assert_eq!(Delay.next_periodic(25, 10), (35, 2));
        assert_eq!(Skip.next_periodic(25, 10), (30, 2));
        // Exactly on a later tick: that tick counts as missed too.
        assert_eq!(Skip.next_periodic(20, 10), (30, 2));
    }
}
