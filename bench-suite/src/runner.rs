//! The parent side: runs every (scenario, case, round, peer) in a child process, shows
//! progress, prints a table per scenario and writes the report.
//!
//! Rounds are interleaved (round 1 of every peer, then round 2, ...) so that drift in the
//! machine's speed hits all peers alike. A child that does not finish within the
//! scenario's timeout is killed and its run is recorded as failed.

use std::io::Read;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::alloc::{ALLOC_ENV, COUNT_ENV};
use crate::args::{ChildArgs, Options};
use crate::machine::{target_dir, Machine, Versions};
use crate::report::{self, Report};
use crate::scenarios::{CaseResult, RunOutput, Scenario, Status};
use crate::wake_floor;

/// Runs the suite described by `opts`; returns the report directory.
pub fn run(opts: &Options) -> Result<PathBuf, String> {
    let exe = std::env::current_exe().map_err(|e| format!("cannot find own executable: {e}"))?;
    let out_dir = opts.out.clone().unwrap_or_else(|| target_dir().join("kairos-report"));
    let mut machine = Machine::detect();
    let versions = Versions::detect();
    let started = Instant::now();
    // Measured first, while nothing else of ours runs.
    let floor = wake_floor::measure(opts.mode.pick(5_000, 2_000));
    machine.wake_floor = Some(floor);

    println!(
        "kairos-bench: {} mode, {} round(s), {} workers, allocator {}, peers {}",
        opts.mode.name(),
        opts.rounds,
        opts.workers,
        opts.alloc.name(),
        opts.peers.iter().map(|p| p.name()).collect::<Vec<_>>().join(", ")
    );
    println!(
        "machine: {} ({} CPUs, {} GiB), {}",
        machine.cpu, machine.cpus, machine.memory_gib, versions.rustc
    );
    println!("wake-up floor: {}", floor.describe());
    if cfg!(debug_assertions) {
        println!("WARNING: this is a debug build; run with --release for meaningful figures");
    }

    let mut runs: Vec<RunOutput> = Vec::new();
    for &scenario in &opts.scenarios {
        let cases = scenario.cases(opts.mode);
        let rounds = scenario.rounds(opts.mode, opts.rounds);
        let total = (cases.len() * rounds as usize * opts.peers.len()) as u64;
        let bar = ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::stderr());
        bar.set_style(
            ProgressStyle::with_template("{prefix:>16} [{bar:30}] {pos}/{len} {elapsed:>4} {msg}")
                .expect("valid progress template")
                .progress_chars("=> "),
        );
        bar.set_prefix(scenario.name());
        let first = runs.len();
        for case in &cases {
            for round in 0..rounds {
                for &peer in &opts.peers {
                    bar.set_message(format!("{case} / {peer} / round {}", round + 1));
                    let child = ChildArgs {
                        peer,
                        scenario,
                        case: case.clone(),
                        workers: opts.workers,
                        mode: opts.mode,
                        round,
                    };
                    runs.push(run_child(&exe, &child, opts, scenario));
                    bar.inc(1);
                }
            }
        }
        bar.finish_and_clear();
        let summaries = report::summarize(&runs[first..], &opts.peers);
        for t in report::scenario_tables(scenario, &summaries, opts.mode) {
            println!("\n{}", t.render_text());
        }
    }

    let report = Report::new(opts, machine, versions, runs, started.elapsed());
    println!("\n{}", report.summary_table().render_text());
    report
        .write(&out_dir, opts.plots)
        .map_err(|e| format!("writing the report to {}: {e}", out_dir.display()))?;
    println!("\nreport: {}  ({:.0} s)", out_dir.join("report.md").display(), started.elapsed().as_secs_f64());
    Ok(out_dir)
}

fn failed(child: &ChildArgs, opts: &Options, status: Status, reason: String) -> RunOutput {
    RunOutput {
        peer: child.peer.name().into(),
        scenario: child.scenario.name().into(),
        case: child.case.clone(),
        round: child.round,
        status,
        reason: Some(reason),
        result: CaseResult::default(),
        alloc: child.scenario.alloc_for(&child.case).unwrap_or(opts.alloc),
        workers: child.workers,
        wall_s: 0.0,
    }
}

/// Runs one child process and returns its result (a `failed` result when it crashed,
/// printed no result line, or timed out).
fn run_child(exe: &std::path::Path, child: &ChildArgs, opts: &Options, scenario: Scenario) -> RunOutput {
    let spawned = Command::new(exe)
        .args(child.to_args())
        .env(ALLOC_ENV, scenario.alloc_for(&child.case).unwrap_or(opts.alloc).name())
        .env(COUNT_ENV, if scenario.counts_heap(&child.case) { "1" } else { "0" })
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn();
    let mut proc = match spawned {
        Ok(p) => p,
        Err(e) => return failed(child, opts, Status::Failed, format!("spawn failed: {e}")),
    };
    let mut out_pipe = proc.stdout.take().expect("piped stdout");
    let mut err_pipe = proc.stderr.take().expect("piped stderr");
    let out_reader = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = out_pipe.read_to_string(&mut s);
        s
    });
    let err_reader = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = err_pipe.read_to_string(&mut s);
        s
    });
    let timeout = scenario.timeout(opts.mode);
    let t0 = Instant::now();
    let status = loop {
        match proc.try_wait() {
            Ok(Some(st)) => break Some(st),
            Ok(None) if t0.elapsed() > timeout => {
                let _ = proc.kill();
                let _ = proc.wait();
                break None;
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(5)),
            Err(_) => break None,
        }
    };
    let stdout = out_reader.join().unwrap_or_default();
    let stderr = err_reader.join().unwrap_or_default();
    let tail = || {
        let lines: Vec<&str> = stderr.lines().rev().take(6).collect();
        lines.into_iter().rev().collect::<Vec<_>>().join(" | ")
    };
    match (status, crate::child::parse_output(&stdout)) {
        (Some(_), Some(Ok(out))) => out,
        (Some(_), Some(Err(e))) => failed(child, opts, Status::Failed, format!("bad result line: {e}")),
        (Some(st), None) => {
            failed(child, opts, Status::Failed, format!("child exited ({st}) without a result: {}", tail()))
        }
        (None, _) => {
            failed(child, opts, Status::Failed, format!("killed after the {timeout:?} timeout: {}", tail()))
        }
    }
}
