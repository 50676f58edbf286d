//! What the readings (`observe/`: `pending()`, `metrics()`, the shutdown report) ask of
//! the scheduler: queue depths, timed-task gauges, the next due timer, idle time and
//! latency samples, read from [`Shared`] and each worker's `Remote` without a lock.
//!
//! Every reading here is a gauge: each value is read on its own (`Relaxed`), so values
//! read together may disagree by the tasks that moved between the reads; the callers
//! state which way that errs. Nothing here is on a task's path.

use super::blocking::BlockingGauges;
use super::shared::Shared;
use crate::stats::{RetryCounts, ScheduleCensus};
use hdrhistogram::Histogram;
use kairos_rt_core::sync::atomic::Ordering::Relaxed;
use kairos_rt_core::Priority;
use std::time::Instant;

impl Shared {
    /// Ready tasks per level (index = level): every worker's queue and the injectors.
    pub(crate) fn ready_by_level(&self) -> [u64; Priority::LEVELS] {
        core::array::from_fn(|l| {
            let level = Priority::all().nth(l).unwrap_or(Priority::LOWEST);
            let queued: usize = self.remotes.iter().map(|r| r.stealers.len_at(level)).sum();
            (queued + self.injectors.len_at(level)) as u64
        })
    }

    /// Timed user tasks in the wheels per level (index = level). Their sum is exact (up
    /// to the tasks moving while it is read); the split by level is off by the tasks
    /// whose priority changed while they waited: such a task was counted at its old level
    /// when it entered its wheel and leaves it at its new one, so its old level keeps one
    /// too many and its new one one too few. The levels that read negative are taken,
    /// one by one, from the lowest levels that read positive, so the sum stays right.
    pub(crate) fn pending_timed_by_level(&self) -> [u64; Priority::LEVELS] {
        let signed: [i64; Priority::LEVELS] = core::array::from_fn(|l| {
            self.remotes.iter().fold(0u64, |acc, r| acc.wrapping_add(r.timed_by_level[l].load(Relaxed)))
                as i64
        });
        let mut owed: u64 = signed.iter().filter(|&&s| s < 0).map(|s| s.unsigned_abs()).sum();
        core::array::from_fn(|l| {
            let count = u64::try_from(signed[l]).unwrap_or(0);
            let taken = count.min(owed);
            owed -= taken;
            count - taken
        })
    }

    /// The runtime's own timers in the wheels now (the gauges can lag a moment behind).
    pub(crate) fn pending_runtime_timers(&self) -> u64 {
        let sum = self.remotes.iter().fold(0u64, |acc, r| acc.wrapping_add(r.runtime_timers.load(Relaxed)));
        // Each gauge is exact for its wheel; only a read racing a worker's exit (which
        // zeroes them) could see a removal without its insertion.
        u64::try_from(sum as i64).unwrap_or(0)
    }

    /// When the earliest timer in any wheel is due (`None`: no timer).
    pub(crate) fn next_timer_due(&self) -> Option<Instant> {
        // A worker publishes its next due tick after it updates its gauges, so one whose
        // gauges read zero may still show the deadline of a timer it just removed: only
        // workers that hold timed tasks (or timers of the runtime's own) count.
        let next_tick = self
            .remotes
            .iter()
            .filter(|r| {
                r.runtime_timers.load(Relaxed) != 0 || r.timed_by_level.iter().any(|g| g.load(Relaxed) != 0)
            })
            .map(|r| r.next_due.load(Relaxed))
            .min()
            .unwrap_or(u64::MAX);
        self.clock.instant_of(next_tick)
    }

    /// When the runtime started (its clock's zero).
    pub(crate) fn started_at(&self) -> Instant {
        self.clock.start()
    }

    /// Each worker's idle time in nanoseconds, in order, as of `now_nanos` nanoseconds
    /// after [`started_at`](Self::started_at): its ended idle periods plus the current
    /// one, if it is idle. The two gauges are read without a lock: a period ending
    /// between the reads is counted twice or not at all (clamp any ratio made of it).
    pub(crate) fn idle_nanos_by_worker(&self, now_nanos: f64) -> impl Iterator<Item = f64> + '_ {
        self.remotes.iter().map(move |r| {
            let current = match r.idle_since.load(Relaxed) {
                0 => 0.0,
                s => (now_nanos - (s - 1) as f64).max(0.0),
            };
            r.idle_nanos.load(Relaxed) as f64 + current
        })
    }

    /// Adds every worker's sampled submit-to-start latencies to `histogram`.
    pub(crate) fn merge_latency_into(&self, histogram: &mut Histogram<u64>) {
        for r in self.remotes.iter() {
            r.latency.merge_into(histogram);
        }
    }

    /// The blocking pool's gauges (read under its lock, so they agree with each other).
    pub(crate) fn blocking_gauges(&self) -> BlockingGauges {
        self.blocking.gauges()
    }

    /// The retry gauges now.
    pub(crate) fn retry_counts(&self) -> RetryCounts {
        self.retries.read()
    }

    /// Completed tasks for a metrics snapshot, exhausted retries taken out, never lower
    /// than one reported before (`RetryGauges::completed`).
    pub(crate) fn completed_for_metrics(&self, completed_tasks: u64, exhausted: u64) -> u64 {
        self.retries.completed(completed_tasks, exhausted)
    }

    /// The census of this runtime's recurring schedules, if one was ever spawned.
    pub(crate) fn schedule_census(&self) -> Option<&dyn ScheduleCensus> {
        self.schedules.get().map(|census| &**census)
    }
}
