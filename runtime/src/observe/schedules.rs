//! The recurring schedules in the readings: [`Shared::schedules_snapshot`] (through the
//! census the `recurring` layer sets in the runtime's `Shared`), and their families in the
//! Prometheus text.

use super::prometheus::PromF64;
use crate::sched::shared::Shared;
use crate::stats::SchedulesSnapshot;
use std::fmt::Write as _;

impl Shared {
    /// Every schedule of this runtime (all zero if it never had one).
    pub(crate) fn schedules_snapshot(&self) -> SchedulesSnapshot {
        self.schedule_census().map(|census| census.snapshot()).unwrap_or_default()
    }
}

/// One sample of the schedules' metric families: its family (name, help, whether a
/// counter), its label if any, and its value; shared by the Prometheus text and the
/// `metrics` facade export, so both name every metric the same way.
pub(super) struct Sample {
    pub(super) name: &'static str,
    pub(super) help: &'static str,
    pub(super) counter: bool,
    pub(super) label: Option<(&'static str, &'static str)>,
    pub(super) value: f64,
}

impl SchedulesSnapshot {
    /// Every sample, families in order (a family's samples together).
    pub(super) fn samples(&self) -> Vec<Sample> {
        let one = |name, counter, help, value: u64| Sample {
            name,
            help,
            counter,
            label: None,
            value: value as f64,
        };
        let labelled = |name, counter, help, key, values: [(&'static str, f64); 4]| {
            values.map(|(v, value)| Sample { name, help, counter, label: Some((key, v)), value })
        };
        let mut samples = vec![
            one(
                "kairos_schedules_active",
                false,
                "Schedules that will fire again or have a run going.",
                self.active,
            ),
            one("kairos_schedules_finished", false, "Schedules that are over.", self.finished),
        ];
        samples.extend(labelled(
            "kairos_schedules_stopped",
            false,
            "Schedules that are over, by why they stopped.",
            "reason",
            [
                ("cancelled", self.cancelled as f64),
                ("exhausted", self.exhausted as f64),
                ("panic", self.stopped_by_panic as f64),
                ("shutdown", self.stopped_by_shutdown as f64),
            ],
        ));
        samples.extend(labelled(
            "kairos_schedule_firings_total",
            true,
            "Tasks submitted by schedules, and how they ended.",
            "outcome",
            [
                ("submitted", self.firings as f64),
                ("run", self.firings_run as f64),
                ("cancelled", self.firings_cancelled as f64),
                ("dropped", self.firings_dropped as f64),
            ],
        ));
        samples.extend([
            one("kairos_schedule_runs_total", true, "Runs started by schedules.", self.runs),
            one("kairos_schedule_skipped_total", true, "Ticks skipped by the overlap rule.", self.skipped),
            one("kairos_schedule_missed_total", true, "Ticks dropped as missed.", self.missed),
            one("kairos_schedule_panicked_total", true, "Schedule runs that panicked.", self.panicked),
        ]);
        let lateness = |stat, d: std::time::Duration| Sample {
            name: "kairos_schedule_lateness_seconds",
            help: "How long after their due time firings started.",
            counter: false,
            label: Some(("stat", stat)),
            value: d.as_secs_f64(),
        };
        samples.extend([lateness("mean", self.mean_lateness), lateness("max", self.max_lateness)]);
        samples
    }

    /// The snapshot in the Prometheus text exposition format (also part of
    /// [`MetricsSnapshot::to_prometheus`](crate::MetricsSnapshot::to_prometheus), and
    /// published under the same names by `MetricsSnapshot::record` with the `metrics`
    /// feature): gauges `kairos_schedules_active`, `kairos_schedules_finished`,
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
        let mut family = "";
        for sample in self.samples() {
            // Writing to a `String` cannot fail.
            if sample.name != family {
                family = sample.name;
                let kind = if sample.counter { "counter" } else { "gauge" };
                let _ = write!(out, "# HELP {family} {}\n# TYPE {family} {kind}\n", sample.help);
            }
            let value = PromF64(sample.value);
            let _ = match sample.label {
                Some((key, v)) => writeln!(out, "{family}{{{key}=\"{v}\"}} {value}"),
                None => writeln!(out, "{family} {value}"),
            };
        }
        out
    }
}
