//! The published figures the report quotes beside each measured one, each saying what it
//! measured and on what ([`SOURCES`]), and the headline rows of the summary with kairos's
//! bar. The report cites no file: every figure is quoted in full with its source.

use crate::peers::PeerKind;

/// What the "published" column's figures measured and on what, for the report's method
/// section: only the first kind is like for like with the tables.
///
/// ```
/// use kairos_bench::report::published::SOURCES;
/// assert!(SOURCES.contains("Go service over Redis") && !SOURCES.contains(".md"));
/// ```
pub const SOURCES: &str = "The \"published\" column says where each figure comes from. \
\"Earlier runs here\": this suite's own scenarios run on tokio, rayon-core and the heap pool \
(in-process, 2 workers, glibc malloc unless it says mimalloc) on the same kind of 2-core VM; \
these are like for like with the tables, give or take the drift between runs. \"Go service \
over Redis\": a distributed scheduler whose every queue operation is a round trip to a Redis \
server over the network, from its own benchmark on its own hardware. \"Python asyncio + \
heapq\": a single-threaded IoT scheduling script, from its article. The tokio blog (6 cores, \
2019) and the timing-wheel crates' figures are their authors', on other hardware. Figures of \
the last three kinds show what users of those systems get, not a race on equal terms: an \
in-process queue operation is not a network round trip. \"kairos bar\" and \"issue N bar\" \
are the project's own targets. Absolute numbers drift between runs on shared machines, so \
compare peers within one report.";

/// Published figures for a (scenario, metric key), as one short text that starts with
/// where they come from (see [`SOURCES`]).
///
/// ```
/// let t = kairos_bench::report::published::lookup("queue-ops", "add_ns").unwrap();
/// assert!(t.starts_with("Go service over Redis"));
/// ```
pub fn lookup(scenario: &str, key: &str) -> Option<&'static str> {
    Some(match (scenario, key) {
        ("spawn", "tasks_per_s") => {
            "earlier runs here, 1M tasks: tokio 1.30-1.45M/s, rayon-core 3.8-4.2M/s, heap pool \
             0.85-1.06M/s; tokio blog (6 cores, 2019): 732 ns per spawn"
        }
        ("fanout", "tasks_per_s") => {
            "earlier runs here, 1M children: tokio 1.40-1.49M/s, rayon-core 4.3-5.0M/s; tokio blog \
             (6 cores, 2019): ~169 ns per chained spawn"
        }
        ("timers", "rss_bytes_per_task") => {
            "earlier runs here, 1M pending: glibc tokio 448 B, heap pool 80 B; mimalloc tokio 258 B, \
             heap pool 97 B"
        }
        ("timers", "insert_per_s") => "earlier runs here, 1M: tokio 0.45-1.46M/s, heap pool 0.6-1.7M/s",
        ("timers", "rss_mb") => "earlier runs here, 10M: tokio 4.27 GB, heap pool 765 MB",
        ("timers", "insert_s") => {
            "earlier runs here, 10M: tokio 22 s, heap pool 14.5 s; aioscheduler (Python asyncio, its \
             docs): 10M tasks over 20 schedulers, no time given"
        }
        ("timers", "cancel_ns") => {
            "earlier runs here: tokio sleep register + cancel ~115 ns; glommio's own benchmark (other \
             hardware): wheel cancel 25 ns"
        }
        ("timer-precision", "lateness_p50") => {
            "earlier runs here, 10k over 2 s: tokio 1075 us, heap pool 67 us"
        }
        ("timer-precision", "lateness_p99") => {
            "earlier runs here, 10k over 2 s: tokio 2433 us, heap pool 329 us"
        }
        ("latency", "latency_p50") => {
            "earlier runs here, 50k/s: tokio 12, rayon-core 8, heap pool 9 us; 200k/s: 5 / 0.7 / 3 us"
        }
        ("latency", "latency_p99") => {
            "earlier runs here, 50k/s: tokio 2513, rayon-core 48, heap pool 96 us; 200k/s: 959 / 9.7 / 16 us"
        }
        ("latency", "latency_p99.9") => {
            "earlier runs here, 50k/s: tokio 6992, rayon-core 1486, heap pool 2798 us; 200k/s: 5923 / 93 / \
             593 us"
        }
        ("priority", "probe_wait_p50") => {
            "earlier runs here, 100k LOWEST tasks: tokio 1.8 s, rayon-core 1.77 s, heap pool 8.5 us"
        }
        ("priority", "probe_wait_p99") => "earlier runs here: heap pool 2.3 ms",
        ("iot", "burst_sched_ms") => "Python asyncio + heapq, one event loop: 10,000 tasks in ~1.8 s",
        ("iot", "burst_tasks_per_s") => "Python asyncio + heapq, one event loop: ~5,555 tasks/s",
        ("iot", "mem_5000_kb" | "heap_5000_kb" | "peak_rss_mb") => {
            "Python asyncio + heapq: ~125 MB peak for 5,000 tasks (whole interpreter)"
        }
        ("iot", "avg_latency_us") => "Python asyncio + heapq: 15-30 ms average",
        ("iot", "runtime_cpu_pct") => "Python asyncio + heapq: 8-12% CPU at peak (whole interpreter)",
        ("queue-ops", "add_ns") => "Go service over Redis (network round trip): 1,047 ns/op",
        ("queue-ops", "remove_ns") => "Go service over Redis (network round trip): 1,156 ns/op",
        ("queue-ops", "get_ns") => "Go service over Redis (network round trip): 234 ns/op",
        ("queue-ops", "update_ns") => "Go service over Redis (network round trip): 2,456 ns/op",
        ("queue-ops", "concurrent_add_ns") => "Go service over Redis (network round trip): 3,123 ns/op",
        ("queue-ops", "concurrent_remove_ns") => "Go service over Redis (network round trip): 4,567 ns/op",
        ("queue-ops", "mixed_ns") => "Go service over Redis (network round trip): 7,890 ns/op",
        ("queue-ops", "submit_p50_us") => "Go service over Redis, end to end: p50 < 5 ms",
        ("queue-ops", "submit_p95_us") => "Go service over Redis, end to end: p95 < 15 ms",
        ("queue-ops", "submit_p99_us") => "Go service over Redis, end to end: p99 < 50 ms",
        ("queue-ops", "submit_p99.9_us") => "Go service over Redis, end to end: p99.9 < 100 ms",
        ("queue-ops", "kb_per_1000" | "heap_kb_per_1000") => {
            "Go service over Redis: 2 MB per 1,000 tasks (+50 MB base, service and Redis)"
        }
        ("queue-ops", "burst_offer_per_s") => "Go service over Redis: burst 5,200 tasks/s",
        ("queue-ops", "burst_first_reject_pending") => {
            "Go service over Redis: backpressure at 10,000 pending"
        }
        ("add-1m", "add_ns") => "Python heapq tutorial: O(log n) add, no figure",
        ("idle", "cpu_pct") => "kairos bar: < 1% of one core",
        ("recurring", "lateness_p99") => "issue 21 bar: <= 200 us at 100k x 1 s",
        ("recurring", "heap_bytes_per_schedule") => "issue 21 bar: <= 128 B per schedule",
        ("idle", "runtime_rss_kb") => "kairos bar: < 4 MB",
        ("cluster", k) => return crate::scenarios::cluster::published::lookup(k),
        _ => return None,
    })
}

