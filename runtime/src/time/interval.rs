//! [`Interval`]: tokio-style periodic ticks for futures (`interval(period)`,
//! `tick().await`), on kairos's timing wheels.
//!
//! ## Protocol
//!
//! An interval holds the instant of its next tick. `tick()` sleeps until that instant
//! (a [`sleep_until`](crate::sleep_until), so a timed task in the wheel), then moves it
//! on by the [`MissedTickBehavior`] rule of `missed_tick.rs` (from the tick, not from
//! now: no drift) and returns the tick's instant. The first tick completes at once.
//!
//! `tick()` is cancel-safe: the next instant is only moved once the sleep has completed,
//! so dropping a `tick()` future part-way loses no tick.

use super::missed_tick::MissedTickBehavior;
use super::schedule_error::ScheduleError;
use std::time::{Duration, Instant};

/// Ticks every period, for futures: made by [`interval`] or [`interval_at`].
///
/// ```
/// use kairos_rt::time::{interval, MissedTickBehavior};
/// use std::time::Duration;
///
/// let rt = kairos_rt::Runtime::builder().workers(1).build()?;
/// let ticks = rt.block_on(async {
///     let mut every = interval(Duration::from_millis(1)).unwrap();
///     every.set_missed_tick_behavior(MissedTickBehavior::Skip);
///     let first = every.tick().await; // at once
///     let second = every.tick().await;
///     second - first
/// });
/// assert!(ticks >= Duration::from_millis(1));
/// # Ok::<(), kairos_rt::BuildError>(())
/// ```
#[derive(Debug)]
pub struct Interval {
    next: Instant,
    period: Duration,
    missed: MissedTickBehavior,
}

/// An [`Interval`] whose first tick is now, then every `period`. Its missed-tick behavior
/// is [`MissedTickBehavior::Burst`], as in tokio.
///
/// Creating it needs no runtime; awaiting [`tick`](Interval::tick) needs one (inside a
/// kairos task or `Runtime::block_on`).
///
/// # Errors
///
/// A zero period (tokio panics there; kairos never panics on bad input).
///
/// ```
/// use std::time::Duration;
/// assert!(kairos_rt::time::interval(Duration::ZERO).is_err());
/// assert_eq!(kairos_rt::time::interval(Duration::from_secs(1))?.period(), Duration::from_secs(1));
/// # Ok::<(), kairos_rt::ScheduleError>(())
/// ```
pub fn interval(period: Duration) -> Result<Interval, ScheduleError> {
    interval_at(Instant::now(), period)
}

/// An [`Interval`] whose first tick is at `start`, then every `period`.
///
/// # Errors
///
/// A zero period.
///
/// ```
/// use kairos_rt::time::interval_at;
/// use std::time::{Duration, Instant};
///
/// let rt = kairos_rt::Runtime::builder().workers(1).build()?;
/// let start = Instant::now() + Duration::from_millis(2);
/// let first = rt.block_on(async move { interval_at(start, Duration::from_secs(1)).unwrap().tick().await });
/// assert_eq!(first, start);
/// assert!(Instant::now() >= start);
/// # Ok::<(), kairos_rt::BuildError>(())
/// ```
pub fn interval_at(start: Instant, period: Duration) -> Result<Interval, ScheduleError> {
    if period.is_zero() {
        return Err(ScheduleError::invalid("interval: the period is zero; it must be at least 1 ns"));
    }
    Ok(Interval { next: start, period, missed: MissedTickBehavior::Burst })
}

impl Interval {
    /// Waits for the next tick and returns its instant (the tick's own, not when the wait
    /// ended). Cancel-safe. Like [`sleep_until`](crate::sleep_until), the wait ends early
    /// inside `Runtime::block_on` once the runtime has shut down.
    ///
    /// # Panics
    ///
    /// When it has to wait, outside a kairos task or `Runtime::block_on`.
    ///
    /// ```
    /// # let rt = kairos_rt::Runtime::builder().workers(1).build().unwrap();
    /// use std::time::{Duration, Instant};
    /// let start = Instant::now();
    /// rt.block_on(async {
    ///     let mut every = kairos_rt::time::interval(Duration::from_millis(1)).unwrap();
    ///     for _ in 0..3 { every.tick().await; }
    /// });
    /// assert!(start.elapsed() >= Duration::from_millis(2), "ticks at 0, 1 and 2 ms");
    /// ```
    pub async fn tick(&mut self) -> Instant {
        let tick = self.next;
        if Instant::now() < tick {
            crate::sleep_until(tick).await;
        }
        let elapsed = Instant::now().saturating_duration_since(tick).as_nanos();
        let (offset, _) = self.missed.next_periodic(elapsed, self.period.as_nanos());
        let offset = Duration::from_nanos(u64::try_from(offset).unwrap_or(u64::MAX));
        self.next = later_or_far(tick, offset);
        tick
    }

    /// Makes the next tick one period from now.
    ///
    /// ```
    /// use std::time::{Duration, Instant};
    /// let mut every = kairos_rt::time::interval(Duration::from_secs(1))?;
    /// every.reset();
    /// assert!(every.next_tick() > Instant::now());
    /// # Ok::<(), kairos_rt::ScheduleError>(())
    /// ```
    pub fn reset(&mut self) {
        self.next = later_or_far(Instant::now(), self.period);
    }

    /// The instant of the next tick.
    ///
    /// ```
    /// use std::time::{Duration, Instant};
    /// let start = Instant::now();
    /// let every = kairos_rt::time::interval_at(start, Duration::from_secs(1))?;
    /// assert_eq!(every.next_tick(), start);
    /// # Ok::<(), kairos_rt::ScheduleError>(())
    /// ```
    pub fn next_tick(&self) -> Instant {
        self.next
    }

    /// The period.
    ///
    /// ```
    /// # use std::time::Duration;
    /// assert_eq!(kairos_rt::time::interval(Duration::from_secs(3))?.period(), Duration::from_secs(3));
    /// # Ok::<(), kairos_rt::ScheduleError>(())
    /// ```
    pub fn period(&self) -> Duration {
        self.period
    }

    /// The missed-tick behavior (default [`MissedTickBehavior::Burst`]).
    ///
    /// ```
    /// # use std::time::Duration;
    /// use kairos_rt::time::MissedTickBehavior;
    /// assert_eq!(kairos_rt::time::interval(Duration::from_secs(1))?.missed_tick_behavior(), MissedTickBehavior::Burst);
    /// # Ok::<(), kairos_rt::ScheduleError>(())
    /// ```
    pub fn missed_tick_behavior(&self) -> MissedTickBehavior {
        self.missed
    }

    /// Sets the missed-tick behavior.
    ///
    /// ```
    /// # use std::time::Duration;
    /// use kairos_rt::time::MissedTickBehavior;
    /// let mut every = kairos_rt::time::interval(Duration::from_secs(1))?;
    /// every.set_missed_tick_behavior(MissedTickBehavior::Delay);
    /// assert_eq!(every.missed_tick_behavior(), MissedTickBehavior::Delay);
    /// # Ok::<(), kairos_rt::ScheduleError>(())
    /// ```
    pub fn set_missed_tick_behavior(&mut self, behavior: MissedTickBehavior) {
        self.missed = behavior;
    }
}

/// `at + by`, or, for an instant beyond what `Instant` can hold, one as far as it can
/// (about 30 years from `at`, or `at` itself at the very end): the interval never ticks
/// again.
fn later_or_far(at: Instant, by: Duration) -> Instant {
    at.checked_add(by).or_else(|| at.checked_add(Duration::from_secs(86_400 * 365 * 30))).unwrap_or(at)
}
