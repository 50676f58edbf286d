//! [`Recurring`]: the handle to a running schedule, and `spawn_recurring` on
//! [`Handle`], [`Runtime`] and inside tasks. The firing loop is in `firing.rs`.

use super::firing::DynState;
use super::schedule::Schedule;
use crate::time::ScheduleError;
use crate::{with_current, Handle, Runtime};
use kairos_rt_core::Priority;
use std::fmt;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, SystemTime};

/// A handle to a running schedule, from [`Handle::spawn_recurring`].
///
/// Dropping it detaches: the schedule keeps firing until it runs out of ticks or its
/// runtime shuts down (like a dropped [`JoinHandle`](crate::JoinHandle)).
///
/// ```
/// use kairos_rt::{Priority, Runtime, Schedule};
/// use std::sync::atomic::{AtomicU32, Ordering};
/// use std::sync::Arc;
/// use std::time::Duration;
///
/// let rt = Runtime::builder().workers(2).build()?;
/// let polls = Arc::new(AtomicU32::new(0));
/// let counter = polls.clone();
/// let every = Schedule::every(Duration::from_millis(1)).unwrap().times(3);
/// let poller = rt.spawn_recurring(every, Priority::HIGH, move || {
///     counter.fetch_add(1, Ordering::Relaxed);
/// }).unwrap();
/// while !poller.is_finished() {
///     std::thread::sleep(Duration::from_millis(1));
/// }
/// assert_eq!((poller.runs(), polls.load(Ordering::Relaxed)), (3, 3));
/// # Ok::<(), kairos_rt::BuildError>(())
/// ```
pub struct Recurring {
    state: Arc<DynState>,
    /// The schedule of a plain `every` schedule, made again from what the firing loop
    /// keeps of it the first time [`schedule`](Self::schedule) is called (the state
    /// keeps only its period and anchor: `firing.rs`).
    schedule: OnceLock<Box<Schedule>>,
}

impl fmt::Debug for Recurring {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Recurring")
            .field("schedule", self.schedule())
            .field("priority", &self.priority())
            .field("runs", &self.runs())
            .field("skipped", &self.skipped())
            .field("finished", &self.is_finished())
            .finish()
    }
}

impl Recurring {
    /// Stops the schedule: once this returns `true`, no run starts (a run already going
    /// may finish), and the pending firing is cancelled in its timing wheel. `false` if the
    /// schedule had already stopped (cancelled, out of ticks, stopped by a panic, or its
    /// runtime shut down).
    ///
    /// ```
    /// use kairos_rt::{Priority, Runtime, Schedule};
    /// use std::time::Duration;
    ///
    /// let rt = Runtime::builder().workers(1).build()?;
    /// let hourly = Schedule::cron("0 * * * *").unwrap();
    /// let job = rt.spawn_recurring(hourly, Priority::LOW, || ()).unwrap();
    /// assert!(job.cancel());
    /// assert!(!job.cancel(), "already cancelled");
    /// assert!(job.is_finished() && job.next_due().is_none());
    /// # Ok::<(), kairos_rt::BuildError>(())
    /// ```
    pub fn cancel(&self) -> bool {
        self.state.cancel()
    }

    /// When the next firing is due (its tick plus jitter), on the system clock; `None`
    /// once the schedule has stopped.
    ///
    /// ```
    /// use kairos_rt::{Priority, Runtime, Schedule};
    /// use std::time::{Duration, SystemTime};
    ///
    /// let rt = Runtime::builder().workers(1).build()?;
    /// let start = SystemTime::now() + Duration::from_secs(60);
    /// let s = Schedule::every(Duration::from_secs(1)).unwrap().starting_at(start);
    /// let job = rt.spawn_recurring(s, Priority::LOW, || ()).unwrap();
    /// assert_eq!(job.next_due(), Some(start));
    /// # Ok::<(), kairos_rt::BuildError>(())
    /// ```
    pub fn next_due(&self) -> Option<SystemTime> {
        self.state.next_due()
    }

    /// How many runs have started.
    ///
    /// ```
    /// # use kairos_rt::{Priority, Runtime, Schedule};
    /// # use std::time::Duration;
    /// # let rt = Runtime::builder().workers(1).build()?;
    /// let job = rt.spawn_recurring(Schedule::cron("@yearly").unwrap(), Priority::LOW, || ()).unwrap();
    /// assert_eq!(job.runs(), 0);
    /// # Ok::<(), kairos_rt::BuildError>(())
    /// ```
    pub fn runs(&self) -> u64 {
        self.state.tally().runs
    }

