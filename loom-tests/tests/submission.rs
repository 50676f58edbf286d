//! loom models of submission and stealing (`kairos_rt_core::queue`): the per-level
//! `Injectors` with their global occupancy mask, and a worker's `RunQueue` with its
//! `Stealers`.
//!
//! Properties:
//! - every pushed task is taken exactly once (run exactly once), whoever takes it: the
//!   owner's `pop`, a `steal_into` batch, or a final drain;
//! - the occupancy masks never hide a task: after the racing threads are done, draining
//!   through the masks alone (`Injectors::steal_into`, `RunQueue::pop`) empties every
//!   queue, so a worker that trusts the masks before sleeping never strands a task.
//!
//! Under loom the deques are the facade's loom-visible stand-ins (batch steals move at
//! most 2 tasks), so the models check kairos's own masks and hand-offs, not crossbeam.
#![cfg(loom)]

#[allow(dead_code)]
mod common;

use common::{counter, detached_task, get, model, prio, Hub};
use kairos_rt_core::queue::{Injectors, RunQueue};
use kairos_rt_core::task::{RunResult, TaskRef};
use kairos_rt_core::Priority;
use loom::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use loom::sync::Arc;
use loom::thread;

/// A closure task that counts its runs in `runs`.
fn counted(hub: &Arc<Hub>, level: u8, runs: &Arc<AtomicUsize>) -> TaskRef {
    let runs = runs.clone();
    detached_task(hub, prio(level), move || {
        runs.fetch_add(1, SeqCst);
    })
}

fn run(task: TaskRef) {
    assert!(matches!(task.run(), RunResult::Finished(_)), "a queued closure must run");
}

/// What a worker does with the injectors in `next_task` when its own queue is empty
/// (`runtime/src/worker.rs`, `WorkerCtx::next_task`): one batch steal into its run
/// queue, then pop its run queue dry. Runs everything it took.
fn worker_pass(injectors: &Injectors, rq: &RunQueue) {
    if let Some(t) = injectors.steal_into(rq, Priority::LOWEST) {
        run(t);
    }
    while let Some(t) = rq.pop() {
        run(t);
    }
}

/// One task already queued, two more pushed from two threads at the same level, while a
/// worker and a thief each take a batch from the injectors: each task runs exactly once,
/// and the global mask still shows whatever is left, so a mask-driven drain empties the
/// injectors.
#[test]
fn injector_pushes_vs_two_stealers_take_each_task_once() {
    model(3, || {
        let hub = Hub::new();
        let injectors = Arc::new(Injectors::new());
        let runs = [counter(), counter(), counter()];
        let level = 20;
        injectors.push(counted(&hub, level, &runs[0]));
        let pushers: Vec<_> = (1..3)
            .map(|i| {
                let task = counted(&hub, level, &runs[i]);
                let injectors = injectors.clone();
                thread::spawn(move || injectors.push(task))
            })
            .collect();
        let thief = {
            let injectors = injectors.clone();
            thread::spawn(move || {
                let rq = RunQueue::new();
                worker_pass(&injectors, &rq);
                assert_eq!(rq.len(), 0, "the thief's own mask hid a task");
            })
        };
        let rq = RunQueue::new();
        worker_pass(&injectors, &rq);
        for p in pushers {
            p.join().unwrap();
        }
        thief.join().unwrap();
        // Drain through the mask only, as a worker deciding whether to sleep would.
        while let Some(t) = injectors.steal_into(&rq, Priority::LOWEST) {
            run(t);
            while let Some(t) = rq.pop() {
                run(t);
            }
        }
        assert!(injectors.is_empty(), "the injectors' mask hid a queued task");
        assert_eq!(rq.len(), 0, "the worker's own mask hid a task");
        for r in &runs {
            assert_eq!(get(r), 1, "each task runs exactly once");
        }
        assert_eq!(hub.freed(), 3);
    });
}

/// The owner pushes three tasks at one level, pops, and pushes one at a higher level, while a thief
/// steals batches into its own run queue and pops them: each task runs exactly once, and
/// neither run queue's mask hides a task from its owner.
#[test]
fn run_queue_owner_vs_thief_take_each_task_once() {
    model(3, || {
        let hub = Hub::new();
        let rq = RunQueue::new();
        let stealers = rq.stealers();
        let runs: Vec<_> = (0..4).map(|_| counter()).collect();
        let levels = [10u8, 10, 10, 40];
        let tasks: Vec<_> = levels.iter().zip(&runs).map(|(&l, r)| counted(&hub, l, r)).collect();
        let mut tasks = tasks.into_iter();
        // Three at level 10 first, so that a batch steal moves more than one task.
        for t in tasks.by_ref().take(3) {
            rq.push(t);
        }
        let thief = thread::spawn(move || {
            let mine = RunQueue::new();
            let mut took = 0;
            while let Some(t) = stealers.steal_into(&mine, Priority::LOWEST) {
                run(t);
                took += 1;
                while let Some(t) = mine.pop() {
                    run(t);
                    took += 1;
                }
                if took >= 2 {
                    break;
                }
            }
            assert_eq!(mine.len(), 0, "the thief's own mask hid a stolen task");
        });
        if let Some(t) = rq.pop() {
            run(t);
        }
        rq.push(tasks.next().unwrap());
        while let Some(t) = rq.pop() {
            run(t);
        }
        thief.join().unwrap();
        while let Some(t) = rq.pop() {
            run(t);
        }
        assert_eq!(rq.len(), 0, "the owner's mask hid a task");
        for r in &runs {
            assert_eq!(get(r), 1, "each task runs exactly once");
        }
        assert_eq!(hub.freed(), 4);
    });
}

/// The loom stand-in for crossbeam's deque: two workers batch-stealing from each other
/// must not deadlock (it locked the victim, then the thief's own queue, so two opposite
/// steals could each hold one lock; from a review, seen to fail). Every item is taken
/// once.
#[test]
fn two_workers_batch_steal_from_each_other() {
    use kairos_rt_core::sync::deque::{Steal, Worker};
    common::model(2, || {
        let (w0, w1) = (Worker::new_fifo(), Worker::new_fifo());
        for i in 0..3 {
            w0.push(i);
            w1.push(10 + i);
        }
        let (s0, s1) = (w0.stealer(), w1.stealer());
        let t = loom::thread::spawn(move || {
            let got = matches!(s0.steal_batch_and_pop(&w1), Steal::Success(_));
            (got, w1)
        });
        assert!(matches!(s1.steal_batch_and_pop(&w0), Steal::Success(_)));
        let (got, w1) = t.join().unwrap();
        assert!(got);
        let mut left = 0;
        while w0.pop().is_some() {
            left += 1;
        }
        while w1.pop().is_some() {
            left += 1;
        }
        assert_eq!(left, 4, "6 items, 2 returned by the steals");
    });
}
