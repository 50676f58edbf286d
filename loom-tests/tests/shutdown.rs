//! loom models of shutdown vs spawn: the intake gate (`kairos_rt_core::intake::Intake`)
//! between outside submitters and `Runtime::shutdown`.
//!
//! Property: every outside submission ends exactly one way — refused (the body is handed
//! back), or in a queue by the time `Intake::close` returns (then a worker runs it or the
//! shutdown drain finds it) — never lost, never both, never run twice.
//!
//! The submitter mirrors `runtime/src/runtime.rs`, `Handle::submit_from` for a
//! non-worker thread (`Intake::begin`, allocate, `Injectors::push`, `Intake::end`); the
//! closer mirrors `Runtime::shutdown_inner` (`Intake::close`, then drain the injectors).
//! A worker may take tasks meanwhile (`WorkerCtx::next_task`).
#![cfg(loom)]

#[allow(dead_code)]
mod common;

use common::{counter, detached_task, get, model, step, Hub};
use kairos_rt_core::intake::Intake;
use kairos_rt_core::queue::{Injectors, RunQueue};
use kairos_rt_core::task::{RunResult, TaskRef};
use kairos_rt_core::Priority;
use loom::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use loom::sync::Arc;
use loom::thread;

struct Gate {
    intake: Intake,
    injectors: Injectors,
}

/// What became of one submission.
#[derive(Debug, PartialEq)]
enum Submitted {
    /// Refused: the body came back.
    Refused,
    /// Admitted and pushed.
    Queued,
}

/// `Handle::submit_from` for a thread that is not a worker: pass the gate or hand the body
/// back; if admitted, allocate and push, then leave the gate.
fn submit(gate: &Gate, hub: &Arc<Hub>, runs: &Arc<AtomicUsize>) -> Submitted {
    if !gate.intake.begin() {
        step("submitter: refused");
        return Submitted::Refused;
    }
    let runs = runs.clone();
    let task = detached_task(hub, Priority::NORMAL, move || {
        runs.fetch_add(1, SeqCst);
    });
    gate.injectors.push(task);
    step("submitter: pushed");
    gate.intake.end();
    Submitted::Queued
}

fn run(task: TaskRef) {
    assert!(matches!(task.run(), RunResult::Finished(_)));
}

/// Two outside submitters race `Runtime::shutdown_inner`'s `Intake::close`, while a
/// worker takes what it finds. When `close` returns, every admitted submission is in the
/// injectors or already taken by the worker: the closer's drain (before it joins anyone)
/// plus the worker's runs account for every admitted task exactly once, and refused ones
/// never reach a queue.
#[test]
fn submission_is_refused_or_queued_before_close_returns() {
    model(3, || {
        let hub = Hub::new();
        let gate = Arc::new(Gate { intake: Intake::new(), injectors: Injectors::new() });
        let runs = [counter(), counter()];
        let submitters: Vec<_> = runs
            .iter()
            .map(|r| {
                let (gate, hub, r) = (gate.clone(), hub.clone(), r.clone());
                thread::spawn(move || submit(&gate, &hub, &r))
            })
            .collect();
        let worker = {
            let gate = gate.clone();
            thread::spawn(move || {
                // `WorkerCtx::next_task` once, as a worker still running before it sees
                // `stopping`.
                let rq = RunQueue::new();
                let mut took = 0;
                if let Some(t) = gate.injectors.steal_into(&rq, Priority::LOWEST) {
                    run(t);
                    took += 1;
                }
                while let Some(t) = rq.pop() {
                    run(t);
                    took += 1;
                }
                step(format!("worker: ran {took}"));
                took
            })
        };
        // `Runtime::shutdown_inner`: close the gate; after that, whatever got in is queued.
        gate.intake.close();
        step("closer: closed");
        let mut drained = 0;
        while let Some(t) = gate.injectors.steal_one() {
            run(t);
            drained += 1;
        }
        step(format!("closer: drained {drained}"));
        // Only now wait for the others: nothing admitted may land after the drain.
        let outcomes: Vec<Submitted> = submitters.into_iter().map(|s| s.join().unwrap()).collect();
        let took = worker.join().unwrap();
        let admitted = outcomes.iter().filter(|s| **s == Submitted::Queued).count();
        assert_eq!(drained + took, admitted, "an admitted task landed after close returned, or was lost");
        for (r, s) in runs.iter().zip(&outcomes) {
            let expected = usize::from(*s == Submitted::Queued);
            assert_eq!(get(r), expected, "a task ran {} times after {s:?}", get(r));
        }
        assert!(gate.injectors.is_empty());
        assert!(gate.intake.is_closed() && !gate.intake.begin(), "a closed gate admits nothing");
        assert_eq!(hub.freed(), admitted);
    });
}
