//! The Prometheus text exposition of a [`MetricsSnapshot`], and the metric families
//! (names, help texts, kinds) that the `metrics` facade export shares with it, so both
//! name every metric the same way.

use super::snapshot::MetricsSnapshot;
use std::fmt::{self, Write as _};

/// `# HELP` text and type of a metric family.
pub(super) struct Family {
    pub(super) name: &'static str,
    pub(super) help: &'static str,
    kind: &'static str,
}

const fn counter(name: &'static str, help: &'static str) -> Family {
    Family { name, help, kind: "counter" }
}

const fn gauge(name: &'static str, help: &'static str) -> Family {
    Family { name, help, kind: "gauge" }
}

pub(super) const QUEUE_DEPTH: Family =
    gauge("kairos_queue_depth", "Ready tasks queued, by priority level (every level, empty ones at 0).");
pub(super) const BUSY_RATIO: Family =
    gauge("kairos_worker_busy_ratio", "Share of the uptime a worker spent running tasks (0 to 1).");
pub(super) const LATENCY: Family = Family {
    name: "kairos_submit_to_start_seconds",
    help: "Time from submission (or due time) to the start of a run, sampled 1 task in 64.",
    kind: "summary",
};
pub(super) const LATENCY_COUNT: &str = "kairos_submit_to_start_seconds_count";
pub(super) const LATENCY_SUM: &str = "kairos_submit_to_start_seconds_sum";

impl MetricsSnapshot {
    /// Every counter, with its family.
    pub(super) fn counters(&self) -> [(Family, u64); 17] {
        let timers = &self.runtime_timers;
        [
            (
                counter(
                    "kairos_tasks_submitted_total",
                    "Tasks submitted, including those refused at shutdown; not refusals for room \
                     (kairos_tasks_refused_full_total) nor the runtime's own timers.",
                ),
                self.submitted,
            ),
            (counter("kairos_tasks_started_total", "Task runs started, one per attempt."), self.started),
            (counter("kairos_tasks_completed_total", "Tasks that finished successfully."), self.completed),
            (
                counter(
                    "kairos_tasks_failed_total",
                    "Tasks that ended in failure: panicked, timed out, or out of retries.",
                ),
                self.failed,
            ),
            (counter("kairos_tasks_panicked_total", "Tasks whose body panicked."), self.panicked),
            (
                counter("kairos_tasks_cancelled_total", "Tasks cancelled through their handle."),
                self.cancelled,
            ),
            (
                counter("kairos_tasks_expired_total", "Tasks dropped unrun because their deadline passed."),
                self.expired,
            ),
            (
                counter(
                    "kairos_tasks_timed_out_total",
                    "Tasks stopped because they ran past their time limit.",
                ),
                self.timed_out,
            ),
            (counter("kairos_task_retries_total", "Attempts after the first."), self.retried),
            (
                counter(
                    "kairos_tasks_rejected_total",
                    "Tasks refused because the runtime was shutting down (counted as submitted too).",
                ),
                self.rejected,
            ),
            (
                counter(
                    "kairos_tasks_refused_full_total",
                    "Submissions refused because max_pending tasks already waited; the task was \
                     handed back to the caller (not counted as submitted).",
                ),
                self.refused_full,
            ),
            (counter("kairos_tasks_stolen_total", "Tasks taken from another worker's queue."), self.stolen),
            (
                counter(
                    "kairos_runtime_timers_submitted_total",
                    "The runtime's own timers asked for (sleeps, timeouts, run-timeout limits, \
                     retry backoffs), not counted as tasks.",
                ),
                timers.submitted,
            ),
            (
                counter("kairos_runtime_timers_fired_total", "The runtime's own timers that fired."),
                timers.fired,
            ),
            (
                counter(
                    "kairos_runtime_timers_cancelled_total",
                    "The runtime's own timers cancelled before they fired (the sleep was dropped).",
                ),
                timers.cancelled,
            ),
            (
                counter(
                    "kairos_runtime_timers_dropped_total",
                    "The runtime's own timers still waiting at shutdown, dropped unfired.",
                ),
                timers.dropped,
            ),
            (
                counter(
                    "kairos_runtime_timers_refused_total",
                    "The runtime's own timers asked for while the runtime was shutting down.",
                ),
                timers.refused,
            ),
        ]
    }

    /// Every gauge without labels, with its family.
    pub(super) fn scalar_gauges(&self) -> [(Family, f64); 8] {
        [
            (
                gauge(
                    "kairos_timers_pending",
                    "Tasks waiting for their due time (not the runtime's own timers).",
                ),
                self.timers_pending as f64,
            ),
            (
                gauge(
                    "kairos_runtime_timers_pending",
                    "The runtime's own timers waiting: pending sleeps, timeouts, run-timeout \
                     limits and retry backoffs.",
                ),
                self.runtime_timers_pending as f64,
            ),
            (
                gauge("kairos_retry_waiting", "Tasks waiting for their next retry attempt."),
                self.retry_waiting as f64,
            ),
            (gauge("kairos_uptime_seconds", "Time since the runtime was built."), self.uptime.as_secs_f64()),
            (gauge("kairos_workers", "Worker threads."), self.workers as f64),
            (
                gauge("kairos_blocking_queued", "spawn_blocking jobs waiting for a blocking thread."),
                self.blocking_queued as f64,
            ),
            (
                gauge("kairos_blocking_running", "spawn_blocking jobs running on a blocking thread."),
                self.blocking_running as f64,
            ),
            (
                gauge("kairos_blocking_threads", "Threads of the blocking pool, idle or running."),
                self.blocking_threads as f64,
            ),
        ]
    }

