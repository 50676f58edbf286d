//! Tests of metrics snapshots, their Prometheus text, the `metrics` facade export and
//! latency summaries.

use super::prometheus::PromF64;
use super::snapshot::{LatencySummary, MetricsSnapshot};
use super::RuntimeTimerCounts;
use crate::stats::latency::{new_histogram, LatencySampler, MAX_TRACKED_NANOS};
use hdrhistogram::Histogram;
use kairos_rt_core::Priority;
use std::time::Duration;

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
        refused_full: 13,
        stolen: 9,
        runtime_timers: RuntimeTimerCounts { submitted: 40, fired: 30, cancelled: 8, dropped: 0, refused: 0 },
        queue_depth,
        timers_pending: 11,
        runtime_timers_pending: 2,
        retry_waiting: 12,
        blocking_queued: 13,
        blocking_running: 14,
        blocking_threads: 15,
        busy_ratio: vec![0.25, 1.0, 0.0],
        latency: LatencySummary::from_histogram(&h),
        schedules: crate::SchedulesSnapshot {
            active: 3,
            finished: 2,
            stopped_by_shutdown: 2,
            firings: 14,
            firings_run: 13,
            firings_dropped: 1,
            runs: 13,
            skipped: 4,
            max_lateness: Duration::from_micros(250),
            ..Default::default()
        },
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
        let inner = labels.strip_prefix('{').and_then(|l| l.strip_suffix('}')).ok_or("unclosed labels")?;
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
    // And with nothing recorded: no latency quantiles, no busy ratios, but every queue
    // level's series, at 0.
    let empty = MetricsSnapshot {
        queue_depth: [0; Priority::LEVELS],
        busy_ratio: Vec::new(),
        latency: LatencySummary::default(),
        ..m
    };
    let text = empty.to_prometheus();
    check_exposition(&text);
    assert!(!text.contains("quantile"), "{text}");
    assert!(!text.contains("kairos_worker_busy_ratio{"), "{text}");
    for level in 0..Priority::LEVELS {
        assert!(
            text.contains(&format!("\nkairos_queue_depth{{priority=\"{level}\"}} 0\n")),
            "{level}: {text}"
        );
    }
    assert!(text.contains("\nkairos_submit_to_start_seconds_count 0\n"), "{text}");
}

#[test]
fn prometheus_text_has_the_values() {
    let text = snapshot().to_prometheus();
    let lines: Vec<&str> = text.lines().collect();
    for expected in [
        "kairos_schedules_active 3",
        "kairos_schedules_stopped{reason=\"shutdown\"} 2",
        "kairos_schedule_firings_total{outcome=\"run\"} 13",
        "kairos_schedule_lateness_seconds{stat=\"max\"} 0.00025",
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
        "kairos_tasks_refused_full_total 13",
        "kairos_tasks_stolen_total 9",
        "kairos_runtime_timers_submitted_total 40",
        "kairos_runtime_timers_fired_total 30",
        "kairos_runtime_timers_cancelled_total 8",
        "kairos_runtime_timers_dropped_total 0",
        "kairos_runtime_timers_refused_total 0",
        "kairos_timers_pending 11",
        "kairos_runtime_timers_pending 2",
        "kairos_retry_waiting 12",
        "kairos_uptime_seconds 12.5",
        "kairos_workers 3",
        "kairos_queue_depth{priority=\"48\"} 7",
        "kairos_queue_depth{priority=\"3\"} 2",
        "kairos_queue_depth{priority=\"0\"} 0",
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
    // Every level, empty ones at 0.
    assert_eq!(lines.iter().filter(|l| l.starts_with("kairos_queue_depth{")).count(), Priority::LEVELS);
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
    assert_eq!(text.lines().count(), 7, "{text}");
    assert!(text.contains("42 completed"), "{text}");
    assert!(text.contains("8 rejected, 13 refused full"), "{text}");
    assert!(
        text.contains("runtime timers: 40 submitted, 30 fired, 8 cancelled, 0 dropped, 0 refused, 2 pending"),
        "{text}"
    );
    assert!(text.contains("\nschedules: 3 active, 2 finished; 13 runs, 4 skipped, 0 missed"), "{text}");
    assert!(text.contains("9 ready (p48: 7, p3: 2), 11 timed, 12 retry-waiting"), "{text}");
    assert!(text.contains("13 blocking-queued (14 running on 15 blocking threads)"), "{text}");
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
            let labels: Vec<String> = key.labels().map(|l| format!("{}={}", l.key(), l.value())).collect();
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
        assert_eq!(get("kairos_runtime_timers_pending"), 2.0);
        assert_eq!(get("kairos_tasks_refused_full_total"), 13.0);
        assert_eq!(get("kairos_runtime_timers_fired_total"), 30.0);
        assert_eq!(get("kairos_uptime_seconds"), 12.5);
        assert_eq!(get("kairos_queue_depth{priority=48}"), 7.0);
        assert_eq!(get("kairos_queue_depth{priority=3}"), 2.0);
        assert_eq!(get("kairos_queue_depth{priority=0}"), 0.0);
        assert_eq!(values.keys().filter(|k| k.starts_with("kairos_queue_depth{")).count(), 64);
        assert_eq!(get("kairos_worker_busy_ratio{worker=1}"), 1.0);
        assert_eq!(get("kairos_submit_to_start_seconds_count"), 1000.0);
        assert!((get("kairos_submit_to_start_seconds{quantile=0.5}") - 500e-6).abs() < 5e-6);
        assert_eq!(get("kairos_schedules_active"), 3.0);
        assert_eq!(get("kairos_schedules_stopped{reason=shutdown}"), 2.0);
        assert_eq!(get("kairos_schedule_firings_total{outcome=dropped}"), 1.0);
        assert_eq!(get("kairos_schedule_skipped_total"), 4.0);
        assert_eq!(get("kairos_schedule_lateness_seconds{stat=max}"), 250e-6);
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
