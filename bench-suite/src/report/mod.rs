//! The report: medians over rounds, tables, `report.md`, `report.json` and SVG plots.
//!
//! [`summarize`] folds the raw runs into one [`CaseSummary`] per (scenario, case): for each
//! peer either the median (and range) of every metric over the rounds that succeeded, or
//! why it was not supported / failed. Tables put the peers side by side with kairos's ratio
//! to the best other peer (`>1` means kairos is better, whichever way "better" points for
//! that metric) and the published figure. The summary table holds the headline rows of
//! [`published::HEADLINES`] with kairos's bar and whether it was met.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use serde::Serialize;

use crate::alloc::AllocKind;
use crate::args::Options;
use crate::machine::{Machine, Versions};
use crate::measure::median;
use crate::peers::PeerKind;
use crate::scenarios::{Better, Metric, Mode, RunOutput, Scenario, Series, Status};

pub mod plots;
pub mod published;
pub mod table;

pub use table::{fmt_ratio, fmt_value, Table};

/// The task body and method, quoted in the report.
pub const METHOD: &str = "Each (peer, scenario case, round) runs in its own process \
(the runner re-executes itself), so memory figures start from a fresh heap; rounds are \
interleaved across peers and the tables quote medians. Every peer gets the same worker \
count, the same allocator and the same task body: throughput tasks add one to a \
per-thread, cache-padded counter slot (`fetch_add(1, Release)`, ~3 ns, uncontended) that \
the waiting thread sums every 50-100 us; latency tasks also store `now - submitted` into \
their own pre-allocated slot. Peers without priorities run the priority scenarios with \
the levels ignored; a scenario that needs a feature a peer lacks says \"not supported\".";

/// The median of one metric over the rounds that measured it.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct Cell {
    /// Median over rounds.
    pub median: f64,
    /// Smallest value.
    pub min: f64,
    /// Largest value.
    pub max: f64,
    /// Rounds that measured it.
    pub rounds: usize,
}

/// What one peer did in one case.
#[derive(Clone, Debug, PartialEq)]
pub enum Outcome {
    /// At least one round measured figures.
    Measured {
        /// Medians by metric key.
        cells: BTreeMap<String, Cell>,
        /// Notes of the median round, plus failures of other rounds.
        notes: Vec<String>,
        /// Curves of the median round.
        series: Vec<Series>,
    },
    /// The peer cannot do what the scenario needs.
    NotSupported(String),
    /// Every round failed.
    Failed(String),
    /// No run of this peer in this case.
    Missing,
}

/// Name, unit and direction of a metric.
#[derive(Clone, Debug, PartialEq)]
pub struct MetricInfo {
    /// Stable key.
    pub key: String,
    /// Label.
    pub label: String,
    /// Unit.
    pub unit: String,
    /// Which way is better.
    pub better: Better,
}

/// Every peer's outcome in one (scenario, case).
#[derive(Clone, Debug, PartialEq)]
pub struct CaseSummary {
    /// Scenario name.
    pub scenario: String,
    /// Case name.
    pub case: String,
    /// Metrics in the order the scenario reports them.
    pub metrics: Vec<MetricInfo>,
    /// Outcome per peer, in the run's peer order.
    pub peers: Vec<(PeerKind, Outcome)>,
}

impl CaseSummary {
    /// The median of `key` for `peer`, if measured.
    pub fn value(&self, peer: PeerKind, key: &str) -> Option<f64> {
        self.peers.iter().find(|(p, _)| *p == peer).and_then(|(_, o)| match o {
            Outcome::Measured { cells, .. } => cells.get(key).map(|c| c.median),
            _ => None,
        })
    }

    /// The metric named `key`.
    pub fn metric(&self, key: &str) -> Option<&MetricInfo> {
        self.metrics.iter().find(|m| m.key == key)
    }

    /// kairos's ratio to the best other peer for `key` (`>1`: kairos better).
    pub fn kairos_ratio(&self, key: &str) -> Option<f64> {
        let m = self.metric(key)?;
        let k = self.value(PeerKind::Kairos, key)?;
        let others = self
            .peers
            .iter()
            .filter(|(p, _)| *p != PeerKind::Kairos)
            .filter_map(|(p, _)| self.value(*p, key));
        match m.better {
            Better::Higher => {
                let best = others.fold(f64::NAN, f64::max);
                (best > 0.0).then(|| k / best)
            }
            Better::Lower => {
                let best = others.fold(f64::NAN, f64::min);
                (best.is_finite() && k > 0.0).then(|| best / k)
            }
            Better::Neither => None,
        }
    }
}

