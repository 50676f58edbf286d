//! A [`Schedule`]'s ticks: where its grid puts the first tick, the next one, the next one
//! after a late firing (with how many were missed), and the ticks that came during a run,
//! as pure functions of the instants passed in, on `DateTime<Utc>` for the public API
//! and on nanoseconds since the Unix epoch (`nanos.rs`) for the firing loop; and the
//! [`Ticks`] iterator.
//!
//! Ticks are always on the grid (never from when a run ended); `until` is inclusive;
//! times past `until` are neither fired nor counted as missed.

use super::super::nanos::{nanos_of, nanos_saturating, time_of};
use super::{Grid, Schedule};
use crate::time::MissedTickBehavior;
use chrono::{DateTime, TimeDelta, Utc};
use std::time::Duration;

const NANOS_PER_SEC: u128 = 1_000_000_000;

/// `nanos` nanoseconds, as a `TimeDelta`, if it fits (about 292 million years).
fn delta_of_nanos(nanos: u128) -> Option<TimeDelta> {
    let secs = TimeDelta::try_seconds(i64::try_from(nanos / NANOS_PER_SEC).ok()?)?;
    // The remainder is below a second: it fits.
    secs.checked_add(&TimeDelta::nanoseconds((nanos % NANOS_PER_SEC) as i64))
}

/// `b - a` in nanoseconds, signed and exact (a `TimeDelta` holds whole seconds and the
/// nanoseconds of the last, both with its sign).
fn signed_nanos(a: DateTime<Utc>, b: DateTime<Utc>) -> i128 {
    let d = b - a;
    i128::from(d.num_seconds()) * NANOS_PER_SEC as i128 + i128::from(d.subsec_nanos())
}

/// `b - a` in nanoseconds (`b >= a`; 0 otherwise), exact: an anchor centuries back is
/// as good as yesterday's.
fn nanos_between(a: DateTime<Utc>, b: DateTime<Utc>) -> u128 {
    u128::try_from(signed_nanos(a, b)).unwrap_or(0)
}

/// How many cron occurrences are counted when reporting missed ticks; more count as this.
const MISSED_COUNT_CAP: u64 = 10_000;

impl Schedule {
    fn within_until(&self, t: DateTime<Utc>) -> Option<DateTime<Utc>> {
        match self.until {
            Some(until) if t > until => None,
            _ => Some(t),
        }
    }

    /// The first tick of a schedule spawned at `now`: `now` itself for an
    /// [`every`](Self::every) schedule without [`starting_at`](Self::starting_at) (like
    /// tokio's `interval`, the first tick is immediate), else the first tick of the grid
    /// at or after both `now` and `starting_at`. `None` if that is after
    /// [`until`](Self::until) or `times` is 0.
    ///
    /// ```
    /// use chrono::{TimeZone, Utc};
    /// use kairos_rt::Schedule;
    /// use std::time::Duration;
    ///
    /// let now = Utc.with_ymd_and_hms(2026, 1, 1, 12, 0, 30).unwrap();
    /// assert_eq!(Schedule::every(Duration::from_secs(5))?.first_tick(now), Some(now));
    /// let minutely = Schedule::cron("0 * * * * *")?;
    /// assert_eq!(minutely.first_tick(now), Some(Utc.with_ymd_and_hms(2026, 1, 1, 12, 1, 0).unwrap()));
    /// # Ok::<(), kairos_rt::ScheduleError>(())
    /// ```
    pub fn first_tick(&self, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
        if self.times == Some(0) {
            return None;
        }
        let first = match (&self.grid, self.start) {
            (Grid::Every(_), None) => now,
            (Grid::Every(_), Some(start)) if start >= now => start,
            (Grid::Every(period), Some(start)) => {
                let p = period.as_nanos();
                let elapsed = nanos_between(start, now);
                start.checked_add_signed(delta_of_nanos(elapsed.div_ceil(p) * p)?)?
            }
            (Grid::Cron(spec), start) => spec.next_at_or_after(start.map_or(now, |s| s.max(now)))?,
        };
        self.within_until(first)
    }

    /// The first tick strictly after `t`, on the grid: for a cron schedule the next
    /// occurrence; for an [`every`](Self::every) schedule with
    /// [`starting_at`](Self::starting_at), the next multiple of the period from it; for
    /// one without, `t + period` (the grid is anchored at the first firing, so `t` is
    /// taken as a tick). `None` after [`until`](Self::until). `times` is not applied
    /// (counting firings is the caller's; see [`ticks`](Self::ticks)).
    ///
    /// ```
    /// use chrono::{TimeZone, Utc};
    /// use kairos_rt::Schedule;
    /// use std::time::Duration;
    ///
    /// let t0 = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap();
    /// let s = Schedule::every(Duration::from_secs(10))?.starting_at(t0);
    /// assert_eq!(s.next_after(t0 + Duration::from_secs(15)), Some(t0 + Duration::from_secs(20)));
    /// # Ok::<(), kairos_rt::ScheduleError>(())
    /// ```
    pub fn next_after(&self, t: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let next = match (&self.grid, self.start) {
            (Grid::Every(period), Some(start)) if t >= start => {
                let p = period.as_nanos();
                let elapsed = nanos_between(start, t);
                start.checked_add_signed(delta_of_nanos((elapsed / p + 1) * p)?)?
            }
            (Grid::Every(_), Some(start)) => start,
            (Grid::Every(period), None) => t.checked_add_signed(delta_of_nanos(period.as_nanos())?)?,
            (Grid::Cron(spec), start) => match start {
                Some(start) if t < start => spec.next_at_or_after(start)?,
                _ => spec.next_after(t)?,
            },
        };
        self.within_until(next)
    }