/// A bar kairos must meet.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Bar {
    /// No bar: informational.
    None,
    /// At least `f` times as good as `peer` (rate >= f x, or time/bytes <= 1/f).
    Times(PeerKind, f64),
    /// The value is at most this.
    AtMost(f64),
    /// The value is more than this.
    Above(f64),
    /// At least as good as the best other peer that reports the figure, give or take
    /// `slack` in the figure's unit (time/bytes/CPU <= best + slack; a rate >= best -
    /// slack). Not judged when no other peer reports it.
    BestOther(f64),
}

/// One row of the summary table.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Headline {
    /// Scenario name.
    pub scenario: &'static str,
    /// Case name, or `None` for the scenario's first case.
    pub case: Option<&'static str>,
    /// Metric key.
    pub key: &'static str,
    /// Row label.
    pub label: &'static str,
    /// kairos's bar.
    pub bar: Bar,
    /// The bar as text (from ANCHORS).
    pub bar_text: &'static str,
    /// A second bar that must also hold (`Bar::None` for most rows).
    pub bar2: Bar,
}

const fn h(
    scenario: &'static str,
    case: Option<&'static str>,
    key: &'static str,
    label: &'static str,
    bar: Bar,
    bar_text: &'static str,
) -> Headline {
    Headline { scenario, case, key, label, bar, bar_text, bar2: Bar::None }
}

