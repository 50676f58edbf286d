//! The report: medians over rounds, tables, `report.md`, `report.json` and SVG plots.
//!
//! Files: `stats.rs` (the statistics), `render.rs` (tables and markdown), `table.rs`,
//! `plots.rs`, `published.rs` (the published figures and headline bars); this file
//! holds the [`Report`] and its JSON rows and writes it out.
//!
//! [`summarize`] folds the raw runs into one [`CaseSummary`] per (scenario, case): for each
//! peer either the median (and range) of every metric over the rounds that succeeded, or
//! why it was not supported / failed. Tables put the peers side by side with kairos's ratio
//! to the best other peer (`>1` means kairos is better, whichever way "better" points for
//! that metric) and the published figure. The summary table holds the headline rows of
//! [`published::HEADLINES`] with kairos's bar and whether it was met.

use std::path::Path;
use std::time::Duration;

use serde::Serialize;

use crate::alloc::AllocKind;
use crate::args::Options;
use crate::machine::{Machine, Versions};
use crate::peers::PeerKind;
use crate::scenarios::{Mode, RunOutput, Status};

mod axes;
mod bar_plot;
mod cdf_plot;
pub mod cluster_plot;
pub mod plots;
pub mod published;
mod render;
mod stats;
pub mod table;
#[cfg(test)]
mod tests;

pub use render::scenario_tables;
pub use stats::{summarize, CaseSummary, Cell, Curve, MetricInfo, Outcome};
pub use table::{fmt_range, fmt_ratio, fmt_value, Table};

/// The task body and method, quoted in the report.
pub const METHOD: &str = "Each (peer, scenario case, round) runs in its own process \
(the runner re-executes itself), so memory figures start from a fresh heap; rounds are \
interleaved across peers and the tables quote medians. Every peer gets the same worker \
count, the same allocator and the same task body: throughput tasks add one to a \
per-thread, cache-padded counter slot (`fetch_add(1, Release)`, ~3 ns, uncontended) that \
the waiting thread sums every 50-100 us; latency tasks also store `now - submitted` into \
their own pre-allocated slot. Peers without priorities run the priority scenarios with \
the levels ignored; a scenario that needs a feature a peer lacks says \"not supported\".";

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
