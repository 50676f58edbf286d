//! [`MetricsSnapshot`]: counters and gauges of a runtime at one moment, and
//! [`LatencySummary`], the percentiles of the workers' latency samplers
//! (`stats::latency`). Their Prometheus text export is in `prometheus.rs`, their
//! publication through the `metrics` crate facade in `facade.rs`.
//!
//! Nothing here is on the task hot path.

use std::fmt;
use std::time::Duration;

use crate::stats::SchedulesSnapshot;
use hdrhistogram::Histogram;
use kairos_rt_core::Priority;

use super::RuntimeTimerCounts;

/// Percentiles of the time from a task's submission (or due time, for timed tasks) to the
/// start of its run, over the runtime's whole life.
///
/// Estimated from one task in 64 (see [`samples`](Self::samples)), with 2 significant
/// digits of precision (each value is within 1% of the true one); latencies above 60 s
/// are counted as 60 s. When there are no samples, every duration is zero.
///
/// The runtime's own timers (behind [`sleep`](crate::sleep), timeouts and retry
/// backoffs) are sampled like timed tasks, from their due time to their firing: that is
/// how late a sleeping future is woken. They are not counted as tasks anywhere else (see
/// [`MetricsSnapshot::runtime_timers`]).
///
/// ```
/// use kairos_rt::{Priority, Runtime};
///
/// let rt = Runtime::builder().workers(1).build()?;
/// for _ in 0..256 {
///     rt.spawn(Priority::NORMAL, || ()).join().unwrap();
/// }
/// let latency = rt.metrics().latency;
/// assert!(latency.samples >= 1); // one task in 64 is sampled
/// assert!(latency.p50 <= latency.p99 && latency.p99 <= latency.max);
/// rt.shutdown();
/// # Ok::<(), kairos_rt::BuildError>(())
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct LatencySummary {
    /// How many tasks (and runtime timers) were timed: a sample of all the runs started
    /// and timers fired.
    pub samples: u64,
    /// Median.
    pub p50: Duration,
    /// 90th percentile.
    pub p90: Duration,
    /// 99th percentile.
    pub p99: Duration,
    /// 99.9th percentile.
    pub p999: Duration,
    /// The largest sampled latency.
    pub max: Duration,
    /// The mean sampled latency.
    pub mean: Duration,
}

impl LatencySummary {
    /// The summary of a histogram of nanoseconds (such as one from `new_histogram`).
    pub(crate) fn from_histogram(h: &Histogram<u64>) -> LatencySummary {
        if h.is_empty() {
            return LatencySummary::default();
        }
        let at = |q: f64| Duration::from_nanos(h.value_at_quantile(q));
        LatencySummary {
            samples: h.len(),
            p50: at(0.5),
            p90: at(0.9),
            p99: at(0.99),
            p999: at(0.999),
            max: Duration::from_nanos(h.max()),
            mean: Duration::from_nanos(h.mean().round() as u64),
        }
    }

    /// The approximate sum of the sampled latencies (`mean × samples`).
    ///
    /// ```
    /// use kairos_rt::{Priority, Runtime};
    /// use std::time::Duration;
    ///
    /// let rt = Runtime::builder().workers(1).build()?;
    /// assert_eq!(rt.metrics().latency.sum(), Duration::ZERO, "no samples yet");
    /// for _ in 0..256 {
    ///     rt.spawn(Priority::NORMAL, || ()).join().unwrap();
    /// }
    /// let latency = rt.metrics().latency;
    /// assert!(latency.sum() >= latency.mean);
    /// rt.shutdown();
    /// # Ok::<(), kairos_rt::BuildError>(())
    /// ```
    pub fn sum(&self) -> Duration {
        Duration::from_secs_f64(self.mean.as_secs_f64() * self.samples as f64)
    }

