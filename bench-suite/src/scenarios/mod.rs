//! The scenarios: what is measured, and the data a run hands back.
//!
//! Each scenario is a generic function `run::<P: Peer>(&Ctx)` in its own module, so every
//! peer runs the same code. A scenario has one or more **cases** (a size or a rate, e.g.
//! `1M` or `50k/s`); the runner runs every case of every scenario in its own process, once
//! per round and peer, and each run returns one [`RunOutput`]: named [`Metric`]s, optional
//! [`Series`] (latency CDFs) and notes.
//!
//! | scenario | module | what it measures |
//! | --- | --- | --- |
//! | `spawn` | [`spawn`] | N empty tasks submitted from outside, until all ran: tasks/s |
//! | `fanout` | [`fanout`] | one task spawns N children from inside: tasks/s |
//! | `timers` | [`timers`] | N timed tasks due in an hour: insert rate, bytes per pending task (RSS and heap), cancel all, memory given back |
//! | `timer-precision` | [`timer_precision`], [`busy_owner`] | timers spread over a window: lateness p50/p99/max; timers registered by a task that then computes 300 ms (`busy-owner`) |
//! | `latency` | [`latency`] | open-loop submission at a fixed rate: submit-to-start percentiles |
//! | `priority` | [`priority`] | a flood of LOWEST 20 us tasks with HIGHEST probes (probe wait), and a HIGHEST flood over LOWEST work (the low level's CPU share: starvation) |
//! | `iot` | [`iot`] | simulated devices with jitter, a priority mix and delayed messages: the IoT scheduler's table |
//! | `queue-ops` | [`queue_ops`] | the distributed scheduler's table: add, remove, get-by-id, update, concurrent add/remove, mixed, submission latency, memory per 1,000 tasks, and a burst into a bounded queue |
//! | `add-1m` | [`add_1m`] | add N tasks with random priorities 1..10 (the tutorial's scaling test) |
//! | `idle` | [`idle`] | CPU, wake-ups and RSS of an idle runtime |
//! | `recurring` | [`recurring`] | 100k schedules of 1 s (lateness, bytes per schedule, CPU) and 1,000 of 1 ms (firings/s, ticks not run, memory flat) |
//! | `cluster` | [`cluster`] | kairos-cluster processes on a Redis of its own: enqueue, processing, latency, lateness, memory, CPU, priority, and the fault run |

use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use crate::alloc::AllocKind;
use crate::measure::Completion;
use crate::peers::{Feature, Peer, PeerConfig, PeerKind, Prio};

pub mod add_1m;
pub mod busy_owner;
pub mod cluster;
pub mod fanout;
pub mod idle;
pub mod iot;
pub mod latency;
pub mod priority;
pub mod queue_ops;
pub mod recurring;
pub mod spawn;
pub mod timer_precision;
pub mod timers;

/// Full or reduced sizes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// The sizes of the published figures (1M tasks, 10M timers, ...).
    Full,
    /// Reduced sizes: the whole suite in under 3 minutes on 2 cores.
    Quick,
}

impl Mode {
    /// `full` or `quick`.
    pub fn name(self) -> &'static str {
        match self {
            Mode::Full => "full",
            Mode::Quick => "quick",
        }
    }

    /// Picks the full or the quick value.
    pub fn pick<T>(self, full: T, quick: T) -> T {
        match self {
            Mode::Full => full,
            Mode::Quick => quick,
        }
    }
}

/// The scenarios, by `--scenario` name.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Scenario {
    /// See [`spawn`].
    Spawn,
    /// See [`fanout`].
    Fanout,
    /// See [`timers`].
    Timers,
    /// See [`timer_precision`].
    TimerPrecision,
    /// See [`latency`].
    Latency,
    /// See [`priority`].
    Priority,
    /// See [`iot`].
    Iot,
    /// See [`queue_ops`].
    QueueOps,
    /// See [`add_1m`].
    Add1m,
    /// See [`idle`].
    Idle,
    /// See [`recurring`].
    Recurring,
    /// See [`cluster`].
    Cluster,
}

