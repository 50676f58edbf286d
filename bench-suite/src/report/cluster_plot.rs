//! `cluster.svg`: the `cluster` scenario at a glance. Left: throughput against node count
//! (kairos-cluster processing, enqueue batched and one at a time, and apalis-redis
//! processing, each a line over 1 and 3 nodes). Right: enqueue-to-start latency CDFs at
//! 1,000/s and 5,000/s offered, one line per node count (log scale, "nines" axis as in
//! `latency-cdf.svg`). Each half has its legend in a strip above its chart. With one
//! round (quick mode) the figures are that round's; otherwise the medians over rounds,
//! as in the table.

use std::path::Path;

use plotters::prelude::*;

use super::axes::{linear_ticks, log_ticks, ticked};
use super::cdf_plot::nines;
use super::plots::{legend_height, legend_strip, LegendEntry};
use super::{CaseSummary, Outcome};
use crate::peers::PeerKind;

const LINES: [(&str, &str, RGBColor); 4] = [
    ("process_per_s", "kairos processing", RGBColor(214, 39, 40)),
    ("enqueue_batch_per_s", "kairos enqueue, batches", RGBColor(255, 127, 14)),
    ("enqueue_one_per_s", "kairos enqueue, one by one", RGBColor(148, 103, 189)),
    ("apalis_process_per_s", "apalis-redis processing", RGBColor(31, 119, 180)),
];

