//! [`PendingSnapshot`]: how much work a runtime holds that has not started yet.

use std::fmt;
use std::time::{Instant, SystemTime};

use crate::stats::SchedulesSnapshot;

use kairos_rt_core::Priority;

/// The tasks waiting at one priority level, by state.
///
/// Returned by [`PendingSnapshot::at`] and [`PendingSnapshot::levels`].
///
/// ```
/// use kairos_rt::{Priority, Runtime};
/// use std::time::Duration;
///
/// let rt = Runtime::builder().workers(1).build()?;
/// let later = rt.spawn_after(Duration::from_secs(60), Priority::HIGH, || ());
/// # while rt.pending().timed() == 0 { std::thread::yield_now(); } // taken into a wheel
/// let high = rt.pending().at(Priority::HIGH);
/// assert_eq!((high.ready, high.timed, high.blocking), (0, 1, 0));
/// later.cancel();
/// rt.shutdown();
/// # Ok::<(), kairos_rt::BuildError>(())
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct LevelCounts {
    /// Tasks whose time has come, queued to run.
    pub ready: u64,
    /// Tasks waiting in a timing wheel for their due time.
    pub timed: u64,
    /// `spawn_blocking` jobs waiting for a blocking thread.
    pub blocking: u64,
}

impl LevelCounts {
    /// `ready + timed + blocking`.
    ///
    /// ```
    /// use kairos_rt::{Priority, Runtime};
    /// use std::time::Duration;
    ///
    /// let rt = Runtime::builder().workers(1).build()?;
    /// let later = rt.spawn_after(Duration::from_secs(60), Priority::HIGH, || ());
    /// # while rt.pending().timed() == 0 { std::thread::yield_now(); } // taken into a wheel
    /// assert_eq!(rt.pending().at(Priority::HIGH).total(), 1);
    /// later.cancel();
    /// rt.shutdown();
    /// # Ok::<(), kairos_rt::BuildError>(())
    /// ```
    pub fn total(&self) -> u64 {
        self.ready + self.timed + self.blocking
    }

    /// Whether no task waits at this level.
    ///
    /// ```
    /// let rt = kairos_rt::Runtime::builder().workers(1).build()?;
    /// assert!(rt.pending().at(kairos_rt::Priority::NORMAL).is_empty());
    /// rt.shutdown();
    /// # Ok::<(), kairos_rt::BuildError>(())
    /// ```
    pub fn is_empty(&self) -> bool {
        self.total() == 0
    }
}