fn metric_value(m: &[Metric], key: &str) -> Option<f64> {
    m.iter().find(|x| x.key == key).map(|x| x.value)
}

/// Folds runs into one summary per (scenario, case), in order of first appearance.
pub fn summarize(runs: &[RunOutput], peers: &[PeerKind]) -> Vec<CaseSummary> {
    let mut order: Vec<(String, String)> = Vec::new();
    for r in runs {
        let k = (r.scenario.clone(), r.case.clone());
        if !order.contains(&k) {
            order.push(k);
        }
    }
    order
        .into_iter()
        .map(|(scenario, case)| {
            let here: Vec<&RunOutput> =
                runs.iter().filter(|r| r.scenario == scenario && r.case == case).collect();
            // Metric order: that of the run reporting the most metrics (peers that lack a
            // feature report fewer), then any others in order of appearance.
            let mut by_size: Vec<&&RunOutput> = here.iter().collect();
            by_size.sort_by_key(|r| std::cmp::Reverse(r.result.metrics.len()));
            let mut metrics: Vec<MetricInfo> = Vec::new();
            for r in by_size {
                for m in &r.result.metrics {
                    if !metrics.iter().any(|x| x.key == m.key) {
                        metrics.push(MetricInfo {
                            key: m.key.clone(),
                            label: m.label.clone(),
                            unit: m.unit.clone(),
                            better: m.better,
                        });
                    }
                }
            }
            let peers = peers
                .iter()
                .map(|&p| {
                    let mine: Vec<&&RunOutput> = here.iter().filter(|r| r.peer == p.name()).collect();
                    (p, outcome(&mine, &metrics))
                })
                .collect();
            CaseSummary { scenario, case, metrics, peers }
        })
        .collect()
}

fn outcome(runs: &[&&RunOutput], metrics: &[MetricInfo]) -> Outcome {
    if runs.is_empty() {
        return Outcome::Missing;
    }
    let mut ok: Vec<&RunOutput> = runs.iter().filter(|r| r.status == Status::Ok).map(|r| **r).collect();
    if ok.is_empty() {
        let r = runs.iter().find(|r| r.status == Status::NotSupported).unwrap_or(&runs[0]);
        let why = r.reason.clone().unwrap_or_default();
        return match r.status {
            Status::NotSupported => Outcome::NotSupported(why),
            _ => Outcome::Failed(why),
        };
    }
    let mut cells = BTreeMap::new();
    for m in metrics {
        let vals: Vec<f64> = ok.iter().filter_map(|r| metric_value(&r.result.metrics, &m.key)).collect();
        if let Some(med) = median(&vals) {
            cells.insert(
                m.key.clone(),
                Cell {
                    median: med,
                    min: vals.iter().copied().fold(f64::INFINITY, f64::min),
                    max: vals.iter().copied().fold(f64::NEG_INFINITY, f64::max),
                    rounds: vals.len(),
                },
            );
        }
    }
    // The median round by the first metric supplies the curves and notes.
    if let Some(first) = metrics.first() {
        ok.sort_by(|a, b| {
            let va = metric_value(&a.result.metrics, &first.key).unwrap_or(f64::NAN);
            let vb = metric_value(&b.result.metrics, &first.key).unwrap_or(f64::NAN);
            va.total_cmp(&vb)
        });
    }
    let mid = ok[ok.len() / 2];
    let mut notes = mid.result.notes.clone();
    let failures: Vec<&str> =
        runs.iter().filter(|r| r.status == Status::Failed).filter_map(|r| r.reason.as_deref()).collect();
    if !failures.is_empty() {
        notes.push(format!("{} of {} rounds failed: {}", failures.len(), runs.len(), failures[0]));
    }
    Outcome::Measured { cells, notes, series: mid.result.series.clone() }
}

/// One table per case of `scenario`.
pub fn scenario_tables(scenario: Scenario, summaries: &[CaseSummary], mode: Mode) -> Vec<Table> {
    let _ = mode;
    summaries.iter().filter(|s| s.scenario == scenario.name()).map(case_table).collect()
}