    /// The tick after `tick` for a firing of `tick` that started at `now`, under the
    /// [missed-tick behavior](Self::missed_tick): the next tick of the grid if it is still
    /// ahead of `now`; otherwise (a whole tick was missed) the missed tick
    /// ([`Burst`](MissedTickBehavior::Burst)), one period after `now`
    /// ([`Delay`](MissedTickBehavior::Delay)) or the first tick of the grid after `now`
    /// ([`Skip`](MissedTickBehavior::Skip); also `Delay` for cron). `None` after
    /// [`until`](Self::until). `times` is not applied.
    ///
    /// ```
    /// use chrono::{TimeZone, Utc};
    /// use kairos_rt::{MissedTickBehavior, Schedule};
    /// use std::time::Duration;
    ///
    /// let t0 = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap();
    /// let s = |b| Schedule::every(Duration::from_secs(10)).unwrap().missed_tick(b);
    /// let late = t0 + Duration::from_secs(25); // the firing of t0 started 25 s late
    /// let sec = |n| t0 + Duration::from_secs(n);
    /// assert_eq!(s(MissedTickBehavior::Burst).next_tick(t0, late), Some(sec(10)));
    /// assert_eq!(s(MissedTickBehavior::Delay).next_tick(t0, late), Some(sec(35)));
    /// assert_eq!(s(MissedTickBehavior::Skip).next_tick(t0, late), Some(sec(30)));
    /// assert_eq!(s(MissedTickBehavior::Skip).next_tick(t0, sec(3)), Some(sec(10)), "a little late: on the grid");
    /// ```
    pub fn next_tick(&self, tick: DateTime<Utc>, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
        self.next_tick_counting(tick, now).0
    }

