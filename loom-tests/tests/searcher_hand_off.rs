//! loom model of the last searcher's hand-off (`WorkerCtx::stop_searching`, find.rs)
//! against a submitter that trusted the searcher (`Shared::push_injected`: push, fence,
//! `Idle::notify_one`, which wakes nobody while a worker searches).
//!
//! The situation: worker 0 searches, worker 1 sleeps. A thread outside pushes two tasks
//! into the injectors, waking a sleeper after each push only if nobody searches. Worker
//! 0 takes the first task, A, and stops searching; A is long: worker 0 takes nothing
//! more (in the model its thread ends after A; a task that runs for seconds, as far as
//! B is concerned). B must reach worker 1. The submitter of B either saw worker 0
//! still searching (and woke nobody) or saw no searcher (and woke worker 1); in the
//! first case only worker 0 can wake worker 1: as the last searcher to stop, it fences
//! and looks for work a woken peer would find, and wakes one if there is some. The
//! fences on both sides (after the push, after the searcher count's decrement) are the
//! store-buffer pattern: one side sees the other.
//!
//! Property: worker 1 runs B on every interleaving. The variants without the look
//! and with the look but without its fence deadlock (worker 1 sleeps beside B), kept
//! as `should_panic`.
#![cfg(loom)]

#[allow(dead_code)]
mod common;

use common::{counter, detached_task, get, model, Hub, TwoWorkers};
use kairos_rt_core::task::RunResult;
use kairos_rt_core::Priority;
use loom::sync::atomic::{fence, Ordering::SeqCst};
use loom::thread;

/// What worker 0 does when it stops searching.
#[derive(Clone, Copy)]
enum HandOff {
    /// Fence, look for waiting work, wake one if there is some: as the runtime does.
    Fenced,
    /// The same look without its fence (broken).
    Unfenced,
    /// No look (broken).
    None,
}

fn last_searcher_vs_trusting_submitter(hand_off: HandOff) {
    model(2, move || {
        let hub = Hub::new();
        let rt = TwoWorkers::new();
        // Worker 1 went to sleep with nothing to find; worker 0 searches.
        rt.idle.register_sleeper(1, false);
        assert!(rt.idle.try_start_searching());
        let runs = counter();
        let [task_a, task_b] = [0, 1].map(|_| {
            let runs = runs.clone();
            detached_task(&hub, Priority::NORMAL, move || {
                runs.fetch_add(1, SeqCst);
            })
        });
        let submitter = {
            let rt = rt.clone();
            thread::spawn(move || {
                // `Shared::push_injected`: `Injectors::push` fences after the push.
                for task in [task_a, task_b] {
                    rt.injectors.push(task);
                    rt.notify_one();
                }
            })
        };
        let worker0 = {
            let rt = rt.clone();
            thread::spawn(move || {
                // The search: the injectors, until the first task is there (A: FIFO, and
                // nobody else takes from them before worker 0 stops searching).
                let a = rt.steal_one_waiting();
                // `stop_searching`: leave the searchers; the last one hands off.
                if rt.idle.stop_searching() {
                    let look = match hand_off {
                        HandOff::Fenced => {
                            fence(SeqCst);
                            true
                        }
                        HandOff::Unfenced => true,
                        HandOff::None => false,
                    };
                    if look && rt.injectors.has_work() {
                        rt.notify_one();
                    }
                }
                // A's long run: worker 0 takes nothing more here (its thread ends, so
                // that a deadlock leaves only worker 1 blocked, which loom reports
                // cleanly).
                assert!(matches!(a.run(), RunResult::Finished(_)));
            })
        };
        // Worker 1: asleep until someone wakes it; then it takes what it was woken for.
        rt.parker1.park();
        assert!(rt.idle.unregister_sleeper(1), "woken without being taken off the sleepers");
        let b = rt.steal_one_waiting();
        assert!(matches!(b.run(), RunResult::Finished(_)));
        submitter.join().unwrap();
        worker0.join().unwrap();
        assert_eq!(get(&runs), 2);
    });
}

#[test]
fn the_last_searcher_wakes_a_sleeper_for_work_its_submitter_left_to_it() {
    last_searcher_vs_trusting_submitter(HandOff::Fenced);
}

#[test]
#[should_panic(expected = "deadlock")]
fn without_the_hand_off_the_sleeper_never_learns_of_the_work() {
    last_searcher_vs_trusting_submitter(HandOff::None);
}

#[test]
#[should_panic(expected = "deadlock")]
fn without_the_fence_before_the_look_the_hand_off_can_miss_the_work() {
    last_searcher_vs_trusting_submitter(HandOff::Unfenced);
}