impl Scenario {
    /// Every scenario, in the order the runner runs them.
    pub const ALL: [Scenario; 12] = [
        Scenario::Spawn,
        Scenario::Fanout,
        Scenario::Timers,
        Scenario::TimerPrecision,
        Scenario::Latency,
        Scenario::Priority,
        Scenario::Iot,
        Scenario::QueueOps,
        Scenario::Add1m,
        Scenario::Idle,
        Scenario::Recurring,
        Scenario::Cluster,
    ];

    /// The `--scenario` name.
    pub fn name(self) -> &'static str {
        match self {
            Scenario::Spawn => "spawn",
            Scenario::Fanout => "fanout",
            Scenario::Timers => "timers",
            Scenario::TimerPrecision => "timer-precision",
            Scenario::Latency => "latency",
            Scenario::Priority => "priority",
            Scenario::Iot => "iot",
            Scenario::QueueOps => "queue-ops",
            Scenario::Add1m => "add-1m",
            Scenario::Idle => "idle",
            Scenario::Recurring => "recurring",
            Scenario::Cluster => "cluster",
        }
    }

    /// Parses a `--scenario` name (underscores and case are forgiven).
    pub fn parse(s: &str) -> Option<Scenario> {
        let s = s.trim().to_ascii_lowercase().replace('_', "-");
        Scenario::ALL.into_iter().find(|sc| sc.name() == s)
    }

    /// One line on what the scenario measures.
    pub fn about(self) -> &'static str {
        match self {
            Scenario::Spawn => "empty tasks submitted from outside, until all ran",
            Scenario::Fanout => "one task spawns children from inside",
            Scenario::Timers => "timed tasks due in an hour: insert rate, bytes per pending task, cancel all",
            Scenario::TimerPrecision => {
                "timers spread over a window, and timers behind a busy worker: lateness"
            }
            Scenario::Latency => "open-loop submission at a fixed rate: submit-to-start",
            Scenario::Priority => {
                "LOWEST flood + HIGHEST probes (probe wait); HIGHEST flood over LOWEST work (starvation)"
            }
            Scenario::Iot => "simulated IoT devices: jitter, priority mix, delayed messages",
            Scenario::QueueOps => {
                "queue operations: add, remove, get, update, concurrent, mixed, bounded burst"
            }
            Scenario::Add1m => "add tasks with random priorities 1..10",
            Scenario::Idle => "CPU, wake-ups and RSS of an idle runtime",
            Scenario::Recurring => {
                "schedules at a fixed period: lateness, bytes per schedule, CPU; overload at 1 ms"
            }
            Scenario::Cluster => "kairos-cluster node and producer processes on one Redis, and the fault run",
        }
    }

    /// The cases run in `mode`, each in its own process.
    pub fn cases(self, mode: Mode) -> Vec<String> {
        let s = |v: &[&str]| v.iter().map(|c| c.to_string()).collect();
        match self {
            Scenario::Spawn | Scenario::Fanout | Scenario::Add1m => {
                vec![fmt_count(mode.pick(1_000_000, 250_000))]
            }
            Scenario::Timers => mode.pick(s(&["1M", "10M"]), s(&["200k"])),
            Scenario::TimerPrecision => {
                mode.pick(s(&["10k/2s", busy_owner::CASE]), s(&["5k/1s", busy_owner::CASE]))
            }
            Scenario::Latency => s(&["10k/s", "50k/s", "200k/s"]),
            Scenario::Priority => s(&[priority::PROBES_MIMALLOC, priority::PROBES_SYSTEM, "starvation"]),
            Scenario::Iot => s(&["1000 devices", "memory"]),
            Scenario::QueueOps => mode.pick(s(&["100k", "memory", "burst"]), s(&["20k", "memory", "burst"])),
            Scenario::Idle => mode.pick(s(&["1s"]), s(&["0.5s"])),
            Scenario::Recurring => s(&["100k/1s", "1000/1ms"]),
            Scenario::Cluster => s(&cluster::CASES),
        }
    }

    /// The allocator the child process of `case` must use whatever `--alloc` says
    /// (`None`: the run's): the `priority` probe case runs once under each, so the report
    /// shows them side by side.
    pub fn alloc_for(self, case: &str) -> Option<AllocKind> {
        match (self, case) {
            (Scenario::Priority, priority::PROBES_MIMALLOC) => Some(AllocKind::Mimalloc),
            (Scenario::Priority, priority::PROBES_SYSTEM) => Some(AllocKind::System),
            _ => None,
        }
    }

    /// Whether the child process of `case` counts heap bytes (see [`crate::alloc`]): the
    /// cases that report heap bytes. The counters' cost lands in what they time as well
    /// (`timers`' insert rate, for every peer alike), except in `recurring`, which stops
    /// counting before its timed window.
    pub fn counts_heap(self, case: &str) -> bool {
        match self {
            Scenario::Timers => true,
            Scenario::QueueOps | Scenario::Iot => case == "memory",
            Scenario::Recurring => case.ends_with("/1s"),
            _ => false,
        }
    }

    /// Rounds to run of each case when `requested` were asked for: the `cluster`
    /// scenario runs one in quick mode (each of its cases starts whole processes and runs
    /// for ~20 s; its figures are of one run, not medians).
    pub fn rounds(self, mode: Mode, requested: u32) -> u32 {
        match (self, mode) {
            (Scenario::Cluster, Mode::Quick) => requested.min(1),
            _ => requested,
        }
    }

    /// How long one run may take before the runner kills it.
    pub fn timeout(self, mode: Mode) -> Duration {
        let base = match self {
            Scenario::Timers => 600,
            Scenario::Cluster => return Duration::from_secs(mode.pick(600, 110)),
            _ => 120,
        };
        Duration::from_secs(mode.pick(base, 60))
    }
}

