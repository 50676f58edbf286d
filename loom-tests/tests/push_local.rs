//! loom model of a worker's push onto its own queue vs a peer going to sleep
//! (`WorkerCtx::push_local` against `park_inner`'s register, fence, re-check).
//!
//! Protocol: the owner, inside a long task, pushes a task onto its run queue, fences
//! (`SeqCst`) and asks `Idle::wants_notify` (`RunQueue::push_then_wants_notify`, the code
//! the runtime's `push_local` runs); if a sleeper is registered it takes it
//! (`notify_one`) and unparks it. The peer registers as a sleeper, fences, looks at the
//! owner's queue (`Stealers::maybe_has_work`, `has_work`) and parks only if it finds
//! nothing. Property: the peer runs the task while the owner is still in its long task
//! (the owner never runs it here), on every interleaving.
//!
//! Without the owner's fence the model fails (a deadlock: the peer parks for ever) on
//! both paths, kept as `should_panic` models: with the level's bit clear (the push sets
//! the advertised mask) and with it already set (a task stolen earlier left it set, and
//! the push only writes the deque). The second needs the stand-in deque's look
//! (`is_empty`) to read a published length without taking the queue's lock, as a real
//! deque's does; while the look took the lock, the lock ordered the two sides whatever
//! the fences, and that variant passed.
#![cfg(loom)]

#[allow(dead_code)]
mod common;

use common::{counter, detached_task, get, model, Hub};
use kairos_rt_core::idle::Idle;
use kairos_rt_core::park::Parker;
use kairos_rt_core::queue::RunQueue;
use kairos_rt_core::task::RunResult;
use kairos_rt_core::Priority;
use loom::sync::atomic::{fence, Ordering::SeqCst};
use loom::sync::Arc;
use loom::thread;

struct Rt {
    idle: Idle,
    parker1: Parker,
}

fn push_local_vs_parking_peer(fence_after_push: bool, stale_bit: bool) {
    model(2, move || {
        let hub = Hub::new();
        let rt = Arc::new(Rt { idle: Idle::new(2), parker1: Parker::new() });
        let runs = counter();
        let rq = RunQueue::new();
        let stealers = rq.stealers();
        if stale_bit {
            // A task stolen earlier: the owner's bit for the level stays set.
            rq.push(detached_task(&hub, Priority::NORMAL, || ()));
            let t = stealers.steal_into(&RunQueue::new(), Priority::LOWEST).expect("stolen");
            assert!(matches!(t.run(), RunResult::Finished(_)));
            assert!(rq.highest().is_some());
        }
        let r = runs.clone();
        let task = detached_task(&hub, Priority::NORMAL, move || {
            r.fetch_add(1, SeqCst);
        });
        let owner = {
            let rt = rt.clone();
            thread::spawn(move || {
                // WorkerCtx::push_local; the broken variant is a copy without the fence.
                let wants = if fence_after_push {
                    rq.push_then_wants_notify(task, &rt.idle)
                } else {
                    rq.push(task);
                    rt.idle.wants_notify()
                };
                if wants {
                    if let Some(i) = rt.idle.notify_one() {
                        assert_eq!(i, 1);
                        rt.parker1.unpark();
                    }
                }
                rq // still in its long task: it never runs the pushed task here
            })
        };
        let mine = RunQueue::new();
        let mut rounds = 0;
        loop {
            if let Some(t) = stealers.steal_into(&mine, Priority::LOWEST) {
                assert!(matches!(t.run(), RunResult::Finished(_)));
                break;
            }
            assert!(rounds < 3, "the peer never found the task");
            rounds += 1;
            rt.idle.register_sleeper(1, false); // park_inner
            fence(SeqCst);
            if !(stealers.maybe_has_work() && stealers.has_work()) {
                rt.parker1.park();
            }
            rt.idle.unregister_sleeper(1);
        }
        drop(owner.join().unwrap());
        assert_eq!(get(&runs), 1);
    });
}

#[test]
fn a_pushed_task_reaches_a_parking_peer() {
    push_local_vs_parking_peer(true, false);
}

#[test]
fn a_pushed_task_reaches_a_parking_peer_with_a_stale_level_bit() {
    push_local_vs_parking_peer(true, true);
}

/// The push without its fence: the peer can park for ever (seen to fail).
#[test]
#[should_panic]
fn without_the_fence_the_peer_can_sleep_through_the_push() {
    push_local_vs_parking_peer(false, false);
}

/// The push without its fence, with the level's bit already set: the push only writes
/// the deque, and the peer's look can still miss it (seen to fail).
#[test]
#[should_panic]
fn without_the_fence_the_peer_can_sleep_through_a_push_under_a_stale_bit() {
    push_local_vs_parking_peer(false, true);
}
