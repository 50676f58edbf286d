//! loom model of the wheel hand-over (`kairos_rt_core::shared_wheel`, used by the
//! runtime's `sched/worker/timers.rs`): a free worker fires a busy worker's due timers.
//!
//! One timed task waits in worker 0's wheel, due at [`DUE`]. Concurrently:
//! - a helper (worker 1) `try_hold`s the wheel and does step 1 for the owner: unlinks the
//!   cancel messages, fires what is due into its own queue, runs it;
//! - a canceller cancels the task through its join handle (a cancel message);
//! - the owner holds its wheel and does its own step 1 (advance), runs what it fired,
//!   then exits: `close` cancels whatever is still in the wheel (shutdown).
//!
//! Property: the task fires exactly once or is cancelled exactly once: exactly one
//! outcome is reported in all (`fire`'s ready or finished, `remove`'s `Some`,
//! `cancel_all`), it is the right one, the body runs only if the cancel lost, and the
//! cell is freed exactly once. loom also checks that no two holders touch the wheel (its
//! links are loom cells) without the flag ordering them.
//!
//! Seen to fail on a broken variant: with `SharedWheel`'s flag taken and released with
//! `Relaxed` instead of `Acquire`/`Release` (so a holder's accesses are not ordered after
//! the previous holder's), loom reports a causality violation on the wheel's cells.
#![cfg(loom)]

#[allow(dead_code)]
mod common;

use common::{counter, get, model, step, DropCount, Hub, TaskSched};
use kairos_rt_core::shared_wheel::SharedWheel;
use kairos_rt_core::sync::deque::Steal;
use kairos_rt_core::task::{allocate, Closure, JoinHandle, Outcome, RunResult, TaskOptions, TaskRef};
use kairos_rt_core::timer::{Inserted, TimerDriver};
use kairos_rt_core::Priority;
use loom::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use loom::sync::Arc;
use loom::thread;

/// The tick the task is due at.
const DUE: u64 = 5;
/// The tick every worker's clock reads.
const NOW: u64 = 10;

/// Step 1 for a wheel held by this thread: unlink the cancel messages, fire what is due.
fn tend(timers: &mut TimerDriver, hub: &Hub, ready: &mut Vec<TaskRef>, outcomes: &mut Vec<Outcome>) {
    loop {
        match hub.cancels.steal() {
            Steal::Success(t) => outcomes.extend(timers.remove(&t)),
            Steal::Retry => continue,
            Steal::Empty => break,
        }
    }
    timers.fire(NOW, |t| ready.push(t), |t| outcomes.push(t.snapshot().outcome()));
}

/// `WorkerCtx::run_task` for closures.
fn run(ready: Vec<TaskRef>, outcomes: &mut Vec<Outcome>) {
    for t in ready {
        match t.run() {
            RunResult::Finished(outcome) => outcomes.push(outcome),
            RunResult::Skipped(snap) => outcomes.push(snap.outcome()),
            other => panic!("unexpected run result {other:?}"),
        }
    }
}

