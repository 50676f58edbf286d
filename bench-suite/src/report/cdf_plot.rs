//! CDF panels (`latency-cdf.svg`): latency (log scale) against percentile on a "nines"
//! axis (p0, p90, p99, p99.9 equally spaced), one line per peer at the median over rounds
//! and a shaded band from the smallest to the largest round.
//!
//! The lines are the tables' figures: each point is the [`Curve`](super::Curve) folded
//! over rounds, so the line at p99 is the table's p99 median and the band there is its
//! range column. The maximum (quantile 1) is not drawn: it has no place on a nines axis.
//! Both axes end on a labelled tick at or beyond the largest value drawn.

use plotters::prelude::*;

use super::axes::{log_ticks, ticked};
use super::plots::{color, err, Area};
use super::{fmt_value, CaseSummary, Cell, Outcome};
use crate::peers::PeerKind;

/// One CDF point as drawn: `(nines, median, min, max)`.
pub(super) type Point = (f64, f64, f64, f64);

/// A CDF panel: one curve per peer.
#[derive(Clone, Debug, PartialEq)]
pub(super) struct CdfPanel {
    /// Shown above the panel.
    pub title: String,
    /// One curve per peer that measured it.
    pub lines: Vec<(PeerKind, Vec<Point>)>,
}

/// `-log10(1 - q)`: 1 at p90, 2 at p99, 3 at p99.9.
pub(super) fn nines(q: f64) -> f64 {
    -(1.0 - q).max(1e-6).log10()
}

/// The smallest value a log axis shows.
const FLOOR_US: f64 = 0.01;

/// The points of a curve as drawn.
fn drawn(points: &[(f64, Cell)]) -> Vec<Point> {
    points
        .iter()
        .filter(|(q, _)| *q < 1.0)
        .map(|(q, c)| (nines(*q), c.median.max(FLOOR_US), c.min.max(FLOOR_US), c.max.max(FLOOR_US)))
        .collect()
}

/// One panel per (scenario, case, curve name), a line per peer that measured the curve.
pub(super) fn cdf_panels(summaries: &[CaseSummary]) -> Vec<CdfPanel> {
    let mut out = Vec::new();
    for s in summaries {
        let mut names: Vec<&str> = Vec::new();
        for (_, o) in &s.peers {
            if let Outcome::Measured { curves, .. } = o {
                for c in curves {
                    if !names.contains(&c.name.as_str()) {
                        names.push(&c.name);
                    }
                }
            }
        }
        for name in names {
            let lines: Vec<(PeerKind, Vec<Point>)> = s
                .peers
                .iter()
                .filter_map(|(p, o)| match o {
                    Outcome::Measured { curves, .. } => {
                        curves.iter().find(|c| c.name == name).map(|c| (*p, drawn(&c.points)))
                    }
                    _ => None,
                })
                .filter(|(_, pts)| !pts.is_empty())
                .collect();
            if !lines.is_empty() {
                out.push(CdfPanel { title: format!("{} / {}: {name} (us)", s.scenario, s.case), lines });
            }
        }
    }
    out
}

/// The x ticks (whole nines, from p0 to at least the last point) and y ticks of a panel.
pub(super) fn panel_ticks(panel: &CdfPanel) -> (Vec<f64>, Vec<f64>) {
    let all = || panel.lines.iter().flat_map(|(_, pts)| pts.iter());
    let xmax = all().map(|p| p.0).fold(1.0f64, f64::max).ceil();
    let ymin = all().map(|p| p.2.min(p.1)).fold(f64::INFINITY, f64::min);
    let ymax = all().map(|p| p.3.max(p.1)).fold(FLOOR_US, f64::max);
    let ymin = if ymin.is_finite() { ymin } else { FLOOR_US };
    ((0..=xmax as usize).map(|x| x as f64).collect(), log_ticks(ymin, ymax))
}

/// The label of a whole number of nines: `p0`, `p90`, `p99`, `p99.9`, `p99.99`, ...
pub(super) fn percentile_label(x: f64) -> String {
    match x.round() as usize {
        0 => "p0".into(),
        1 => "p90".into(),
        n => format!("p99{}{}", if n > 2 { "." } else { "" }, "9".repeat(n.saturating_sub(2))),
    }
}

/// Draws one CDF panel into `area`.
pub(super) fn draw_cdf_panel(area: &Area<'_>, panel: &CdfPanel) -> Result<(), String> {
    let (xs, ys) = panel_ticks(panel);
    let (xmax, ylo, yhi) = (*xs.last().unwrap_or(&1.0), ys[0], *ys.last().unwrap_or(&1.0));
    let mut chart = ChartBuilder::on(area)
        .caption(&panel.title, ("sans-serif", 14))
        .margin(8)
        .x_label_area_size(24)
        .y_label_area_size(72)
        .build_cartesian_2d(ticked(0f64..xmax, xs), ticked((ylo..yhi).log_scale(), ys))
        .map_err(err)?;
    chart
        .configure_mesh()
        .x_label_formatter(&|x| percentile_label(*x))
        .y_label_formatter(&|v| fmt_value(*v, "us"))
        .draw()
        .map_err(err)?;
    for (p, line) in &panel.lines {
        let c = color(*p);
        let band: Vec<(f64, f64)> =
            line.iter().map(|pt| (pt.0, pt.2)).chain(line.iter().rev().map(|pt| (pt.0, pt.3))).collect();
        chart.draw_series(std::iter::once(Polygon::new(band, c.mix(0.18).filled()))).map_err(err)?;
    }
    for (p, line) in &panel.lines {
        let c = color(*p);
        chart
            .draw_series(LineSeries::new(line.iter().map(|pt| (pt.0, pt.1)), c.stroke_width(2)))
            .map_err(err)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nines_and_their_labels() {
        assert!((nines(0.5) - std::f64::consts::LOG10_2).abs() < 1e-9);
        assert!((nines(0.99) - 2.0).abs() < 1e-9);
        let labels: Vec<String> = (0..6).map(|x| percentile_label(x as f64)).collect();
        assert_eq!(labels, ["p0", "p90", "p99", "p99.9", "p99.99", "p99.999"]);
    }
}
