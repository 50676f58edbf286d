//! loom models of timed tasks (`kairos_rt_core::timer`): registration from another thread
//! through the owner's inbox, and cancellation from another thread racing the owner's
//! expiry.
//!
//! Properties:
//! - a timed task registered from another thread is taken into the owner's wheel (or run
//!   at once if already due) and runs exactly once; the wheel links written by the
//!   submitting thread are handed over without a data race (loom checks every access to
//!   the links' cells);
//! - a timed task cancelled through its `JoinHandle` while its owner inserts and fires it
//!   ends exactly one way (it runs, or it is cancelled), its outcome is reported exactly
//!   once (`Inserted::Finished`, `fire`'s `finished` callback, `remove`'s `Some`, or the
//!   run result of the reference `fire` handed out), and its lineage is released exactly
//!   once (the cell is freed exactly once, after every reference is gone).
//!
//! The owner's steps mirror `runtime/src/worker.rs`, `WorkerCtx::maintain_timers` (drain
//! the inbox into the wheel, drain cancel messages with `remove`, fire what is due) and
//! `WorkerCtx::run_task` (count the outcome of a run or a skipped run). Cancel messages
//! travel through the mock scheduler's `timer_cancelled`, which pushes onto an injector
//! like `Sched::timer_cancelled` pushes onto the owner's `timer_cancels` (waking the owner
//! is the park models' subject).
//!
//! Cancel vs priority change is not modelled: there is no priority-change API yet.
#![cfg(loom)]

#[allow(dead_code)]
mod common;

use common::{counter, get, model, step, DropCount, Hub, TaskSched};
use kairos_rt_core::queue::RunQueue;
use kairos_rt_core::sync::deque::{Injector, Steal};
use kairos_rt_core::task::{allocate, Closure, JoinHandle, Outcome, RunResult, TaskOptions, TaskRef};
use kairos_rt_core::timer::{Inserted, TimerDriver};
use kairos_rt_core::Priority;
use loom::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use loom::sync::Arc;
use loom::thread;

/// The tick the model's timed task is due at.
const DUE: u64 = 5;
/// The tick the owner's clock reads when it fires.
const NOW: u64 = 10;

/// A timed closure task due at [`DUE`], owned by worker 0, with a join handle; its runs
/// are counted in `runs`, its body's drop in `dropped`.
fn timed_task(
    hub: &Arc<Hub>,
    runs: &Arc<AtomicUsize>,
    dropped: &Arc<AtomicUsize>,
) -> (TaskRef, JoinHandle<()>) {
    let runs = runs.clone();
    let guard = DropCount(dropped.clone());
    let (task, join) = allocate(
        Closure(move || {
            let _guard = guard;
            runs.fetch_add(1, SeqCst);
        }),
        Some(TaskSched::new(hub)),
        TaskOptions { join: true, ..TaskOptions::timed(Priority::NORMAL, DUE) },
    );
    // The owner, worker 0, is in the new state word, as `Handle::submit_from` sets it.
    // SAFETY: `allocate` with `join: true` returns the handle's counted reference to a cell
    // whose output type is `()`.
    (task, unsafe { JoinHandle::from_raw(join.expect("join requested")) })
}

/// Worker 0: its wheel, its run queue, and the outcomes it reported.
struct Owner {
    timers: TimerDriver,
    queue: RunQueue,
    outcomes: Vec<Outcome>,
}

impl Owner {
    fn new() -> Owner {
        Owner { timers: TimerDriver::new(), queue: RunQueue::new(), outcomes: Vec::new() }
    }

    /// `WorkerCtx::maintain_timers` with the clock at `now`, then `run_task` for what
    /// became ready.
    fn maintain(&mut self, inbox: &Injector<TaskRef>, hub: &Hub, now: u64) {
        drain(inbox, |t| match self.timers.insert(t) {
            Inserted::Linked => step("owner: inserted, linked"),
            Inserted::Due(ready) => {
                step("owner: inserted, already due");
                self.queue.push(ready);
            }
            Inserted::Finished(outcome, _) => {
                step(format!("owner: insert found it claimed: {outcome:?}"));
                self.outcomes.push(outcome);
            }
        });
        drain(&hub.cancels, |t| {
            let removed = self.timers.remove(&t);
            step(format!("owner: cancel message, remove -> {removed:?}"));
            self.outcomes.extend(removed);
        });
        let queue = &self.queue;
        let outcomes = &mut self.outcomes;
        let moved = self.timers.fire(now, |t| queue.push(t), |t| outcomes.push(t.snapshot().outcome()));
        step(format!("owner: fired {moved} at {now}"));
        while let Some(t) = self.queue.pop() {
            // `WorkerCtx::run_task` for a closure.
            match t.run() {
                RunResult::Finished(outcome) => self.outcomes.push(outcome),
                RunResult::Skipped(snap) => self.outcomes.push(snap.outcome()),
                other => panic!("unexpected run result {other:?}"),
            }
            step(format!("owner: ran, outcomes {:?}", self.outcomes));
        }
    }
}