#[test]
fn helper_fire_vs_owner_advance_vs_cancel_vs_shutdown_ends_each_timer_once() {
    model(2, || {
        let hub = Hub::new();
        let runs = counter();
        let dropped = counter();
        let (task, handle) = {
            let (runs, guard) = (runs.clone(), DropCount(dropped.clone()));
            let (task, join) = allocate(
                Closure(move || {
                    let _guard = guard;
                    runs.fetch_add(1, SeqCst);
                }),
                Some(TaskSched::new(&hub)),
                TaskOptions { join: true, ..TaskOptions::timed(Priority::NORMAL, DUE) },
            );
            // SAFETY: `allocate` with `join: true` returns the handle's counted reference
            // to a cell whose output type is `()`.
            (task, unsafe { JoinHandle::<()>::from_raw(join.expect("join requested")) })
        };
        let wheel = Arc::new(SharedWheel::new());
        let linked = wheel.hold(|timers| matches!(timers.insert(task), Inserted::Linked));
        assert_eq!(linked, Some(true));

        let helper = {
            let (wheel, hub) = (wheel.clone(), hub.clone());
            thread::spawn(move || {
                let (mut ready, mut outcomes) = (Vec::new(), Vec::new());
                let held = wheel.try_hold(|timers| tend(timers, &hub, &mut ready, &mut outcomes));
                step(format!("helper: held {}, fired {}", held.is_some(), ready.len()));
                run(ready, &mut outcomes);
                outcomes
            })
        };
        let canceller = thread::spawn(move || {
            let cancelled = handle.cancel();
            step(format!("canceller: cancel -> {cancelled}"));
            (cancelled, handle)
        });

        let (mut ready, mut outcomes) = (Vec::new(), Vec::new());
        wheel.hold(|timers| tend(timers, &hub, &mut ready, &mut outcomes)).expect("open");
        step(format!("owner: fired {}", ready.len()));
        run(ready, &mut outcomes);
        wheel.close(|timers| timers.cancel_all(|outcome, _| outcomes.push(outcome)));
        step(format!("owner: closed, outcomes {outcomes:?}"));

        outcomes.extend(helper.join().unwrap());
        let (cancelled, handle) = canceller.join().unwrap();
        // The worker's exit drops cancel messages that came too late to matter.
        drop(hub.take_cancels());

        assert_eq!(outcomes.len(), 1, "exactly one outcome, reported once: {outcomes:?}");
        match outcomes[0] {
            Outcome::Cancelled => assert!(cancelled, "cancelled only by the canceller"),
            Outcome::Output => assert!(!cancelled && get(&runs) == 1, "ran once"),
            Outcome::Shutdown => assert!(!cancelled && get(&runs) == 0, "dropped by shutdown"),
            other => panic!("unexpected outcome {other:?}"),
        }
        assert_eq!(get(&runs), usize::from(outcomes[0] == Outcome::Output), "runs exactly when it fired");
        assert_eq!(get(&dropped), 1, "body dropped exactly once");
        drop(handle);
        drop(wheel);
        assert_eq!(hub.freed(), 1, "lineage released exactly once");
    });
}

/// Two helpers race for the same wheel while its owner advances it: each due timer is
/// fired by exactly one of them (the flag admits one holder at a time).
#[test]
fn two_helpers_and_the_owner_fire_each_timer_once() {
    model(2, || {
        let hub = Hub::new();
        let runs = counter();
        let wheel = Arc::new(SharedWheel::new());
        for due in [DUE, DUE + 1] {
            let runs = runs.clone();
            let (task, _) = allocate(
                Closure(move || {
                    runs.fetch_add(1, SeqCst);
                }),
                Some(TaskSched::new(&hub)),
                TaskOptions::timed(Priority::NORMAL, due),
            );
            assert_eq!(wheel.hold(|t| matches!(t.insert(task), Inserted::Linked)), Some(true));
        }
        let fired = Arc::new(AtomicUsize::new(0));
        let helpers: Vec<_> = (0..2)
            .map(|_| {
                let (wheel, hub, fired) = (wheel.clone(), hub.clone(), fired.clone());
                thread::spawn(move || {
                    let (mut ready, mut outcomes) = (Vec::new(), Vec::new());
                    wheel.try_hold(|timers| tend(timers, &hub, &mut ready, &mut outcomes));
                    fired.fetch_add(ready.len(), SeqCst);
                    run(ready, &mut outcomes);
                })
            })
            .collect();
        let (mut ready, mut outcomes) = (Vec::new(), Vec::new());
        wheel.hold(|timers| tend(timers, &hub, &mut ready, &mut outcomes)).expect("open");
        fired.fetch_add(ready.len(), SeqCst);
        run(ready, &mut outcomes);
        helpers.into_iter().for_each(|h| h.join().unwrap());
        assert_eq!(get(&fired), 2, "each timer fired once");
        assert_eq!(get(&runs), 2, "each ran once");
        assert_eq!(wheel.close(|t| t.len()), 0);
        drop(wheel);
        assert_eq!(hub.freed(), 2);
    });
}
