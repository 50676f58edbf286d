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

impl Shared {
    /// See [`Handle::pending`](crate::Handle::pending).
    pub(crate) fn pending_snapshot(&self) -> PendingSnapshot {
        let next_due = self.next_timer_due();
        // Queues before wheels: a task moving from a wheel to a queue between the reads is
        // missed, never counted twice.
        let ready = self.ready_by_level();
        let blocking = self.blocking_gauges();
        PendingSnapshot::new(ready, self.pending_timed_by_level(), self.retry_counts().waiting, next_due)
            .with_runtime_timers(self.pending_runtime_timers())
            .with_schedules(self.schedules_snapshot())
            .with_blocking(blocking.queued, blocking.running)
    }

    /// See [`Handle::metrics`](crate::Handle::metrics).
    pub(crate) fn metrics_snapshot(&self) -> MetricsSnapshot {
        let totals = self.totals();
        let uptime = self.started_at().elapsed();
        let uptime_nanos = uptime.as_nanos().max(1) as f64;
        let mut histogram = new_histogram();
        self.merge_latency_into(&mut histogram);
        // A worker idle right now has its current idle period counted up to `uptime`; a
        // period ending during the read may be counted twice or not at all for this one
        // snapshot (hence the clamp).
        let busy_ratio = self
            .idle_nanos_by_worker(uptime_nanos)
            .map(|idle| (1.0 - idle / uptime_nanos).clamp(0.0, 1.0))
            .collect();
        let panicked = totals.get(Count::Panicked);
        let timed_out = totals.get(Count::TimedOut);
        let retries = self.retry_counts();
        let (retried, exhausted) = (retries.retried, retries.exhausted);
        let blocking = self.blocking_gauges();
        MetricsSnapshot {
            uptime,
            workers: self.num_workers(),
            // Refusals for room are no submissions (the body went back to the caller).
            submitted: totals.get(Count::Admitted) + totals.get(Count::Rejected),
            started: totals.get(Count::Started) + retried,
            // A retry task that ran out of attempts returns its last error as its output:
            // it is counted as failed, not completed (and never as a dip: see there).
            completed: self.completed_for_metrics(totals.get(Count::Completed), exhausted),
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
            timers_pending: self.pending_timed_by_level().iter().sum(),
            runtime_timers_pending: self.pending_runtime_timers(),
            retry_waiting: retries.waiting,
            blocking_queued: blocking.queued.iter().sum(),
            blocking_running: blocking.running,
            blocking_threads: blocking.threads,
            busy_ratio,
            latency: LatencySummary::from_histogram(&histogram),
            schedules: self.schedules_snapshot(),
        }
    }
}