/// `Shared::drain_queue`.
fn drain(q: &Injector<TaskRef>, mut f: impl FnMut(TaskRef)) {
    loop {
        match q.steal() {
            Steal::Success(t) => f(t),
            Steal::Retry => continue,
            Steal::Empty => break,
        }
    }
}

/// Another thread allocates a timed task and registers it through worker 0's inbox
/// (`Shared::push_timer_inbox`) while the owner runs `maintain_timers` with its clock
/// past the due tick: the task runs exactly once, through the wheel (`Linked`, then
/// `fire`) or at once (`Due`, if the owner's clock passed the due tick first).
#[test]
fn timer_registered_remotely_runs_exactly_once() {
    model(3, || {
        let hub = Hub::new();
        let inbox = Arc::new(Injector::new());
        let runs = counter();
        let dropped = counter();
        let submitter = {
            let (hub, inbox, runs, dropped) = (hub.clone(), inbox.clone(), runs.clone(), dropped.clone());
            thread::spawn(move || {
                let (task, handle) = timed_task(&hub, &runs, &dropped);
                inbox.push(task);
                handle
            })
        };
        let mut owner = Owner::new();
        owner.maintain(&inbox, &hub, NOW);
        let handle = submitter.join().unwrap();
        owner.maintain(&inbox, &hub, NOW);
        assert_eq!(get(&runs), 1, "the timed task runs exactly once");
        assert_eq!(owner.outcomes, [Outcome::Output], "one outcome, reported once");
        assert!(owner.timers.is_empty());
        handle.join().expect("the task ran");
        assert_eq!(get(&dropped), 1);
        assert_eq!(hub.timer_cancelled.load(SeqCst), 0);
        drop(owner);
        assert_eq!(hub.freed(), 1, "lineage released exactly once");
    });
}

/// A timed task waits in worker 0's inbox; another thread cancels it through its join
/// handle while the owner inserts it into the wheel and fires it. Exactly one of "it ran"
/// and "the cancel won" holds, and the owner reports exactly one outcome, the right one,
/// whichever of `insert`, `remove`, `fire` or the run result saw the cancel.
#[test]
fn cancel_vs_fire_reports_exactly_one_outcome() {
    cancel_vs_fire(false);
}

/// [`cancel_vs_fire_reports_exactly_one_outcome`] with the registration racing too: one
/// thread pushes the task into the owner's inbox, another cancels it, the owner drains,
/// inserts and fires.
#[test]
fn cancel_vs_remote_register_vs_fire_reports_exactly_one_outcome() {
    cancel_vs_fire(true);
}

fn cancel_vs_fire(remote_register: bool) {
    model(3, move || {
        let hub = Hub::new();
        let inbox = Arc::new(Injector::new());
        let runs = counter();
        let dropped = counter();
        let (task, handle) = timed_task(&hub, &runs, &dropped);
        let submitter = if remote_register {
            let inbox = inbox.clone();
            Some(thread::spawn(move || inbox.push(task)))
        } else {
            inbox.push(task);
            None
        };
        let canceller = thread::spawn(move || {
            let cancelled = handle.cancel();
            step(format!("canceller: cancel -> {cancelled}"));
            (cancelled, handle)
        });
        let mut owner = Owner::new();
        owner.maintain(&inbox, &hub, NOW);
        let (cancelled, handle) = canceller.join().unwrap();
        if let Some(s) = submitter {
            s.join().unwrap();
        }
        // The next round of the owner's loop picks up a late registration or cancel message.
        owner.maintain(&inbox, &hub, NOW);
        let expected = if cancelled { Outcome::Cancelled } else { Outcome::Output };
        assert_eq!(owner.outcomes, [expected], "exactly one outcome, reported once");
        assert_eq!(get(&runs), usize::from(!cancelled), "runs exactly when the cancel lost");
        assert_eq!(get(&dropped), 1, "body dropped exactly once");
        assert!(owner.timers.is_empty());
        match handle.join() {
            Ok(()) => assert!(!cancelled),
            Err(e) => assert!(cancelled && e.is_cancelled()),
        }
        drop(owner);
        assert!(hub.take_cancels().is_empty(), "every cancel message was handled");
        assert_eq!(hub.freed(), 1, "lineage released exactly once");
    });
}
