//! The statistics of a report: [`summarize`] folds the raw runs into one [`CaseSummary`]
//! per (scenario, case): for each peer either the median (and range) of every metric over
//! the rounds that succeeded, or why it was not supported / failed.
//!
//! Invariant: a plotted curve is made of the same figures as the table beside it. A
//! latency curve is folded point by point, like a metric: at every percentile of the
//! CDF, the median, min and max over the rounds that measured it ([`Curve`]). The p99 a
//! table quotes (the median over rounds of each round's p99) is thus the curve's point at
//! p99, and the min-max band drawn around the curve is the table's range column. (Plotting
//! one whole round instead, say the median round by p50, showed tails the table did not:
//! that round's p99.9 could be ten times the median p99.9.) The pointwise median of
//! monotone curves is monotone, so a folded curve is still a CDF.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::measure::median;
use crate::peers::PeerKind;
use crate::scenarios::{Better, Metric, RunOutput, Series, Status};

/// The median of one metric over the rounds that measured it.
///
/// ```
/// use kairos_bench::report::Cell;
/// let c = Cell::of(&[3.0, 1.0, 2.0]).unwrap();
/// assert_eq!((c.median, c.min, c.max, c.rounds), (2.0, 1.0, 3.0, 3));
/// ```
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

impl Cell {
    /// Median, min and max of the finite `values`; `None` when there are none.
    pub fn of(values: &[f64]) -> Option<Cell> {
        let finite: Vec<f64> = values.iter().copied().filter(|v| v.is_finite()).collect();
        Some(Cell {
            median: median(&finite)?,
            min: finite.iter().copied().fold(f64::INFINITY, f64::min),
            max: finite.iter().copied().fold(f64::NEG_INFINITY, f64::max),
            rounds: finite.len(),
        })
    }
}

/// A latency curve folded over rounds: at each quantile of the CDF, the median, min and
/// max of the rounds' values there (see the module docs).
///
/// ```
/// use kairos_bench::report::Curve;
/// use kairos_bench::scenarios::Series;
/// let round = |p99: f64| Series { name: "wait".into(), unit: "us".into(), points: vec![(0.5, 1.0), (0.99, p99)] };
/// let c = Curve::fold(&[&round(10.0), &round(30.0), &round(20.0)]).unwrap();
/// assert_eq!(c.points[1].1.median, 20.0);
/// assert_eq!((c.points[1].1.min, c.points[1].1.max), (10.0, 30.0));
/// ```
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Curve {
    /// What the curve shows, e.g. `timer lateness`.
    pub name: String,
    /// Unit of the values.
    pub unit: String,
    /// `(quantile, figures over rounds)`, quantile ascending.
    pub points: Vec<(f64, Cell)>,
}

/// Identifies a quantile across rounds: the CDF's points are computed alike in every
/// round, so their "nines" (`-log10(1 - q)`) agree to far better than a thousandth.
fn quantile_key(q: f64) -> i64 {
    if q >= 1.0 {
        i64::MAX
    } else {
        (-(1.0 - q).log10() * 1000.0).round() as i64
    }
}

impl Curve {
    /// Folds the same-named series of several rounds into one curve; `None` when `rounds`
    /// is empty. A quantile only some rounds reached (fewer samples) is folded over those.
    pub fn fold(rounds: &[&Series]) -> Option<Curve> {
        let first = rounds.first()?;
        let grid = rounds.iter().max_by_key(|s| s.points.len())?;
        let points = grid
            .points
            .iter()
            .filter_map(|&(q, _)| {
                let key = quantile_key(q);
                let values: Vec<f64> = rounds
                    .iter()
                    .filter_map(|s| s.points.iter().find(|(q2, _)| quantile_key(*q2) == key).map(|p| p.1))
                    .collect();
                Some((q, Cell::of(&values)?))
            })
            .collect();
        Some(Curve { name: first.name.clone(), unit: first.unit.clone(), points })
    }
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
        /// Curves folded over the rounds, by name.
        curves: Vec<Curve>,
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
        if let Some(cell) = Cell::of(&vals) {
            cells.insert(m.key.clone(), cell);
        }
    }
    let mut names: Vec<&str> = Vec::new();
    for r in &ok {
        for se in &r.result.series {
            if !names.contains(&se.name.as_str()) {
                names.push(&se.name);
            }
        }
    }
    let curves: Vec<Curve> = names
        .iter()
        .filter_map(|name| {
            let rounds: Vec<&Series> =
                ok.iter().filter_map(|r| r.result.series.iter().find(|se| se.name == *name)).collect();
            Curve::fold(&rounds)
        })
        .collect();
    // The median round by the first metric supplies the notes.
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
    Outcome::Measured { cells, notes, curves }
}