/// The work a runtime holds that waits: counts by priority level and by state (ready,
/// timed, waiting for a retry), and the next due time.
///
/// Returned by [`Runtime::pending`](crate::Runtime::pending) and
/// [`Handle::pending`](crate::Handle::pending). The counts are a moment's view gathered
/// without stopping the workers: they are exact when the runtime is quiescent (nothing
/// being submitted, started or moved between queues), and approximate while tasks move,
/// since each queue is read at a slightly different instant.
///
/// # What is pending
///
/// - [`ready`](Self::ready): tasks queued to run, by level: user tasks not started yet,
///   and started futures queued to be polled again (woken, or yielding);
/// - [`timed`](Self::timed): user tasks in a timing wheel, waiting for their due time (a
///   timed task spawned from outside the workers reaches a wheel when a worker takes it:
///   at once from a sleeping worker, and within 1 ms while a burst of them streams in);
/// - [`retry_waiting`](Self::retry_waiting): tasks waiting for their next retry attempt
///   (not by level);
/// - [`blocking_queued`](Self::blocking_queued): [`spawn_blocking`](crate::Handle::spawn_blocking)
///   jobs waiting for a blocking thread (by level in [`LevelCounts::blocking`]); those
///   running are not pending, and are shown apart in
///   [`blocking_running`](Self::blocking_running).
///
/// Not pending: a running task, a future waiting for something (a sleep, a channel), and
/// the runtime's own timers, the small tasks behind every [`sleep`](crate::sleep),
/// [`timeout`](crate::timeout), run-timeout limit ([`Task::timeout`](crate::Task::timeout))
/// and retry backoff: those are counted apart, in
/// [`runtime_timers`](Self::runtime_timers), and not in [`total`](Self::total). (Once one
/// fires it is queued at [`Priority::HIGHEST`] for a moment, and shows in `ready` like a
/// woken future.)
///
/// # The bound
///
/// At any moment, `total() <= W + Q + R + M`, where `W` is the user tasks (blocking jobs
/// included) submitted and not started yet, `Q` the started futures and fired timers queued to run again, `R` the
/// tasks waiting for a retry, and `M` the tasks in flight while the snapshot reads the
/// queues: each queue is read at its own instant, so a task that a worker takes to start
/// (or steals from another worker's queue, at most 32 per steal) during the read may
/// still be counted where it was. With
/// [`Builder::max_pending(n)`](crate::Builder::max_pending) and every task submitted
/// from outside the runtime, `W <= n` (a spawn from inside a task or a blocking job is
/// admitted past the limit): so a runtime whose futures sleep shows `total() <= n + M` however many of them
/// sleep, and exactly 0 once they all sleep and nothing else waits.
///
/// A snapshot can also miss tasks in flight: queues are read before wheels, so a task
/// leaving a wheel for a queue during the read is missed, never counted twice. A task
/// cancelled while queued (or moved to another level by
/// [`JoinHandle::set_priority`](crate::JoinHandle::set_priority)) leaves its old queue
/// entry behind, counted in `ready` until a worker reaches and drops it.
///
/// Recurring schedules are shown apart: how many are active
/// ([`schedules`](Self::schedules)) and when the next one fires
/// ([`next_schedule_due`](Self::next_schedule_due)). Each active schedule's pending
/// firing is a user task in a wheel (counted in `timed`, at the schedule's priority),
/// so a schedule is not counted twice in [`total`](Self::total).
///
/// # Examples
///
/// ```
/// # let rt = kairos_rt::Runtime::builder().workers(1).build().unwrap();
/// let p = rt.pending();
/// assert_eq!(p.total(), p.ready() + p.timed() + p.retry_waiting() + p.blocking_queued());
/// for (priority, counts) in p.levels() {
///     println!("level {priority}: {} ready, {} timed", counts.ready, counts.timed);
/// }
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct PendingSnapshot {
    ready: [u64; Priority::LEVELS],
    timed: [u64; Priority::LEVELS],
    retry_waiting: u64,
    next_due: Option<Instant>,
    runtime_timers: u64,
    schedules: u64,
    next_schedule_due: Option<SystemTime>,
    blocking: [u64; Priority::LEVELS],
    blocking_running: u64,
}

impl PendingSnapshot {
    /// A snapshot from per-level counts (index = priority level) of ready and timed tasks,
    /// the number of tasks waiting for a retry, and the earliest due time of any timed task
    /// (or retry), if there is one.
    pub(crate) fn new(
        ready: [u64; Priority::LEVELS],
        timed: [u64; Priority::LEVELS],
        retry_waiting: u64,
        next_due: Option<Instant>,
    ) -> PendingSnapshot {
        PendingSnapshot {
            ready,
            timed,
            retry_waiting,
            next_due,
            runtime_timers: 0,
            schedules: 0,
            next_schedule_due: None,
            blocking: [0; Priority::LEVELS],
            blocking_running: 0,
        }
    }

    /// This snapshot with `n` of the runtime's own timers waiting in the wheels.
    pub(crate) fn with_runtime_timers(mut self, n: u64) -> PendingSnapshot {
        self.runtime_timers = n;
        self
    }

    /// The snapshot with the active schedules and their next due time from `s`.
    pub(crate) fn with_schedules(self, s: SchedulesSnapshot) -> PendingSnapshot {
        PendingSnapshot { schedules: s.active, next_schedule_due: s.next_due, ..self }
    }

