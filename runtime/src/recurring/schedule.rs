//! [`Schedule`]: when recurring work fires, as a plain value with pure functions.
//!
//! A schedule is a grid of ticks (every `period` from an anchor, or the occurrences of a
//! cron expression in a time zone), bounded by `starting_at`, `until` and `times`, plus
//! the policies that apply when a firing is late ([`MissedTickBehavior`]), when a run is
//! still going at the next tick ([`Overlap`]) and when a run panics ([`OnPanic`]).
//!
//! Everything here is a pure function of the times passed in ([`Schedule::first_tick`],
//! [`Schedule::next_after`], [`Schedule::next_tick`], [`Schedule::ticks`]): no clock is
//! read, so tests (and other processes, such as a cluster node) compute ticks for fixed
//! instants, and the firing loop (`recurring.rs`) passes the real clock.
//!
//! ## Invariants
//!
//! - A `Schedule` that exists has a non-zero period no longer than `u64::MAX` ns, or a
//!   cron expression that fires at least once after it was made, in a known time zone.
//! - Ticks come from the grid, never from when a run ended: lateness never drifts it.
//! - `until` is inclusive: a tick exactly at `until` fires; `times(n)` counts firings
//!   (ticks that fired or were skipped by the overlap rule), not ticks dropped as missed.

use super::cron::CronSpec;
use super::nanos::{nanos_of, nanos_saturating, time_of};
use crate::time::MissedTickBehavior;
use crate::time::ScheduleError;
use chrono::{DateTime, TimeDelta, Utc};
use std::sync::Arc;
use std::time::Duration;

/// What a schedule does when a run is still going at its next tick. Every tick that does
/// not start a run is counted in [`Recurring::skipped`](crate::Recurring::skipped).
/// (Under [`MissedTickBehavior::Burst`], which loses no tick, `Skip` and `QueueOne` run
/// those ticks one after another once the run ends instead.)
///
/// ```
/// use kairos_rt::{Overlap, Schedule};
/// use std::time::Duration;
///
/// let s = Schedule::every(Duration::from_millis(100))?.overlap(Overlap::QueueOne);
/// assert_eq!(s.overlap_rule(), Overlap::QueueOne);
/// assert_eq!(Overlap::default(), Overlap::Skip);
/// # Ok::<(), kairos_rt::ScheduleError>(())
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Overlap {
    /// Skip the tick (the default): at most one run at a time, never a backlog.
    #[default]
    Skip,
    /// Remember at most one tick and run it as soon as the current run ends; further
    /// ticks while one is queued are skipped.
    QueueOne,
    /// Start a run at every tick, alongside any still going.
    Concurrent,
}

/// What a schedule does when a run panics. The panic is caught and counted in
/// [`Recurring::panicked`](crate::Recurring::panicked) either way.
///
/// ```
/// use kairos_rt::{OnPanic, Schedule};
/// use std::time::Duration;
///
/// let s = Schedule::every(Duration::from_secs(1))?.on_panic(OnPanic::Stop);
/// assert_eq!(s.on_panic_rule(), OnPanic::Stop);
/// assert_eq!(OnPanic::default(), OnPanic::Continue);
/// # Ok::<(), kairos_rt::ScheduleError>(())
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum OnPanic {
    /// Keep firing (the default).
    #[default]
    Continue,
    /// Stop the schedule, as if [`Recurring::cancel`](crate::Recurring::cancel) had been
    /// called.
    Stop,
}

#[derive(Clone, Debug)]
enum Grid {
    /// Every `period` from `starting_at`, or from the first firing without one.
    Every(Duration),
    /// The occurrences of a cron expression.
    Cron(Arc<CronSpec>),
}

