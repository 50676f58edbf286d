//! Tests of the report's statistics and rendering.

use super::*;
use crate::scenarios::{Better, CaseResult};
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
    assert!(table.contains("not supported"), "rayon-core was not supported: {table}");
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
    let report = Report::new(&opts, Machine::default(), Versions::default(), runs, Duration::from_secs(1));
    assert!(!report.summary_table().render_text().contains("bare OS wake-up"));
    assert!(!report.markdown(&[]).contains("Wake-up floor"));
}

/// One round of the latency case: p50 and p99 metrics and the CDF they come from.
fn latency_round(peer: PeerKind, round: u32, p50: f64, p99: f64, p999: f64) -> RunOutput {
    let mut r = CaseResult::default();
    r.metric("latency_p50", "submit-to-start p50", "us", p50, Better::Lower);
    r.metric("latency_p99", "submit-to-start p99", "us", p99, Better::Lower);
    r.series.push(crate::scenarios::Series {
        name: "submit-to-start".into(),
        unit: "us".into(),
        points: vec![(0.0, 1.0), (0.5, p50), (0.9, p50 * 2.0), (0.99, p99), (0.999, p999), (1.0, p999 * 2.0)],
    });
    RunOutput {
        scenario: "latency".into(),
        case: "50k/s".into(),
        result: r,
        ..run(peer, "50k/s", round, None, Status::Ok)
    }
}

#[test]
fn the_plotted_cdf_is_made_of_the_figures_the_table_quotes() {
    // The median round by p50 (round 1) has the worst p99 and p99.9: plotting it whole
    // showed a tail the table did not quote.
    let runs = vec![
        latency_round(PeerKind::Kairos, 0, 10.0, 100.0, 250.0),
        latency_round(PeerKind::Kairos, 1, 20.0, 199.0, 2400.0),
        latency_round(PeerKind::Kairos, 2, 30.0, 150.0, 300.0),
    ];
    let s = summarize(&runs, &[PeerKind::Kairos]);
    let panels = super::cdf_plot::cdf_panels(&s);
    assert_eq!(panels.len(), 1);
    let (peer, line) = &panels[0].lines[0];
    assert_eq!(*peer, PeerKind::Kairos);
    let at = |q: f64| {
        let x = super::cdf_plot::nines(q);
        *line.iter().find(|p| (p.0 - x).abs() < 1e-9).unwrap_or_else(|| panic!("no point at {q}: {line:?}"))
    };
    let Outcome::Measured { cells, .. } = &s[0].peers[0].1 else { panic!("{:?}", s[0].peers[0].1) };
    for (q, key) in [(0.5, "latency_p50"), (0.99, "latency_p99")] {
        assert_eq!(at(q).1, cells[key].median, "the curve at {key} is not the table's median");
    }
    for (q, key) in [(0.5, "latency_p50"), (0.99, "latency_p99")] {
        let (_, _, min, max) = at(q);
        assert_eq!(
            (min, max),
            (cells[key].min, cells[key].max),
            "the band at {key} is not the table's range"
        );
    }
    assert_eq!(at(0.99).1, 150.0);
    assert_eq!(at(0.999).1, 300.0, "p99.9: the median over rounds, not one round's tail");
    // The maximum has no place on a nines axis and is not drawn.
    assert!(line.iter().all(|p| p.0.is_finite() && p.0 <= 3.0 + 1e-9));
}

#[test]
fn tables_show_the_range_over_rounds_beside_each_median() {
    let s = summarize(&fake_runs(), &PeerKind::ALL);
    let t = scenario_tables(crate::scenarios::Scenario::Spawn, &s, Mode::Quick).remove(0);
    let heads: Vec<&str> = t.header.iter().map(String::as_str).collect();
    assert_eq!(
        heads[..9],
        ["figure", "kairos", "min-max", "tokio", "min-max", "rayon-core", "min-max", "heap-pool", "min-max"]
    );
    let row = &t.rows[0];
    assert_eq!(row[0], "tasks/s");
    assert_eq!((row[1].as_str(), row[2].as_str()), ("11.00M/s", "10.00-12.00M/s"));
    assert_eq!((row[3].as_str(), row[4].as_str()), ("1.30M/s", "1.20-1.40M/s"));
    assert_eq!((row[5].as_str(), row[7].as_str()), ("not supported", "failed"));
    let opts = Options::defaults(Mode::Quick);
    let report =
        Report::new(&opts, Machine::default(), Versions::default(), fake_runs(), Duration::from_secs(3));
    let summary = report.summary_table();
    assert!(summary.header.iter().filter(|h| *h == "min-max").count() == 4, "{:?}", summary.header);
    assert!(summary.rows[0].contains(&"10.00-12.00M/s".to_string()), "{:?}", summary.rows[0]);
}