fn case_table(s: &CaseSummary) -> Table {
    let has_kairos = s.peers.iter().any(|(p, _)| *p == PeerKind::Kairos);
    let mut header = vec!["figure".to_string()];
    header.extend(s.peers.iter().map(|(p, _)| p.name().to_string()));
    if has_kairos {
        header.push("kairos vs best other".into());
    }
    header.push("published".into());
    let mut rows = Vec::new();
    for m in &s.metrics {
        let mut row = vec![m.label.clone()];
        for (p, o) in &s.peers {
            row.push(match o {
                Outcome::Measured { cells, .. } => {
                    cells.get(&m.key).map(|c| fmt_value(c.median, &m.unit)).unwrap_or_else(|| "-".into())
                }
                Outcome::NotSupported(_) => "n/s".into(),
                Outcome::Failed(_) => "failed".into(),
                Outcome::Missing => {
                    let _ = p;
                    "".into()
                }
            });
        }
        if has_kairos {
            row.push(s.kairos_ratio(&m.key).map(fmt_ratio).unwrap_or_default());
        }
        row.push(published::lookup(&s.scenario, &m.key).unwrap_or("").into());
        rows.push(row);
    }
    let mut footer = Vec::new();
    for (p, o) in &s.peers {
        match o {
            Outcome::NotSupported(why) => footer.push(format!("{p}: not supported ({why})")),
            Outcome::Failed(why) => footer.push(format!("{p}: FAILED: {why}")),
            Outcome::Measured { notes, .. } => {
                footer.extend(notes.iter().map(|n| format!("{p}: {n}")));
            }
            Outcome::Missing => {}
        }
    }
    if rows.is_empty() {
        rows.push(
            std::iter::once("(no figures)".to_string())
                .chain(std::iter::repeat_n(String::new(), header.len() - 1))
                .collect(),
        );
    }
    Table { title: format!("{} / {}", s.scenario, s.case), header, rows, footer }
}

/// Medians of every (scenario, case, peer, metric), for `report.json`.
#[derive(Clone, Debug, Serialize)]
pub struct MedianRow {
    /// Scenario.
    pub scenario: String,
    /// Case.
    pub case: String,
    /// Peer.
    pub peer: String,
    /// Metric key.
    pub key: String,
    /// Unit.
    pub unit: String,
    /// Median and range.
    #[serde(flatten)]
    pub cell: Cell,
}

/// Status of a (scenario, case, peer) that produced no figures, for `report.json`.
#[derive(Clone, Debug, Serialize)]
pub struct GapRow {
    /// Scenario.
    pub scenario: String,
    /// Case.
    pub case: String,
    /// Peer.
    pub peer: String,
    /// `not_supported` or `failed`.
    pub status: Status,
    /// Why.
    pub reason: String,
}

/// A whole report.
#[derive(Clone, Debug, Serialize)]
pub struct Report {
    /// Tool name and version.
    pub tool: String,
    /// Unix time the report was made.
    pub created_unix: u64,
    /// Full or quick.
    pub mode: Mode,
    /// Rounds per peer and case.
    pub rounds: u32,
    /// Worker threads per runtime.
    pub workers: usize,
    /// The allocator every child used.
    pub alloc: AllocKind,
    /// Peers, in order.
    pub peers: Vec<String>,
    /// The machine.
    pub machine: Machine,
    /// Versions measured.
    pub versions: Versions,
    /// How things were measured.
    pub method: String,
    /// Wall time of the whole suite, seconds.
    pub total_s: f64,
    /// Medians.
    pub medians: Vec<MedianRow>,
    /// What was not supported or failed.
    pub gaps: Vec<GapRow>,
    /// Every run's raw output.
    pub runs: Vec<RunOutput>,
    #[serde(skip)]
    peer_kinds: Vec<PeerKind>,
    #[serde(skip)]
    summaries: Vec<CaseSummary>,
}