/// Parses `250k`, `1M`, `10M`, `1000` (and `10k/s`, `5k/1s`: the part before `/`).
pub fn parse_count(s: &str) -> Option<u64> {
    let s = s.split('/').next()?.trim();
    let (num, mul) = match s.chars().last()? {
        'k' | 'K' => (&s[..s.len() - 1], 1_000.0),
        'M' | 'm' => (&s[..s.len() - 1], 1_000_000.0),
        'G' | 'g' => (&s[..s.len() - 1], 1_000_000_000.0),
        _ => (s, 1.0),
    };
    let v: f64 = num.parse().ok()?;
    (v >= 0.0).then(|| (v * mul).round() as u64)
}

/// Formats a count the way case names spell it: `250k`, `1M`, `10M`, `999`.
pub fn fmt_count(n: u64) -> String {
    if n >= 1_000_000 && n % 1_000_000 == 0 {
        format!("{}M", n / 1_000_000)
    } else if n >= 1_000 && n % 1_000 == 0 {
        format!("{}k", n / 1_000)
    } else {
        n.to_string()
    }
}

/// Which way a metric is better.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Better {
    /// Larger is better (rates).
    Higher,
    /// Smaller is better (times, bytes, latencies).
    Lower,
    /// Informational (counts).
    Neither,
}

/// One named figure of one run.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Metric {
    /// Stable key, e.g. `tasks_per_s`.
    pub key: String,
    /// Human label, e.g. `tasks/s (submit to all done)`.
    pub label: String,
    /// Unit, e.g. `tasks/s`, `us`, `B`.
    pub unit: String,
    /// The value.
    pub value: f64,
    /// Which way is better.
    pub better: Better,
}

/// A curve: latency CDF points `(quantile, value)`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Series {
    /// What the curve shows, e.g. `submit-to-start`.
    pub name: String,
    /// Unit of the values.
    pub unit: String,
    /// `(quantile in 0..=1, value)` points, quantile ascending.
    pub points: Vec<(f64, f64)>,
}

/// What a successful run measured.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct CaseResult {
    /// The figures.
    pub metrics: Vec<Metric>,
    /// Curves for plots.
    pub series: Vec<Series>,
    /// Remarks (what a peer could not do, shutdown accounting, ...).
    pub notes: Vec<String>,
}

impl CaseResult {
    /// Adds a metric.
    pub fn metric(&mut self, key: &str, label: &str, unit: &str, value: f64, better: Better) {
        self.metrics.push(Metric { key: key.into(), label: label.into(), unit: unit.into(), value, better });
    }

    /// Adds percentile metrics `{prefix}_p50` ... from a histogram of nanoseconds, in
    /// microseconds, plus the CDF as a series.
    pub fn latency(&mut self, prefix: &str, what: &str, h: &hdrhistogram::Histogram<u64>, quantiles: &[f64]) {
        for &q in quantiles {
            let name = quantile_name(q);
            let v = if q >= 1.0 { h.max() } else { h.value_at_quantile(q) };
            self.metric(
                &format!("{prefix}_{name}"),
                &format!("{what} {name}"),
                "us",
                v as f64 / 1000.0,
                Better::Lower,
            );
        }
        self.series.push(Series {
            name: what.to_string(),
            unit: "us".into(),
            points: crate::measure::cdf_points(h, 1000.0),
        });
    }