    /// Recurring schedules that will fire again (or have a run going). Each one's pending
    /// firing is one of the [`timed`](Self::timed) tasks.
    ///
    /// ```
    /// use kairos_rt::{Priority, Runtime, Schedule};
    ///
    /// let rt = Runtime::builder().workers(1).build()?;
    /// assert_eq!(rt.pending().schedules(), 0);
    /// let job = rt.spawn_recurring(Schedule::cron("@hourly").unwrap(), Priority::LOW, || ()).unwrap();
    /// assert_eq!(rt.pending().schedules(), 1);
    /// assert_eq!(rt.pending().next_schedule_due(), job.next_due());
    /// job.cancel();
    /// assert_eq!(rt.pending().schedules(), 0);
    /// # Ok::<(), kairos_rt::BuildError>(())
    /// ```
    pub fn schedules(&self) -> u64 {
        self.schedules
    }

    /// When the next firing of any active schedule is due (its tick plus jitter), on the
    /// system clock (cron schedules follow it); `None` without active schedules.
    ///
    /// ```
    /// # let rt = kairos_rt::Runtime::builder().workers(1).build()?;
    /// assert_eq!(rt.pending().next_schedule_due(), None);
    /// # Ok::<(), kairos_rt::BuildError>(())
    /// ```
    pub fn next_schedule_due(&self) -> Option<SystemTime> {
        self.next_schedule_due
    }

    /// The snapshot with the blocking pool's queued jobs per level, and its running jobs.
    pub(crate) fn with_blocking(mut self, queued: [u64; Priority::LEVELS], running: u64) -> PendingSnapshot {
        self.blocking = queued;
        self.blocking_running = running;
        self
    }

    /// Every pending task: `ready() + timed() + retry_waiting() + blocking_queued()`.
    ///
    /// ```
    /// use kairos_rt::{Priority, Runtime};
    /// use std::time::Duration;
    ///
    /// let rt = Runtime::builder().workers(1).build()?;
    /// let a = rt.spawn_after(Duration::from_secs(60), Priority::HIGH, || ());
    /// let b = rt.spawn_after(Duration::from_secs(60), Priority::LOW, || ());
    /// # while rt.pending().timed() < 2 { std::thread::yield_now(); } // taken into a wheel
    /// assert_eq!(rt.pending().total(), 2);
    /// a.cancel();
    /// b.cancel();
    /// rt.shutdown();
    /// # Ok::<(), kairos_rt::BuildError>(())
    /// ```
    pub fn total(&self) -> u64 {
        self.ready() + self.timed() + self.retry_waiting + self.blocking_queued()
    }

    /// [`spawn_blocking`](crate::Handle::spawn_blocking) jobs waiting for a blocking
    /// thread, over all levels.
    ///
    /// ```
    /// use kairos_rt::{Priority, Runtime};
    ///
    /// let rt = Runtime::builder().workers(1).max_blocking_threads(1).build()?;
    /// let (started, has_started) = std::sync::mpsc::channel();
    /// let (release, released) = std::sync::mpsc::channel::<()>();
    /// let busy = rt.spawn_blocking(Priority::LOW, move || {
    ///     started.send(()).unwrap();
    ///     released.recv().unwrap() // holds the only blocking thread
    /// });
    /// has_started.recv().unwrap();
    /// let queued = rt.spawn_blocking(Priority::HIGH, || ());
    /// let p = rt.pending();
    /// assert_eq!((p.blocking_running(), p.blocking_queued()), (1, 1), "one runs, one waits");
    /// assert_eq!(p.at(Priority::HIGH).blocking, 1);
    /// release.send(()).unwrap();
    /// busy.join().unwrap();
    /// queued.join().unwrap();
    /// # Ok::<(), kairos_rt::BuildError>(())
    /// ```
    pub fn blocking_queued(&self) -> u64 {
        self.blocking.iter().sum()
    }

