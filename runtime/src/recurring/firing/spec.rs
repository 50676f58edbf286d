//! How a schedule's grid is kept in its state: the monotonic clock as 8-byte offsets
//! (`mono`), and [`Spec`], the schedule itself or, for a plain `every`, just its period
//! and anchor (see the parent module's "Cost").

use super::*;

pub(super) mod mono {
    use std::sync::OnceLock;
    use std::time::Instant;

    static BASE: OnceLock<Instant> = OnceLock::new();

    pub(crate) fn base() -> Instant {
        *BASE.get_or_init(Instant::now)
    }

    /// `at` as nanoseconds after the base (0 before it, saturated ~584 years after it).
    pub(crate) fn of(at: Instant) -> u64 {
        u64::try_from(at.saturating_duration_since(base()).as_nanos()).unwrap_or(u64::MAX)
    }

    /// Now, as nanoseconds after the base.
    pub(crate) fn now() -> u64 {
        of(Instant::now())
    }
}

/// `d` in nanoseconds, saturated.
pub(super) fn ns_of(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

/// About 30 years from now, on the monotonic clock: the due time of a tick too far away
/// to be carried.
pub(super) fn far_future() -> u64 {
    mono::now().saturating_add(86_400 * 365 * 30 * 1_000_000_000)
}

/// What the firing loop keeps of a schedule: 16 bytes for a plain `every` schedule.
#[derive(Debug)]
pub(super) enum Spec {
    /// An [`every`](Schedule::every) schedule with no `until`, `times` or jitter: its
    /// period in nanoseconds and its anchor ([`starting_at`](Schedule::starting_at)) in
    /// nanoseconds since the Unix epoch, `i64::MIN` for none. Its rules are in `Firing`.
    Every { period: NonZeroU64, start: i64 },
    /// Any other schedule (cron, or with `until`, `times` or jitter), as given.
    Full(Box<Schedule>),
}

impl Spec {
    pub(crate) fn of(schedule: Schedule) -> Spec {
        let plain = schedule.until_time().is_none()
            && schedule.max_firings().is_none()
            && schedule.max_jitter().is_zero();
        let period =
            schedule.period().and_then(|p| u64::try_from(p.as_nanos()).ok()).and_then(NonZeroU64::new);
        let start = match schedule.start_time() {
            None => Some(i64::MIN),
            Some(t) => nanos_of(t).filter(|&ns| ns != i64::MIN),
        };
        match (plain, period, start) {
            (true, Some(period), Some(start)) => Spec::Every { period, start },
            _ => Spec::Full(Box::new(schedule)),
        }
    }

    /// The schedule for the tick functions: for a plain `every` schedule, one made again
    /// with its period and rules (the anchor plays no part after the first tick).
    pub(crate) fn grid(&self, firing: &Firing) -> Cow<'_, Schedule> {
        match self {
            Spec::Every { period, .. } => Cow::Owned(plain_every(*period, firing)),
            Spec::Full(schedule) => Cow::Borrowed(schedule),
        }
    }

    /// The tick after `tick` for a firing that started at `started` (both in nanoseconds
    /// since the Unix epoch, on the grid), and how many ticks were missed:
    /// [`Schedule::next_tick_counting_ns`] of [`grid`](Self::grid), worked out from the
    /// period alone for a plain `every` schedule (no `Schedule` made per firing).
    pub(crate) fn next_tick(&self, firing: &Firing, tick: i64, started: i64) -> (Option<i64>, u64) {
        match self {
            Spec::Every { period, .. } => super::super::schedule::every_next_ns(
                firing.missed,
                Duration::from_nanos(period.get()),
                tick,
                started,
                None,
            ),
            Spec::Full(schedule) => schedule.next_tick_counting_ns(tick, started),
        }
    }

    /// The schedule as it was spawned.
    pub(crate) fn schedule(&self, firing: &Firing) -> Cow<'_, Schedule> {
        match self {
            Spec::Every { period, start } => {
                let every = plain_every(*period, firing);
                Cow::Owned(if *start == i64::MIN { every } else { every.starting_at(time_of(*start)) })
            }
            Spec::Full(schedule) => Cow::Borrowed(schedule),
        }
    }

    /// Whether the grid is an `every` one (carried by exact periods on the monotonic clock).
    pub(crate) fn is_every(&self) -> bool {
        match self {
            Spec::Every { .. } => true,
            Spec::Full(schedule) => schedule.period().is_some(),
        }
    }

    /// The jitter of `tick`, in nanoseconds: uniform in `[0, max_jitter]`, drawn by
    /// hashing the tick with the address of the schedule's box (unique while it lives), so
    /// it is kept nowhere and two schedules on one grid are spread apart.
    pub(crate) fn jitter(&self, tick: i64) -> u64 {
        let Spec::Full(schedule) = self else { return 0 };
        let max = ns_of(schedule.max_jitter());
        if max == 0 {
            return 0;
        }
        let seed = std::ptr::from_ref::<Schedule>(schedule) as usize as u64;
        let h = mix(seed ^ tick as u64);
        if max == u64::MAX {
            h
        } else {
            h % (max + 1)
        }
    }

    pub(crate) fn max_firings(&self) -> Option<u64> {
        match self {
            Spec::Every { .. } => None,
            Spec::Full(schedule) => schedule.max_firings(),
        }
    }
}

/// The splitmix64 finaliser: a bijection of `u64` whose outputs look uniform.
pub(super) fn mix(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// The `every` schedule of `period` under `firing`'s rules.
pub(super) fn plain_every(period: NonZeroU64, firing: &Firing) -> Schedule {
    Schedule::every(Duration::from_nanos(period.get()))
        .unwrap_or_else(|_| unreachable!("the period of a schedule that was spawned is valid"))
        .missed_tick(firing.missed)
        .overlap(firing.overlap)
        .on_panic(firing.on_panic)
}
