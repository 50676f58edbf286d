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
//! instants, and the firing loop (`firing.rs`) passes the real clock.
//!
//! ## Invariants
//!
//! - A `Schedule` that exists has a non-zero period no longer than `u64::MAX` ns, or a
//!   cron expression that fires at least once after it was made, in a known time zone.
//! - Ticks come from the grid, never from when a run ended: lateness never drifts it.
//! - `until` is inclusive: a tick exactly at `until` fires; `times(n)` counts firings
//!   (ticks that fired or were skipped by the overlap rule), not ticks dropped as missed.
//!
//! This file holds the value, its constructors and its accessors; `schedule/ticks.rs`
//! holds the tick arithmetic (the pure functions above, and the integer forms the firing
//! loop uses); the overlap and panic rules are in `rules.rs`.

mod ticks;

pub(crate) use ticks::every_next_ns;
pub use ticks::Ticks;

use super::cron::CronSpec;
// Re-exported for the firing loop, which names them beside `Schedule`.
pub(super) use super::rules::{OnPanic, Overlap};
use crate::time::MissedTickBehavior;
use crate::time::ScheduleError;
use chrono::{DateTime, Utc};
use std::sync::Arc;
use std::time::Duration;

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
        if i64::try_from(period.as_nanos()).is_err() {
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

    /// The anchor set by [`starting_at`](Self::starting_at), if any (the firing loop
    /// keeps a plain `every` schedule as its period and this anchor: `firing.rs`).
    pub(crate) fn start_time(&self) -> Option<DateTime<Utc>> {
        self.start
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
}

#[cfg(test)]
mod tests;