    /// `spawn_blocking` jobs running on a blocking thread (not counted in
    /// [`total`](Self::total): they are not pending).
    ///
    /// ```
    /// # let rt = kairos_rt::Runtime::builder().workers(1).build()?;
    /// assert_eq!(rt.pending().blocking_running(), 0, "nothing runs on the pool yet");
    /// # Ok::<(), kairos_rt::BuildError>(())
    /// ```
    pub fn blocking_running(&self) -> u64 {
        self.blocking_running
    }

    /// Whether nothing is pending.
    ///
    /// ```
    /// let rt = kairos_rt::Runtime::builder().workers(1).build()?;
    /// rt.spawn(kairos_rt::Priority::NORMAL, || ()).join().unwrap();
    /// assert!(rt.pending().is_empty(), "the only task has run");
    /// rt.shutdown();
    /// # Ok::<(), kairos_rt::BuildError>(())
    /// ```
    pub fn is_empty(&self) -> bool {
        self.total() == 0
    }

    /// Tasks whose time has come, queued to run, over all levels.
    ///
    /// ```
    /// use kairos_rt::{Priority, Runtime};
    ///
    /// let rt = Runtime::builder().workers(1).build()?;
    /// let (release, released) = std::sync::mpsc::channel::<()>();
    /// let (started, has_started) = std::sync::mpsc::channel();
    /// let busy = rt.spawn(Priority::NORMAL, move || {
    ///     started.send(()).unwrap();
    ///     released.recv().unwrap() // holds the only worker
    /// });
    /// has_started.recv().unwrap();
    /// let queued = rt.spawn(Priority::NORMAL, || ());
    /// assert_eq!(rt.pending().ready(), 1);
    /// release.send(()).unwrap();
    /// busy.join().unwrap();
    /// queued.join().unwrap();
    /// rt.shutdown();
    /// # Ok::<(), kairos_rt::BuildError>(())
    /// ```
    pub fn ready(&self) -> u64 {
        self.ready.iter().sum()
    }

    /// Tasks waiting for their due time, over all levels.
    ///
    /// ```
    /// use kairos_rt::{Priority, Runtime};
    /// use std::time::Duration;
    ///
    /// let rt = Runtime::builder().workers(1).build()?;
    /// let later = rt.spawn_after(Duration::from_secs(60), Priority::NORMAL, || ());
    /// # while rt.pending().timed() == 0 { std::thread::yield_now(); } // taken into a wheel
    /// assert_eq!(rt.pending().timed(), 1);
    /// later.cancel();
    /// rt.shutdown();
    /// # Ok::<(), kairos_rt::BuildError>(())
    /// ```
    pub fn timed(&self) -> u64 {
        self.timed.iter().sum()
    }

    /// Tasks waiting for their next retry attempt.
    ///
    /// ```
    /// use kairos_rt::{RetryPolicy, Runtime, Task};
    /// use std::time::Duration;
    ///
    /// let rt = Runtime::builder().workers(1).build()?;
    /// let failing = Task::new(|| Err::<(), _>("down")).retry(RetryPolicy::fixed(Duration::from_secs(60)));
    /// let h = rt.spawn_with(failing).unwrap();
    /// while rt.pending().retry_waiting() == 0 {
    ///     std::thread::yield_now(); // the first attempt fails, then the task waits 60 s
    /// }
    /// assert_eq!(rt.pending().retry_waiting(), 1);
    /// h.cancel();
    /// rt.shutdown();
    /// # Ok::<(), kairos_rt::BuildError>(())
    /// ```
    pub fn retry_waiting(&self) -> u64 {
        self.retry_waiting
    }