    /// How many ticks started no run because a run was still going (the
    /// [overlap rule](crate::Overlap)). A cron schedule counts at most 10,000 of the
    /// ticks one run outlasted (each is a calendar search), and as many toward
    /// [`times`](crate::Schedule::times); an `every` schedule counts them all.
    ///
    /// ```
    /// # use kairos_rt::{Priority, Runtime, Schedule};
    /// # let rt = Runtime::builder().workers(1).build()?;
    /// let job = rt.spawn_recurring(Schedule::cron("@yearly").unwrap(), Priority::LOW, || ()).unwrap();
    /// assert_eq!(job.skipped(), 0);
    /// # Ok::<(), kairos_rt::BuildError>(())
    /// ```
    pub fn skipped(&self) -> u64 {
        self.state.tally().skipped
    }

    /// How many ticks were dropped because they were missed (the
    /// [missed-tick behavior](crate::MissedTickBehavior) `Skip` or `Delay`). A cron
    /// schedule counts at most 10,000 for one late firing; an `every` schedule counts
    /// them all.
    ///
    /// ```
    /// # use kairos_rt::{Priority, Runtime, Schedule};
    /// # let rt = Runtime::builder().workers(1).build()?;
    /// let job = rt.spawn_recurring(Schedule::cron("@yearly").unwrap(), Priority::LOW, || ()).unwrap();
    /// assert_eq!(job.missed(), 0);
    /// # Ok::<(), kairos_rt::BuildError>(())
    /// ```
    pub fn missed(&self) -> u64 {
        self.state.tally().missed
    }

    /// How many runs panicked (each panic is caught; see [`OnPanic`](crate::OnPanic)).
    ///
    /// ```
    /// # use kairos_rt::{Priority, Runtime, Schedule};
    /// # let rt = Runtime::builder().workers(1).build()?;
    /// let job = rt.spawn_recurring(Schedule::cron("@yearly").unwrap(), Priority::LOW, || ()).unwrap();
    /// assert_eq!(job.panicked(), 0);
    /// # Ok::<(), kairos_rt::BuildError>(())
    /// ```
    pub fn panicked(&self) -> u64 {
        self.state.tally().panicked
    }

    /// The largest lateness of a firing so far: how long after its due time it started.
    ///
    /// ```
    /// # use kairos_rt::{Priority, Runtime, Schedule};
    /// # let rt = Runtime::builder().workers(1).build()?;
    /// let job = rt.spawn_recurring(Schedule::cron("@yearly").unwrap(), Priority::LOW, || ()).unwrap();
    /// assert_eq!(job.max_lateness(), std::time::Duration::ZERO, "has not fired");
    /// # Ok::<(), kairos_rt::BuildError>(())
    /// ```
    pub fn max_lateness(&self) -> Duration {
        Duration::from_nanos(self.state.tally().lateness_max_ns)
    }

    /// The priority the schedule's next firings run at.
    ///
    /// ```
    /// # use kairos_rt::{Priority, Runtime, Schedule};
    /// # let rt = Runtime::builder().workers(1).build()?;
    /// let job = rt.spawn_recurring(Schedule::cron("@yearly").unwrap(), Priority::LOW, || ()).unwrap();
    /// assert_eq!(job.priority(), Priority::LOW);
    /// # Ok::<(), kairos_rt::BuildError>(())
    /// ```
    pub fn priority(&self) -> Priority {
        self.state.priority()
    }

    /// Runs the next firings at `priority`, the pending one included. `false` if the
    /// schedule has stopped.
    ///
    /// ```
    /// # use kairos_rt::{Priority, Runtime, Schedule};
    /// # let rt = Runtime::builder().workers(1).build()?;
    /// let job = rt.spawn_recurring(Schedule::cron("@yearly").unwrap(), Priority::LOW, || ()).unwrap();
    /// assert!(job.set_priority(Priority::HIGH));
    /// assert_eq!(job.priority(), Priority::HIGH);
    /// # Ok::<(), kairos_rt::BuildError>(())
    /// ```
    pub fn set_priority(&self, priority: Priority) -> bool {
        self.state.set_priority(priority)
    }

    /// Whether the schedule is over: no run is going and none will start (cancelled, out
    /// of ticks, stopped by a panic, or its runtime shut down).
    ///
    /// ```
    /// # use kairos_rt::{Priority, Runtime, Schedule};
    /// # let rt = Runtime::builder().workers(1).build()?;
    /// let job = rt.spawn_recurring(Schedule::cron("@yearly").unwrap(), Priority::LOW, || ()).unwrap();
    /// assert!(!job.is_finished());
    /// job.cancel();
    /// assert!(job.is_finished());
    /// # Ok::<(), kairos_rt::BuildError>(())
    /// ```
    pub fn is_finished(&self) -> bool {
        self.state.is_over()
    }

