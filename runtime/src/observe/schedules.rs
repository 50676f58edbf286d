//! The recurring schedules in the readings: [`Shared::schedules_snapshot`] (through the
//! census the `recurring` layer sets in `Shared::schedules`), and their families in the
//! Prometheus text.

use crate::sched::shared::Shared;
use crate::stats::SchedulesSnapshot;
use std::fmt::Write as _;

impl Shared {
    /// Every schedule of this runtime (all zero if it never had one).
    pub(crate) fn schedules_snapshot(&self) -> SchedulesSnapshot {
        self.schedules.get().map(|census| census.snapshot()).unwrap_or_default()
    }
}

impl SchedulesSnapshot {
    /// The snapshot in the Prometheus text exposition format (also part of
    /// [`MetricsSnapshot::to_prometheus`](crate::MetricsSnapshot::to_prometheus)):
    /// gauges `kairos_schedules_active`, `kairos_schedules_finished`,
    /// `kairos_schedules_stopped{reason=...}` (the finished ones by how they stopped:
    /// `cancelled`, `exhausted`, `panic`, `shutdown`),
    /// `kairos_schedule_lateness_seconds{stat="mean"|"max"}`; counters
    /// `kairos_schedule_firings_total{outcome=...}` (`submitted`, `run`, `cancelled`,
    /// `dropped`), `kairos_schedule_runs_total`, `kairos_schedule_skipped_total`,
    /// `kairos_schedule_missed_total` and `kairos_schedule_panicked_total`.
    ///
    /// ```
    /// let rt = kairos_rt::Runtime::builder().workers(1).build()?;
    /// let text = rt.handle().schedules().to_prometheus();
    /// assert!(text.contains("\nkairos_schedule_runs_total 0\n"));
    /// assert!(text.contains("\nkairos_schedules_stopped{reason=\"shutdown\"} 0\n"));
    /// # Ok::<(), kairos_rt::BuildError>(())
    /// ```
    pub fn to_prometheus(&self) -> String {
        let mut out = String::with_capacity(2048);
        // Writing to a `String` cannot fail.
        let mut family = |name: &str, kind: &str, help: &str, samples: &[(&str, String)]| {
            let _ = write!(out, "# HELP {name} {help}\n# TYPE {name} {kind}\n");
            for (labels, value) in samples {
                let _ = writeln!(out, "{name}{labels} {value}");
            }
        };
        let one = |v: u64| [("", v.to_string())];
        family(
            "kairos_schedules_active",
            "gauge",
            "Schedules that will fire again or have a run going.",
            &one(self.active),
        );
        family("kairos_schedules_finished", "gauge", "Schedules that are over.", &one(self.finished));
        family(
            "kairos_schedules_stopped",
            "gauge",
            "Schedules that are over, by why they stopped.",
            &[
                ("{reason=\"cancelled\"}", self.cancelled.to_string()),
                ("{reason=\"exhausted\"}", self.exhausted.to_string()),
                ("{reason=\"panic\"}", self.stopped_by_panic.to_string()),
                ("{reason=\"shutdown\"}", self.stopped_by_shutdown.to_string()),
            ],
        );
        family(
            "kairos_schedule_firings_total",
            "counter",
            "Tasks submitted by schedules, and how they ended.",
            &[
                ("{outcome=\"submitted\"}", self.firings.to_string()),
                ("{outcome=\"run\"}", self.firings_run.to_string()),
                ("{outcome=\"cancelled\"}", self.firings_cancelled.to_string()),
                ("{outcome=\"dropped\"}", self.firings_dropped.to_string()),
            ],
        );
        family("kairos_schedule_runs_total", "counter", "Runs started by schedules.", &one(self.runs));
        family(
            "kairos_schedule_skipped_total",
            "counter",
            "Ticks skipped by the overlap rule.",
            &one(self.skipped),
        );
        family("kairos_schedule_missed_total", "counter", "Ticks dropped as missed.", &one(self.missed));
        family(
            "kairos_schedule_panicked_total",
            "counter",
            "Schedule runs that panicked.",
            &one(self.panicked),
        );
        family(
            "kairos_schedule_lateness_seconds",
            "gauge",
            "How long after their due time firings started.",
            &[
                ("{stat=\"mean\"}", self.mean_lateness.as_secs_f64().to_string()),
                ("{stat=\"max\"}", self.max_lateness.as_secs_f64().to_string()),
            ],
        );
        out
    }
}
