//! Work queued behind a busy worker gets a sleeping one: whoever queued it (a thread
//! outside, or a task), and however short the tasks the runtime ran before.
//!
//! Each test runs pairs of tasks that can only finish together: each raises its own flag,
//! then waits (bounded) for the other's. On a 2-worker runtime that serialized them the
//! first would give up and report it, so these tests fail, without any timing assertion,
//! if a wake-up rule ever leaves a worker asleep while work it could take waits. (A rule
//! that skips the helper wake-up when only a few tasks are queued, betting that they are
//! short, does exactly that.)

mod common;

use common::*;
use kairos_rt::{JoinHandle, Priority, Runtime};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::SeqCst};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How long one task of a pair waits for the other before it reports failure.
const PAIR_PATIENCE: Duration = Duration::from_secs(10);

/// Raises `mine`, then waits for `theirs`; returns whether it came.
fn meet(mine: &AtomicBool, theirs: &AtomicBool) -> bool {
    mine.store(true, SeqCst);
    let deadline = Instant::now() + PAIR_PATIENCE;
    while !theirs.load(SeqCst) {
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::yield_now();
    }
    true
}

/// Runs and joins many empty tasks, so that any rule learning from recent tasks has
/// learnt that they are short.
fn warm_up_with_short_tasks(rt: &Runtime) {
    let ran = Arc::new(AtomicUsize::new(0));
    let handles: Vec<JoinHandle<()>> = (0..20_000)
        .map(|_| {
            let ran = ran.clone();
            rt.spawn(Priority::NORMAL, move || {
                ran.fetch_add(1, SeqCst);
            })
        })
        .collect();
    for h in handles {
        join(h).unwrap();
    }
    assert_eq!(ran.load(SeqCst), 20_000);
}

/// Two lowered flags, for the two tasks of a pair.
fn flags() -> (Arc<AtomicBool>, Arc<AtomicBool>) {
    (Arc::new(AtomicBool::new(false)), Arc::new(AtomicBool::new(false)))
}

/// On a 2-worker runtime warmed up with short tasks, runs `round` 40 times, the even
/// rounds after a pause that lets the workers go idle and park; then shuts the runtime
/// down and checks that every task is accounted for.
fn in_rounds(mut round: impl FnMut(&Runtime, u32)) {
    let rt = runtime(2);
    warm_up_with_short_tasks(&rt);
    for n in 0..40u32 {
        if n % 2 == 0 {
            std::thread::sleep(Duration::from_millis(2));
        }
        round(&rt, n);
    }
    let report = rt.shutdown();
    assert!(report.is_balanced(), "{report:?}");
}

#[test]
fn two_tasks_from_outside_that_wait_for_each_other_both_finish() {
    in_rounds(|rt, round| {
        let (a, b) = flags();
        let (a1, b1, a2, b2) = (a.clone(), b.clone(), a, b);
        let first = rt.spawn(Priority::NORMAL, move || meet(&a1, &b1));
        let second = rt.spawn(Priority::NORMAL, move || meet(&b2, &a2));
        assert!(join(first).unwrap(), "round {round}: the first task waited alone: its pair was never run");
        assert!(join(second).unwrap(), "round {round}: the second task ran only after the first gave up");
    });
}

#[test]
fn a_task_that_waits_for_its_child_gets_the_other_worker() {
    in_rounds(|rt, round| {
        let parent = rt.spawn(Priority::NORMAL, || {
            let (mine, theirs) = flags();
            let (m, t) = (mine.clone(), theirs.clone());
            // The child goes to this worker's own queue, behind this (still running) task.
            let child = kairos_rt::spawn(Priority::NORMAL, move || meet(&t, &m));
            (meet(&mine, &theirs), child)
        });
        let (parent_met, child) = join(parent).unwrap();
        assert!(parent_met, "round {round}: the child queued behind its parent was never stolen");
        assert!(join(child).unwrap(), "round {round}");
    });
}