/// A line of the throughput panel: label, colour, `(nodes, jobs/s)` points.
type ThroughputLine = (&'static str, RGBColor, Vec<(f64, f64)>);

fn nodes_of(case: &str) -> Option<f64> {
    case.split_whitespace().next()?.parse().ok()
}

fn err<E: std::fmt::Debug>(e: E) -> String {
    format!("{e:?}")
}

/// Draws `cluster.svg` into `dir` if the cluster scenario measured anything; returns the
/// file name written.
pub fn draw(dir: &Path, summaries: &[CaseSummary]) -> Result<Option<String>, String> {
    let cases: Vec<(f64, &CaseSummary)> = summaries
        .iter()
        .filter(|s| s.scenario == "cluster")
        .filter_map(|s| Some((nodes_of(&s.case)?, s)))
        .filter(|(_, s)| s.value(PeerKind::Kairos, "process_per_s").is_some())
        .collect();
    if cases.is_empty() {
        return Ok(None);
    }
    let file = "cluster.svg";
    let path = dir.join(file);
    let root = SVGBackend::new(&path, (1100, 420)).into_drawing_area();
    root.fill(&WHITE).map_err(err)?;
    let root = root.titled("kairos-cluster on one Redis", ("sans-serif", 22)).map_err(err)?;
    let (left, right) = root.split_horizontally(520);

    let lines: Vec<ThroughputLine> = LINES
        .iter()
        .map(|&(key, label, c)| {
            (
                label,
                c,
                cases.iter().filter_map(|(n, s)| Some((*n, s.value(PeerKind::Kairos, key)?))).collect(),
            )
        })
        .filter(|(_, _, pts): &ThroughputLine| !pts.is_empty())
        .collect();
    let entries: Vec<LegendEntry> = lines.iter().map(|(l, c, _)| (l.to_string(), Some(*c))).collect();
    let (strip, left) = left.split_vertically(legend_height(&entries, 520));
    legend_strip(&strip, &entries)?;
    let ymax = lines.iter().flat_map(|(_, _, pts)| pts.iter().map(|p| p.1)).fold(1.0f64, f64::max);
    let yticks = linear_ticks(ymax);
    let ytop = *yticks.last().unwrap_or(&1.0);
    let mut chart = ChartBuilder::on(&left)
        .caption("throughput (jobs/s) against node count", ("sans-serif", 14))
        .margin(10)
        .x_label_area_size(28)
        .y_label_area_size(70)
        .build_cartesian_2d(ticked(0.5f64..3.5, vec![1.0, 2.0, 3.0]), ticked(0f64..ytop, yticks))
        .map_err(err)?;
    chart.configure_mesh().x_desc("nodes (2 workers each)").draw().map_err(err)?;
    for (_, c, pts) in &lines {
        chart.draw_series(LineSeries::new(pts.clone(), c.stroke_width(2))).map_err(err)?;
        chart.draw_series(pts.iter().map(|&p| Circle::new(p, 4, c.filled()))).map_err(err)?;
    }

    let mut curves: Vec<(String, Vec<(f64, f64)>)> = Vec::new();
    for (n, s) in &cases {
        for (p, o) in &s.peers {
            let Outcome::Measured { curves: folded, .. } = o else { continue };
            if *p != PeerKind::Kairos {
                continue;
            }
            for se in folded.iter().filter(|se| se.name.starts_with("enqueue to start")) {
                let rate = se.name.rsplit(" at ").next().unwrap_or("").replace(" offered", "");
                let pts = se
                    .points
                    .iter()
                    .filter(|(q, _)| *q < 1.0)
                    .map(|(q, c)| (nines(*q), c.median.max(1.0)))
                    .collect();
                curves.push((format!("{n} node(s), {rate}"), pts));
            }
        }
    }
    let palette =
        [RGBColor(214, 39, 40), RGBColor(255, 127, 14), RGBColor(31, 119, 180), RGBColor(44, 160, 44)];
    let entries: Vec<LegendEntry> =
        curves.iter().enumerate().map(|(i, (l, _))| (l.clone(), Some(palette[i % palette.len()]))).collect();
    let (strip, right) = right.split_vertically(legend_height(&entries, 580));
    legend_strip(&strip, &entries)?;
    let all: Vec<(f64, f64)> = curves.iter().flat_map(|(_, p)| p.iter().copied()).collect();
    let xmax = all.iter().map(|p| p.0).fold(1.0f64, f64::max).ceil();
    let ymin = all.iter().map(|p| p.1).fold(f64::INFINITY, f64::min).clamp(1.0, 1e9);
    let ymax = all.iter().map(|p| p.1).fold(0.0f64, f64::max);
    let yticks = log_ticks(ymin, ymax);
    let (ylo, yhi) = (yticks[0], *yticks.last().unwrap_or(&10.0));
    let mut chart = ChartBuilder::on(&right)
        .caption("enqueue to start (us) by percentile", ("sans-serif", 14))
        .margin(10)
        .x_label_area_size(28)
        .y_label_area_size(70)
        .build_cartesian_2d(
            ticked(0f64..xmax, (0..=xmax as usize).map(|x| x as f64).collect()),
            ticked((ylo..yhi).log_scale(), yticks),
        )
        .map_err(err)?;
    chart
        .configure_mesh()
        .x_label_formatter(&|x| format!("p{}", ((100.0 * (1.0 - 10f64.powf(-*x))) * 10.0).round() / 10.0))
        .draw()
        .map_err(err)?;
    for (i, (_, pts)) in curves.into_iter().enumerate() {
        let c = palette[i % palette.len()];
        chart.draw_series(LineSeries::new(pts, c.stroke_width(2))).map_err(err)?;
    }
    root.present().map_err(err)?;
    Ok(Some(file.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::{Cell, Curve, MetricInfo};
    use crate::scenarios::Better;

    fn case(nodes: &str, rate: f64) -> CaseSummary {
        let cell = |v: f64| Cell { median: v, min: v, max: v, rounds: 1 };
        let cells = [("process_per_s", rate), ("apalis_process_per_s", rate / 5.0)]
            .into_iter()
            .map(|(k, v)| (k.to_string(), cell(v)))
            .collect();
        let curves = vec![Curve {
            name: "enqueue to start at 5k/s offered".into(),
            unit: "us".into(),
            points: [(0.0, 100.0), (0.5, 300.0), (0.99, 2000.0), (1.0, 5000.0)]
                .into_iter()
                .map(|(q, v)| (q, cell(v)))
                .collect(),
        }];
        CaseSummary {
            scenario: "cluster".into(),
            case: nodes.into(),
            metrics: vec![MetricInfo {
                key: "process_per_s".into(),
                label: "processing".into(),
                unit: "jobs/s".into(),
                better: Better::Higher,
            }],
            peers: vec![(PeerKind::Kairos, Outcome::Measured { cells, notes: vec![], curves })],
        }
    }

    #[test]
    fn draws_throughput_against_nodes_only_when_the_cluster_ran() {
        let dir = std::env::temp_dir().join(format!("kairos-cluster-plot-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        assert_eq!(draw(&dir, &[]).unwrap(), None);
        let file = draw(&dir, &[case("1 node", 40_000.0), case("3 nodes", 42_000.0)]).unwrap();
        assert_eq!(file.as_deref(), Some("cluster.svg"));
        let svg = std::fs::read_to_string(dir.join("cluster.svg")).unwrap();
        assert!(svg.contains("apalis-redis processing") && svg.contains("3 node(s), 5k/s"), "legend missing");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
