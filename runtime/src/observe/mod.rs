//! Looking at a runtime: [`PendingSnapshot`] (`Handle::pending`), [`MetricsSnapshot`]
//! (`Handle::metrics`, exported as Prometheus text or through the `metrics` facade) and,
//! at the end, [`ShutdownReport`].
//!
//! A layer between the scheduler and the public API, not above the API: it reads
//! `Shared` and builds the snapshot types, and `Handle`/`Runtime` only hand them out.
//! So the API depends on it and it depends on no public handle (no import cycle).
//!
//! This folder only reads: it owns no counter (those are in `stats`) and changes no
//! scheduler state. Files: `pending.rs`, `snapshot.rs`, `prometheus.rs`, `facade.rs`
//! (feature `metrics`), `report.rs` (and its `Display`, `report_display.rs`), `schedules.rs` (the recurring schedules' census,
//! read into all three); this file gathers the readings from the workers.
//!
//! The blocking pool's gauges are read under its lock (`sched::blocking`), which no
//! worker takes.
//!
//! `pending` and `metrics` read without stopping the workers: per-worker counters (each worker writes its
//! own cache line; see `stats::counters`), queue lengths from the deques, per-worker timer
//! gauges and latency samplers. A snapshot is exact when the runtime is quiescent and
//! a moment's approximate view while tasks move; counters never go backwards.

#[cfg(feature = "metrics")]
mod facade;
mod pending;
mod prometheus;
mod report;
mod report_display;
mod runtime_timers;
mod schedules;
mod snapshot;
#[cfg(test)]
mod tests;

pub use pending::{LevelCounts, PendingSnapshot};
pub use report::ShutdownReport;
pub use runtime_timers::RuntimeTimerCounts;
pub use snapshot::{LatencySummary, MetricsSnapshot};

use crate::sched::shared::Shared;
use crate::stats::latency::new_histogram;
use crate::stats::Count;
use kairos_rt_core::sync::atomic::Ordering::Relaxed;
use kairos_rt_core::Priority;

impl Shared {
    fn ready_by_level(&self) -> [u64; Priority::LEVELS] {
        let shared = self;
        core::array::from_fn(|l| {
            let level = Priority::all().nth(l).unwrap_or(Priority::LOWEST);
            let queued: usize = shared.remotes.iter().map(|r| r.stealers.len_at(level)).sum();
            (queued + shared.injectors.len_at(level)) as u64
        })
    }

    fn timed_by_level(&self) -> [u64; Priority::LEVELS] {
        core::array::from_fn(|l| {
            let sum =
                self.remotes.iter().fold(0u64, |acc, r| acc.wrapping_add(r.timed_by_level[l].load(Relaxed)));
            // A level can read negative after a timed task's priority changed (counted
            // at its old level when linked, at its new one when it left the wheel).
            u64::try_from(sum as i64).unwrap_or(0)
        })
    }

    /// The runtime's own timers in the wheels now (the gauges can lag a moment behind).
    fn runtime_timers_waiting(&self) -> u64 {
        let sum = self.remotes.iter().fold(0u64, |acc, r| acc.wrapping_add(r.runtime_timers.load(Relaxed)));
        // Each gauge is exact for its wheel; only a read racing a worker's exit (which
        // zeroes them) could see a removal without its insertion.
        u64::try_from(sum as i64).unwrap_or(0)
    }

    /// See [`Handle::pending`](crate::Handle::pending).
    pub(crate) fn pending_snapshot(&self) -> PendingSnapshot {
        let shared = self;
        // A worker publishes its next due tick after it updates its gauges, so one whose
        // gauges read zero may still show the deadline of a timer it just removed: only
        // workers that hold timed tasks (or timers of the runtime's own) count.
        let next_tick = shared
            .remotes
            .iter()
            .filter(|r| {
                r.runtime_timers.load(Relaxed) != 0 || r.timed_by_level.iter().any(|g| g.load(Relaxed) != 0)
            })
            .map(|r| r.next_due.load(Relaxed))
            .min()
            .unwrap_or(u64::MAX);
        // Queues before wheels: a task moving from a wheel to a queue between the reads is
        // missed, never counted twice.
        let ready = self.ready_by_level();
        let blocking = shared.blocking.gauges();
        PendingSnapshot::new(
            ready,
            self.timed_by_level(),
            shared.retries.waiting.load(Relaxed),
            shared.clock.instant_of(next_tick),
        )
        .with_runtime_timers(self.runtime_timers_waiting())
        .with_schedules(self.schedules_snapshot())
        .with_blocking(blocking.queued, blocking.running)
    }

    /// See [`Handle::metrics`](crate::Handle::metrics).
    pub(crate) fn metrics_snapshot(&self) -> MetricsSnapshot {
        let shared = self;
        let totals = shared.totals();
        let uptime = shared.clock.start().elapsed();
        let uptime_nanos = uptime.as_nanos().max(1) as f64;
        let mut histogram = new_histogram();
        for r in shared.remotes.iter() {
            r.latency.merge_into(&mut histogram);
        }
        // A worker idle right now has its current idle period counted up to `uptime`.
        // The two fields are read without a lock: a period ending between the reads is
        // counted twice or not at all for this one snapshot (hence the clamp).
        let busy_ratio = shared
            .remotes
            .iter()
            .map(|r| {
                let since = r.idle_since.load(Relaxed);
                let current = match since {
                    0 => 0.0,
                    s => (uptime_nanos - (s - 1) as f64).max(0.0),
                };
                let idle = r.idle_nanos.load(Relaxed) as f64 + current;
                (1.0 - idle / uptime_nanos).clamp(0.0, 1.0)
            })
            .collect();
        let panicked = totals.get(Count::Panicked);
        let timed_out = totals.get(Count::TimedOut);
        let retried = shared.retries.retried.load(Relaxed);
        let exhausted = shared.retries.exhausted.load(Relaxed);
        let blocking = shared.blocking.gauges();
        MetricsSnapshot {
            uptime,
            workers: shared.num_workers(),
            // Refusals for room are no submissions (the body went back to the caller).
            submitted: totals.get(Count::Admitted) + totals.get(Count::Rejected),
            started: totals.get(Count::Started) + retried,
            // A retry task that ran out of attempts returns its last error as its output:
            // it is counted as failed, not completed.
            completed: totals.get(Count::Completed).saturating_sub(exhausted),
            failed: panicked + timed_out + exhausted,
            panicked,
            cancelled: totals.get(Count::Cancelled),
            expired: totals.get(Count::Expired),
            timed_out,
            retried,
            rejected: totals.get(Count::Rejected),
            refused_full: totals.get(Count::RefusedFull),
            stolen: totals.get(Count::Stolen),
            runtime_timers: RuntimeTimerCounts::from_totals(&totals),
            queue_depth: self.ready_by_level(),
            timers_pending: self.timed_by_level().iter().sum(),
            runtime_timers_pending: self.runtime_timers_waiting(),
            retry_waiting: shared.retries.waiting.load(Relaxed),
            blocking_queued: blocking.queued.iter().sum(),
            blocking_running: blocking.running,
            blocking_threads: blocking.threads,
            busy_ratio,
            latency: LatencySummary::from_histogram(&histogram),
            schedules: self.schedules_snapshot(),
        }
    }
}