    /// The runtime's own timers waiting in the wheels: one per pending
    /// [`sleep`](crate::sleep) or [`timeout`](crate::timeout), run-timeout limit of a
    /// running future and retry backoff. Not tasks, so not in [`total`](Self::total).
    ///
    /// ```
    /// use kairos_rt::{Priority, Runtime};
    /// use std::time::Duration;
    ///
    /// let rt = Runtime::builder().workers(1).build()?;
    /// let sleeper = rt.spawn_future(Priority::NORMAL, async {
    ///     kairos_rt::sleep(Duration::from_secs(3600)).await;
    /// });
    /// while rt.pending().runtime_timers() == 0 {
    ///     std::thread::yield_now();
    /// }
    /// assert_eq!(rt.pending().total(), 0, "a sleeping future is not waiting to run");
    /// sleeper.cancel();
    /// # Ok::<(), kairos_rt::BuildError>(())
    /// ```
    pub fn runtime_timers(&self) -> u64 {
        self.runtime_timers
    }

    /// The counts at one priority level.
    ///
    /// ```
    /// # let rt = kairos_rt::Runtime::builder().workers(1).build().unwrap();
    /// use kairos_rt::Priority;
    /// let p = rt.pending();
    /// let high = p.at(Priority::HIGH);
    /// assert!(high.ready <= p.ready() && high.timed <= p.timed());
    /// ```
    pub fn at(&self, priority: Priority) -> LevelCounts {
        let i = priority.index();
        LevelCounts { ready: self.ready[i], timed: self.timed[i], blocking: self.blocking[i] }
    }

    /// The levels at which some task is pending, most urgent first, with their counts.
    ///
    /// ```
    /// use kairos_rt::{Priority, Runtime};
    /// use std::time::Duration;
    ///
    /// let rt = Runtime::builder().workers(1).build()?;
    /// let a = rt.spawn_after(Duration::from_secs(60), Priority::LOW, || ());
    /// let b = rt.spawn_after(Duration::from_secs(60), Priority::HIGH, || ());
    /// # while rt.pending().timed() < 2 { std::thread::yield_now(); } // taken into a wheel
    /// let p = rt.pending();
    /// let levels: Vec<Priority> = p.levels().map(|(level, _)| level).collect();
    /// assert_eq!(levels, [Priority::HIGH, Priority::LOW]); // most urgent first
    /// a.cancel();
    /// b.cancel();
    /// rt.shutdown();
    /// # Ok::<(), kairos_rt::BuildError>(())
    /// ```
    pub fn levels(&self) -> impl Iterator<Item = (Priority, LevelCounts)> + '_ {
        (0..Priority::LEVELS as u8).rev().filter_map(move |level| {
            let priority = Priority::new(level).ok()?;
            let counts = self.at(priority);
            (!counts.is_empty()).then_some((priority, counts))
        })
    }

    /// The earliest due time in the timing wheels (timed tasks, and the runtime's own
    /// timers: a sleep's end, a retry's next attempt), if any. It may already be in the
    /// past when a worker is about to run the task.
    ///
    /// ```
    /// use kairos_rt::{Priority, Runtime};
    /// use std::time::{Duration, Instant};
    ///
    /// let rt = Runtime::builder().workers(1).build()?;
    /// assert_eq!(rt.pending().next_due(), None);
    /// let due = Instant::now() + Duration::from_secs(60);
    /// let later = rt.spawn_at(due, Priority::NORMAL, || ());
    /// # while rt.pending().next_due().is_none() { std::thread::yield_now(); } // taken into a wheel
    /// assert!(rt.pending().next_due().unwrap() <= due); // a lower bound
    /// later.cancel();
    /// rt.shutdown();
    /// # Ok::<(), kairos_rt::BuildError>(())
    /// ```
    pub fn next_due(&self) -> Option<Instant> {
        self.next_due
    }
}