/// When recurring work fires: every period, or by a cron expression in a time zone.
///
/// Made with [`every`](Self::every), [`cron`](Self::cron) or [`cron_in`](Self::cron_in),
/// refined with [`starting_at`](Self::starting_at), [`until`](Self::until),
/// [`times`](Self::times), [`jitter`](Self::jitter),
/// [`missed_tick`](Self::missed_tick), [`overlap`](Self::overlap) and
/// [`on_panic`](Self::on_panic), and run with
/// [`Handle::spawn_recurring`](crate::Handle::spawn_recurring).
///
/// A schedule is a plain value (`Clone + Send + Sync`); its tick functions are pure, so
/// they can be called with any instant:
///
/// ```
/// use chrono::{TimeZone, Utc};
/// use kairos_rt::Schedule;
///
/// let nightly = Schedule::cron_in("0 2 * * *", "Europe/Berlin")?;
/// let noon = Utc.with_ymd_and_hms(2026, 7, 1, 12, 0, 0).unwrap();
/// // 02:00 in Berlin in summer (UTC+2) is 00:00 UTC.
/// assert_eq!(nightly.next_after(noon), Some(Utc.with_ymd_and_hms(2026, 7, 2, 0, 0, 0).unwrap()));
/// # Ok::<(), kairos_rt::ScheduleError>(())
/// ```
#[derive(Clone, Debug)]
pub struct Schedule {
    grid: Grid,
    start: Option<DateTime<Utc>>,
    until: Option<DateTime<Utc>>,
    times: Option<u64>,
    jitter: Duration,
    missed: MissedTickBehavior,
    overlap: Overlap,
    on_panic: OnPanic,
}

/// `d` in nanoseconds, as a `TimeDelta`, if it fits.
fn delta_of_nanos(nanos: u128) -> Option<TimeDelta> {
    i64::try_from(nanos).ok().map(TimeDelta::nanoseconds)
}

/// `b - a` in nanoseconds, signed; saturates beyond ~292 years.
fn signed_nanos(a: DateTime<Utc>, b: DateTime<Utc>) -> i128 {
    (b - a).num_nanoseconds().map_or(if b > a { i128::MAX } else { i128::MIN }, i128::from)
}

/// `b - a` in nanoseconds (`b >= a`); saturates beyond ~292 years.
fn nanos_between(a: DateTime<Utc>, b: DateTime<Utc>) -> u128 {
    let d = b - a;
    d.num_nanoseconds().map_or(u128::from(u64::MAX), |n| u128::try_from(n).unwrap_or(0))
}

/// How many cron occurrences are counted when reporting missed ticks; more count as this.
const MISSED_COUNT_CAP: u64 = 10_000;

impl Schedule {
    fn with_grid(grid: Grid) -> Schedule {
        Schedule {
            grid,
            start: None,
            until: None,
            times: None,
            jitter: Duration::ZERO,
            missed: MissedTickBehavior::default(),
            overlap: Overlap::default(),
            on_panic: OnPanic::default(),
        }
    }

    /// Fires every `period`: the first time when it is spawned (or at
    /// [`starting_at`](Self::starting_at)), then at each multiple of `period` after it.
    ///
    /// # Errors
    ///
    /// A zero period, or one longer than `u64::MAX` nanoseconds (~584 years).
    ///
    /// ```
    /// use kairos_rt::Schedule;
    /// use std::time::Duration;
    ///
    /// let poll = Schedule::every(Duration::from_millis(100))?;
    /// assert_eq!(poll.period(), Some(Duration::from_millis(100)));
    /// assert!(Schedule::every(Duration::ZERO).is_err());
    /// # Ok::<(), kairos_rt::ScheduleError>(())
    /// ```
    pub fn every(period: Duration) -> Result<Schedule, ScheduleError> {
        if period.is_zero() {
            return Err(ScheduleError::invalid(
                "the period is zero; a schedule needs a period of at least 1 ns",
            ));
        }
        if delta_of_nanos(period.as_nanos()).is_none() {
            return Err(ScheduleError::invalid(format!(
                "the period {period:?} is too long (at most {} ns, ~292 years)",
                i64::MAX
            )));
        }
        Ok(Schedule::with_grid(Grid::Every(period)))
    }

    /// Fires at the occurrences of a cron expression read on the UTC clock.
    ///
    /// Five fields (`minute hour day-of-month month day-of-week`), six (a `second`
    /// first) or seven (a `year` last); names (`MON`, `JAN`), ranges, lists, steps,
    /// `L`, `W`, `#` and nicknames such as `@daily` are accepted.
    ///
    /// # Errors
    ///
    /// An invalid expression (the message names the field and why), or one that can
    /// never fire (such as `0 0 31 2 *`, 31 February).
    ///
    /// ```
    /// use kairos_rt::Schedule;
    ///
    /// let every_5s = Schedule::cron("*/5 * * * * *")?;       // six fields: seconds first
    /// let weekdays = Schedule::cron("30 9 * * MON-FRI")?;    // five fields
    /// let err = Schedule::cron("0 25 * * *").unwrap_err();
    /// assert!(err.to_string().contains("field 2 (hour)"), "{err}");
    /// # Ok::<(), kairos_rt::ScheduleError>(())
    /// ```
    pub fn cron(expr: &str) -> Result<Schedule, ScheduleError> {
        Schedule::cron_in(expr, "UTC")
    }

