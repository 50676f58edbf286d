//! loom model of the last-one-out count (`kairos_rt_core::last_out::LastOut`) that picks
//! which thread runs a runtime's final drain.
//!
//! Mirrors `Shared::shut_down` and `WorkerCtx::run` (runtime/src/sched/shutdown.rs): the
//! builder adds one unit per worker before starting its thread; the closer gives up its
//! own unit after telling the workers to stop; each worker gives up its unit after its
//! last touch of the runtime's state (its exit). Whoever gives up the last unit runs the
//! final drain.
//!
//! Property: exactly one party runs the drain, and the drain happens after every
//! party's own work (each party writes to a plain cell before it leaves, and the drain
//! reads every cell: loom reports a data race if any write is not ordered before it).
#![cfg(loom)]

#[allow(dead_code)]
mod common;

use common::model;
use kairos_rt_core::last_out::LastOut;
use loom::cell::UnsafeCell;
use loom::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use loom::sync::Arc;
use loom::thread;

struct Teardown {
    parties: LastOut,
    /// What each party (closer, worker 0, worker 1) wrote before it left.
    work: [UnsafeCell<usize>; 3],
    drains: AtomicUsize,
}

/// A party's work, then its departure; the last one out drains.
fn finish(t: &Teardown, me: usize) {
    // SAFETY: each party writes only its own cell, before it leaves; the drain reads
    // them after the last departure (what the model checks).
    t.work[me].with_mut(|w| unsafe { *w = me + 1 });
    if t.parties.leave() {
        // SAFETY: every party has left, so no cell is written any more.
        let seen: usize = t.work.iter().map(|c| c.with(|w| unsafe { *w })).sum();
        assert_eq!(seen, 1 + 2 + 3, "the drain saw every party's work");
        t.drains.fetch_add(1, SeqCst);
    }
}

#[test]
fn exactly_one_party_drains_after_every_party_left() {
    model(3, || {
        let t = Arc::new(Teardown {
            parties: LastOut::new(),
            work: [UnsafeCell::new(0), UnsafeCell::new(0), UnsafeCell::new(0)],
            drains: AtomicUsize::new(0),
        });
        // Two workers started, a third failed to start and gave its unit back.
        t.parties.arrive();
        t.parties.arrive();
        t.parties.arrive();
        t.parties.withdraw();
        let workers: Vec<_> = (1..3)
            .map(|me| {
                let t = t.clone();
                thread::spawn(move || finish(&t, me))
            })
            .collect();
        finish(&t, 0);
        for w in workers {
            w.join().unwrap();
        }
        assert_eq!(t.drains.load(SeqCst), 1, "exactly one party ran the drain");
        assert_eq!(t.parties.remaining(), 0);
    });
}