/// One line: totals, then the non-empty levels, most urgent first.
///
/// For example `5 pending: 3 ready, 1 timed, 1 retry-waiting; p48 2+0, p32 1+1`, where
/// each level shows `ready+timed` (`ready+timed+blocking` where blocking jobs wait).
/// With `spawn_blocking` jobs queued or running, `, 2 blocking-queued (4 running)`
/// follows the retry count; then `; 2 schedules` if any schedule is active.
impl fmt::Display for PendingSnapshot {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} pending: {} ready, {} timed, {} retry-waiting",
            self.total(),
            self.ready(),
            self.timed(),
            self.retry_waiting
        )?;
        if self.blocking_queued() + self.blocking_running != 0 {
            write!(f, ", {} blocking-queued ({} running)", self.blocking_queued(), self.blocking_running)?;
        }
        let mut sep = "; ";
        for (priority, counts) in self.levels() {
            write!(f, "{sep}p{priority} {}+{}", counts.ready, counts.timed)?;
            if counts.blocking != 0 {
                write!(f, "+{}", counts.blocking)?;
            }
            sep = ", ";
        }
        if self.schedules > 0 {
            write!(f, "; {} schedules", self.schedules)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn sample() -> (PendingSnapshot, Instant) {
        let mut ready = [0; Priority::LEVELS];
        let mut timed = [0; Priority::LEVELS];
        ready[Priority::HIGH.index()] = 2;
        ready[Priority::NORMAL.index()] = 1;
        timed[Priority::NORMAL.index()] = 1;
        timed[Priority::LOWEST.index()] = 4;
        let due = Instant::now() + Duration::from_millis(5);
        (PendingSnapshot::new(ready, timed, 3, Some(due)), due)
    }

    #[test]
    fn totals_add_up_by_state() {
        let (p, due) = sample();
        assert_eq!(p.ready(), 3);
        assert_eq!(p.timed(), 5);
        assert_eq!(p.retry_waiting(), 3);
        assert_eq!(p.total(), 11);
        assert!(!p.is_empty());
        assert_eq!(p.next_due(), Some(due));
    }

    #[test]
    fn at_reads_one_level() {
        let (p, _) = sample();
        assert_eq!(p.at(Priority::HIGH), LevelCounts { ready: 2, timed: 0, blocking: 0 });
        assert_eq!(p.at(Priority::NORMAL), LevelCounts { ready: 1, timed: 1, blocking: 0 });
        assert_eq!(p.at(Priority::LOWEST), LevelCounts { ready: 0, timed: 4, blocking: 0 });
        assert_eq!(p.at(Priority::HIGHEST), LevelCounts { ready: 0, timed: 0, blocking: 0 });
        assert_eq!(p.at(Priority::new(1).unwrap()).total(), 0);
    }

    #[test]
    fn levels_lists_non_empty_levels_most_urgent_first() {
        let (p, _) = sample();
        let levels: Vec<_> = p.levels().map(|(prio, c)| (prio.level(), c.ready, c.timed)).collect();
        assert_eq!(levels, vec![(48, 2, 0), (32, 1, 1), (0, 0, 4)]);
        let sum: u64 = p.levels().map(|(_, c)| c.total()).sum();
        assert_eq!(sum + p.retry_waiting(), p.total());
    }

    #[test]
    fn empty_snapshot() {
        let p = PendingSnapshot::new([0; 64], [0; 64], 0, None);
        assert!(p.is_empty());
        assert_eq!(p.total(), 0);
        assert_eq!(p.levels().count(), 0);
        assert_eq!(p.next_due(), None);
        assert_eq!(p.to_string(), "0 pending: 0 ready, 0 timed, 0 retry-waiting");
    }

    #[test]
    fn schedules_come_apart_from_the_totals() {
        let (p, _) = sample();
        let due = SystemTime::now();
        let s = SchedulesSnapshot { active: 2, next_due: Some(due), ..SchedulesSnapshot::default() };
        let p = p.with_schedules(s);
        assert_eq!((p.schedules(), p.next_schedule_due(), p.total()), (2, Some(due), 11));
        assert!(p.to_string().ends_with("p0 0+4; 2 schedules"), "{p}");
    }

    #[test]
    fn display_shows_levels() {
        let (p, _) = sample();
        assert_eq!(p.to_string(), "11 pending: 3 ready, 5 timed, 3 retry-waiting; p48 2+0, p32 1+1, p0 0+4");
    }
}
