//! Rendering a report: the per-case tables (peers side by side, kairos's ratio to the
//! best other peer, the published figure), the headline summary table and `report.md`.
//!
//! Every peer has two columns: the median over rounds and its "min-max" range (rounds
//! differ up to threefold on shared machines, so a median alone misleads). A peer without
//! a figure says why in words: "not supported" or "failed".

use super::published;
use super::stats::{CaseSummary, Outcome};
use super::table::{fmt_range, fmt_ratio, fmt_value, Table};
use super::{Report, METHOD};
use crate::peers::PeerKind;
use crate::scenarios::{Better, Mode, Scenario, Status};

/// One table per case of `scenario`.
pub fn scenario_tables(scenario: Scenario, summaries: &[CaseSummary], mode: Mode) -> Vec<Table> {
    let _ = mode;
    summaries.iter().filter(|s| s.scenario == scenario.name()).map(case_table).collect()
}

/// The header of a peer's two columns.
fn peer_header(p: PeerKind) -> [String; 2] {
    [p.name().to_string(), "min-max".to_string()]
}

/// A peer's two cells for metric `key` in `unit`: the median and its range over rounds,
/// or why there is no figure.
fn peer_cells(o: &Outcome, key: &str, unit: &str) -> [String; 2] {
    match o {
        Outcome::Measured { cells, .. } => match cells.get(key) {
            Some(c) => [fmt_value(c.median, unit), fmt_range(c.min, c.max, c.rounds, unit)],
            None => ["-".into(), String::new()],
        },
        Outcome::NotSupported(_) => ["not supported".into(), String::new()],
        Outcome::Failed(_) => ["failed".into(), String::new()],
        Outcome::Missing => [String::new(), String::new()],
    }
}

fn case_table(s: &CaseSummary) -> Table {
    let has_kairos = s.peers.iter().any(|(p, _)| *p == PeerKind::Kairos);
    let mut header = vec!["figure".to_string()];
    header.extend(s.peers.iter().flat_map(|(p, _)| peer_header(*p)));
    if has_kairos {
        header.push("kairos vs best other".into());
    }
    header.push("published".into());
    let mut rows = Vec::new();
    for m in &s.metrics {
        let mut row = vec![m.label.clone()];
        row.extend(s.peers.iter().flat_map(|(_, o)| peer_cells(o, &m.key, &m.unit)));
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

impl Report {
    /// The headline table: one row per [`published::HEADLINES`] entry that was measured.
    pub fn summary_table(&self) -> Table {
        let has_kairos = self.peer_kinds.contains(&PeerKind::Kairos);
        let mut header = vec!["figure".to_string(), "case".to_string()];
        header.extend(self.peer_kinds.iter().flat_map(|p| peer_header(*p)));
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
            row.extend(s.peers.iter().flat_map(|(_, o)| peer_cells(o, h.key, &m.unit)));
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
            vec!["kairos vs best other: > 1 means kairos is better (faster, smaller or sooner), medians \
             against medians; min-max: the smallest and largest round"
                .into()];
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
        md.push_str(&format!(" {}\n", published::SOURCES));
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
}
