//! SVG plots (plotters, SVG backend, no font dependencies: text is left to the viewer).
//!
//! - `throughput.svg`: one bar panel per throughput figure (tasks/s), a bar per peer;
//! - `latency-cdf.svg`: one panel per latency curve (timer lateness, open-loop latency at
//!   each rate, probe wait, IoT messages): latency (log scale) against percentile on a
//!   "nines" axis (p50, p90, p99, p99.9 equally spaced), a line per peer;
//! - `memory.svg`: one bar panel per memory figure (bytes per pending task, ...).
//!
//! A peer that could not run a case shows "n/s" (not supported) or "failed" instead of a bar.

use std::path::Path;

use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use super::{fmt_value, CaseSummary, Outcome};
use crate::peers::PeerKind;

type Area<'a> = DrawingArea<SVGBackend<'a>, Shift>;

fn color(p: PeerKind) -> RGBColor {
    match p {
        PeerKind::Kairos => RGBColor(214, 39, 40),
        PeerKind::Tokio => RGBColor(31, 119, 180),
        PeerKind::Rayon => RGBColor(44, 160, 44),
        PeerKind::HeapPool => RGBColor(255, 127, 14),
    }
}

/// A bar panel: one value (or a reason for none) per peer.
struct BarPanel {
    title: String,
    unit: String,
    bars: Vec<(PeerKind, Result<f64, &'static str>)>,
}

/// A CDF panel: one curve per peer.
struct CdfPanel {
    title: String,
    lines: Vec<(PeerKind, Vec<(f64, f64)>)>,
}

const THROUGHPUT: &[(&str, &str, &str)] = &[
    ("spawn", "tasks_per_s", "spawn from outside"),
    ("fanout", "tasks_per_s", "fan-out from inside"),
    ("add-1m", "tasks_per_s", "random priorities"),
    ("timers", "insert_per_s", "timed insert"),
    ("iot", "burst_tasks_per_s", "IoT burst"),
];

const MEMORY: &[(&str, &str, &str)] = &[
    ("timers", "rss_bytes_per_task", "RSS per pending timed task"),
    ("timers", "heap_bytes_per_task", "heap per pending timed task"),
    ("timers", "rss_kept_after_cancel_per_task", "RSS kept after cancel-all"),
    ("queue-ops", "kb_per_1000", "RSS per 1,000 queued"),
    ("queue-ops", "heap_kb_per_1000", "heap per 1,000 queued"),
    ("iot", "mem_5000_kb", "RSS for 5,000 messages"),
    ("iot", "heap_5000_kb", "heap for 5,000 messages"),
    ("idle", "runtime_rss_kb", "idle runtime RSS"),
];

fn bar_panels(summaries: &[CaseSummary], wanted: &[(&str, &str, &str)]) -> Vec<BarPanel> {
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
                        Outcome::Measured { .. } => s.value(*p, key).ok_or("-"),
                        Outcome::NotSupported(_) => Err("n/s"),
                        _ => Err("failed"),
                    };
                    (*p, v)
                })
                .collect();
            out.push(BarPanel {
                title: format!("{title} ({}, {})", s.case, m.unit),
                unit: m.unit.clone(),
                bars,
            });
        }
    }
    out
}