    /// Adds a note.
    pub fn note(&mut self, s: impl Into<String>) {
        self.notes.push(s.into());
    }
}

/// `p50`, `p99`, `p99.9`, `max`.
pub fn quantile_name(q: f64) -> String {
    if q >= 1.0 {
        "max".into()
    } else {
        let p = q * 100.0;
        if (p - p.round()).abs() < 1e-9 {
            format!("p{}", p.round())
        } else {
            format!("p{}", (p * 100.0).round() / 100.0)
        }
    }
}

/// Why a run produced no figures.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Skip {
    /// The peer lacks a feature the scenario needs.
    NotSupported(String),
    /// Something went wrong (a timeout, a build error, a panic).
    Failed(String),
}

/// The outcome of a run.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// Figures measured.
    Ok,
    /// The peer cannot do what the scenario needs.
    NotSupported,
    /// The run failed.
    Failed,
}

/// The one JSON line a child process prints.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RunOutput {
    /// Peer name.
    pub peer: String,
    /// Scenario name.
    pub scenario: String,
    /// Case name.
    pub case: String,
    /// Round number (0-based).
    pub round: u32,
    /// Outcome.
    pub status: Status,
    /// Why not supported / failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Figures, notes and curves (empty unless `status` is `Ok`).
    #[serde(flatten)]
    pub result: CaseResult,
    /// Allocator of the child process.
    pub alloc: AllocKind,
    /// Worker threads.
    pub workers: usize,
    /// Wall time of the whole child process run, seconds.
    pub wall_s: f64,
}

/// Everything a scenario needs to know about its run.
#[derive(Clone, Debug)]
pub struct Ctx {
    /// Which scenario.
    pub scenario: Scenario,
    /// Which case (see [`Scenario::cases`]).
    pub case: String,
    /// Full or quick sizes.
    pub mode: Mode,
    /// Worker threads for the peer.
    pub workers: usize,
}

impl Ctx {
    /// The count in the case name (`250k` -> 250,000), or `default`.
    pub fn case_count(&self, default: u64) -> u64 {
        parse_count(&self.case).unwrap_or(default)
    }

    /// Builds the peer with this run's worker count and `max_pending`.
    pub fn build<P: Peer>(&self, max_pending: Option<usize>) -> Result<P, Skip> {
        let cfg = PeerConfig { workers: self.workers, max_pending };
        if max_pending.is_some() && !P::supports(Feature::Bounded) {
            return Err(Skip::NotSupported(format!("{} has no bounded submission queue", P::KIND)));
        }
        P::build(&cfg).map_err(Skip::Failed)
    }
}

/// `Err(NotSupported)` naming the first of `features` that `P` lacks.
pub fn require<P: Peer>(features: &[Feature]) -> Result<(), Skip> {
    match features.iter().find(|f| !P::supports(**f)) {
        Some(f) => Err(Skip::NotSupported(format!("{} has no {}", P::KIND, f.name()))),
        None => Ok(()),
    }
}

/// Runs `n` empty tasks and waits for them: warms the workers, the allocator and the
/// runtime's queues before a measurement.
pub fn warm_up<P: Peer>(peer: &P, n: u64) -> Result<(), Skip> {
    let done = Completion::leak();
    for _ in 0..n {
        peer.spawn(Prio::NORMAL, move || done.hit());
    }
    wait_done(done, n, Duration::from_secs(30), "warm-up")?;
    Ok(())
}

/// Waits for `n` hits on `done`; a `Failed` skip naming `what` on timeout.
pub fn wait_done(done: &Completion, n: u64, timeout: Duration, what: &str) -> Result<Instant, Skip> {
    done.wait(n, timeout).ok_or_else(|| {
        Skip::Failed(format!("{what}: timed out after {timeout:?} with {} of {n} tasks done", done.count()))
    })
}

