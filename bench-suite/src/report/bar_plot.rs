//! Bar panels (`throughput.svg`, `memory.svg`): one bar per peer at the median over
//! rounds, a whisker from the smallest to the largest round, and the median written above.
//!
//! The figures are the table's: a bar is the table cell's median and its whisker the
//! range column. A peer without a figure shows why in words ("not supported", "failed");
//! a bar of zero says whether zero is below what the measurement can see (RSS counts whole
//! 4 KiB pages) or a true zero (the counting allocator counts every byte).

use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use super::axes::{linear_ticks, ticked};
use super::plots::{color, err, Area};
use super::{fmt_value, CaseSummary, Cell, Outcome};
use crate::peers::PeerKind;

/// What one peer shows in a bar panel.
#[derive(Clone, Debug, PartialEq)]
pub(super) enum BarValue {
    /// The median and range over rounds.
    Measured(Cell),
    /// No figure, and why (shown in place of the bar).
    Absent(&'static str),
}

/// A bar panel: one bar (or a reason for none) per peer.
#[derive(Clone, Debug, PartialEq)]
pub(super) struct BarPanel {
    /// Shown above the panel.
    pub title: String,
    /// Unit of the values.
    pub unit: String,
    /// Said on a bar whose median is zero.
    pub zero: &'static str,
    /// One per peer that ran the case.
    pub bars: Vec<(PeerKind, BarValue)>,
}

/// The label of a zero bar of an RSS figure, one line per `\n`.
pub(super) const BELOW_RESOLUTION: &str = "0: below\nresolution";

/// The figure note that explains [`BELOW_RESOLUTION`].
pub(super) const RESOLUTION_NOTE: &str =
    "RSS figures move in whole 4 KiB pages: 0 there means below resolution";

/// What a zero means for metric `key`: memory read as RSS moves in whole pages, so a
/// zero there is "less than one page"; other figures (heap bytes, counts) are exact.
pub(super) fn zero_means(key: &str) -> &'static str {
    let rss = key.contains("rss") || key.starts_with("mem_") || key == "kb_per_1000";
    if rss {
        BELOW_RESOLUTION
    } else {
        "0"
    }
}

/// One panel per (scenario, metric key, title) of `wanted` and case of that scenario that
/// reported the metric.
pub(super) fn bar_panels(summaries: &[CaseSummary], wanted: &[(&str, &str, &str)]) -> Vec<BarPanel> {
    let mut out = Vec::new();
    for &(scenario, key, title) in wanted {
        for s in summaries.iter().filter(|s| s.scenario == scenario) {
            let Some(m) = s.metric(key) else { continue };
            let bars = s
                .peers
                .iter()
                .filter(|(_, o)| !matches!(o, Outcome::Missing))
                .map(|(p, o)| {
                    let v = match o {
                        Outcome::Measured { cells, .. } => cells
                            .get(key)
                            .map_or(BarValue::Absent("not measured"), |c| BarValue::Measured(*c)),
                        Outcome::NotSupported(_) => BarValue::Absent("not supported"),
                        _ => BarValue::Absent("failed"),
                    };
                    (*p, v)
                })
                .collect();
            out.push(BarPanel {
                title: format!("{title} ({}, {})", s.case, m.unit),
                unit: m.unit.clone(),
                zero: zero_means(key),
                bars,
            });
        }
    }
    out
}

/// The largest value a panel draws (the top of the highest whisker).
pub(super) fn largest(panel: &BarPanel) -> f64 {
    panel
        .bars
        .iter()
        .filter_map(|(_, v)| match v {
            BarValue::Measured(c) => Some(c.max.max(c.median)),
            BarValue::Absent(_) => None,
        })
        .filter(|v| v.is_finite())
        .fold(0.0, f64::max)
}

/// Draws one bar panel into `area`.
pub(super) fn draw_bar_panel(area: &Area<'_>, panel: &BarPanel) -> Result<(), String> {
    let n = panel.bars.len().max(1);
    // Room above the highest whisker for its label.
    let ticks = linear_ticks(largest(panel) * 1.15);
    let top = *ticks.last().unwrap_or(&1.0);
    let names: Vec<String> = panel.bars.iter().map(|(p, _)| p.name().to_string()).collect();
    let unit = panel.unit.clone();
    let xs: Vec<f64> = (0..n).map(|i| i as f64).collect();
    let mut chart = ChartBuilder::on(area)
        .caption(&panel.title, ("sans-serif", 14))
        .margin(8)
        .x_label_area_size(24)
        .y_label_area_size(72)
        .build_cartesian_2d(ticked(-0.5f64..n as f64 - 0.5, xs), ticked(0f64..top, ticks))
        .map_err(err)?;
    chart
        .configure_mesh()
        .disable_x_mesh()
        .x_label_formatter(&|x| names.get(x.round() as usize).cloned().unwrap_or_default())
        .y_label_formatter(&|v| fmt_value(*v, &unit))
        .draw()
        .map_err(err)?;
    // A label of several lines (`\n`) stacks upwards from `at`, ~14 px a line.
    let line_h = top * 14.0 / f64::from(area.dim_in_pixel().1.max(100));
    let label = |text: String, at: (f64, f64), grey: bool| {
        let c = if grey { RGBColor(110, 110, 110) } else { BLACK };
        let lines: Vec<String> = text.lines().map(str::to_string).collect();
        let n = lines.len();
        lines
            .into_iter()
            .enumerate()
            .map(|(i, l)| {
                let y = at.1 + line_h * (n - 1 - i) as f64;
                let font = ("sans-serif", 12).into_font().color(&c).pos(Pos::new(HPos::Center, VPos::Bottom));
                Text::new(l, (at.0, y), font)
            })
            .collect::<Vec<_>>()
    };
    for (i, (p, v)) in panel.bars.iter().enumerate() {
        let x = i as f64;
        match v {
            BarValue::Measured(c) => {
                let col = color(*p);
                chart
                    .draw_series(std::iter::once(Rectangle::new(
                        [(x - 0.32, 0.0), (x + 0.32, c.median)],
                        col.filled(),
                    )))
                    .map_err(err)?;
                let whisker = BLACK.stroke_width(1);
                chart
                    .draw_series([
                        PathElement::new(vec![(x, c.min), (x, c.max)], whisker),
                        PathElement::new(vec![(x - 0.08, c.min), (x + 0.08, c.min)], whisker),
                        PathElement::new(vec![(x - 0.08, c.max), (x + 0.08, c.max)], whisker),
                    ])
                    .map_err(err)?;
                let text =
                    if c.median == 0.0 { panel.zero.to_string() } else { fmt_value(c.median, &panel.unit) };
                let y = c.max.max(c.median) + top * 0.02;
                chart.draw_series(label(text, (x, y), c.median == 0.0)).map_err(err)?;
            }
            BarValue::Absent(why) => {
                chart.draw_series(label(why.to_string(), (x, top * 0.08), true)).map_err(err)?;
            }
        }
    }
    Ok(())
}
