//! The child side of a run: `kairos-bench __run --peer P --scenario S --case C ...`.
//!
//! Builds one peer, runs one case, and prints exactly one line to stdout: [`RESULT_MARKER`]
//! followed by the [`RunOutput`] as JSON. Anything else on stdout or stderr is ignored by
//! the runner (stderr is kept to explain a failure). A panic inside the scenario becomes a
//! `failed` result. The process then exits at once, without tearing down what the
//! scenario leaked on purpose.

use std::io::Write;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::time::Instant;

use crate::args::ChildArgs;
use crate::scenarios::{run_case_for, CaseResult, Ctx, RunOutput, Skip, Status};

/// Prefix of the result line.
pub const RESULT_MARKER: &str = "@@kairos-bench-result@@ ";

/// Runs the case described by `args` and returns its output.
pub fn run(args: &ChildArgs) -> RunOutput {
    let ctx =
        Ctx { scenario: args.scenario, case: args.case.clone(), mode: args.mode, workers: args.workers };
    let t0 = Instant::now();
    let outcome = catch_unwind(AssertUnwindSafe(|| run_case_for(args.peer, &ctx))).unwrap_or_else(|p| {
        let msg = p
            .downcast_ref::<String>()
            .cloned()
            .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
            .unwrap_or_else(|| "panic".into());
        Err(Skip::Failed(format!("panicked: {msg}")))
    });
    let (status, reason, result) = match outcome {
        Ok(r) => (Status::Ok, None, r),
        Err(Skip::NotSupported(why)) => (Status::NotSupported, Some(why), CaseResult::default()),
        Err(Skip::Failed(why)) => (Status::Failed, Some(why), CaseResult::default()),
    };
    RunOutput {
        peer: args.peer.name().into(),
        scenario: args.scenario.name().into(),
        case: args.case.clone(),
        round: args.round,
        status,
        reason,
        result,
        alloc: crate::alloc::current(),
        workers: args.workers,
        wall_s: t0.elapsed().as_secs_f64(),
    }
}

/// Runs the case, prints the result line and exits the process.
pub fn main(args: &ChildArgs) -> ! {
    let out = run(args);
    let line = serde_json::to_string(&out).expect("a RunOutput always serializes");
    let mut stdout = std::io::stdout().lock();
    let _ = writeln!(stdout, "{RESULT_MARKER}{line}");
    let _ = stdout.flush();
    std::process::exit(0)
}

/// Finds and parses the result line in a child's stdout.
pub fn parse_output(stdout: &str) -> Option<Result<RunOutput, String>> {
    stdout
        .lines()
        .find_map(|l| l.strip_prefix(RESULT_MARKER))
        .map(|json| serde_json::from_str(json).map_err(|e| e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_result_line_among_noise() {
        let out = RunOutput {
            peer: "heap-pool".into(),
            scenario: "spawn".into(),
            case: "1k".into(),
            round: 0,
            status: Status::NotSupported,
            reason: Some("because".into()),
            result: CaseResult::default(),
            alloc: crate::alloc::AllocKind::System,
            workers: 2,
            wall_s: 0.1,
        };
        let text = format!("noise\n{RESULT_MARKER}{}\nmore noise\n", serde_json::to_string(&out).unwrap());
        assert_eq!(parse_output(&text), Some(Ok(out)));
        assert_eq!(parse_output("nothing here"), None);
        assert!(matches!(parse_output(&format!("{RESULT_MARKER}{{bad")), Some(Err(_))));
    }

    #[test]
    fn a_small_case_runs_in_process() {
        use crate::peers::PeerKind;
        use crate::scenarios::{Mode, Scenario};
        let out = run(&ChildArgs {
            peer: PeerKind::HeapPool,
            scenario: Scenario::Spawn,
            case: "2k".into(),
            workers: 2,
            mode: Mode::Quick,
            round: 0,
        });
        assert_eq!(out.status, Status::Ok, "{:?}", out.reason);
        assert!(out.result.metrics.iter().any(|m| m.key == "tasks_per_s" && m.value > 0.0));
        let rayon_timers = run(&ChildArgs {
            peer: PeerKind::Rayon,
            scenario: Scenario::Timers,
            case: "1k".into(),
            workers: 2,
            mode: Mode::Quick,
            round: 0,
        });
        assert_eq!(rayon_timers.status, Status::NotSupported);
    }
}
