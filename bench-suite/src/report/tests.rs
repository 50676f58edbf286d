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
    let report = Report::new(&opts, Machine::default(), Versions::default(), runs, Duration::from_secs(1));
    assert!(!report.summary_table().render_text().contains("bare OS wake-up"));
    assert!(!report.markdown(&[]).contains("Wake-up floor"));
}
