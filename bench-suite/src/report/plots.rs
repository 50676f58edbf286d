//! SVG plots (plotters, SVG backend, no font dependencies: text is left to the viewer).
//!
//! - `throughput.svg`: one bar panel per throughput figure (tasks/s), a bar per peer
//!   ([`bar_plot`](super::bar_plot));
//! - `latency-cdf.svg`: one panel per latency curve (timer lateness, open-loop latency at
//!   each rate, probe wait, IoT messages), a line per peer
//!   ([`cdf_plot`](super::cdf_plot));
//! - `memory.svg`: one bar panel per memory figure (bytes per pending task, ...);
//! - `cluster.svg` ([`cluster_plot`](super::cluster_plot)).
//!
//! Every figure plotted is one the tables print: medians over rounds, with the spread
//! over rounds drawn around them (whiskers on bars, bands around curves). Legends sit in
//! a strip of their own under the figure's title, never over a panel's data.

use std::path::Path;

use plotters::coord::Shift;
use plotters::prelude::*;

use super::bar_plot::{bar_panels, draw_bar_panel, BELOW_RESOLUTION, RESOLUTION_NOTE};
use super::cdf_plot::{cdf_panels, draw_cdf_panel};
use super::CaseSummary;
use crate::peers::PeerKind;

pub(super) type Area<'a> = DrawingArea<SVGBackend<'a>, Shift>;

/// The colour of a peer in every plot.
pub(super) fn color(p: PeerKind) -> RGBColor {
    match p {
        PeerKind::Kairos => RGBColor(214, 39, 40),
        PeerKind::Tokio => RGBColor(31, 119, 180),
        PeerKind::Rayon => RGBColor(44, 160, 44),
        PeerKind::HeapPool => RGBColor(255, 127, 14),
    }
}