impl Report {
    /// Builds a report from raw runs.
    pub fn new(
        opts: &Options,
        machine: Machine,
        versions: Versions,
        runs: Vec<RunOutput>,
        total: Duration,
    ) -> Report {
        let summaries = summarize(&runs, &opts.peers);
        let mut medians = Vec::new();
        let mut gaps = Vec::new();
        for s in &summaries {
            for (p, o) in &s.peers {
                match o {
                    Outcome::Measured { cells, .. } => {
                        for m in &s.metrics {
                            if let Some(c) = cells.get(&m.key) {
                                medians.push(MedianRow {
                                    scenario: s.scenario.clone(),
                                    case: s.case.clone(),
                                    peer: p.name().into(),
                                    key: m.key.clone(),
                                    unit: m.unit.clone(),
                                    cell: *c,
                                });
                            }
                        }
                    }
                    Outcome::NotSupported(why) | Outcome::Failed(why) => gaps.push(GapRow {
                        scenario: s.scenario.clone(),
                        case: s.case.clone(),
                        peer: p.name().into(),
                        status: if matches!(o, Outcome::NotSupported(_)) {
                            Status::NotSupported
                        } else {
                            Status::Failed
                        },
                        reason: why.clone(),
                    }),
                    Outcome::Missing => {}
                }
            }
        }
        Report {
            tool: format!("kairos-bench {}", env!("CARGO_PKG_VERSION")),
            created_unix: std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_secs()),
            mode: opts.mode,
            rounds: opts.rounds,
            workers: opts.workers,
            alloc: opts.alloc,
            peers: opts.peers.iter().map(|p| p.name().to_string()).collect(),
            machine,
            versions,
            method: METHOD.into(),
            total_s: total.as_secs_f64(),
            medians,
            gaps,
            runs,
            peer_kinds: opts.peers.clone(),
            summaries,
        }
    }

    /// The per-case summaries.
    pub fn summaries(&self) -> &[CaseSummary] {
        &self.summaries
    }

    fn find(&self, scenario: &str, case: Option<&str>) -> Option<&CaseSummary> {
        self.summaries.iter().find(|s| s.scenario == scenario && case.is_none_or(|c| s.case == c))
    }

    /// The headline table: one row per [`published::HEADLINES`] entry that was measured.
    pub fn summary_table(&self) -> Table {
        let has_kairos = self.peer_kinds.contains(&PeerKind::Kairos);
        let mut header = vec!["figure".to_string(), "case".to_string()];
        header.extend(self.peer_kinds.iter().map(|p| p.name().to_string()));
        if has_kairos {
            header.push("kairos vs best other".into());
            header.push("kairos bar".into());
            header.push("met".into());
        }
        let mut rows = Vec::new();
        for h in published::HEADLINES {
            let Some(s) = self.find(h.scenario, h.case) else {
                continue;
            };
            let Some(m) = s.metric(h.key) else {
                continue;
            };
            let mut row = vec![h.label.to_string(), s.case.clone()];
            for (p, o) in &s.peers {
                row.push(match o {
                    Outcome::Measured { .. } => {
                        s.value(*p, h.key).map(|v| fmt_value(v, &m.unit)).unwrap_or_else(|| "-".into())
                    }
                    Outcome::NotSupported(_) => "n/s".into(),
                    Outcome::Failed(_) => "failed".into(),
                    Outcome::Missing => "".into(),
                });
            }
            if has_kairos {
                row.push(s.kairos_ratio(h.key).map(fmt_ratio).unwrap_or_default());
                row.push(h.bar_text.to_string());
                let k = s.value(PeerKind::Kairos, h.key);
                let hb = m.better == Better::Higher;
                let a = published::meets(h.bar, k, |p| s.value(p, h.key), hb);
                let b = published::meets(h.bar2, k, |p| s.value(p, h.key), hb);
                row.push(
                    match (a, b) {
                        (Some(false), _) | (_, Some(false)) => "no",
                        (Some(true), None | Some(true)) => "yes",
                        _ => "",
                    }
                    .into(),
                );
            }
            rows.push(row);
        }
        let mut footer =
            vec!["kairos vs best other: > 1 means kairos is better (faster, smaller or sooner)".into()];
        let open_loop = rows.iter().any(|r| r[0].starts_with("open loop"));
        if let (true, Some(floor)) = (open_loop, &self.machine.wake_floor) {
            footer.push(format!(
                "open loop: one bare OS wake-up on this machine takes p50 {:.1} us, p99 {:.1} us; a p99 \
                 below that needs fewer than 1% of tasks to find every worker asleep (workers that spin)",
                floor.wake_p50_us, floor.wake_p99_us
            ));
        }
        Table {
            title: format!(
                "summary ({} mode, {} workers, {}, medians of {} round(s))",
                self.mode.name(),
                self.workers,
                self.alloc.name(),
                self.rounds
            ),
            header,
            rows,
            footer,
        }
    }

    /// The Markdown report.
    pub fn markdown(&self, plots: &[String]) -> String {
        let mut md = String::new();
        md.push_str("# kairos bench report\n\n");
        md.push_str(&format!(
            "{} mode, {} round(s), {} workers per runtime, allocator **{}**, peers: {}.  \n",
            self.mode.name(),
            self.rounds,
            self.workers,
            self.alloc.name(),
            self.peers.join(", ")
        ));
        md.push_str(&format!(
            "Machine: {} ({} CPUs, {} GiB), Linux {} ({}).  \n",
            self.machine.cpu,
            self.machine.cpus,
            self.machine.memory_gib,
            self.machine.kernel,
            self.machine.os
        ));
        if let Some(floor) = &self.machine.wake_floor {
            md.push_str(&format!(
                "Wake-up floor: {}. A task submitted while every worker sleeps starts no sooner.  \n",
                floor.describe()
            ));
        }
        md.push_str(&format!(
            "Versions: kairos {}, tokio {}, rayon-core {}, mimalloc {}; {}; {} build. Suite took {:.0} s.\n\n",
            self.versions.kairos,
            self.versions.tokio,
            self.versions.rayon_core,
            self.versions.mimalloc,
            self.versions.rustc,
            self.versions.profile,
            self.total_s
        ));
        for p in plots {
            md.push_str(&format!("![{p}]({p})\n"));
        }
        if !plots.is_empty() {
            md.push('\n');
        }
        md.push_str("## Summary\n\n");
        md.push_str(&self.summary_table().render_markdown());
        md.push_str("\n## Method\n\n");
        md.push_str(METHOD);
        md.push_str(
            " Published figures come from `shared/ANCHORS.md` (measured on this kind of \
             2-core VM) and the reference documents it cites; absolute numbers drift between \
             runs on shared machines, so compare peers within one report.\n",
        );
        for sc in Scenario::ALL {
            let tables = scenario_tables(sc, &self.summaries, self.mode);
            if tables.is_empty() {
                continue;
            }
            md.push_str(&format!("\n## `{}`: {}\n\n", sc.name(), sc.about()));
            for t in tables {
                md.push_str(&t.render_markdown());
                md.push('\n');
            }
        }
        if !self.gaps.is_empty() {
            md.push_str("\n## Not supported or failed\n\n");
            for g in &self.gaps {
                let what = match g.status {
                    Status::NotSupported => "not supported",
                    _ => "FAILED",
                };
                md.push_str(&format!("- `{}` / {} / {}: {what}: {}\n", g.scenario, g.case, g.peer, g.reason));
            }
        }
        md
    }

    /// Writes `report.json`, the SVG plots (when `plots`) and `report.md` into `dir`.
    pub fn write(&self, dir: &Path, plots: bool) -> std::io::Result<()> {
        std::fs::create_dir_all(dir)?;
        let json = serde_json::to_string_pretty(self).map_err(std::io::Error::other)?;
        std::fs::write(dir.join("report.json"), json)?;
        let drawn = if plots {
            match plots::draw_all(dir, &self.summaries, &self.peer_kinds) {
                Ok(files) => files,
                Err(e) => {
                    eprintln!("warning: plots failed: {e}");
                    Vec::new()
                }
            }
        } else {
            Vec::new()
        };
        std::fs::write(dir.join("report.md"), self.markdown(&drawn))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scenarios::CaseResult;
    use crate::wake_floor::WakeFloor;

    fn run(peer: PeerKind, case: &str, round: u32, tps: Option<f64>, status: Status) -> RunOutput {
        let mut r = CaseResult::default();
        if let Some(v) = tps {
            r.metric("tasks_per_s", "tasks/s", "tasks/s", v, Better::Higher);
            r.metric("cpu_ns_per_task", "cpu", "ns", 1e9 / v, Better::Lower);
            r.note(format!("round {round}"));
        }
        RunOutput {
            peer: peer.name().into(),
            scenario: "spawn".into(),
            case: case.into(),
            round,
            status,
            reason: (status != Status::Ok).then(|| "why".to_string()),
            result: r,
            alloc: AllocKind::Mimalloc,
            workers: 2,
            wall_s: 1.0,
        }
    }

    fn fake_runs() -> Vec<RunOutput> {
        vec![
            run(PeerKind::Kairos, "1M", 0, Some(10e6), Status::Ok),
            run(PeerKind::Tokio, "1M", 0, Some(1.4e6), Status::Ok),
            run(PeerKind::Rayon, "1M", 0, None, Status::NotSupported),
            run(PeerKind::HeapPool, "1M", 0, None, Status::Failed),
            run(PeerKind::Kairos, "1M", 1, Some(12e6), Status::Ok),
            run(PeerKind::Tokio, "1M", 1, Some(1.2e6), Status::Ok),
            run(PeerKind::Kairos, "1M", 2, Some(11e6), Status::Ok),
            run(PeerKind::Tokio, "1M", 2, None, Status::Failed),
        ]
    }

    #[test]
    fn medians_ratios_and_gaps() {
        let s = summarize(&fake_runs(), &PeerKind::ALL);
        assert_eq!(s.len(), 1);
        let s = &s[0];
        assert_eq!(s.value(PeerKind::Kairos, "tasks_per_s"), Some(11e6));
        assert_eq!(s.value(PeerKind::Tokio, "tasks_per_s"), Some(1.3e6));
        let ratio = s.kairos_ratio("tasks_per_s").unwrap();
        assert!((ratio - 11.0 / 1.3).abs() < 1e-9);
        // Lower is better: best other / kairos.
        let r2 = s.kairos_ratio("cpu_ns_per_task").unwrap();
        assert!(r2 > 1.0);
        assert!(matches!(s.peers[2].1, Outcome::NotSupported(_)));
        assert!(matches!(s.peers[3].1, Outcome::Failed(_)));
        match &s.peers[1].1 {
            Outcome::Measured { notes, .. } => {
                assert!(notes.iter().any(|n| n.contains("1 of 3 rounds failed")))
            }
            o => panic!("{o:?}"),
        }
    }

    #[test]
    fn writes_markdown_json_and_plots() {
        let opts = Options::defaults(Mode::Quick);
        let report =
            Report::new(&opts, Machine::default(), Versions::default(), fake_runs(), Duration::from_secs(3));
        let dir = std::env::temp_dir().join(format!("kairos-report-test-{}", std::process::id()));
        report.write(&dir, true).unwrap();
        let md = std::fs::read_to_string(dir.join("report.md")).unwrap();
        assert!(md.contains("# kairos bench report"));
        assert!(md.contains("## Summary"));
        assert!(md.contains("spawn from outside, tasks/s"));
        assert!(md.contains("11.00M/s"));
        assert!(md.contains("not supported"));
        assert!(md.contains(".svg"));
        let json: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(dir.join("report.json")).unwrap()).unwrap();
        assert_eq!(json["runs"].as_array().unwrap().len(), 8);
        assert_eq!(json["alloc"], "mimalloc");
        assert!(json["medians"].as_array().unwrap().len() >= 4);
        assert!(dir.join("throughput.svg").is_file());
        let svg = std::fs::read_to_string(dir.join("throughput.svg")).unwrap();
        assert!(svg.contains("<svg") && svg.contains("kairos"));
        let table = report.summary_table().render_text();
        assert!(table.contains("spawn from outside, tasks/s"), "{table}");
        assert!(table.contains("n/s"), "rayon-core was not supported: {table}");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    fn open_loop_run(peer: PeerKind, p99_us: f64) -> RunOutput {
        let mut r = CaseResult::default();
        r.metric("latency_p99", "submit-to-start p99", "us", p99_us, Better::Lower);
        RunOutput {
            scenario: "latency".into(),
            case: "50k/s".into(),
            result: r,
            ..run(peer, "50k/s", 0, None, Status::Ok)
        }
    }

    #[test]
    fn the_wake_up_floor_is_printed_in_the_header_and_beside_the_open_loop_bar() {
        let opts = Options::defaults(Mode::Quick);
        let runs = vec![open_loop_run(PeerKind::Kairos, 30.0), open_loop_run(PeerKind::Rayon, 20.0)];
        let floor = WakeFloor { samples: 100, wake_p50_us: 2.5, wake_p99_us: 12.5, unpark_p50_us: 4.0 };
        let machine = Machine { wake_floor: Some(floor), ..Machine::default() };
        let report = Report::new(&opts, machine, Versions::default(), runs.clone(), Duration::from_secs(1));
        let table = report.summary_table().render_text();
        assert!(table.contains("open loop 50k/s"), "{table}");
        assert!(table.contains("p50 2.5 us, p99 12.5 us"), "the floor is not beside the bar: {table}");
        let md = report.markdown(&[]);
        assert!(md.contains("Wake-up floor: bare OS wake-up"), "{md}");
        assert!(md.contains("costs the waker 4.0 us (100 samples)"), "{md}");

        // Without a measured floor (an older report), neither line appears.
        let report =
            Report::new(&opts, Machine::default(), Versions::default(), runs, Duration::from_secs(1));
        assert!(!report.summary_table().render_text().contains("bare OS wake-up"));
        assert!(!report.markdown(&[]).contains("Wake-up floor"));
    }
}