    /// Fires at the occurrences of a cron expression read on the wall clock of time zone
    /// `zone` (an IANA name such as `"Europe/Berlin"` or `"America/New_York"`).
    ///
    /// Across a daylight-saving jump (croner's rules, as Vixie cron): a fixed-time job
    /// (fixed second, minute and hour) whose time is skipped by the jump forward runs
    /// once at the first valid time after the gap, and runs only once in an hour that
    /// repeats; a job with a wildcard or step in those fields loses the occurrences in
    /// the gap and runs at both passes of a repeated hour.
    ///
    /// # Errors
    ///
    /// As for [`cron`](Self::cron), and an unknown time zone name.
    ///
    /// ```
    /// use kairos_rt::Schedule;
    ///
    /// let nightly = Schedule::cron_in("0 2 * * *", "Europe/Berlin")?;
    /// assert_eq!(nightly.cron_expression(), Some("0 2 * * *"));
    /// assert!(Schedule::cron_in("0 2 * * *", "Mars/Olympus_Mons").is_err());
    /// # Ok::<(), kairos_rt::ScheduleError>(())
    /// ```
    pub fn cron_in(expr: &str, zone: &str) -> Result<Schedule, ScheduleError> {
        let spec = CronSpec::parse(expr, zone, Utc::now())?;
        Ok(Schedule::with_grid(Grid::Cron(Arc::new(spec))))
    }

    /// No tick before `t`. For [`every`](Self::every), `t` is also the anchor of the grid
    /// (ticks at `t`, `t + period`, ...); if it has passed when the schedule is spawned,
    /// the first tick is the first of that grid not in the past.
    ///
    /// Takes a `SystemTime` or a `chrono::DateTime<Utc>`.
    ///
    /// ```
    /// use kairos_rt::Schedule;
    /// use std::time::{Duration, SystemTime};
    ///
    /// let at = SystemTime::now() + Duration::from_secs(60);
    /// let later = Schedule::every(Duration::from_secs(1))?.starting_at(at);
    /// assert_eq!(later.first_tick(SystemTime::now().into()), Some(at.into()));
    /// # Ok::<(), kairos_rt::ScheduleError>(())
    /// ```
    pub fn starting_at(mut self, t: impl Into<DateTime<Utc>>) -> Schedule {
        self.start = Some(t.into());
        self
    }

    /// No tick after `t` (a tick exactly at `t` still fires). Takes a `SystemTime` or a
    /// `chrono::DateTime<Utc>`.
    ///
    /// ```
    /// use chrono::{TimeZone, Utc};
    /// use kairos_rt::Schedule;
    /// use std::time::Duration;
    ///
    /// let t0 = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap();
    /// let s = Schedule::every(Duration::from_secs(10))?.starting_at(t0).until(t0 + Duration::from_secs(20));
    /// assert_eq!(s.ticks(t0).count(), 3); // 0 s, 10 s, 20 s
    /// # Ok::<(), kairos_rt::ScheduleError>(())
    /// ```
    pub fn until(mut self, t: impl Into<DateTime<Utc>>) -> Schedule {
        self.until = Some(t.into());
        self
    }

    /// At most `n` firings (`n` must be at least 1: checked by
    /// [`validate`](Self::validate) and at spawn).
    ///
    /// ```
    /// use kairos_rt::Schedule;
    /// use std::time::Duration;
    ///
    /// let three = Schedule::every(Duration::from_secs(1))?.times(3);
    /// assert_eq!(three.ticks(std::time::SystemTime::now().into()).count(), 3);
    /// assert!(Schedule::every(Duration::from_secs(1))?.times(0).validate().is_err());
    /// # Ok::<(), kairos_rt::ScheduleError>(())
    /// ```
    pub fn times(mut self, n: u64) -> Schedule {
        self.times = Some(n);
        self
    }

    /// Delays each firing by a random time in `[0, max]` (uniform), to spread many
    /// schedules with the same grid; the grid itself does not move. For
    /// [`every`](Self::every), `max` must be shorter than the period (checked by
    /// [`validate`](Self::validate) and at spawn).
    ///
    /// ```
    /// use kairos_rt::Schedule;
    /// use std::time::Duration;
    ///
    /// let spread = Schedule::every(Duration::from_secs(1))?.jitter(Duration::from_millis(100));
    /// assert_eq!(spread.max_jitter(), Duration::from_millis(100));
    /// # Ok::<(), kairos_rt::ScheduleError>(())
    /// ```
    pub fn jitter(mut self, max: Duration) -> Schedule {
        self.jitter = max;
        self
    }