/// A plotters error as text.
pub(super) fn err<E: std::fmt::Debug>(e: E) -> String {
    format!("{e:?}")
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

/// Rows and columns for `n` panels.
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

/// One legend entry: a line (`Some(colour)`) or a shaded box (`None`: grey) and its text.
pub(super) type LegendEntry = (String, Option<RGBColor>);

/// Height of one row of a legend strip, pixels.
const LEGEND_ROW: u32 = 24;

/// Width an entry takes in a strip (no font metrics in SVG: ~7 px per character at 13 px).
fn entry_width(e: &LegendEntry) -> i32 {
    26 + 7 * e.0.chars().count() as i32 + 24
}

/// The entries placed row by row in a strip `width` pixels wide: `(row, x)` each.
fn legend_layout(entries: &[LegendEntry], width: u32) -> Vec<(u32, i32)> {
    let (mut row, mut x) = (0u32, 12i32);
    entries
        .iter()
        .map(|e| {
            if x > 12 && x + entry_width(e) > width as i32 {
                row += 1;
                x = 12;
            }
            let at = (row, x);
            x += entry_width(e);
            at
        })
        .collect()
}

/// The height of the strip that holds `entries` in `width` pixels.
pub(super) fn legend_height(entries: &[LegendEntry], width: u32) -> u32 {
    let rows = legend_layout(entries, width).last().map_or(0, |(r, _)| r + 1);
    rows * LEGEND_ROW + 4
}

/// Draws `entries` in `area`, a strip of its own outside every plot, wrapping rows.
pub(super) fn legend_strip(area: &Area<'_>, entries: &[LegendEntry]) -> Result<(), String> {
    let width = area.dim_in_pixel().0;
    for ((text, c), (row, x)) in entries.iter().zip(legend_layout(entries, width)) {
        let y = (row * LEGEND_ROW + LEGEND_ROW / 2) as i32;
        match c {
            Some(c) => area.draw(&PathElement::new(vec![(x, y), (x + 20, y)], c.stroke_width(3))),
            None => area.draw(&Rectangle::new(
                [(x, y - 6), (x + 20, y + 6)],
                RGBColor(160, 160, 160).mix(0.35).filled(),
            )),
        }
        .map_err(err)?;
        area.draw(&Text::new(text.clone(), (x + 26, y - 7), ("sans-serif", 13).into_font())).map_err(err)?;
    }
    Ok(())
}

/// The peers present in `peers`, as legend lines.
fn peer_entries(peers: impl Iterator<Item = PeerKind>) -> Vec<LegendEntry> {
    let mut seen: Vec<PeerKind> = Vec::new();
    for p in peers {
        if !seen.contains(&p) {
            seen.push(p);
        }
    }
    seen.sort();
    seen.into_iter().map(|p| (p.name().to_string(), Some(color(p)))).collect()
}

/// A figure: `title`, a legend strip, then `n` panels in a grid of `panel` pixels each;
/// `draw(i, area)` draws panel `i`.
fn figure(
    path: &Path,
    title: &str,
    legend: &[LegendEntry],
    n: usize,
    panel: (u32, u32),
    mut draw: impl FnMut(usize, &Area<'_>) -> Result<(), String>,
) -> Result<(), String> {
    let (rows, cols) = grid(n);
    let width = (panel.0 * cols as u32).max(900);
    let strip_h = legend_height(legend, width);
    let root = SVGBackend::new(path, (width, panel.1 * rows as u32 + 40 + strip_h)).into_drawing_area();
    root.fill(&WHITE).map_err(err)?;
    let root = root.titled(title, ("sans-serif", 22)).map_err(err)?;
    let (strip, panels) = root.split_vertically(strip_h);
    legend_strip(&strip, legend)?;
    for (i, area) in panels.split_evenly((rows, cols)).iter().enumerate().take(n) {
        draw(i, area)?;
    }
    root.present().map_err(err)
}

/// Draws every plot that has data into `dir`; returns the file names written.
pub fn draw_all(dir: &Path, summaries: &[CaseSummary], _peers: &[PeerKind]) -> Result<Vec<String>, String> {
    let mut files = Vec::new();
    let bars = |file: &str,
                title: &str,
                wanted: &[(&str, &str, &str)],
                files: &mut Vec<String>|
     -> Result<(), String> {
        let panels = bar_panels(summaries, wanted);
        let mut notes: Vec<LegendEntry> =
            vec![("bar: median over rounds, written above; whisker: smallest to largest round".into(), None)];
        if panels.iter().any(|p| p.zero == BELOW_RESOLUTION) {
            notes.push((RESOLUTION_NOTE.into(), None));
        }
        if !panels.is_empty() {
            figure(&dir.join(file), title, &notes, panels.len(), (420, 300), |i, a| {
                draw_bar_panel(a, &panels[i])
            })?;
            files.push(file.to_string());
        }
        Ok(())
    };
    bars("throughput.svg", "Throughput (higher is better)", THROUGHPUT, &mut files)?;
    let cdf = cdf_panels(summaries);
    if !cdf.is_empty() {
        let mut legend = peer_entries(cdf.iter().flat_map(|p| p.lines.iter().map(|l| l.0)));
        legend.push((
            "line: median over rounds at each percentile; band: smallest to largest round".into(),
            None,
        ));
        figure(
            &dir.join("latency-cdf.svg"),
            "Latency CDFs (lower is better; x: percentile, y: log scale)",
            &legend,
            cdf.len(),
            (480, 320),
            |i, a| draw_cdf_panel(a, &cdf[i]),
        )?;
        files.push("latency-cdf.svg".to_string());
    }
    bars("memory.svg", "Memory (lower is better)", MEMORY, &mut files)?;
    files.extend(super::cluster_plot::draw(dir, summaries)?);
    Ok(files)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grid_shapes() {
        assert_eq!(grid(1), (1, 1));
        assert_eq!(grid(4), (2, 2));
        assert_eq!(grid(5), (2, 3));
    }

    #[test]
    fn legend_entries_wrap_inside_the_strip() {
        let e = |t: &str| (t.to_string(), None);
        let entries = [e("kairos processing"), e("kairos enqueue, batches"), e("apalis-redis processing")];
        let one_row = legend_layout(&entries, 2000);
        assert!(one_row.iter().all(|(row, _)| *row == 0));
        let narrow = legend_layout(&entries, 300);
        assert_eq!(narrow.iter().map(|(row, _)| *row).collect::<Vec<_>>(), vec![0, 1, 2]);
        for ((row, x), en) in narrow.iter().zip(&entries) {
            assert!(*x + entry_width(en) <= 300 || *x == 12, "entry in row {row} overflows");
        }
        assert!(legend_height(&entries, 300) > legend_height(&entries, 2000));
    }
}