/// Waits until the process has been quiet (under 5% of one core) for one 20 ms window, at
/// most `max`; returns when that quiet window began. Used after submitting work that a
/// runtime finishes in the background (tokio registers a timer at the task's first poll).
pub fn wait_quiet(max: Duration) -> Instant {
    let start = Instant::now();
    let window = Duration::from_millis(20);
    loop {
        let t0 = Instant::now();
        let c0 = crate::measure::cpu_time();
        std::thread::sleep(window);
        let c1 = crate::measure::cpu_time();
        let wall = t0.elapsed();
        if (c1 - c0).as_secs_f64() < 0.05 * wall.as_secs_f64() || start.elapsed() > max {
            return t0;
        }
    }
}

/// Runs case `ctx` with peer `P`.
pub fn run_case<P: Peer>(ctx: &Ctx) -> Result<CaseResult, Skip> {
    match ctx.scenario {
        Scenario::Spawn => spawn::run::<P>(ctx),
        Scenario::Fanout => fanout::run::<P>(ctx),
        Scenario::Timers => timers::run::<P>(ctx),
        Scenario::TimerPrecision if ctx.case == busy_owner::CASE => busy_owner::run::<P>(ctx),
        Scenario::TimerPrecision => timer_precision::run::<P>(ctx),
        Scenario::Latency => latency::run::<P>(ctx),
        Scenario::Priority => priority::run::<P>(ctx),
        Scenario::Iot => iot::run::<P>(ctx),
        Scenario::QueueOps => queue_ops::run::<P>(ctx),
        Scenario::Add1m => add_1m::run::<P>(ctx),
        Scenario::Idle => idle::run::<P>(ctx),
        Scenario::Recurring => recurring::run::<P>(ctx),
        Scenario::Cluster => cluster::run::<P>(ctx),
    }
}

/// Runs case `ctx` with the peer named `kind`.
pub fn run_case_for(kind: PeerKind, ctx: &Ctx) -> Result<CaseResult, Skip> {
    crate::with_peer!(kind, P => run_case::<P>(ctx))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scenario_names_round_trip() {
        for s in Scenario::ALL {
            assert_eq!(Scenario::parse(s.name()), Some(s));
            assert!(!s.cases(Mode::Quick).is_empty());
            assert!(!s.cases(Mode::Full).is_empty());
        }
        assert_eq!(Scenario::parse("timer_precision"), Some(Scenario::TimerPrecision));
        assert_eq!(Scenario::parse("ADD-1M"), Some(Scenario::Add1m));
        assert_eq!(Scenario::parse("nope"), None);
    }

    #[test]
    fn counts_parse_and_format() {
        assert_eq!(parse_count("250k"), Some(250_000));
        assert_eq!(parse_count("1M"), Some(1_000_000));
        assert_eq!(parse_count("10M"), Some(10_000_000));
        assert_eq!(parse_count("50k/s"), Some(50_000));
        assert_eq!(parse_count("5k/1s"), Some(5_000));
        assert_eq!(parse_count("0.5s"), None);
        assert_eq!(parse_count("x"), None);
        assert_eq!(fmt_count(1_000_000), "1M");
        assert_eq!(fmt_count(250_000), "250k");
        assert_eq!(fmt_count(1234), "1234");
        for n in [1_000, 20_000, 1_000_000, 10_000_000] {
            assert_eq!(parse_count(&fmt_count(n)), Some(n));
        }
    }

    #[test]
    fn quantile_names() {
        assert_eq!(quantile_name(0.5), "p50");
        assert_eq!(quantile_name(0.99), "p99");
        assert_eq!(quantile_name(0.999), "p99.9");
        assert_eq!(quantile_name(1.0), "max");
    }

    #[test]
    fn run_output_round_trips_through_json() {
        let mut r = CaseResult::default();
        r.metric("tasks_per_s", "tasks/s", "tasks/s", 1.5e6, Better::Higher);
        r.note("hello");
        let out = RunOutput {
            peer: "tokio".into(),
            scenario: "spawn".into(),
            case: "1M".into(),
            round: 2,
            status: Status::Ok,
            reason: None,
            result: r,
            alloc: AllocKind::Mimalloc,
            workers: 2,
            wall_s: 0.5,
        };
        let line = serde_json::to_string(&out).unwrap();
        assert!(!line.contains('\n'));
        let back: RunOutput = serde_json::from_str(&line).unwrap();
        assert_eq!(back, out);
    }
}