    /// What to do after missing whole ticks (default [`MissedTickBehavior::Skip`]).
    ///
    /// ```
    /// use kairos_rt::{MissedTickBehavior, Schedule};
    /// use std::time::Duration;
    ///
    /// let s = Schedule::every(Duration::from_secs(1))?.missed_tick(MissedTickBehavior::Delay);
    /// assert_eq!(s.missed_tick_behavior(), MissedTickBehavior::Delay);
    /// # Ok::<(), kairos_rt::ScheduleError>(())
    /// ```
    pub fn missed_tick(mut self, behavior: MissedTickBehavior) -> Schedule {
        self.missed = behavior;
        self
    }

    /// What to do when a run is still going at the next tick (default [`Overlap::Skip`]).
    ///
    /// ```
    /// use kairos_rt::{Overlap, Schedule};
    /// use std::time::Duration;
    ///
    /// let s = Schedule::every(Duration::from_secs(1))?.overlap(Overlap::Concurrent);
    /// assert_eq!(s.overlap_rule(), Overlap::Concurrent);
    /// # Ok::<(), kairos_rt::ScheduleError>(())
    /// ```
    pub fn overlap(mut self, rule: Overlap) -> Schedule {
        self.overlap = rule;
        self
    }

    /// What to do when a run panics (default [`OnPanic::Continue`]).
    ///
    /// ```
    /// use kairos_rt::{OnPanic, Schedule};
    /// use std::time::Duration;
    ///
    /// let s = Schedule::every(Duration::from_secs(1))?.on_panic(OnPanic::Stop);
    /// assert_eq!(s.on_panic_rule(), OnPanic::Stop);
    /// # Ok::<(), kairos_rt::ScheduleError>(())
    /// ```
    pub fn on_panic(mut self, rule: OnPanic) -> Schedule {
        self.on_panic = rule;
        self
    }

    /// Checks the settings that the builder methods cannot refuse on their own:
    /// `times(0)`, `until` before `starting_at`, a jitter not shorter than the period.
    /// [`Handle::spawn_recurring`](crate::Handle::spawn_recurring) calls it.
    ///
    /// # Errors
    ///
    /// The first setting found wrong, said in the message.
    ///
    /// ```
    /// use kairos_rt::Schedule;
    /// use std::time::{Duration, SystemTime};
    ///
    /// let now = SystemTime::now();
    /// let backwards = Schedule::every(Duration::from_secs(1))?.starting_at(now).until(now - Duration::from_secs(1));
    /// assert!(backwards.validate().unwrap_err().to_string().contains("until"));
    /// # Ok::<(), kairos_rt::ScheduleError>(())
    /// ```
    pub fn validate(&self) -> Result<(), ScheduleError> {
        if self.times == Some(0) {
            return Err(ScheduleError::invalid("times(0): a schedule must fire at least once"));
        }
        if let (Some(start), Some(until)) = (self.start, self.until) {
            if until < start {
                return Err(ScheduleError::invalid(format!(
                    "until ({until}) is before starting_at ({start}): the schedule could never fire"
                )));
            }
        }
        if let Grid::Every(period) = self.grid {
            if self.jitter >= period {
                return Err(ScheduleError::invalid(format!(
                    "a jitter of {:?} is not shorter than the period {period:?}",
                    self.jitter
                )));
            }
        }
        Ok(())
    }

    /// The period of an [`every`](Self::every) schedule; `None` for cron.
    ///
    /// ```
    /// # use std::time::Duration;
    /// assert_eq!(kairos_rt::Schedule::cron("@hourly")?.period(), None);
    /// assert_eq!(kairos_rt::Schedule::every(Duration::from_secs(2))?.period(), Some(Duration::from_secs(2)));
    /// # Ok::<(), kairos_rt::ScheduleError>(())
    /// ```
    pub fn period(&self) -> Option<Duration> {
        match self.grid {
            Grid::Every(period) => Some(period),
            Grid::Cron(_) => None,
        }
    }