fn cdf_panels(summaries: &[CaseSummary]) -> Vec<CdfPanel> {
    let mut out = Vec::new();
    for s in summaries {
        let mut names: Vec<String> = Vec::new();
        for (_, o) in &s.peers {
            if let Outcome::Measured { series, .. } = o {
                for se in series {
                    if !names.contains(&se.name) {
                        names.push(se.name.clone());
                    }
                }
            }
        }
        for name in names {
            let lines: Vec<(PeerKind, Vec<(f64, f64)>)> = s
                .peers
                .iter()
                .filter_map(|(p, o)| match o {
                    Outcome::Measured { series, .. } => {
                        series.iter().find(|se| se.name == name).map(|se| (*p, se.points.clone()))
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

fn grid(n: usize) -> (usize, usize) {
    let cols = if n <= 1 {
        1
    } else if n <= 4 {
        2
    } else {
        3
    };
    (n.div_ceil(cols), cols)
}

fn err<E: std::fmt::Debug>(e: E) -> String {
    format!("{e:?}")
}

fn draw_bars(path: &Path, title: &str, panels: &[BarPanel]) -> Result<(), String> {
    let (rows, cols) = grid(panels.len());
    let root =
        SVGBackend::new(path, ((420 * cols as u32).max(760), 300 * rows as u32 + 40)).into_drawing_area();
    root.fill(&WHITE).map_err(err)?;
    let root = root.titled(title, ("sans-serif", 22)).map_err(err)?;
    for (area, panel) in root.split_evenly((rows, cols)).iter().zip(panels) {
        draw_bar_panel(area, panel)?;
    }
    root.present().map_err(err)
}

fn draw_bar_panel(area: &Area<'_>, panel: &BarPanel) -> Result<(), String> {
    let n = panel.bars.len().max(1);
    let max = panel.bars.iter().filter_map(|(_, v)| v.as_ref().ok().copied()).fold(0.0f64, f64::max);
    let ymax = if max > 0.0 { max * 1.2 } else { 1.0 };
    let names: Vec<String> = panel.bars.iter().map(|(p, _)| p.name().to_string()).collect();
    let unit = panel.unit.clone();
    let mut chart = ChartBuilder::on(area)
        .caption(&panel.title, ("sans-serif", 14))
        .margin(8)
        .x_label_area_size(24)
        .y_label_area_size(64)
        .build_cartesian_2d((0..n - 1).into_segmented(), 0f64..ymax)
        .map_err(err)?;
    chart
        .configure_mesh()
        .disable_x_mesh()
        .x_labels(n)
        .x_label_formatter(&|v| match v {
            SegmentValue::CenterOf(i) => names.get(*i).cloned().unwrap_or_default(),
            _ => String::new(),
        })
        .y_labels(5)
        .y_label_formatter(&|v| fmt_value(*v, &unit))
        .draw()
        .map_err(err)?;
    for (i, (p, v)) in panel.bars.iter().enumerate() {
        match v {
            Ok(v) => {
                let c = color(*p);
                let mut rect = Rectangle::new(
                    [(SegmentValue::Exact(i), 0.0), (SegmentValue::Exact(i + 1), *v)],
                    c.filled(),
                );
                rect.set_margin(0, 0, 10, 10);
                chart.draw_series(std::iter::once(rect)).map_err(err)?;
                chart
                    .draw_series(std::iter::once(Text::new(
                        fmt_value(*v, &panel.unit),
                        (SegmentValue::CenterOf(i), *v + ymax * 0.06),
                        ("sans-serif", 12)
                            .into_font()
                            .color(&BLACK)
                            .pos(Pos::new(HPos::Center, VPos::Bottom)),
                    )))
                    .map_err(err)?;
            }
            Err(why) => {
                chart
                    .draw_series(std::iter::once(Text::new(
                        why.to_string(),
                        (SegmentValue::CenterOf(i), ymax * 0.08),
                        ("sans-serif", 12)
                            .into_font()
                            .color(&RGBColor(120, 120, 120))
                            .pos(Pos::new(HPos::Center, VPos::Bottom)),
                    )))
                    .map_err(err)?;
            }
        }
    }
    Ok(())
}

fn nines(q: f64) -> f64 {
    -(1.0 - q).max(1e-6).log10()
}

fn draw_cdfs(path: &Path, title: &str, panels: &[CdfPanel]) -> Result<(), String> {
    let (rows, cols) = grid(panels.len());
    let root =
        SVGBackend::new(path, ((480 * cols as u32).max(900), 320 * rows as u32 + 40)).into_drawing_area();
    root.fill(&WHITE).map_err(err)?;
    let root = root.titled(title, ("sans-serif", 22)).map_err(err)?;
    for (area, panel) in root.split_evenly((rows, cols)).iter().zip(panels) {
        let pts = |p: &Vec<(f64, f64)>| -> Vec<(f64, f64)> {
            p.iter().filter(|(q, _)| *q < 1.0).map(|(q, v)| (nines(*q), v.max(0.01))).collect()
        };
        let all: Vec<(f64, f64)> = panel.lines.iter().flat_map(|(_, p)| pts(p)).collect();
        let xmax = all.iter().map(|p| p.0).fold(1.0f64, f64::max);
        let ymin = all.iter().map(|p| p.1).fold(f64::INFINITY, f64::min).max(0.01);
        let ymax = all.iter().map(|p| p.1).fold(0.0f64, f64::max).max(ymin * 10.0);
        let mut chart = ChartBuilder::on(area)
            .caption(&panel.title, ("sans-serif", 14))
            .margin(8)
            .x_label_area_size(24)
            .y_label_area_size(64)
            .build_cartesian_2d(0f64..xmax, (ymin * 0.8..ymax * 1.25).log_scale())
            .map_err(err)?;
        chart
            .configure_mesh()
            .x_labels(xmax.ceil() as usize + 1)
            .x_label_formatter(&|x| {
                let q = 100.0 * (1.0 - 10f64.powf(-*x));
                if q < 99.0 {
                    format!("p{q:.0}")
                } else {
                    format!("p{}", (q * 100.0).round() / 100.0)
                }
            })
            .y_label_formatter(&|v| fmt_value(*v, "us"))
            .draw()
            .map_err(err)?;
        for (p, line) in &panel.lines {
            let c = color(*p);
            chart
                .draw_series(LineSeries::new(pts(line), c.stroke_width(2)))
                .map_err(err)?
                .label(p.name())
                .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 18, y)], c.stroke_width(2)));
        }
        legend(&mut chart)?;
    }
    root.present().map_err(err)
}

/// Draws every plot that has data into `dir`; returns the file names written.
pub fn draw_all(dir: &Path, summaries: &[CaseSummary], _peers: &[PeerKind]) -> Result<Vec<String>, String> {
    let mut files = Vec::new();
    let tp = bar_panels(summaries, THROUGHPUT);
    if !tp.is_empty() {
        draw_bars(&dir.join("throughput.svg"), "Throughput (higher is better)", &tp)?;
        files.push("throughput.svg".to_string());
    }
    let cdf = cdf_panels(summaries);
    if !cdf.is_empty() {
        draw_cdfs(
            &dir.join("latency-cdf.svg"),
            "Latency CDFs (lower is better; x: percentile, y: log scale)",
            &cdf,
        )?;
        files.push("latency-cdf.svg".to_string());
    }
    let mem = bar_panels(summaries, MEMORY);
    if !mem.is_empty() {
        draw_bars(&dir.join("memory.svg"), "Memory (lower is better)", &mem)?;
        files.push("memory.svg".to_string());
    }
    files.extend(super::cluster_plot::draw(dir, summaries)?);
    Ok(files)
}

/// The legend box, upper left.
pub(super) fn legend<'a, DB: DrawingBackend + 'a, CT: plotters::coord::CoordTranslate>(
    chart: &mut ChartContext<'a, DB, CT>,
) -> Result<(), String> {
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperLeft)
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .label_font(("sans-serif", 12))
        .draw()
        .map_err(err)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nines_axis() {
        assert!((nines(0.5) - std::f64::consts::LOG10_2).abs() < 1e-9);
        assert!((nines(0.99) - 2.0).abs() < 1e-9);
        assert_eq!(grid(1), (1, 1));
        assert_eq!(grid(4), (2, 2));
        assert_eq!(grid(5), (2, 3));
    }
}