    /// `(quantile, value)` pairs, as exported: 0.5, 0.9, 0.99, 0.999 and 1 (the maximum).
    pub(super) fn quantiles(&self) -> [(&'static str, Duration); 5] {
        [("0.5", self.p50), ("0.9", self.p90), ("0.99", self.p99), ("0.999", self.p999), ("1", self.max)]
    }
}

/// A runtime's counters and gauges at one moment.
///
/// Returned by [`Runtime::metrics`](crate::Runtime::metrics) and
/// [`Handle::metrics`](crate::Handle::metrics). Counters count since the runtime was
/// built and never go down; gauges are the current value. Workers count into their own
/// cache-padded counters, which are summed when the snapshot is taken, without stopping
/// anything: the values are exact when the runtime is quiescent; while tasks move, each
/// value is read at a slightly different instant, so relations between them (such as
/// `started` against the outcome counters) hold only approximately.
///
/// Export it with [`to_prometheus`](Self::to_prometheus) (text exposition format), or,
/// with the `metrics` feature, `record` (through the `metrics` crate facade). `Display`
/// prints a compact human-readable summary.
///
/// # Examples
///
/// ```
/// use kairos_rt::{Priority, Runtime};
///
/// let rt = Runtime::builder().workers(2).build()?;
/// rt.spawn(Priority::NORMAL, || ()).join().unwrap();
/// let m = rt.metrics();
/// assert_eq!(m.submitted, 1);
/// assert!(m.to_prometheus().contains("\nkairos_tasks_submitted_total 1\n"));
/// println!("{m}");
/// # Ok::<(), kairos_rt::BuildError>(())
/// ```
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct MetricsSnapshot {
    /// Time since the runtime was built.
    pub uptime: Duration,
    /// Number of worker threads.
    pub workers: usize,

    /// Tasks submitted, including those refused at shutdown (counted in `rejected` too);
    /// not the refusals for room (`refused_full`), nor the runtime's own timers
    /// (`runtime_timers`) (counter).
    pub submitted: u64,
    /// Task runs started by a worker, one per attempt, counted when the run (a closure's,
    /// or a future's first poll) returns: a run in progress is not in it yet, so while a
    /// task runs `submitted` is ahead of `started` with no queue holding it. A task that
    /// expires unrun does not count (counter).
    pub started: u64,
    /// Tasks that finished successfully (counter).
    pub completed: u64,
    /// Tasks that ended in failure: panicked, timed out, or out of retries with an error
    /// (counter).
    pub failed: u64,
    /// Tasks whose body panicked (counter).
    pub panicked: u64,
    /// Tasks cancelled through their handle (counter).
    pub cancelled: u64,
    /// Tasks dropped unrun because their deadline passed (counter).
    pub expired: u64,
    /// Tasks stopped because they ran past their time limit (counter).
    pub timed_out: u64,
    /// Attempts after the first (counter).
    pub retried: u64,
    /// Tasks refused because the runtime was shutting down (counter); also counted in
    /// `submitted`.
    pub rejected: u64,
    /// Submissions refused because [`max_pending`](crate::Builder::max_pending) tasks
    /// already waited: `try_spawn` and friends returned an error whose
    /// [`is_full`](crate::SpawnError::is_full) is true and handed the task back (counter).
    /// Not in `submitted`: the caller may offer the same task again, and each refusal
    /// counts.
    pub refused_full: u64,
    /// Steals from another worker's queue (counter): each moves a batch of tasks.
    pub stolen: u64,
    /// The runtime's own timers (behind sleeps, timeouts, run-timeout limits and retry
    /// backoffs), counted apart from the tasks above (counters).
    pub runtime_timers: RuntimeTimerCounts,

    /// Ready tasks queued at each priority level; index = level (gauge).
    pub queue_depth: [u64; Priority::LEVELS],
    /// User tasks waiting for their due time (gauge); the runtime's own timers are
    /// `runtime_timers_pending` (see [`PendingSnapshot`](crate::PendingSnapshot)).
    pub timers_pending: u64,
    /// The runtime's own timers waiting in the wheels: pending sleeps, timeouts,
    /// run-timeout limits and retry backoffs (gauge).
    pub runtime_timers_pending: u64,
    /// Tasks waiting for their next retry attempt (gauge).
    pub retry_waiting: u64,
    /// `spawn_blocking` jobs waiting for a blocking thread (gauge).
    pub blocking_queued: u64,
    /// `spawn_blocking` jobs running on a blocking thread (gauge).
    pub blocking_running: u64,
    /// Threads of the blocking pool, idle or running (gauge).
    pub blocking_threads: u64,
    /// For each worker, the share of [`uptime`](Self::uptime) it spent running tasks,
    /// `0.0..=1.0` (gauge).
    pub busy_ratio: Vec<f64>,
    /// Submit-to-start latency percentiles.
    pub latency: LatencySummary,
    /// The recurring schedules: active and finished, their firings, runs, skips,
    /// misses, panics and lateness (as [`Handle::schedules`](crate::Handle::schedules)).
    pub schedules: SchedulesSnapshot,
}
impl MetricsSnapshot {
    /// Ready tasks queued over all levels.
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
    /// let queued = [rt.spawn(Priority::LOW, || ()), rt.spawn(Priority::HIGH, || ())];
    /// assert_eq!(rt.metrics().queue_depth_total(), 2);
    /// release.send(()).unwrap();
    /// busy.join().unwrap();
    /// queued.into_iter().for_each(|h| h.join().unwrap());
    /// rt.shutdown();
    /// # Ok::<(), kairos_rt::BuildError>(())
    /// ```
    pub fn queue_depth_total(&self) -> u64 {
        self.queue_depth.iter().sum()
    }