    /// The instant after which the schedule has no ticks ([`until`](Self::until)), if set.
    ///
    /// ```
    /// use chrono::{TimeZone, Utc};
    /// use std::time::Duration;
    ///
    /// let end = Utc.with_ymd_and_hms(2030, 1, 1, 0, 0, 0).unwrap();
    /// let s = kairos_rt::Schedule::every(Duration::from_secs(1))?.until(end);
    /// assert_eq!(s.until_time(), Some(end));
    /// # Ok::<(), kairos_rt::ScheduleError>(())
    /// ```
    pub fn until_time(&self) -> Option<DateTime<Utc>> {
        self.until
    }

    /// The cron expression of a cron schedule, as given; `None` for `every`.
    ///
    /// ```
    /// assert_eq!(kairos_rt::Schedule::cron("@daily")?.cron_expression(), Some("@daily"));
    /// # Ok::<(), kairos_rt::ScheduleError>(())
    /// ```
    pub fn cron_expression(&self) -> Option<&str> {
        match &self.grid {
            Grid::Every(_) => None,
            Grid::Cron(spec) => Some(spec.expr()),
        }
    }

    /// The IANA name of a cron schedule's time zone; `None` for `every`.
    ///
    /// ```
    /// assert_eq!(kairos_rt::Schedule::cron_in("@daily", "Asia/Tokyo")?.time_zone(), Some("Asia/Tokyo"));
    /// # Ok::<(), kairos_rt::ScheduleError>(())
    /// ```
    pub fn time_zone(&self) -> Option<&'static str> {
        match &self.grid {
            Grid::Every(_) => None,
            Grid::Cron(spec) => Some(spec.zone_name()),
        }
    }

    /// The maximum jitter (zero unless set by [`jitter`](Self::jitter)).
    ///
    /// ```
    /// # use std::time::Duration;
    /// assert_eq!(kairos_rt::Schedule::every(Duration::from_secs(1))?.max_jitter(), Duration::ZERO);
    /// # Ok::<(), kairos_rt::ScheduleError>(())
    /// ```
    pub fn max_jitter(&self) -> Duration {
        self.jitter
    }

    /// The missed-tick behavior.
    ///
    /// ```
    /// # use std::time::Duration;
    /// use kairos_rt::MissedTickBehavior;
    /// assert_eq!(kairos_rt::Schedule::every(Duration::from_secs(1))?.missed_tick_behavior(), MissedTickBehavior::Skip);
    /// # Ok::<(), kairos_rt::ScheduleError>(())
    /// ```
    pub fn missed_tick_behavior(&self) -> MissedTickBehavior {
        self.missed
    }

    /// The overlap rule.
    ///
    /// ```
    /// # use std::time::Duration;
    /// use kairos_rt::Overlap;
    /// assert_eq!(kairos_rt::Schedule::every(Duration::from_secs(1))?.overlap_rule(), Overlap::Skip);
    /// # Ok::<(), kairos_rt::ScheduleError>(())
    /// ```
    pub fn overlap_rule(&self) -> Overlap {
        self.overlap
    }

    /// The panic rule.
    ///
    /// ```
    /// # use std::time::Duration;
    /// use kairos_rt::OnPanic;
    /// assert_eq!(kairos_rt::Schedule::every(Duration::from_secs(1))?.on_panic_rule(), OnPanic::Continue);
    /// # Ok::<(), kairos_rt::ScheduleError>(())
    /// ```
    pub fn on_panic_rule(&self) -> OnPanic {
        self.on_panic
    }

    /// The maximum number of firings set by [`times`](Self::times), if any.
    ///
    /// ```
    /// # use std::time::Duration;
    /// assert_eq!(kairos_rt::Schedule::every(Duration::from_secs(1))?.times(4).max_firings(), Some(4));
    /// # Ok::<(), kairos_rt::ScheduleError>(())
    /// ```
    pub fn max_firings(&self) -> Option<u64> {
        self.times
    }

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
                let (offset, missed) = self.every_next(*period, elapsed, until);
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

    /// The `every` step of [`next_tick_counting`](Self::next_tick_counting), in
    /// nanoseconds after the last tick: for a judgement `elapsed` after it and `until`
    /// (if any) at `until` after it (negative: before it), the offset of the next tick
    /// (`None` past `until`) and how many ticks were missed.
    fn every_next(&self, period: Duration, elapsed: u128, until: Option<i128>) -> (Option<u128>, u64) {
        let p = period.as_nanos();
        let (offset, missed) = self.missed.next_periodic(elapsed, p);
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

    /// [`next_tick_counting`](Self::next_tick_counting) on nanoseconds since the Unix
    /// epoch (see `nanos.rs`): integer arithmetic for an `every` grid, the calendar for
    /// cron. `None` also for a tick beyond the year 2262.
    pub(crate) fn next_tick_counting_ns(&self, tick: i64, now: i64) -> (Option<i64>, u64) {
        match &self.grid {
            Grid::Every(period) => {
                let elapsed = u128::try_from(i128::from(now) - i128::from(tick)).unwrap_or(0);
                let until = self.until.map(|until| i128::from(nanos_saturating(until)) - i128::from(tick));
                let (offset, missed) = self.every_next(*period, elapsed, until);
                (offset.and_then(|o| i64::try_from(o).ok()).and_then(|o| tick.checked_add(o)), missed)
            }
            Grid::Cron(_) => {
                let (next, missed) = self.next_tick_counting(time_of(tick), time_of(now));
                (next.and_then(nanos_of), missed)
            }
        }
    }

    /// How many ticks lie in `[first, end]` (`first` a tick, `first <= end`), at most
    /// `limit`, and the last of them: the ticks that came while a run was going. In
    /// nanoseconds since the Unix epoch.
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
                while k < limit.min(MISSED_COUNT_CAP) {
                    match spec.next_after(last).filter(|n| nanos_of(*n).is_some_and(|n| n <= end)) {
                        Some(n) => {
                            k += 1;
                            last = n;
                        }
                        None => break,
                    }
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

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn ticks_past_until_are_not_counted_as_missed() {
        let t0 = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap();
        let s = |d: u64| t0 + Duration::from_secs(d);
        let every = Schedule::every(Duration::from_secs(10)).unwrap().starting_at(t0).until(s(30));
        // The firing of 10 s began at 55 s: only 20 s and 30 s were missed.
        assert_eq!(every.next_tick_counting(s(10), s(55)), (None, 2));
        assert_eq!(every.next_tick_counting(s(10), s(25)), (Some(s(30)), 1));
        let cron = Schedule::cron("* * * * * *").unwrap().until(s(3));
        assert_eq!(cron.next_tick_counting(s(0), s(10)), (None, 3));
    }

    #[test]
    fn ticks_through_counts_the_ticks_that_came_during_a_run() {
        let t0 = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap();
        let at = |d: u64| t0 + Duration::from_secs(d);
        let s = |d: u64| nanos_of(at(d)).unwrap();
        let every = Schedule::every(Duration::from_secs(10)).unwrap();
        assert_eq!(every.ticks_through(s(10), s(35), u64::MAX), (3, s(30)));
        assert_eq!(every.ticks_through(s(10), s(35), 2), (2, s(20)), "limited by times");
        assert_eq!(every.clone().until(at(20)).ticks_through(s(10), s(35), u64::MAX), (2, s(20)));
        let cron = Schedule::cron("*/10 * * * * *").unwrap();
        assert_eq!(cron.ticks_through(s(10), s(35), u64::MAX), (3, s(30)));
    }

    /// The firing loop's integer path gives the calendar path's ticks and misses, for
    /// every missed-tick behavior, with and without `until`, for `every` and cron grids.
    #[test]
    fn next_tick_counting_ns_agrees_with_the_calendar() {
        let t0 = Utc.with_ymd_and_hms(2026, 3, 29, 0, 59, 0).unwrap();
        let at = |ms: u64| t0 + Duration::from_millis(ms);
        let ns = |t: DateTime<Utc>| nanos_of(t).unwrap();
        let grids = [
            Schedule::every(Duration::from_millis(700)).unwrap(),
            Schedule::every(Duration::from_secs(1)).unwrap().starting_at(at(300)),
            Schedule::cron_in("*/2 * * * * *", "Europe/Berlin").unwrap(),
        ];
        for grid in grids {
            for missed in [MissedTickBehavior::Burst, MissedTickBehavior::Delay, MissedTickBehavior::Skip] {
                for until in [None, Some(at(2_500)), Some(at(100))] {
                    let mut s = grid.clone().missed_tick(missed);
                    if let Some(until) = until {
                        s = s.until(until);
                    }
                    for (tick, now) in [(0, 0), (0, 650), (0, 701), (0, 5_000), (700, 2_600), (1_400, 900)] {
                        let (next, n) = s.next_tick_counting(at(tick), at(now));
                        assert_eq!(
                            s.next_tick_counting_ns(ns(at(tick)), ns(at(now))),
                            (next.map(ns), n),
                            "{s:?} tick {tick} now {now}"
                        );
                    }
                }
            }
        }
    }
}
