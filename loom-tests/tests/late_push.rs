//! loom model of shutdown's final drain vs a late push from outside (the `closed` flag).
//!
//! After the intake gate closed and the workers left, only wake-ups of futures (their
//! tasks already ended) and cancel messages of timed closures can still reach a queue.
//! The final drain (`Shared::final_drain`) must not leave such a push behind: an entry
//! left in the injectors would hold its cell, and a future cell holds its scheduler,
//! which holds the shared state that holds the injectors: a reference cycle, and the
//! runtime's memory never freed.
//!
//! Protocol: the drain sets `closed` (SeqCst), fences (SeqCst) and then empties the
//! queue; a pusher
//! (`Shared::push_injected`) drops its task if it already sees `closed`, else pushes,
//! fences (SeqCst) and looks at `closed` again, and empties the queue itself if set. In
//! the single total order of the two fences, either the pusher's comes second (its look
//! reads `closed` set: it drains) or the drain's does (its emptying sees the push). Property: when both are done, the queue is empty and the task's cell
//! was freed exactly once.
//!
//! Seen to fail, kept as `should_panic` models: the order before this model (empty the
//! queue, then set `closed`: the push lands between the two, and its second look still
//! reads `closed` false), and the right order without the drain's fence.
#![cfg(loom)]

#[allow(dead_code)]
mod common;

use common::{detached_task, model, step, Hub};
use kairos_rt_core::queue::Injectors;
use kairos_rt_core::Priority;
use loom::sync::atomic::{fence, AtomicBool, Ordering::*};
use loom::sync::Arc;
use loom::thread;

struct Rt {
    closed: AtomicBool,
    injectors: Injectors,
}

impl Rt {
    /// `Shared::drain_injectors` for entries of ended tasks: each is dropped.
    fn drain(&self, who: &str) {
        while let Some(t) = self.injectors.steal_one() {
            step(format!("{who}: dropped an entry"));
            drop(t);
        }
    }
}

/// The final drain against one late push; `closed_last` is the broken order, and
/// `!drain_fence` the right order without the drain's fence.
fn late_push_is_never_left_behind(closed_last: bool, drain_fence: bool) {
    model(2, move || {
        let hub = Hub::new();
        let rt = Arc::new(Rt { closed: AtomicBool::new(false), injectors: Injectors::new() });
        let task = detached_task(&hub, Priority::NORMAL, || ());
        let pusher = {
            let rt = rt.clone();
            thread::spawn(move || {
                // `Shared::push_injected`.
                if rt.closed.load(Acquire) {
                    step("pusher: closed, dropped");
                    drop(task);
                    return;
                }
                rt.injectors.push(task);
                fence(SeqCst);
                step("pusher: pushed");
                if rt.closed.load(SeqCst) {
                    rt.drain("pusher");
                }
            })
        };
        // `Shared::final_drain`.
        if closed_last {
            rt.drain("drain");
            rt.closed.store(true, SeqCst);
        } else {
            rt.closed.store(true, SeqCst);
            // The queue's loads are not SeqCst: without this fence they may read it as
            // it was before the pusher's push while the pusher reads `closed` false
            // (the store-buffer outcome; loom finds it).
            if drain_fence {
                fence(SeqCst);
            }
            rt.drain("drain");
        }
        step("drain: done");
        pusher.join().unwrap();
        assert!(rt.injectors.is_empty(), "an entry was left in the injectors after the final drain");
        assert_eq!(hub.freed(), 1, "the task's cell was not freed exactly once");
    });
}

/// The final drain sets `closed` first: a late push is dropped by one side or the other.
#[test]
fn a_late_push_is_dropped_by_the_pusher_or_the_drain() {
    late_push_is_never_left_behind(false, true);
}

/// Without the drain's fence: the store-buffer outcome strands the push.
#[test]
#[should_panic(expected = "left in the injectors")]
fn without_the_drain_s_fence_a_late_push_is_stranded() {
    late_push_is_never_left_behind(false, false);
}

/// The order before this model: emptying the queue first strands a push that lands in
/// between.
#[test]
#[should_panic(expected = "left in the injectors")]
fn emptying_before_setting_closed_strands_a_late_push() {
    late_push_is_never_left_behind(true, true);
}
