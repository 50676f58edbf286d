//! [`MetricsSnapshot`]: counters and gauges of a runtime, their Prometheus text export and
//! (with the `metrics` feature) their publication through the `metrics` crate facade; and
//! [`LatencySummary`], the percentiles of the workers' latency samplers
//! (`stats::latency`).
//!
//! Nothing here is on the task hot path.

use std::fmt::{self, Write as _};
use std::time::Duration;

use hdrhistogram::Histogram;
use kairos_rt_core::Priority;

/// Percentiles of the time from a task's submission (or due time, for timed tasks) to the
/// start of its run, over the runtime's whole life.
///
/// Estimated from one task in 64 (see [`samples`](Self::samples)), with 2 significant
/// digits of precision (each value is within 1% of the true one); latencies above 60 s
/// are counted as 60 s. When there are no samples, every duration is zero.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct LatencySummary {
    /// How many tasks were timed (a sample of all the tasks started).
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
    pub fn sum(&self) -> Duration {
        Duration::from_secs_f64(self.mean.as_secs_f64() * self.samples as f64)
    }

    /// `(quantile, value)` pairs, as exported: 0.5, 0.9, 0.99, 0.999 and 1 (the maximum).
    fn quantiles(&self) -> [(&'static str, Duration); 5] {
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

    /// Tasks submitted, including those refused (counted in `rejected` too) (counter).
    pub submitted: u64,
    /// Task runs started by a worker, one per attempt; a task that expires unrun does not
    /// count (counter).
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
    /// Tasks refused at submission (counter).
    pub rejected: u64,
    /// Steals from another worker's queue (counter): each moves a batch of tasks.
    pub stolen: u64,

    /// Ready tasks queued at each priority level; index = level (gauge).
    pub queue_depth: [u64; Priority::LEVELS],
    /// Tasks waiting for their due time (gauge), including the runtime's own timers:
    /// pending sleeps, run-timeout limits and retry backoffs (see
    /// [`PendingSnapshot`](crate::PendingSnapshot)).
    pub timers_pending: u64,
    /// Tasks waiting for their next retry attempt (gauge).
    pub retry_waiting: u64,
    /// For each worker, the share of [`uptime`](Self::uptime) it spent running tasks,
    /// `0.0..=1.0` (gauge).
    pub busy_ratio: Vec<f64>,
    /// Submit-to-start latency percentiles.
    pub latency: LatencySummary,
}

/// `# HELP` text and type of a metric family.
struct Family {
    name: &'static str,
    help: &'static str,
    kind: &'static str,
}

const fn counter(name: &'static str, help: &'static str) -> Family {
    Family { name, help, kind: "counter" }
}

const fn gauge(name: &'static str, help: &'static str) -> Family {
    Family { name, help, kind: "gauge" }
}

const QUEUE_DEPTH: Family = gauge("kairos_queue_depth", "Ready tasks queued, by priority level.");
const BUSY_RATIO: Family =
    gauge("kairos_worker_busy_ratio", "Share of the uptime a worker spent running tasks (0 to 1).");
const LATENCY: Family = Family {
    name: "kairos_submit_to_start_seconds",
    help: "Time from submission (or due time) to the start of a run, sampled 1 task in 64.",
    kind: "summary",
};
const LATENCY_COUNT: &str = "kairos_submit_to_start_seconds_count";
const LATENCY_SUM: &str = "kairos_submit_to_start_seconds_sum";

/// `"0"` to `"63"`, so that per-level labels need no allocation.
#[cfg(feature = "metrics")]
const LEVEL_LABELS: [&str; Priority::LEVELS] = [
    "0", "1", "2", "3", "4", "5", "6", "7", "8", "9", "10", "11", "12", "13", "14", "15", "16", "17", "18",
    "19", "20", "21", "22", "23", "24", "25", "26", "27", "28", "29", "30", "31", "32", "33", "34", "35",
    "36", "37", "38", "39", "40", "41", "42", "43", "44", "45", "46", "47", "48", "49", "50", "51", "52",
    "53", "54", "55", "56", "57", "58", "59", "60", "61", "62", "63",
];

impl MetricsSnapshot {
    /// Ready tasks queued over all levels.
    pub fn queue_depth_total(&self) -> u64 {
        self.queue_depth.iter().sum()
    }

    /// Ready tasks queued at `priority`.
    pub fn queue_depth_at(&self, priority: Priority) -> u64 {
        self.queue_depth[priority.index()]
    }

    /// Every counter, with its family.
    fn counters(&self) -> [(Family, u64); 11] {
        [
            (
                counter("kairos_tasks_submitted_total", "Tasks submitted, including refused ones."),
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
            (counter("kairos_tasks_rejected_total", "Tasks refused at submission."), self.rejected),
            (counter("kairos_tasks_stolen_total", "Tasks taken from another worker's queue."), self.stolen),
        ]
    }

    /// Every gauge without labels, with its family.
    fn scalar_gauges(&self) -> [(Family, f64); 4] {
        [
            (gauge("kairos_timers_pending", "Tasks waiting for their due time."), self.timers_pending as f64),
            (
                gauge("kairos_retry_waiting", "Tasks waiting for their next retry attempt."),
                self.retry_waiting as f64,
            ),
            (gauge("kairos_uptime_seconds", "Time since the runtime was built."), self.uptime.as_secs_f64()),
            (gauge("kairos_workers", "Worker threads."), self.workers as f64),
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
    ///   expired,timed_out,rejected,stolen}_total` and `kairos_task_retries_total`;
    /// - gauges `kairos_timers_pending`, `kairos_retry_waiting`, `kairos_uptime_seconds`,
    ///   `kairos_workers`, `kairos_worker_busy_ratio{worker="i"}` (one per worker) and
    ///   `kairos_queue_depth{priority="N"}`, emitted **only for non-empty levels** (an
    ///   absent level is empty: sum with `sum(kairos_queue_depth) or vector(0)`);
    /// - summary `kairos_submit_to_start_seconds` with quantiles 0.5, 0.9, 0.99, 0.999 and
    ///   1 (the maximum), `_sum` and `_count` (the number of samples); the quantiles are
    ///   left out while there are no samples.
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
            if depth != 0 {
                out.sample(QUEUE_DEPTH.name, Some(("priority", &level)), depth);
            }
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
        out.0
    }

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
    /// Differences from the text export: every priority level's `kairos_queue_depth` is
    /// set, empty ones to 0 (so a level that drains does not keep its last value); the
    /// latency quantiles are gauges `kairos_submit_to_start_seconds{quantile="q"}` and the
    /// sample count a counter `kairos_submit_to_start_seconds_count`, without `_sum`.
    #[cfg(feature = "metrics")]
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
struct PromF64(f64);

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

/// A few lines for people, for example:
///
/// ```text
/// kairos: 4 workers, up 12.5s
/// tasks: 100 submitted, 98 started, 90 completed, 3 failed (1 panicked, 1 timed out), 2 cancelled, 0 expired, 4 retried, 0 rejected, 12 stolen
/// pending: 5 ready (p63: 1, p32: 4), 3 timed, 1 retry-waiting
/// busy: 12% 40% 3% 0%
/// submit-to-start (1234 samples): p50 12µs, p90 40µs, p99 200µs, p99.9 1.2ms, max 3ms
/// ```
impl fmt::Display for MetricsSnapshot {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "kairos: {} workers, up {:.1?}", self.workers, self.uptime)?;
        writeln!(
            f,
            "tasks: {} submitted, {} started, {} completed, {} failed ({} panicked, {} timed out), \
             {} cancelled, {} expired, {} retried, {} rejected, {} stolen",
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
            self.stolen
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
        writeln!(f, ", {} timed, {} retry-waiting", self.timers_pending, self.retry_waiting)?;
        f.write_str("busy:")?;
        for ratio in &self.busy_ratio {
            write!(f, " {:.0}%", ratio * 100.0)?;
        }
        f.write_str("\n")?;
        let l = &self.latency;
        if l.samples == 0 {
            write!(f, "submit-to-start: no samples yet")
        } else {
            write!(
                f,
                "submit-to-start ({} samples): p50 {:?}, p90 {:?}, p99 {:?}, p99.9 {:?}, max {:?}",
                l.samples, l.p50, l.p90, l.p99, l.p999, l.max
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stats::latency::{new_histogram, LatencySampler, MAX_TRACKED_NANOS};

    fn snapshot() -> MetricsSnapshot {
        let mut queue_depth = [0; Priority::LEVELS];
        queue_depth[Priority::HIGH.index()] = 7;
        queue_depth[3] = 2;
        let mut h = new_histogram();
        for us in 1..=1000u64 {
            h.record(us * 1000).unwrap();
        }
        MetricsSnapshot {
            uptime: Duration::from_millis(12_500),
            workers: 3,
            submitted: 100,
            started: 60,
            completed: 42,
            failed: 5,
            panicked: 3,
            cancelled: 4,
            expired: 1,
            timed_out: 2,
            retried: 6,
            rejected: 8,
            stolen: 9,
            queue_depth,
            timers_pending: 11,
            retry_waiting: 12,
            busy_ratio: vec![0.25, 1.0, 0.0],
            latency: LatencySummary::from_histogram(&h),
        }
    }

    /// `^[a-z_]+$`, non-empty.
    fn is_snake(s: &str) -> bool {
        !s.is_empty() && s.bytes().all(|b| b.is_ascii_lowercase() || b == b'_')
    }

    /// `^kairos_[a-z_]+(\{[a-z_]+="[^"]*"(,[a-z_]+="[^"]*")*\})? [0-9.eE+-]+$`, returning
    /// the metric name.
    fn parse_sample(line: &str) -> Result<&str, String> {
        let (series, value) = line.rsplit_once(' ').ok_or("no space")?;
        if value.is_empty() || !value.bytes().all(|b| b.is_ascii_digit() || b".eE+-".contains(&b)) {
            return Err(format!("bad value {value:?}"));
        }
        value.parse::<f64>().map_err(|e| format!("value {value:?}: {e}"))?;
        let (name, labels) = match series.find('{') {
            Some(i) => (&series[..i], Some(&series[i..])),
            None => (series, None),
        };
        let rest = name.strip_prefix("kairos_").ok_or("no kairos_ prefix")?;
        if !is_snake(rest) {
            return Err(format!("bad name {name:?}"));
        }
        if let Some(labels) = labels {
            let inner =
                labels.strip_prefix('{').and_then(|l| l.strip_suffix('}')).ok_or("unclosed labels")?;
            let mut rest = inner;
            loop {
                let (key, after) = rest.split_once("=\"").ok_or("label without =\"")?;
                if !is_snake(key) {
                    return Err(format!("bad label name {key:?}"));
                }
                let (_value, after) = after.split_once('"').ok_or("unterminated label value")?;
                if after.is_empty() {
                    break;
                }
                rest = after.strip_prefix(',').ok_or("labels not separated by ,")?;
            }
        }
        Ok(name)
    }

    /// The family a sample belongs to (a summary's `_sum` and `_count` belong to it).
    fn family_of<'a>(name: &'a str, types: &std::collections::HashMap<String, String>) -> &'a str {
        for suffix in ["_sum", "_count"] {
            if let Some(base) = name.strip_suffix(suffix) {
                if types.get(base).map(String::as_str) == Some("summary") {
                    return base;
                }
            }
        }
        name
    }

    fn check_exposition(text: &str) {
        use std::collections::HashMap;
        assert!(text.ends_with('\n'));
        let mut help: HashMap<String, usize> = HashMap::new();
        let mut types: HashMap<String, String> = HashMap::new();
        let mut type_count: HashMap<String, usize> = HashMap::new();
        let mut sampled: Vec<String> = Vec::new();
        for line in text.lines() {
            if let Some(rest) = line.strip_prefix("# HELP ") {
                let (name, text) = rest.split_once(' ').expect("HELP has text");
                assert!(!text.is_empty() && !text.contains('\\'), "{line}");
                assert!(!sampled.iter().any(|s| s == name), "HELP after samples: {line}");
                *help.entry(name.to_owned()).or_default() += 1;
            } else if let Some(rest) = line.strip_prefix("# TYPE ") {
                let (name, kind) = rest.split_once(' ').expect("TYPE has a kind");
                assert!(["counter", "gauge", "summary"].contains(&kind), "{line}");
                assert!(!sampled.iter().any(|s| s == name), "TYPE after samples: {line}");
                if kind == "counter" {
                    assert!(name.ends_with("_total"), "counter without _total: {line}");
                }
                if name.contains("seconds") {
                    assert!(name.ends_with("_seconds"), "{line}");
                }
                types.insert(name.to_owned(), kind.to_owned());
                *type_count.entry(name.to_owned()).or_default() += 1;
            } else {
                assert!(!line.starts_with('#'), "unknown comment {line:?}");
                let name = parse_sample(line).unwrap_or_else(|e| panic!("{e}: {line:?}"));
                let family = family_of(name, &types);
                assert_eq!(help.get(family), Some(&1), "no single HELP before {line:?}");
                assert_eq!(type_count.get(family), Some(&1), "no single TYPE before {line:?}");
                sampled.push(family.to_owned());
            }
        }
        assert_eq!(help.keys().collect::<std::collections::BTreeSet<_>>(), types.keys().collect());
        assert!(help.values().all(|&n| n == 1), "{help:?}");
        assert!(type_count.values().all(|&n| n == 1), "{type_count:?}");
    }

    #[test]
    fn sample_line_checker_rejects_bad_lines() {
        for bad in [
            "kairos_x",
            "kairos_x 1 2x",
            "other_x 1",
            "kairos_X 1",
            "kairos_x{a=\"1\" 1",
            "kairos_x{a=1} 1",
            "kairos_x{a=\"1\"b=\"2\"} 1",
            "kairos_x NaN",
            "kairos_x 1,5",
        ] {
            assert!(parse_sample(bad).is_err(), "{bad}");
        }
        assert_eq!(parse_sample("kairos_x{a=\"1\",b_c=\"\"} 1.5e-3"), Ok("kairos_x"));
    }

    #[test]
    fn prometheus_text_is_well_formed() {
        let m = snapshot();
        let text = m.to_prometheus();
        check_exposition(&text);
        // And with nothing recorded: no latency quantiles, empty gauge families.
        let empty = MetricsSnapshot {
            queue_depth: [0; Priority::LEVELS],
            busy_ratio: Vec::new(),
            latency: LatencySummary::default(),
            ..m
        };
        let text = empty.to_prometheus();
        check_exposition(&text);
        assert!(!text.contains("quantile"), "{text}");
        assert!(!text.contains("kairos_queue_depth{"), "{text}");
        assert!(text.contains("\nkairos_submit_to_start_seconds_count 0\n"), "{text}");
    }

    #[test]
    fn prometheus_text_has_the_values() {
        let text = snapshot().to_prometheus();
        let lines: Vec<&str> = text.lines().collect();
        for expected in [
            "kairos_tasks_submitted_total 100",
            "kairos_tasks_started_total 60",
            "kairos_tasks_completed_total 42",
            "kairos_tasks_failed_total 5",
            "kairos_tasks_panicked_total 3",
            "kairos_tasks_cancelled_total 4",
            "kairos_tasks_expired_total 1",
            "kairos_tasks_timed_out_total 2",
            "kairos_task_retries_total 6",
            "kairos_tasks_rejected_total 8",
            "kairos_tasks_stolen_total 9",
            "kairos_timers_pending 11",
            "kairos_retry_waiting 12",
            "kairos_uptime_seconds 12.5",
            "kairos_workers 3",
            "kairos_queue_depth{priority=\"48\"} 7",
            "kairos_queue_depth{priority=\"3\"} 2",
            "kairos_worker_busy_ratio{worker=\"0\"} 0.25",
            "kairos_worker_busy_ratio{worker=\"1\"} 1",
            "kairos_worker_busy_ratio{worker=\"2\"} 0",
            "kairos_submit_to_start_seconds_count 1000",
            "# TYPE kairos_tasks_completed_total counter",
            "# TYPE kairos_queue_depth gauge",
            "# TYPE kairos_submit_to_start_seconds summary",
        ] {
            assert!(lines.contains(&expected), "missing {expected:?} in\n{text}");
        }
        // Only non-empty levels.
        assert_eq!(lines.iter().filter(|l| l.starts_with("kairos_queue_depth{")).count(), 2);
        // Quantiles in seconds, within the histogram's precision.
        let quantile = |q: &str| -> f64 {
            let prefix = format!("kairos_submit_to_start_seconds{{quantile=\"{q}\"}} ");
            let line = lines.iter().find(|l| l.starts_with(&prefix)).unwrap_or_else(|| panic!("{q}"));
            line[prefix.len()..].parse().unwrap()
        };
        // 2 significant figures: within 1%.
        assert!((quantile("0.5") - 500e-6).abs() < 5e-6, "{}", quantile("0.5"));
        assert!((quantile("0.99") - 990e-6).abs() < 10e-6, "{}", quantile("0.99"));
        assert!((quantile("1") - 1000e-6).abs() < 10e-6, "{}", quantile("1"));
        let sum_line = lines.iter().find(|l| l.starts_with("kairos_submit_to_start_seconds_sum ")).unwrap();
        let sum: f64 = sum_line.rsplit(' ').next().unwrap().parse().unwrap();
        // 1 + 2 + ... + 1000 µs = 0.5005 s.
        assert!((sum - 0.5005).abs() < 0.005, "{sum}");
    }

    #[test]
    fn prometheus_floats_parse() {
        for (v, s) in [
            (0.0, "0"),
            (1.0, "1"),
            (0.25, "0.25"),
            (1e-9, "0.000000001"),
            (f64::NAN, "NaN"),
            (f64::INFINITY, "+Inf"),
            (f64::NEG_INFINITY, "-Inf"),
        ] {
            assert_eq!(PromF64(v).to_string(), s);
        }
        let tiny = PromF64(1.5e-300).to_string();
        assert_eq!(tiny.parse::<f64>().unwrap(), 1.5e-300);
    }

    #[test]
    fn latency_summary_of_known_values() {
        let mut h = new_histogram();
        for us in 1..=1000u64 {
            h.record(us * 1000).unwrap();
        }
        let s = LatencySummary::from_histogram(&h);
        assert_eq!(s.samples, 1000);
        let near = |d: Duration, us: u64| {
            let (got, want) = (d.as_nanos() as u64, us * 1000);
            // 2 significant figures: within 1%.
            assert!(got.abs_diff(want) <= want / 100, "{d:?} vs {us} µs");
        };
        near(s.p50, 500);
        near(s.p90, 900);
        near(s.p99, 990);
        near(s.p999, 999);
        near(s.max, 1000);
        assert!(h.equivalent(s.max.as_nanos() as u64, 1_000_000));
        // (1 + 1000) / 2 µs.
        let mean = s.mean.as_nanos() as u64;
        assert!(mean.abs_diff(500_500) <= 500, "{:?}", s.mean);
        assert!(s.p50 <= s.p90 && s.p90 <= s.p99 && s.p99 <= s.p999 && s.p999 <= s.max);
        assert!((s.sum().as_secs_f64() - 0.5005).abs() < 0.001);
    }

    #[test]
    fn latency_summary_of_nothing_is_zero() {
        let s = LatencySummary::from_histogram(&new_histogram());
        assert_eq!(s, LatencySummary::default());
        assert_eq!(s.samples, 0);
        assert_eq!(s.max, Duration::ZERO);
        assert_eq!(s.sum(), Duration::ZERO);
    }

    #[test]
    fn sampler_records_and_merges() {
        let a = LatencySampler::new();
        let b = LatencySampler::new();
        for n in [1_000, 2_000, 3_000] {
            a.record(n);
        }
        b.record(10_000);
        b.record(0);
        let mut all = new_histogram();
        a.merge_into(&mut all);
        b.merge_into(&mut all);
        assert_eq!(all.len(), 5);
        assert_eq!(all.count_at(2_000), 1);
        assert_eq!(all.count_at(0), 1);
        assert!(all.equivalent(all.max(), 10_000));
        // Merging reads; the samplers keep their samples.
        a.merge_into(&mut all);
        assert_eq!(all.len(), 8);
        assert_eq!(format!("{a:?}"), "LatencySampler { samples: 3 }");
    }

    #[test]
    fn sampler_saturates_out_of_range_values() {
        let s = LatencySampler::new();
        s.record(u64::MAX);
        s.record(3_600_000_000_000); // An hour.
        let mut h = new_histogram();
        s.merge_into(&mut h);
        assert_eq!(h.len(), 2);
        let summary = LatencySummary::from_histogram(&h);
        let max = summary.max.as_nanos() as u64;
        assert!(h.equivalent(max, MAX_TRACKED_NANOS), "{:?}", summary.max);
    }

    #[test]
    fn merge_into_a_narrower_histogram_saturates() {
        let s = LatencySampler::new();
        s.record(5_000_000_000);
        s.record(10);
        let mut narrow = Histogram::<u64>::new_with_bounds(1, 1_000_000, 3).unwrap();
        s.merge_into(&mut narrow);
        assert_eq!(narrow.len(), 2);
        assert!(narrow.equivalent(narrow.max(), 1_000_000));
    }

    #[test]
    fn display_is_compact() {
        let text = snapshot().to_string();
        assert_eq!(text.lines().count(), 5, "{text}");
        assert!(text.contains("42 completed"), "{text}");
        assert!(text.contains("9 ready (p48: 7, p3: 2), 11 timed, 12 retry-waiting"), "{text}");
        assert!(text.contains("busy: 25% 100% 0%"), "{text}");
        assert!(text.contains("(1000 samples)"), "{text}");
        let empty = MetricsSnapshot {
            queue_depth: [0; Priority::LEVELS],
            latency: LatencySummary::default(),
            ..snapshot()
        };
        let text = empty.to_string();
        assert!(text.contains("pending: 0 ready, 11 timed"), "{text}");
        assert!(text.contains("no samples yet"), "{text}");
    }

    #[cfg(feature = "metrics")]
    mod facade {
        use super::*;
        use ::metrics::{
            Counter, CounterFn, Gauge, GaugeFn, Key, KeyName, Metadata, Recorder, SharedString, Unit,
        };
        use std::collections::BTreeMap;
        use std::sync::{Arc, Mutex};

        /// Every value set, by `name{k=v,...}`; and the described names.
        #[derive(Default)]
        struct Store {
            values: Mutex<BTreeMap<String, f64>>,
            described: Mutex<Vec<String>>,
        }

        struct Handle {
            key: String,
            store: Arc<Store>,
        }

        impl CounterFn for Handle {
            fn increment(&self, value: u64) {
                *self.store.values.lock().unwrap().entry(self.key.clone()).or_default() += value as f64;
            }
            fn absolute(&self, value: u64) {
                let mut values = self.store.values.lock().unwrap();
                let v = values.entry(self.key.clone()).or_default();
                *v = v.max(value as f64);
            }
        }

        impl GaugeFn for Handle {
            fn increment(&self, value: f64) {
                *self.store.values.lock().unwrap().entry(self.key.clone()).or_default() += value;
            }
            fn decrement(&self, value: f64) {
                *self.store.values.lock().unwrap().entry(self.key.clone()).or_default() -= value;
            }
            fn set(&self, value: f64) {
                self.store.values.lock().unwrap().insert(self.key.clone(), value);
            }
        }

        struct TestRecorder(Arc<Store>);

        impl TestRecorder {
            fn handle(&self, key: &Key) -> Arc<Handle> {
                let labels: Vec<String> =
                    key.labels().map(|l| format!("{}={}", l.key(), l.value())).collect();
                let key = if labels.is_empty() {
                    key.name().to_owned()
                } else {
                    format!("{}{{{}}}", key.name(), labels.join(","))
                };
                Arc::new(Handle { key, store: self.0.clone() })
            }
        }

        impl Recorder for TestRecorder {
            fn describe_counter(&self, key: KeyName, _: Option<Unit>, _: SharedString) {
                self.0.described.lock().unwrap().push(key.as_str().to_owned());
            }
            fn describe_gauge(&self, key: KeyName, _: Option<Unit>, _: SharedString) {
                self.0.described.lock().unwrap().push(key.as_str().to_owned());
            }
            fn describe_histogram(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
            fn register_counter(&self, key: &Key, _: &Metadata<'_>) -> Counter {
                Counter::from_arc(self.handle(key))
            }
            fn register_gauge(&self, key: &Key, _: &Metadata<'_>) -> Gauge {
                Gauge::from_arc(self.handle(key))
            }
            fn register_histogram(&self, _: &Key, _: &Metadata<'_>) -> ::metrics::Histogram {
                ::metrics::Histogram::noop()
            }
        }

        #[test]
        fn record_publishes_through_the_facade() {
            let store = Arc::new(Store::default());
            let recorder = TestRecorder(store.clone());
            let m = snapshot();
            ::metrics::with_local_recorder(&recorder, || m.record());
            let values = store.values.lock().unwrap().clone();
            let get = |k: &str| *values.get(k).unwrap_or_else(|| panic!("{k} not recorded: {values:?}"));
            assert_eq!(get("kairos_tasks_completed_total"), 42.0);
            assert_eq!(get("kairos_task_retries_total"), 6.0);
            assert_eq!(get("kairos_tasks_stolen_total"), 9.0);
            assert_eq!(get("kairos_timers_pending"), 11.0);
            assert_eq!(get("kairos_uptime_seconds"), 12.5);
            assert_eq!(get("kairos_queue_depth{priority=48}"), 7.0);
            assert_eq!(get("kairos_queue_depth{priority=3}"), 2.0);
            assert_eq!(get("kairos_queue_depth{priority=0}"), 0.0);
            assert_eq!(values.keys().filter(|k| k.starts_with("kairos_queue_depth{")).count(), 64);
            assert_eq!(get("kairos_worker_busy_ratio{worker=1}"), 1.0);
            assert_eq!(get("kairos_submit_to_start_seconds_count"), 1000.0);
            assert!((get("kairos_submit_to_start_seconds{quantile=0.5}") - 500e-6).abs() < 5e-6);
            assert!(values.keys().all(|k| k.starts_with("kairos_")), "{values:?}");
            let described = store.described.lock().unwrap();
            assert!(described.iter().any(|d| d == "kairos_tasks_completed_total"));
            assert!(described.iter().any(|d| d == "kairos_queue_depth"));
            drop(described);

            // A later snapshot: counters move up, a drained level goes back to 0.
            let later = MetricsSnapshot { completed: 50, queue_depth: [0; Priority::LEVELS], ..snapshot() };
            ::metrics::with_local_recorder(&recorder, || later.record());
            let values = store.values.lock().unwrap();
            assert_eq!(values["kairos_tasks_completed_total"], 50.0);
            assert_eq!(values["kairos_queue_depth{priority=48}"], 0.0);
        }
    }
}