/// The summary's rows, in order.
pub const HEADLINES: &[Headline] = &[
    h(
        "spawn",
        None,
        "tasks_per_s",
        "spawn from outside, tasks/s",
        Bar::Times(PeerKind::Rayon, 2.0),
        ">= 2x rayon-core",
    ),
    h("spawn", None, "cpu_ns_per_task", "spawn from outside, CPU per task", Bar::None, ""),
    h(
        "fanout",
        None,
        "tasks_per_s",
        "fan-out from inside, tasks/s",
        Bar::Times(PeerKind::Rayon, 2.5),
        ">= 2.5x rayon-core",
    ),
    h(
        "timers",
        None,
        "rss_bytes_per_task",
        "timed task pending, RSS bytes each",
        Bar::AtMost(64.0),
        "<= 64 B (mimalloc)",
    ),
    h("timers", None, "heap_bytes_per_task", "timed task pending, heap bytes each", Bar::None, ""),
    h(
        "timers",
        None,
        "insert_per_s",
        "timed task insert rate",
        Bar::Times(PeerKind::HeapPool, 1.0),
        ">= heap-pool (issue 20)",
    ),
    h("timers", Some("10M"), "rss_mb", "10M timed tasks: RSS", Bar::AtMost(700.0), "< 700 MB"),
    h("timers", Some("10M"), "insert_s", "10M timed tasks: insert time", Bar::AtMost(2.0), "< 2 s"),
    h(
        "timers",
        None,
        "heap_kept_after_cancel_per_task",
        "heap kept per task after cancel-all",
        Bar::None,
        "given back",
    ),
    h("timer-precision", None, "lateness_p50", "timer lateness p50", Bar::AtMost(50.0), "<= 50 us"),
    h("timer-precision", None, "lateness_p99", "timer lateness p99", Bar::AtMost(200.0), "<= 200 us"),
    h(
        "timer-precision",
        Some("busy-owner"),
        "lateness_p99",
        "timers registered by a task that then computes 300 ms, lateness p99",
        Bar::AtMost(5000.0),
        "<= 5 ms (issue 20)",
    ),
    h(
        "latency",
        Some("50k/s"),
        "latency_p99",
        "open loop 50k/s, submit-to-start p99",
        Bar::BestOther(0.0),
        "<= best other peer (issue 20)",
    ),
    h(
        "latency",
        Some("50k/s"),
        "cpu_cores",
        "open loop 50k/s, process CPU (cores)",
        Bar::BestOther(0.25),
        "<= best other + 0.25 core",
    ),
    h(
        "latency",
        Some("200k/s"),
        "latency_p99",
        "open loop 200k/s, p99",
        Bar::BestOther(0.0),
        "<= best other peer (issue 20)",
    ),
    h(
        "latency",
        Some("200k/s"),
        "cpu_cores",
        "open loop 200k/s, process CPU (cores)",
        Bar::BestOther(0.25),
        "<= best other + 0.25 core",
    ),
    h(
        "priority",
        Some(crate::scenarios::priority::PROBES_MIMALLOC),
        "probe_wait_p99",
        "HIGHEST probe wait behind LOWEST flood, p99, mimalloc",
        Bar::AtMost(100.0),
        "<= 100 us",
    ),
    h(
        "priority",
        Some(crate::scenarios::priority::PROBES_SYSTEM),
        "probe_wait_p99",
        "HIGHEST probe wait behind LOWEST flood, p99, system allocator",
        Bar::AtMost(100.0),
        "<= 100 us",
    ),
    h(
        "priority",
        Some("starvation"),
        "low_share_pct",
        "LOWEST CPU share under HIGHEST flood",
        Bar::Above(0.0),
        "> 0 (no starvation)",
    ),
    h("iot", None, "burst_tasks_per_s", "IoT: 10,000 messages, tasks/s", Bar::None, ""),
    h("iot", None, "avg_latency_us", "IoT: average message latency", Bar::None, ""),
    h("iot", None, "runtime_cpu_pct", "IoT paced phase: runtime CPU, % of one core", Bar::None, ""),
    h("queue-ops", None, "add_ns", "queue add (timed spawn), per op", Bar::None, ""),
    h("queue-ops", None, "remove_ns", "queue remove (cancel), per op", Bar::None, ""),
    h("add-1m", None, "adds_per_s", "add with random priority, adds/s", Bar::None, ""),
    h(
        "recurring",
        Some("100k/1s"),
        "lateness_p99",
        "100k schedules of 1 s: firing lateness p99",
        Bar::AtMost(200.0),
        "<= 200 us",
    ),
    h(
        "recurring",
        Some("100k/1s"),
        "heap_bytes_per_schedule",
        "100k schedules of 1 s: heap bytes each",
        Bar::AtMost(128.0),
        "<= 128 B",
    ),
    h(
        "recurring",
        Some("100k/1s"),
        "cpu_pct",
        "100k schedules of 1 s: CPU, % of one core",
        Bar::Times(PeerKind::Tokio, 1.0),
        "<= tokio",
    ),
    h("recurring", Some("1000/1ms"), "firings_per_s", "1,000 schedules of 1 ms: firings/s", Bar::None, ""),
    h("idle", None, "cpu_pct", "idle CPU, % of one core", Bar::AtMost(1.0), "< 1%"),
    h("idle", None, "runtime_rss_kb", "idle runtime RSS", Bar::AtMost(4096.0), "< 4 MB"),
];

