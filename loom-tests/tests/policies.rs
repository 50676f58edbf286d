//! loom models of issue 5's lock-free protocols:
//!
//! - **priority change vs run**: `State::reprioritize` of a queued task (which stamps a
//!   new run-queue entry with a new epoch) races a worker running the old entry: the body
//!   runs exactly once, exactly one entry reports `Finished` (the one the runtime counts),
//!   every other entry is `Stale` (counted by nobody), and the cell is freed once;
//! - **priority change vs fire**: the same against a timer firing (whose entry is stamped
//!   by `clear_timed` in the same operation that takes the task out of the wheel);
//! - **admission**: `Admission::try_acquire` never admits past the limit, and the count
//!   equals admissions minus releases once the threads are done.
#![cfg(loom)]

#[allow(dead_code)]
mod common;

use common::{closure_task, counter, get, model, Hub};
use kairos_rt_core::admission::Admission;
use kairos_rt_core::task::state::Reprioritized;
use kairos_rt_core::task::{Outcome, RunResult, TaskOptions, TaskRef};
use kairos_rt_core::Priority;
use loom::sync::atomic::Ordering::SeqCst;
use loom::sync::Arc;
use loom::thread;

/// The entry a priority change queues (with the reference `reprioritize` took), if any.
fn change_priority(task: &TaskRef, to: Priority) -> Option<TaskRef> {
    match task.header().state().reprioritize(to) {
        Reprioritized::Requeue { epoch } => {
            // SAFETY: `Requeue` took one reference for the new entry.
            Some(unsafe { TaskRef::from_raw(task.as_ptr()) }.with_epoch(epoch))
        }
        Reprioritized::Timed | Reprioritized::Unchanged | Reprioritized::Refused => None,
    }
}

fn check_results(results: &[RunResult]) {
    let finished = results.iter().filter(|r| matches!(r, RunResult::Finished(Outcome::Output))).count();
    assert_eq!(finished, 1, "exactly one entry runs and is counted: {results:?}");
    assert!(
        results.iter().all(|r| matches!(r, RunResult::Finished(Outcome::Output) | RunResult::Stale)),
        "the other entries are stale: {results:?}"
    );
}

#[test]
fn priority_change_vs_run_runs_once_and_counts_once() {
    model(3, || {
        let hub = Hub::new();
        let ran = counter();
        let r = ran.clone();
        let (old_entry, handle) =
            closure_task(&hub, TaskOptions { join: true, ..TaskOptions::ready(Priority::LOW) }, move || {
                r.fetch_add(1, SeqCst);
            });
        let view = old_entry.clone();
        let worker = thread::spawn(move || old_entry.run());
        let new_entry = change_priority(&view, Priority::HIGH);
        drop(view);
        let mut results = vec![worker.join().unwrap()];
        if let Some(e) = new_entry {
            results.push(e.run());
        }
        check_results(&results);
        assert_eq!(get(&ran), 1);
        handle.join().unwrap();
        assert_eq!(hub.freed(), 1, "cell freed exactly once");
    });
}

#[test]
fn priority_change_vs_timer_fire_runs_once_at_one_level() {
    model(3, || {
        let hub = Hub::new();
        let ran = counter();
        let r = ran.clone();
        let (lineage, handle) = closure_task(
            &hub,
            TaskOptions { join: true, ..TaskOptions::timed(Priority::LOW, 5) },
            move || {
                r.fetch_add(1, SeqCst);
            },
        );
        let view = lineage.clone();
        let wheel_owner = thread::spawn(move || {
            // What `TimerDriver::fire` does with a due task.
            let epoch = lineage.header().state().clear_timed().epoch();
            lineage.with_epoch(epoch).run()
        });
        let new_entry = change_priority(&view, Priority::HIGH);
        drop(view);
        let mut results = vec![wheel_owner.join().unwrap()];
        if let Some(e) = new_entry {
            results.push(e.run());
        }
        check_results(&results);
        assert_eq!(get(&ran), 1);
        handle.join().unwrap();
        assert_eq!(hub.freed(), 1);
    });
}

#[test]
fn admission_never_admits_past_its_limit() {
    model(3, || {
        let a = Arc::new(Admission::new(1));
        assert!(a.try_acquire());
        let ts: Vec<_> = (0..2)
            .map(|_| {
                let a = a.clone();
                thread::spawn(move || a.try_acquire())
            })
            .collect();
        let was_full = a.release();
        assert!(was_full);
        let admitted = ts.into_iter().map(|t| t.join().unwrap()).filter(|&ok| ok).count();
        assert!(admitted <= 1, "two admitted past a limit of one");
        assert_eq!(a.count(), admitted, "the count is exact");
    });
}