    /// [`next_tick`](Self::next_tick) and how many ticks it dropped as missed.
    pub(crate) fn next_tick_counting(
        &self,
        tick: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> (Option<DateTime<Utc>>, u64) {
        match &self.grid {
            Grid::Every(period) => {
                let elapsed = if now > tick { nanos_between(tick, now) } else { 0 };
                let until = self.until.map(|until| signed_nanos(tick, until));
                let (offset, missed) = every_offset(self.missed, *period, elapsed, until);
                (offset.and_then(delta_of_nanos).and_then(|d| tick.checked_add_signed(d)), missed)
            }
            Grid::Cron(spec) => {
                let Some(next) = spec.next_after(tick).and_then(|n| self.within_until(n)) else {
                    return (None, 0);
                };
                if next > now || self.missed == MissedTickBehavior::Burst {
                    return (Some(next), 0);
                }
                let mut missed = 1;
                let mut t = next;
                while missed < MISSED_COUNT_CAP {
                    match spec.next_after(t) {
                        Some(n) if n <= now && self.within_until(n).is_some() => {
                            missed += 1;
                            t = n;
                        }
                        _ => break,
                    }
                }
                (spec.next_after(now).and_then(|n| self.within_until(n)), missed)
            }
        }
    }

    /// [`next_tick_counting`](Self::next_tick_counting) on nanoseconds since the Unix
    /// epoch (see `nanos.rs`): integer arithmetic for an `every` grid, the calendar for
    /// cron. `None` also for a tick beyond the year 2262.
    pub(crate) fn next_tick_counting_ns(&self, tick: i64, now: i64) -> (Option<i64>, u64) {
        match &self.grid {
            Grid::Every(period) => {
                every_next_ns(self.missed, *period, tick, now, self.until.map(nanos_saturating))
            }
            Grid::Cron(_) => {
                let (next, missed) = self.next_tick_counting(time_of(tick), time_of(now));
                (next.and_then(nanos_of), missed)
            }
        }
    }

    /// How many ticks lie in `[first, end]` (`first` a tick, `first <= end`), at most
    /// `limit`, and the last of them: the ticks that came while a run was going. In
    /// nanoseconds since the Unix epoch. A cron grid counts at most
    /// [`MISSED_COUNT_CAP`] of them (each is a calendar search); past that the count
    /// stays there (it is what `times` consumes) and the last is still the last one.
    pub(crate) fn ticks_through(&self, first: i64, end: i64, limit: u64) -> (u64, i64) {
        let end = self.until.map_or(end, |until| end.min(nanos_saturating(until)));
        if limit == 0 || first > end {
            return (0, first);
        }
        match &self.grid {
            Grid::Every(period) => {
                let p = period.as_nanos();
                let span = u128::try_from(i128::from(end) - i128::from(first)).unwrap_or(0);
                let k = (span / p + 1).min(u128::from(limit));
                let last =
                    i64::try_from((k - 1) * p).ok().and_then(|o| first.checked_add(o)).unwrap_or(first);
                (u64::try_from(k).unwrap_or(u64::MAX), last)
            }
            Grid::Cron(spec) => {
                let (mut k, mut last) = (1, time_of(first));
                let is_due = |n: &DateTime<Utc>| nanos_of(*n).is_some_and(|n| n <= end);
                while k < limit.min(MISSED_COUNT_CAP) {
                    match spec.next_after(last).filter(is_due) {
                        Some(n) => {
                            k += 1;
                            last = n;
                        }
                        None => break,
                    }
                }
                if k == MISSED_COUNT_CAP && limit > k && spec.next_after(last).is_some_and(|n| is_due(&n)) {
                    // More came than are counted: the last of them is found from the end
                    // (it is the one `QueueOne` runs), and the count stays at the cap.
                    last = spec.last_at_or_before(time_of(end)).filter(|l| *l > last).unwrap_or(last);
                }
                (k, nanos_of(last).unwrap_or(first))
            }
        }
    }

    /// The ticks of this schedule spawned at `now` if every firing were on time: the
    /// [`first_tick`](Self::first_tick), then each [`next_after`](Self::next_after) the
    /// previous, at most [`times`](Self::times) of them, none after
    /// [`until`](Self::until). Unbounded schedules give an endless iterator.
    ///
    /// ```
    /// use chrono::{TimeZone, Utc};
    /// use kairos_rt::Schedule;
    ///
    /// let now = Utc.with_ymd_and_hms(2026, 1, 30, 0, 0, 0).unwrap();
    /// let month_ends = Schedule::cron("0 0 L * *")?.ticks(now).take(2).collect::<Vec<_>>();
    /// assert_eq!(month_ends[1], Utc.with_ymd_and_hms(2026, 2, 28, 0, 0, 0).unwrap());
    /// # Ok::<(), kairos_rt::ScheduleError>(())
    /// ```
    pub fn ticks(&self, now: DateTime<Utc>) -> Ticks {
        Ticks { schedule: self.clone(), next: self.first_tick(now), left: self.times }
    }
}

/// The on-time ticks of a [`Schedule`], from [`Schedule::ticks`].
///
/// ```
/// use kairos_rt::Schedule;
/// use std::time::{Duration, SystemTime};
///
/// let mut ticks = Schedule::every(Duration::from_secs(1))?.times(2).ticks(SystemTime::now().into());
/// assert!(ticks.next().is_some() && ticks.next().is_some() && ticks.next().is_none());
/// # Ok::<(), kairos_rt::ScheduleError>(())
/// ```
#[derive(Clone, Debug)]
pub struct Ticks {
    schedule: Schedule,
    next: Option<DateTime<Utc>>,
    left: Option<u64>,
}

impl Iterator for Ticks {
    type Item = DateTime<Utc>;

    fn next(&mut self) -> Option<DateTime<Utc>> {
        if self.left == Some(0) {
            return None;
        }
        let tick = self.next?;
        self.left = self.left.map(|n| n - 1);
        self.next = self.schedule.next_after(tick);
        Some(tick)
    }
}

/// The `every` step in nanoseconds after the last tick: for a judgement `elapsed` after
/// it and `until` (if any) at `until` after it (negative: before it), the offset of the
/// next tick (`None` past `until`) and how many ticks were missed, under `missed`.
fn every_offset(
    missed: MissedTickBehavior,
    period: Duration,
    elapsed: u128,
    until: Option<i128>,
) -> (Option<u128>, u64) {
    let p = period.as_nanos();
    let (offset, missed) = missed.next_periodic(elapsed, p);
    // Ticks after `until` do not exist, so they are not counted as missed.
    let missed = match until {
        Some(until) if until < i128::try_from(elapsed).unwrap_or(i128::MAX) => {
            let before_until = u128::try_from(until).map_or(0, |u| u / p);
            missed.min(u64::try_from(before_until).unwrap_or(u64::MAX))
        }
        _ => missed,
    };
    let past_until = until.is_some_and(|u| i128::try_from(offset).map_or(true, |o| o > u));
    ((!past_until).then_some(offset), missed)
}

/// The tick after `tick` on an `every` grid of `period`, judged at `now`, under `missed`,
/// with no tick after `until` (all in nanoseconds since the Unix epoch), and how many
/// ticks were missed: [`Schedule::next_tick_counting_ns`] for an `every` grid, which the
/// firing loop also calls for a schedule it keeps as just its period.
pub(crate) fn every_next_ns(
    missed: MissedTickBehavior,
    period: Duration,
    tick: i64,
    now: i64,
    until: Option<i64>,
) -> (Option<i64>, u64) {
    let elapsed = u128::try_from(i128::from(now) - i128::from(tick)).unwrap_or(0);
    let until = until.map(|until| i128::from(until) - i128::from(tick));
    let (offset, missed) = every_offset(missed, period, elapsed, until);
    (offset.and_then(|o| i64::try_from(o).ok()).and_then(|o| tick.checked_add(o)), missed)
}