    /// The snapshot in the Prometheus text exposition format (version 0.0.4), ready to be
    /// served on a `/metrics` endpoint with content type
    /// `text/plain; version=0.0.4`.
    ///
    /// Every family has a `# HELP` and a `# TYPE` line; names start with `kairos_`,
    /// counters end in `_total` and times are in seconds:
    ///
    /// - counters `kairos_tasks_{submitted,started,completed,failed,panicked,cancelled,
    ///   expired,timed_out,rejected,refused_full,stolen}_total`, `kairos_task_retries_total`
    ///   and, for the runtime's own timers (not tasks),
    ///   `kairos_runtime_timers_{submitted,fired,cancelled,dropped,refused}_total`;
    /// - gauges `kairos_timers_pending`, `kairos_runtime_timers_pending`,
    ///   `kairos_retry_waiting`, `kairos_uptime_seconds`, `kairos_workers`,
    ///   `kairos_blocking_{queued,running,threads}`,
    ///   `kairos_worker_busy_ratio{worker="i"}` (one per worker) and
    ///   `kairos_queue_depth{priority="N"}`, one sample for **every** level 0 to 63 (an
    ///   empty level reads 0, so every series exists from the first scrape);
    /// - summary `kairos_submit_to_start_seconds` with quantiles 0.5, 0.9, 0.99, 0.999 and
    ///   1 (the maximum), `_sum` and `_count` (the number of samples); the quantiles are
    ///   left out while there are no samples;
    /// - the recurring schedules' families `kairos_schedules_*` and `kairos_schedule_*`
    ///   (see [`SchedulesSnapshot::to_prometheus`](crate::SchedulesSnapshot::to_prometheus)).
    ///
    /// ```
    /// # let rt = kairos_rt::Runtime::builder().workers(1).build().unwrap();
    /// let text = rt.metrics().to_prometheus();
    /// assert!(text.contains("# TYPE kairos_tasks_completed_total counter\n"));
    /// ```
    pub fn to_prometheus(&self) -> String {
        let mut out = Prom(String::with_capacity(4096));
        for (family, value) in self.counters() {
            out.family(&family);
            out.sample(family.name, None, value);
        }
        for (family, value) in self.scalar_gauges() {
            out.family(&family);
            out.sample(family.name, None, PromF64(value));
        }
        out.family(&QUEUE_DEPTH);
        for (level, &depth) in self.queue_depth.iter().enumerate().rev() {
            out.sample(QUEUE_DEPTH.name, Some(("priority", &level)), depth);
        }
        out.family(&BUSY_RATIO);
        for (worker, &ratio) in self.busy_ratio.iter().enumerate() {
            out.sample(BUSY_RATIO.name, Some(("worker", &worker)), PromF64(ratio));
        }
        out.family(&LATENCY);
        if self.latency.samples != 0 {
            for (q, d) in self.latency.quantiles() {
                out.sample(LATENCY.name, Some(("quantile", &q)), PromF64(d.as_secs_f64()));
            }
        }
        out.sample(LATENCY_SUM, None, PromF64(self.latency.sum().as_secs_f64()));
        out.sample(LATENCY_COUNT, None, self.latency.samples);
        out.0.push_str(&self.schedules.to_prometheus());
        out.0
    }
}

/// A Prometheus text exposition being written.
struct Prom(String);

impl Prom {
    fn family(&mut self, f: &Family) {
        // Writing to a `String` cannot fail.
        let _ = write!(self.0, "# HELP {} {}\n# TYPE {} {}\n", f.name, f.help, f.name, f.kind);
    }

    fn sample(&mut self, name: &str, label: Option<(&str, &dyn fmt::Display)>, value: impl fmt::Display) {
        let _ = match label {
            Some((key, v)) => writeln!(self.0, "{name}{{{key}=\"{v}\"}} {value}"),
            None => writeln!(self.0, "{name} {value}"),
        };
    }
}

/// An `f64` as Prometheus parses it: plain decimal, `NaN`, `+Inf` or `-Inf`.
pub(super) struct PromF64(pub(super) f64);

impl fmt::Display for PromF64 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let v = self.0;
        if v.is_nan() {
            f.write_str("NaN")
        } else if v.is_infinite() {
            f.write_str(if v > 0.0 { "+Inf" } else { "-Inf" })
        } else {
            // Rust's shortest round-trip decimal; never an exponent, never "inf".
            write!(f, "{v}")
        }
    }
}