/// Whether `kairos` meets `bar`, given the peers' values and which way is better
/// (`higher_better`). `None` when it cannot be judged (no bar, or a value is missing).
pub fn meets(
    bar: Bar,
    kairos: Option<f64>,
    peer: impl Fn(PeerKind) -> Option<f64>,
    higher_better: bool,
) -> Option<bool> {
    let k = kairos?;
    match bar {
        Bar::None => None,
        Bar::AtMost(v) => Some(k <= v),
        Bar::Above(v) => Some(k > v),
        Bar::Times(p, f) => {
            let other = peer(p)?;
            Some(if higher_better { k >= f * other } else { k * f <= other })
        }
        Bar::BestOther(slack) => {
            let others = PeerKind::ALL.into_iter().filter(|&p| p != PeerKind::Kairos).filter_map(peer);
            if higher_better {
                let best = others.fold(None, |b: Option<f64>, v| Some(b.map_or(v, |b| b.max(v))))?;
                Some(k >= best - slack)
            } else {
                let best = others.fold(None, |b: Option<f64>, v| Some(b.map_or(v, |b| b.min(v))))?;
                Some(k <= best + slack)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bars_are_judged_both_ways() {
        let peers = |p: PeerKind| match p {
            PeerKind::Rayon => Some(4.0e6),
            PeerKind::Tokio => Some(2000.0),
            _ => None,
        };
        let twice_rayon = Bar::Times(PeerKind::Rayon, 2.0);
        assert_eq!(meets(twice_rayon, Some(9.0e6), peers, true), Some(true));
        assert_eq!(meets(twice_rayon, Some(7.0e6), peers, true), Some(false));
        let tenth_tokio = Bar::Times(PeerKind::Tokio, 10.0);
        assert_eq!(meets(tenth_tokio, Some(150.0), peers, false), Some(true));
        assert_eq!(meets(tenth_tokio, Some(250.0), peers, false), Some(false));
        assert_eq!(meets(Bar::AtMost(64.0), Some(64.0), peers, false), Some(true));
        assert_eq!(meets(Bar::Above(0.0), Some(0.0), peers, false), Some(false));
        assert_eq!(meets(Bar::None, Some(1.0), peers, true), None);
        assert_eq!(meets(Bar::AtMost(1.0), None, peers, true), None);
        assert_eq!(meets(Bar::Times(PeerKind::HeapPool, 1.0), Some(1.0), peers, true), None);
        // Best other: the smallest time among tokio (2000) and rayon (4e6), plus slack.
        assert_eq!(meets(Bar::BestOther(0.0), Some(2000.0), peers, false), Some(true));
        assert_eq!(meets(Bar::BestOther(0.0), Some(2001.0), peers, false), Some(false));
        assert_eq!(meets(Bar::BestOther(5.0), Some(2004.0), peers, false), Some(true));
        // For a rate, the largest (rayon's 4e6); kairos's own value is never a peer's.
        assert_eq!(meets(Bar::BestOther(0.0), Some(3.9e6), peers, true), Some(false));
        assert_eq!(meets(Bar::BestOther(0.0), Some(4.0e6), peers, true), Some(true));
        assert_eq!(meets(Bar::BestOther(0.0), Some(1.0), |_| None, true), None);
    }

    #[test]
    fn every_headline_has_a_known_scenario() {
        for h in HEADLINES {
            assert!(crate::scenarios::Scenario::parse(h.scenario).is_some(), "{}", h.scenario);
        }
        assert!(lookup("spawn", "tasks_per_s").is_some());
        assert!(lookup("spawn", "nope").is_none());
    }

    #[test]
    fn every_published_figure_says_what_it_measured_and_cites_no_file() {
        let sources = ["earlier runs here", "Go service over Redis", "Python", "kairos bar", "issue 21 bar"];
        let keys = [
            ("spawn", "tasks_per_s"),
            ("timer-precision", "lateness_p99"),
            ("iot", "burst_tasks_per_s"),
            ("iot", "runtime_cpu_pct"),
            ("queue-ops", "add_ns"),
            ("queue-ops", "kb_per_1000"),
            ("add-1m", "add_ns"),
            ("idle", "cpu_pct"),
        ];
        for (scenario, key) in keys {
            let text = lookup(scenario, key).unwrap();
            assert!(sources.iter().any(|s| text.starts_with(s)), "{scenario}/{key}: {text}");
            assert!(!text.contains(".md") && !text.contains("shared/"), "{text}");
        }
        assert!(!SOURCES.contains(".md") && !SOURCES.contains("shared/"));
    }
}
