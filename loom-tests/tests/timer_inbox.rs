//! loom models of [`TimerInbox`]: the intrusive Treiber stack that carries timed tasks
//! from other threads to a worker's wheel (`kairos_rt_core::timer_inbox`).
//!
//! What must hold, whatever the interleaving: every task pushed comes out of exactly one
//! take, tasks of one pusher come out in push order, a taken task's inbox link is reset
//! (it reads as in no wheel), and every cell is freed once all references are gone (no
//! task is lost or freed twice). A broken protocol shows up as a lost or duplicated task,
//! a wrong order, or loom's data-race detector on the `next` cells.
#![cfg(loom)]

#[allow(dead_code)]
mod common;

use common::{model, Hub, TaskSched};
use kairos_rt_core::task::{allocate, Closure, TaskOptions, TaskRef};
use kairos_rt_core::timer_inbox::TimerInbox;
use kairos_rt_core::wheel::TimerLinks;
use kairos_rt_core::Priority;
use loom::sync::Arc;
use loom::thread;

/// A timed task whose due tick names it: `pusher * 10 + index`.
fn named(hub: &Arc<Hub>, name: u64) -> TaskRef {
    let opts = TaskOptions::timed(Priority::NORMAL, name);
    allocate(Closure(|| ()), Some(TaskSched::new(hub)), opts).0
}

/// The name of a task the caller holds, checking that the inbox left it unlinked.
fn name_of(task: &TaskRef) -> u64 {
    let links = task.timer_links();
    // SAFETY: the caller took the task from the inbox: its links are in no wheel and no
    // other thread touches them.
    unsafe {
        assert!(!TimerLinks::is_linked(links), "a taken task reads as linked in a wheel");
        TimerLinks::due(links)
    }
}

/// Checks a sequence of names: each task once, each pusher's in push order.
fn check(names: &[u64], pushers: u64, each: u64) {
    let mut sorted = names.to_vec();
    sorted.sort_unstable();
    let expected: Vec<u64> = (0..pushers).flat_map(|p| (0..each).map(move |i| p * 10 + i)).collect();
    assert_eq!(sorted, expected, "a task was lost or taken twice: {names:?}");
    for p in 0..pushers {
        let mine: Vec<u64> = names.iter().copied().filter(|n| n / 10 == p).collect();
        assert!(mine.windows(2).all(|w| w[0] < w[1]), "pusher {p} out of order: {names:?}");
    }
}

/// Two pushers (two tasks each) against the owner taking while they push, then once more
/// after they finished.
#[test]
fn concurrent_pushes_and_takes_deliver_each_task_once_in_push_order() {
    const PUSHERS: u64 = 2;
    const EACH: u64 = 2;
    model(2, || {
        let hub = Hub::new();
        let inbox = Arc::new(TimerInbox::new());
        let pushers: Vec<_> = (0..PUSHERS)
            .map(|p| {
                let tasks: Vec<TaskRef> = (0..EACH).map(|i| named(&hub, p * 10 + i)).collect();
                let inbox = inbox.clone();
                thread::spawn(move || tasks.into_iter().for_each(|t| inbox.push(t)))
            })
            .collect();
        let mut names: Vec<u64> = inbox.take().map(|t| name_of(&t)).collect();
        names.extend(inbox.take().map(|t| name_of(&t)));
        for p in pushers {
            p.join().unwrap();
        }
        names.extend(inbox.take().map(|t| name_of(&t)));
        assert!(inbox.is_empty());
        check(&names, PUSHERS, EACH);
        assert_eq!(hub.freed(), (PUSHERS * EACH) as usize);
    });
}

/// Two takers at once (the owner, and shutdown's drain while a stuck worker still runs)
/// against one pusher: the takes get disjoint batches that together hold every task, and
/// tasks left in the inbox are freed with it.
#[test]
fn concurrent_takes_get_disjoint_batches_and_drop_frees_the_rest() {
    model(2, || {
        let hub = Hub::new();
        let inbox = Arc::new(TimerInbox::new());
        let pusher = {
            let tasks: Vec<TaskRef> = (0..3).map(|i| named(&hub, i)).collect();
            let inbox = inbox.clone();
            thread::spawn(move || tasks.into_iter().for_each(|t| inbox.push(t)))
        };
        let other_taker = {
            let inbox = inbox.clone();
            thread::spawn(move || inbox.take().map(|t| name_of(&t)).collect::<Vec<_>>())
        };
        let mut names: Vec<u64> = inbox.take().map(|t| name_of(&t)).collect();
        let theirs = other_taker.join().unwrap();
        pusher.join().unwrap();
        let left = {
            let inbox = Arc::try_unwrap(inbox).unwrap_or_else(|_| panic!("inbox still shared"));
            let before = hub.freed();
            drop(inbox);
            hub.freed() - before
        };
        let taken = names.len() + theirs.len();
        assert_eq!(taken + left, 3, "mine {names:?}, theirs {theirs:?}, {left} left");
        names.extend(theirs);
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), taken, "a task was taken twice");
        assert_eq!(hub.freed(), 3);
    });
}