#[test]
fn no_table_or_plot_abbreviates_not_supported() {
    let opts = Options::defaults(Mode::Quick);
    let report =
        Report::new(&opts, Machine::default(), Versions::default(), fake_runs(), Duration::from_secs(3));
    let dir = std::env::temp_dir().join(format!("kairos-report-ns-{}", std::process::id()));
    report.write(&dir, true).unwrap();
    let md = std::fs::read_to_string(dir.join("report.md")).unwrap();
    let svg = std::fs::read_to_string(dir.join("throughput.svg")).unwrap();
    std::fs::remove_dir_all(&dir).unwrap();
    for (what, text) in
        [("report.md", &md), ("throughput.svg", &svg), ("summary", &report.summary_table().render_text())]
    {
        assert!(!text.contains("n/s"), "{what} says n/s");
        assert!(text.contains("not supported"), "{what} does not say rayon-core was not supported");
    }
    assert!(
        !md.contains("ANCHORS") && !md.contains("shared/"),
        "the report cites a file outside the repository"
    );
}

fn memory_round(peer: PeerKind, rss_kb: f64, heap_kb: f64) -> RunOutput {
    let mut r = CaseResult::default();
    r.metric("mem_5000_kb", "RSS added", "KiB", rss_kb, Better::Lower);
    r.metric("heap_5000_kb", "heap added", "KiB", heap_kb, Better::Lower);
    RunOutput {
        scenario: "iot".into(),
        case: "memory".into(),
        result: r,
        ..run(peer, "memory", 0, None, Status::Ok)
    }
}

#[test]
fn a_zero_bar_says_whether_it_is_below_resolution() {
    let runs = vec![memory_round(PeerKind::Kairos, 0.0, 0.0), memory_round(PeerKind::Tokio, 800.0, 700.0)];
    let s = summarize(&runs, &[PeerKind::Kairos, PeerKind::Tokio]);
    let panels =
        super::bar_plot::bar_panels(&s, &[("iot", "mem_5000_kb", "RSS"), ("iot", "heap_5000_kb", "heap")]);
    assert_eq!(panels.len(), 2);
    assert!(panels[0].zero.contains("below\nresolution"), "RSS moves in pages: {}", panels[0].zero);
    assert_eq!(panels[1].zero, "0", "the counting allocator's zero is a true zero");
    let dir = std::env::temp_dir().join(format!("kairos-report-zero-{}", std::process::id()));
    let opts = Options { peers: vec![PeerKind::Kairos, PeerKind::Tokio], ..Options::defaults(Mode::Quick) };
    Report::new(&opts, Machine::default(), Versions::default(), runs, Duration::from_secs(1))
        .write(&dir, true)
        .unwrap();
    let svg = std::fs::read_to_string(dir.join("memory.svg")).unwrap();
    std::fs::remove_dir_all(&dir).unwrap();
    assert!(svg.contains("below") && svg.contains("resolution"), "the zero RSS bar is not explained");
    assert!(svg.contains("0 there means below resolution"), "the figure's notes do not explain it");
}

#[test]
fn every_axis_reaches_the_largest_value_plotted() {
    let runs = vec![
        latency_round(PeerKind::Kairos, 0, 10.0, 100.0, 250.0),
        latency_round(PeerKind::Kairos, 1, 20.0, 199.0, 2400.0),
        latency_round(PeerKind::Tokio, 0, 12.0, 2513.0, 6992.0),
    ];
    let s = summarize(&runs, &[PeerKind::Kairos, PeerKind::Tokio]);
    for panel in super::cdf_plot::cdf_panels(&s) {
        let (xs, ys) = super::cdf_plot::panel_ticks(&panel);
        let pts = || panel.lines.iter().flat_map(|(_, l)| l.iter());
        let xmax = pts().map(|p| p.0).fold(0.0, f64::max);
        let ymax = pts().map(|p| p.3).fold(0.0, f64::max);
        let ymin = pts().map(|p| p.2).fold(f64::INFINITY, f64::min);
        assert!(*xs.last().unwrap() >= xmax, "x ticks {xs:?} stop before {xmax}");
        assert!(*ys.last().unwrap() >= ymax && ys[0] <= ymin, "y ticks {ys:?} miss {ymin}..{ymax}");
    }
    let bars = super::bar_plot::bar_panels(
        &summarize(&fake_runs(), &PeerKind::ALL),
        &[("spawn", "tasks_per_s", "spawn")],
    );
    let top = super::bar_plot::largest(&bars[0]);
    assert_eq!(top, 12e6, "the largest whisker");
    assert!(*super::axes::linear_ticks(top).last().unwrap() >= top);
}