    /// Ready tasks queued at `priority`.
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
    /// let queued = rt.spawn(Priority::HIGH, || ());
    /// let m = rt.metrics();
    /// assert_eq!((m.queue_depth_at(Priority::HIGH), m.queue_depth_at(Priority::LOW)), (1, 0));
    /// release.send(()).unwrap();
    /// busy.join().unwrap();
    /// queued.join().unwrap();
    /// rt.shutdown();
    /// # Ok::<(), kairos_rt::BuildError>(())
    /// ```
    pub fn queue_depth_at(&self, priority: Priority) -> u64 {
        self.queue_depth[priority.index()]
    }
}

/// A few lines for people, for example:
///
/// ```text
/// kairos: 4 workers, up 12.5s
/// tasks: 100 submitted, 98 started, 90 completed, 3 failed (1 panicked, 1 timed out), 2 cancelled, 0 expired, 4 retried, 0 rejected, 7 refused full, 12 stolen
/// runtime timers: 40 submitted, 30 fired, 8 cancelled, 0 dropped, 0 refused, 2 pending
/// pending: 5 ready (p63: 1, p32: 4), 3 timed, 1 retry-waiting, 2 blocking-queued (8 running on 8 blocking threads)
/// busy: 12% 40% 3% 0%
/// submit-to-start (1234 samples): p50 12µs, p90 40µs, p99 200µs, p99.9 1.2ms, max 3ms
/// schedules: 3 active, 1 finished; 500 runs, 2 skipped, 0 missed, 0 panicked; lateness mean 40µs, max 2ms
/// ```
///
/// (the `schedules` line only if the runtime has had one).
impl fmt::Display for MetricsSnapshot {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "kairos: {} workers, up {:.1?}", self.workers, self.uptime)?;
        writeln!(
            f,
            "tasks: {} submitted, {} started, {} completed, {} failed ({} panicked, {} timed out), \
             {} cancelled, {} expired, {} retried, {} rejected, {} refused full, {} stolen",
            self.submitted,
            self.started,
            self.completed,
            self.failed,
            self.panicked,
            self.timed_out,
            self.cancelled,
            self.expired,
            self.retried,
            self.rejected,
            self.refused_full,
            self.stolen
        )?;
        let t = &self.runtime_timers;
        writeln!(
            f,
            "runtime timers: {} submitted, {} fired, {} cancelled, {} dropped, {} refused, {} pending",
            t.submitted, t.fired, t.cancelled, t.dropped, t.refused, self.runtime_timers_pending
        )?;
        write!(f, "pending: {} ready", self.queue_depth_total())?;
        let mut sep = " (";
        for (level, &depth) in self.queue_depth.iter().enumerate().rev() {
            if depth != 0 {
                write!(f, "{sep}p{level}: {depth}")?;
                sep = ", ";
            }
        }
        if sep == ", " {
            f.write_str(")")?;
        }
        writeln!(
            f,
            ", {} timed, {} retry-waiting, {} blocking-queued ({} running on {} blocking threads)",
            self.timers_pending,
            self.retry_waiting,
            self.blocking_queued,
            self.blocking_running,
            self.blocking_threads
        )?;
        f.write_str("busy:")?;
        for ratio in &self.busy_ratio {
            write!(f, " {:.0}%", ratio * 100.0)?;
        }
        f.write_str("\n")?;
        let l = &self.latency;
        if l.samples == 0 {
            write!(f, "submit-to-start: no samples yet")?;
        } else {
            write!(
                f,
                "submit-to-start ({} samples): p50 {:?}, p90 {:?}, p99 {:?}, p99.9 {:?}, max {:?}",
                l.samples, l.p50, l.p90, l.p99, l.p999, l.max
            )?;
        }
        let s = &self.schedules;
        if s.active + s.finished > 0 {
            write!(
                f,
                "\nschedules: {} active, {} finished; {} runs, {} skipped, {} missed, {} panicked; \
                 lateness mean {:?}, max {:?}",
                s.active,
                s.finished,
                s.runs,
                s.skipped,
                s.missed,
                s.panicked,
                s.mean_lateness,
                s.max_lateness
            )?;
        }
        Ok(())
    }
}