    /// The schedule this runs.
    ///
    /// ```
    /// # use kairos_rt::{Priority, Runtime, Schedule};
    /// # let rt = Runtime::builder().workers(1).build()?;
    /// let job = rt.spawn_recurring(Schedule::cron("@yearly").unwrap(), Priority::LOW, || ()).unwrap();
    /// assert_eq!(job.schedule().cron_expression(), Some("@yearly"));
    /// # Ok::<(), kairos_rt::BuildError>(())
    /// ```
    pub fn schedule(&self) -> &Schedule {
        self.state.schedule(&self.schedule)
    }
}

impl Handle {
    /// Runs `f` at every tick of `schedule`, each firing a task at `priority` due at its
    /// tick in the timing wheels (no thread per schedule; the next tick is computed from
    /// the schedule, not from when a run ended). See [`Schedule`] for the rules on missed
    /// ticks, overlapping runs and panics.
    ///
    /// # Errors
    ///
    /// The schedule's settings are wrong ([`Schedule::validate`]), or the runtime is
    /// shut down ([`ScheduleError::is_shutdown`]).
    ///
    /// ```
    /// use kairos_rt::{Priority, Runtime, Schedule};
    /// use std::time::Duration;
    ///
    /// let rt = Runtime::builder().workers(2).build()?;
    /// let handle = rt.handle();
    /// let poll = Schedule::every(Duration::from_millis(100)).unwrap();
    /// let poller = handle.spawn_recurring(poll, Priority::HIGH, || { /* read the device */ }).unwrap();
    /// let nightly = Schedule::cron_in("0 2 * * *", "Europe/Berlin").unwrap();
    /// let report = handle.spawn_recurring(nightly, Priority::LOW, || { /* the report */ }).unwrap();
    /// assert!(poller.cancel() && report.cancel());
    /// # Ok::<(), kairos_rt::BuildError>(())
    /// ```
    pub fn spawn_recurring<F>(
        &self,
        schedule: Schedule,
        priority: Priority,
        f: F,
    ) -> Result<Recurring, ScheduleError>
    where
        F: Fn() + Send + Sync + 'static,
    {
        DynState::start(self, schedule, priority, f)
            .map(|state| Recurring { state, schedule: OnceLock::new() })
    }
}

impl Runtime {
    /// [`Handle::spawn_recurring`] on this runtime.
    ///
    /// # Errors
    ///
    /// As for [`Handle::spawn_recurring`].
    ///
    /// ```
    /// use kairos_rt::{Priority, Runtime, Schedule};
    /// use std::time::Duration;
    ///
    /// let rt = Runtime::builder().workers(1).build()?;
    /// let flush = Schedule::every(Duration::from_secs(10)).unwrap();
    /// let job = rt.spawn_recurring(flush, Priority::NORMAL, || { /* flush metrics */ }).unwrap();
    /// assert!(!job.is_finished());
    /// # Ok::<(), kairos_rt::BuildError>(())
    /// ```
    pub fn spawn_recurring<F>(
        &self,
        schedule: Schedule,
        priority: Priority,
        f: F,
    ) -> Result<Recurring, ScheduleError>
    where
        F: Fn() + Send + Sync + 'static,
    {
        self.handle.spawn_recurring(schedule, priority, f)
    }
}

/// [`Handle::spawn_recurring`] on the runtime running the current task.
///
/// # Errors
///
/// As for [`Handle::spawn_recurring`].
///
/// # Panics
///
/// Outside a kairos task or `Runtime::block_on`; use [`Handle::spawn_recurring`] there.
///
/// ```
/// use kairos_rt::{Priority, Runtime, Schedule};
/// use std::time::Duration;
///
/// let rt = Runtime::builder().workers(1).build()?;
/// let job = rt.spawn(Priority::NORMAL, || {
///     let every = Schedule::every(Duration::from_secs(1)).unwrap();
///     kairos_rt::spawn_recurring(every, Priority::LOW, || ()).unwrap()
/// });
/// assert!(job.join().unwrap().cancel());
/// # Ok::<(), kairos_rt::BuildError>(())
/// ```
pub fn spawn_recurring<F>(schedule: Schedule, priority: Priority, f: F) -> Result<Recurring, ScheduleError>
where
    F: Fn() + Send + Sync + 'static,
{
    with_current("spawn_recurring", "Runtime::spawn_recurring or Handle::spawn_recurring", |h| {
        h.spawn_recurring(schedule, priority, f)
    })
}
