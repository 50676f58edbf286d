//! With the `metrics` feature: [`MetricsSnapshot::record`], publishing a snapshot
//! through the `metrics` crate facade under the same names as the text export.

use super::prometheus::{BUSY_RATIO, LATENCY, LATENCY_COUNT, QUEUE_DEPTH};
use super::snapshot::MetricsSnapshot;
use kairos_rt_core::Priority;

/// `"0"` to `"63"`, so that per-level labels need no allocation.
const LEVEL_LABELS: [&str; Priority::LEVELS] = [
    "0", "1", "2", "3", "4", "5", "6", "7", "8", "9", "10", "11", "12", "13", "14", "15", "16", "17", "18",
    "19", "20", "21", "22", "23", "24", "25", "26", "27", "28", "29", "30", "31", "32", "33", "34", "35",
    "36", "37", "38", "39", "40", "41", "42", "43", "44", "45", "46", "47", "48", "49", "50", "51", "52",
    "53", "54", "55", "56", "57", "58", "59", "60", "61", "62", "63",
];

impl MetricsSnapshot {
    /// Publishes the snapshot through the [`metrics`](https://docs.rs/metrics) crate
    /// facade, to whatever recorder (exporter) the application installed, under the same
    /// names as [`to_prometheus`](Self::to_prometheus): counters with
    /// `counter!(name).absolute(value)`, gauges with `gauge!(name, labels).set(value)`.
    ///
    /// Meant to be called periodically (for example from a repeating timer task, or just
    /// before the exporter is scraped) with a fresh
    /// [`Runtime::metrics`](crate::Runtime::metrics) snapshot: the runtime's hot path
    /// never touches the facade, so recording costs nothing there.
    ///
    /// As in the text export, every priority level's `kairos_queue_depth` is set, empty
    /// ones to 0 (so a level that drains does not keep its last value). Differences: the
    /// latency quantiles are gauges `kairos_submit_to_start_seconds{quantile="q"}` and the
    /// sample count a counter `kairos_submit_to_start_seconds_count`, without `_sum`.
    ///
    /// ```
    /// use kairos_rt::{Priority, Runtime};
    /// use metrics::{Counter, Gauge, Histogram, Key, KeyName, Metadata, Recorder, SharedString, Unit};
    /// use std::sync::Mutex;
    ///
    /// /// Remembers the names of the counters registered.
    /// #[derive(Default)]
    /// struct Names(Mutex<Vec<String>>);
    /// impl Recorder for Names {
    ///     fn describe_counter(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
    ///     fn describe_gauge(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
    ///     fn describe_histogram(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
    ///     fn register_counter(&self, key: &Key, _: &Metadata<'_>) -> Counter {
    ///         self.0.lock().unwrap().push(key.name().to_string());
    ///         Counter::noop()
    ///     }
    ///     fn register_gauge(&self, _: &Key, _: &Metadata<'_>) -> Gauge {
    ///         Gauge::noop()
    ///     }
    ///     fn register_histogram(&self, _: &Key, _: &Metadata<'_>) -> Histogram {
    ///         Histogram::noop()
    ///     }
    /// }
    ///
    /// let rt = Runtime::builder().workers(1).build()?;
    /// rt.spawn(Priority::NORMAL, || ()).join().unwrap();
    /// let names = Names::default();
    /// metrics::with_local_recorder(&names, || rt.metrics().record());
    /// assert!(names.0.lock().unwrap().iter().any(|n| n == "kairos_tasks_submitted_total"));
    /// rt.shutdown();
    /// # Ok::<(), kairos_rt::BuildError>(())
    /// ```
    pub fn record(&self) {
        use ::metrics::{counter, describe_counter, describe_gauge, gauge, Unit};

        for (family, value) in self.counters() {
            describe_counter!(family.name, family.help);
            counter!(family.name).absolute(value);
        }
        for (family, value) in self.scalar_gauges() {
            if family.name.ends_with("_seconds") {
                describe_gauge!(family.name, Unit::Seconds, family.help);
            } else {
                describe_gauge!(family.name, family.help);
            }
            gauge!(family.name).set(value);
        }
        describe_gauge!(QUEUE_DEPTH.name, QUEUE_DEPTH.help);
        for (label, &depth) in LEVEL_LABELS.iter().zip(&self.queue_depth) {
            gauge!(QUEUE_DEPTH.name, "priority" => *label).set(depth as f64);
        }
        describe_gauge!(BUSY_RATIO.name, BUSY_RATIO.help);
        for (worker, &ratio) in self.busy_ratio.iter().enumerate() {
            gauge!(BUSY_RATIO.name, "worker" => worker.to_string()).set(ratio);
        }
        describe_gauge!(LATENCY.name, Unit::Seconds, LATENCY.help);
        if self.latency.samples != 0 {
            for (q, d) in self.latency.quantiles() {
                gauge!(LATENCY.name, "quantile" => q).set(d.as_secs_f64());
            }
        }
        describe_counter!(LATENCY_COUNT, "Tasks whose submit-to-start latency was sampled.");
        counter!(LATENCY_COUNT).absolute(self.latency.samples);
        for s in self.schedules.samples() {
            let labels: Vec<(&'static str, &'static str)> = s.label.into_iter().collect();
            if s.counter {
                describe_counter!(s.name, s.help);
                counter!(s.name, &labels).absolute(s.value as u64);
            } else {
                describe_gauge!(s.name, s.help);
                gauge!(s.name, &labels).set(s.value);
            }
        }
    }
}
