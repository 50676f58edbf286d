//! loom model of a batch stolen from the injectors by a worker that is not searching, vs
//! a searcher going to sleep (`WorkerCtx::steal_injected` outside a search, against
//! `park_inner`'s register, fence, re-check).
//!
//! The situation: tasks were pushed from outside while worker 1 was searching, so the
//! submitter woke nobody (the searcher is trusted to find them). Worker 0, not searching
//! (it just finished a task), steals a batch from the injectors, runs the first task
//! (a long one: it takes nothing else here) and leaves the rest in its own queue.
//! Worker 1 runs what it finds (its own queue, worker 0's, the injectors); finding
//! nothing, it registers as a sleeper (leaving the searchers), fences, re-checks, and
//! parks if it still sees nothing.
//!
//! The batch is in neither queue for a moment (out of the injector, not yet in worker
//! 0's deque or its advertised mask): a re-check in that moment sees nothing. So after
//! its steal worker 0 fences and looks at the sleepers
//! (`RunQueue::filled_then_wants_notify`, the code the runtime calls), and wakes one.
//! Property: worker 1 runs both tasks worker 0 does not hold, on every interleaving.
//! The variants without that look, and with the look but without its fence, deadlock
//! (worker 1 parks for ever beside a waiting task), kept as `should_panic`.
//!
//! Under loom the deques are the facade's stand-ins: a batch steal from an injector
//! holding three tasks takes the first and moves one more, leaving one (see
//! `sync::deque`); the lost wake-up needs worker 1 to take that one and look again
//! while the batch is in transit. (kairos's own injector, `sync::injector`, moves every
//! queued task up to 32, one at a time, so any steal of two or more has that moment:
//! how `tests/wake_ups.rs` met it.)
#![cfg(loom)]

#[allow(dead_code)]
mod common;

use common::{counter, detached_task, get, model, Hub, TwoWorkers};
use kairos_rt_core::queue::RunQueue;
use kairos_rt_core::task::RunResult;
use kairos_rt_core::Priority;
use loom::sync::atomic::{fence, Ordering::SeqCst};
use loom::thread;

/// What worker 0 does after its steal.
#[derive(Clone, Copy)]
enum Look {
    /// `RunQueue::filled_then_wants_notify`, as the runtime does.
    Fenced,
    /// The same look without its fence (broken).
    Unfenced,
    /// No look (broken).
    None,
}

fn batch_steal_vs_sleeping_searcher(look: Look) {
    model(2, move || {
        let hub = Hub::new();
        let rt = TwoWorkers::new();
        let runs = counter();
        for _ in 0..3 {
            let r = runs.clone();
            rt.injectors.push(detached_task(&hub, Priority::NORMAL, move || {
                r.fetch_add(1, SeqCst);
            }));
        }
        // Worker 1 searches: the submitter, seeing it, woke nobody.
        assert!(rt.idle.try_start_searching());
        let rq0 = RunQueue::new();
        let stealers0 = rq0.stealers();
        let worker0 = {
            let rt = rt.clone();
            thread::spawn(move || {
                // WorkerCtx::next_task outside a search: one batch steal, then the first
                // task runs (a long one: worker 0 takes nothing more here).
                // The look comes before the run, as in `steal_injected`.
                let first = rt.injectors.steal_into(&rq0, Priority::LOWEST).expect("three were queued");
                let wants = match look {
                    Look::Fenced => rq0.filled_then_wants_notify(&rt.idle, Some(Priority::NORMAL)),
                    // A copy of `filled_then_wants_notify` without its fence.
                    Look::Unfenced => !rq0.is_empty() && rt.idle.wants_notify(),
                    Look::None => false,
                };
                if wants {
                    rt.notify_one();
                }
                assert!(matches!(first.run(), RunResult::Finished(_)));
                rq0
            })
        };
        // Worker 1 runs every task worker 0 does not hold: two of the three.
        let mine = RunQueue::new();
        let mut searching = true;
        let (mut ran, mut parks) = (0, 0);
        while ran < 2 {
            // WorkerCtx::next_task and search: its own queue, the peers, the injectors.
            let found = mine
                .pop()
                .or_else(|| stealers0.steal_into(&mine, Priority::LOWEST))
                .or_else(|| rt.injectors.steal_into(&mine, Priority::LOWEST));
            if let Some(t) = found {
                assert!(matches!(t.run(), RunResult::Finished(_)));
                ran += 1;
                if searching {
                    // stop_searching (its hand-off wake-up would find no other sleeper).
                    searching = false;
                    rt.idle.stop_searching();
                }
                continue;
            }
            assert!(parks < 3, "worker 1 never found the task left to it");
            parks += 1;
            // park_inner: register (leaving the searchers), fence, re-check, park.
            rt.idle.register_sleeper(1, searching);
            fence(SeqCst);
            let seen = rt.injectors.maybe_has_work() || (stealers0.maybe_has_work() && stealers0.has_work());
            if !seen {
                rt.parker1.park();
            }
            searching = rt.idle.unregister_sleeper(1);
        }
        drop(worker0.join().unwrap());
        assert_eq!(get(&runs), 3);
    });
}

#[test]
fn a_batch_left_by_a_non_searching_worker_reaches_a_sleeping_searcher() {
    batch_steal_vs_sleeping_searcher(Look::Fenced);
}

/// Without the look after the steal: worker 1 can park for ever while a task waits in
/// worker 0's queue (seen to fail).
#[test]
#[should_panic]
fn without_the_look_after_the_steal_the_searcher_sleeps_through_the_batch() {
    batch_steal_vs_sleeping_searcher(Look::None);
}

/// The look without its fence: its read of the sleepers can be ordered before the batch
/// lands, and the searcher's re-check can miss the batch (seen to fail).
#[test]
#[should_panic]
fn without_the_fence_before_the_look_the_searcher_sleeps_through_the_batch() {
    batch_steal_vs_sleeping_searcher(Look::Unfenced);
}
