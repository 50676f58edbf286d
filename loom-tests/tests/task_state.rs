//! loom models of the task state word (`kairos_rt_core::task::state`) through the real task
//! cell: `TaskRef::run`, `JoinHandle::{cancel, poll, join}`, wakers, reference drops.
//!
//! Each model proves one race the state word decides in one atomic operation:
//!
//! - run vs cancel: exactly one wins; the body runs at most once; `cancel`'s answer, the
//!   run result and the handle's result agree; the body is dropped exactly once;
//! - expiry vs first run vs cancel (or shutdown): a deadline's expiry claims only a task
//!   that never started; exactly one of the three ends the task, once;
//! - complete vs join: a joiner that registers while the task completes is woken exactly
//!   once (never lost), and reads the output exactly once;
//! - wake while running: a future woken from another thread during its poll is queued
//!   again exactly once (by its runner or by its waker, never both, never neither);
//! - wake after complete: schedules nothing;
//! - last reference: whichever thread drops the last reference frees the cell, exactly
//!   once, and the body/output is dropped exactly once;
//! - sole reference: a closure run whose reference is the only one left runs and frees
//!   the cell without touching the state word, and only then.
//!
//! "Freed" is counted by the mock scheduler stored in each cell (`common::TaskSched`),
//! which is dropped exactly when the cell is deallocated.
#![cfg(loom)]

#[allow(dead_code)]
mod common;

use common::{closure_task, counter, future_task, get, model, ready, CountingWaker, DropCount, Hub, Mailbox};
use kairos_rt_core::task::{Outcome, RunResult, TaskRef};
use kairos_rt_core::Priority;
use loom::cell::UnsafeCell;
use loom::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use loom::sync::Arc;
use loom::thread;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, Waker};

/// A future that on its first poll hands `wakers` clones of its waker to `slot` and
/// returns `Pending` (or `Ready` if `ready_first`); on later polls it returns `Ready`.
struct Handoff {
    polls: Arc<AtomicUsize>,
    slot: Arc<Mailbox<Waker>>,
    wakers: usize,
    ready_first: bool,
    _dropped: DropCount,
}

impl Future for Handoff {
    type Output = ();
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.polls.fetch_add(1, SeqCst) > 0 {
            return Poll::Ready(());
        }
        for _ in 0..self.wakers {
            self.slot.put(cx.waker().clone());
        }
        if self.ready_first {
            Poll::Ready(())
        } else {
            Poll::Pending
        }
    }
}

struct HandoffProbe {
    polls: Arc<AtomicUsize>,
    slot: Arc<Mailbox<Waker>>,
    dropped: Arc<AtomicUsize>,
}

fn handoff(wakers: usize, ready_first: bool) -> (Handoff, HandoffProbe) {
    let probe = HandoffProbe { polls: counter(), slot: Mailbox::new(), dropped: counter() };
    let fut = Handoff {
        polls: probe.polls.clone(),
        slot: probe.slot.clone(),
        wakers,
        ready_first,
        _dropped: DropCount(probe.dropped.clone()),
    };
    (fut, probe)
}

/// A closure task racing `TaskRef::run` (worker) against `JoinHandle::cancel`: exactly one
/// of them gets the stage, and every observer agrees on which.
#[test]
fn run_vs_cancel_exactly_one_wins() {
    model(3, || {
        let hub = Hub::new();
        let ran = counter();
        let body_dropped = counter();
        let guard = DropCount(body_dropped.clone());
        let r = ran.clone();
        let (task, handle) = closure_task(&hub, ready(Priority::NORMAL, true), move || {
            let _guard = guard;
            r.fetch_add(1, SeqCst);
        });
        let runner = thread::spawn(move || task.run());
        let cancelled = handle.cancel();
        let result = runner.join().unwrap();
        match result {
            RunResult::Finished(Outcome::Output) => {
                assert!(!cancelled, "cancel won against a body that ran");
                assert_eq!(get(&ran), 1);
            }
            RunResult::Skipped(snap) => {
                assert!(cancelled, "run skipped but cancel says it lost");
                assert_eq!(snap.outcome(), Outcome::Cancelled);
                assert_eq!(get(&ran), 0);
            }
            other => panic!("unexpected run result {other:?}"),
        }
        assert_eq!(get(&body_dropped), 1, "body dropped exactly once");
        match handle.join() {
            Ok(()) => assert!(!cancelled),
            Err(e) => assert!(cancelled && e.is_cancelled(), "unexpected join error {e:?}"),
        }
        assert_eq!(hub.freed(), 1, "cell freed exactly once");
    });
}

/// A deadline's expiry (`TaskRef::cancel(Outcome::Expired)`, what the runtime's expiry
/// timer does) racing the first run and a handle's cancel (or shutdown's claim) of a
/// future that parks at its first poll: expiry wins only against a task that never
/// started, exactly one outcome is published, the future is dropped once, and every
/// answer agrees with the outcome.
fn expiry_vs_run_vs(other: Outcome) {
    model(2, move || {
        let hub = Hub::new();
        let (fut, probe) = handoff(0, false);
        let (task, handle) = future_task(&hub, Priority::NORMAL, fut);
        let expiry = handle.task_ref().expect("a live task");
        let runner = thread::spawn(move || task.run());
        let expirer = thread::spawn(move || expiry.cancel(Outcome::Expired));
        let claimed = match other {
            Outcome::Cancelled => handle.cancel(),
            _ => handle.task_ref().unwrap().cancel(other),
        };
        let result = runner.join().unwrap();
        let expired = expirer.join().unwrap();
        let polls = get(&probe.polls);
        assert!(!(expired && claimed), "two claims won");
        if expired {
            assert_eq!(polls, 0, "an expiry won against a task that had started");
            assert!(matches!(result, RunResult::Skipped(_)), "{result:?}");
        }
        let ended = hub.futures_completed.lock().unwrap().clone();
        let want = if expired {
            Outcome::Expired
        } else if claimed {
            // Before the run, or after its poll parked the future.
            other
        } else {
            // During the poll: the claim became a request, and the runner ended the
            // future with the outcome it asked for at the poll's end.
            assert_eq!(polls, 1, "nobody won: result {result:?}");
            assert!(matches!(result, RunResult::Finished(o) if o == other), "{result:?}");
            other
        };
        assert_eq!(ended, [want], "exactly one outcome, the winner's");
        assert_eq!(get(&probe.dropped), 1, "future dropped exactly once");
        let err = handle.join().unwrap_err();
        assert_eq!(
            (err.is_expired(), err.is_cancelled(), err.is_shutdown()),
            (want == Outcome::Expired, want == Outcome::Cancelled, want == Outcome::Shutdown)
        );
        assert_eq!(hub.freed(), 1);
    });
}

#[test]
fn expiry_vs_first_run_vs_cancel_exactly_one_wins() {
    expiry_vs_run_vs(Outcome::Cancelled);
}

#[test]
fn expiry_vs_first_run_vs_shutdown_exactly_one_wins() {
    expiry_vs_run_vs(Outcome::Shutdown);
}

/// A future polled once (returns `Pending` without waking) while it is cancelled with
/// `outcome` (`Cancelled`: through its handle; `Shutdown`: through a queue reference, as
/// a runtime's shutdown does): whether the cancel lands before, during or after the
/// poll, the future is dropped exactly once, completes with `outcome` exactly once (a
/// cancel during the poll keeps the outcome it asked for), and the cancel says `true`
/// exactly when the canceller (not the runner) dropped it.
fn cancel_of_polled_future(outcome: Outcome) {
    model(3, move || {
        let hub = Hub::new();
        let (fut, probe) = handoff(0, false);
        let (task, handle) = future_task(&hub, Priority::NORMAL, fut);
        let canceller = task.clone();
        let runner = thread::spawn(move || task.run());
        let cancelled = match outcome {
            Outcome::Cancelled => handle.cancel(),
            _ => canceller.cancel(outcome),
        };
        drop(canceller);
        let result = runner.join().unwrap();
        match result {
            RunResult::Skipped(_) => assert!(cancelled && get(&probe.polls) == 0),
            RunResult::Finished(o) if o == outcome => assert!(!cancelled && get(&probe.polls) == 1),
            RunResult::Idle => assert!(cancelled && get(&probe.polls) == 1),
            other => panic!("unexpected run result {other:?}"),
        }
        assert_eq!(get(&probe.dropped), 1, "future dropped exactly once");
        assert_eq!(*hub.futures_completed.lock().unwrap(), [outcome]);
        let e = handle.join().unwrap_err();
        assert!(if outcome == Outcome::Cancelled { e.is_cancelled() } else { e.is_shutdown() }, "{e:?}");
        assert_eq!(hub.freed(), 1);
    });
}

#[test]
fn cancel_of_polled_future_completes_it_exactly_once() {
    cancel_of_polled_future(Outcome::Cancelled);
}

/// Issue 19: a future being polled when shutdown cancels it ends as `Shutdown`.
#[test]
fn shutdown_cancel_of_polled_future_completes_it_as_shutdown() {
    cancel_of_polled_future(Outcome::Shutdown);
}

/// `JoinHandle::join` (park until woken) on one thread while the task runs on another:
/// it never sleeps through the completion (loom reports a deadlock if it does), and the
/// output is read exactly once.
#[test]
fn blocking_join_never_misses_completion() {
    model(3, || {
        let hub = Hub::new();
        let out_dropped = counter();
        let out = DropCount(out_dropped.clone());
        let (task, handle) = closure_task(&hub, ready(Priority::NORMAL, true), move || out);
        let runner = thread::spawn(move || {
            let _ = task.run();
        });
        let output = handle.join().expect("the task ran");
        assert_eq!(get(&out_dropped), 0);
        drop(output);
        runner.join().unwrap();
        assert_eq!(get(&out_dropped), 1, "output dropped exactly once");
        assert_eq!(hub.freed(), 1);
    });
}

/// A join handle polled once with a counting waker while the task completes: `Ready`
/// means no wake-up is owed; `Pending` means exactly one wake-up arrives and the next
/// poll is `Ready`. The output is read exactly once.
#[test]
fn join_poll_vs_complete_wakes_exactly_once() {
    model(3, || {
        let hub = Hub::new();
        let out_dropped = counter();
        let out = DropCount(out_dropped.clone());
        let (task, mut handle) = closure_task(&hub, ready(Priority::NORMAL, true), move || out);
        let runner = thread::spawn(move || {
            let _ = task.run();
        });
        let (counting, waker) = CountingWaker::new();
        let mut cx = Context::from_waker(&waker);
        let output = match Pin::new(&mut handle).poll(&mut cx) {
            Poll::Ready(r) => {
                runner.join().unwrap();
                assert_eq!(counting.wakes(), 0, "woken although the first poll was ready");
                r
            }
            Poll::Pending => {
                runner.join().unwrap();
                assert_eq!(counting.wakes(), 1, "a registered joiner must be woken exactly once");
                match Pin::new(&mut handle).poll(&mut cx) {
                    Poll::Ready(r) => r,
                    Poll::Pending => panic!("woken but not ready"),
                }
            }
        };
        let output = output.expect("the task ran");
        drop(output);
        assert_eq!(get(&out_dropped), 1);
        drop(handle);
        assert_eq!(get(&out_dropped), 1, "output dropped exactly once");
        assert_eq!(hub.freed(), 1);
    });
}

/// The runner completes a task while another thread drops its join handle and a third
/// drops a spare reference: the output is dropped exactly once and the cell freed exactly
/// once, whoever comes last.
#[test]
fn complete_vs_handle_drop_vs_ref_drop_frees_once() {
    model(3, || {
        let hub = Hub::new();
        let out_dropped = counter();
        let out = DropCount(out_dropped.clone());
        let (task, handle) = closure_task(&hub, ready(Priority::NORMAL, true), move || out);
        let spare = task.clone();
        let runner = thread::spawn(move || {
            let _ = task.run();
        });
        let dropper = thread::spawn(move || drop(handle));
        drop(spare);
        runner.join().unwrap();
        dropper.join().unwrap();
        assert_eq!(get(&out_dropped), 1, "output dropped exactly once");
        assert_eq!(hub.freed(), 1, "cell freed exactly once");
    });
}

/// A worker runs a closure while another thread drops its handle. When the run finds
/// its reference the only one left (`State::is_sole_reference`), it runs and frees the
/// cell without writing the state word; otherwise it takes the counted path. Either way
/// the body runs once, its output is dropped once, the cell is freed once, and the run
/// reports `Output`. With a spare reference dropped by a third thread, the run may see
/// one reference only after every other holder let go.
///
/// The dropper writes a note (a loom-tracked cell) before it lets go of the handle, and
/// the output's destructor reads it: on every path the output is dropped after the
/// handle is gone, so the read must be ordered after the write. A `Relaxed` load in the
/// sole check makes loom report a causality violation on the note, raised inside the
/// output's drop, which the run's `catch_unwind` swallows: `common::model` fails on such
/// a swallowed report (seen: 66 violations, the model failed). The model also checks
/// that some interleaving takes the sole path, and fails if the reference count is not
/// checked.
#[test]
fn run_vs_handle_drop_sole_or_counted_frees_once() {
    let sole_before = kairos_rt_core::task::sole_runs();
    for spare in [false, true] {
        model(3, move || {
            let hub = Hub::new();
            let ran = counter();
            let note = Arc::new(Note(UnsafeCell::new(0)));
            let out = NoteReader(note.clone());
            let ran2 = ran.clone();
            let (task, handle) = closure_task(&hub, ready(Priority::NORMAL, true), move || {
                ran2.fetch_add(1, SeqCst);
                out
            });
            let spare = spare.then(|| task.clone());
            let runner = thread::spawn(move || task.run());
            let dropper = thread::spawn(move || {
                // SAFETY: loom checks this write against the output's read for a data race.
                note.0.with_mut(|n| unsafe { *n = 1 });
                drop(handle);
            });
            drop(spare);
            let result = runner.join().unwrap();
            dropper.join().unwrap();
            assert!(matches!(result, RunResult::Finished(Outcome::Output)), "{result:?}");
            assert_eq!(get(&ran), 1, "body ran exactly once");
            assert_eq!(hub.freed(), 1, "cell freed exactly once");
        });
    }
    assert!(kairos_rt_core::task::sole_runs() > sole_before, "no interleaving took the sole path");
}

/// A value written by the handle's thread before it drops the handle.
struct Note(UnsafeCell<u32>);

// SAFETY: the model's point is that every access is ordered; loom checks it.
unsafe impl Sync for Note {}

/// The task's output: reads the note when dropped, which must come after the write.
struct NoteReader(Arc<Note>);

impl Drop for NoteReader {
    fn drop(&mut self) {
        // SAFETY: loom checks this read against the dropper's write for a data race.
        let seen = self.0 .0.with(|n| unsafe { *n });
        assert_eq!(seen, 1, "the output was dropped before the handle was");
    }
}

/// A future woken (`wake_by_ref`) from another thread while it may still be in its poll:
/// the wake-up is never lost and never doubled. After the poll and the wake, the task is
/// in exactly one queue (the runner's `Yielded`, or the scheduler's), and its second poll
/// completes it.
#[test]
fn wake_while_running_is_polled_again() {
    model(3, || {
        let hub = Hub::new();
        let (fut, probe) = handoff(1, false);
        let (task, handle) = future_task(&hub, Priority::NORMAL, fut);
        let slot = probe.slot.clone();
        let waker = thread::spawn(move || {
            let w = slot.take();
            w.wake_by_ref();
            drop(w);
        });
        let first = task.run();
        waker.join().unwrap();
        let again = requeued(first, &hub);
        assert_eq!(again.len(), 1, "woken task queued exactly once (runner or waker)");
        for t in again {
            assert!(matches!(t.run(), RunResult::Finished(Outcome::Output)));
        }
        assert_eq!(get(&probe.polls), 2);
        assert_eq!(get(&probe.dropped), 1);
        assert!(hub.take_scheduled().is_empty(), "no further schedule");
        handle.join().unwrap();
        assert_eq!(hub.freed(), 1);
    });
}

/// Two wakers (one `wake_by_ref`, one `wake` by value) fire from two threads while the
/// future may be in its poll: the task is queued once, not twice.
#[test]
fn two_wakes_while_running_queue_the_task_once() {
    model(3, || {
        let hub = Hub::new();
        let (fut, probe) = handoff(2, false);
        let (task, handle) = future_task(&hub, Priority::NORMAL, fut);
        let (s1, s2) = (probe.slot.clone(), probe.slot.clone());
        let by_ref = thread::spawn(move || s1.take().wake_by_ref());
        let by_val = thread::spawn(move || s2.take().wake());
        let first = task.run();
        by_ref.join().unwrap();
        by_val.join().unwrap();
        let again = requeued(first, &hub);
        assert_eq!(again.len(), 1, "woken task queued exactly once");
        for t in again {
            assert!(matches!(t.run(), RunResult::Finished(Outcome::Output)));
        }
        assert_eq!(get(&probe.polls), 2);
        handle.join().unwrap();
        assert_eq!(hub.freed(), 1);
    });
}

/// A future hands out its waker and completes in the same poll; the waker fires from
/// another thread (during or after the poll): nothing is scheduled and the cell is freed
/// once.
#[test]
fn wake_after_complete_schedules_nothing() {
    model(3, || {
        let hub = Hub::new();
        let (fut, probe) = handoff(1, true);
        let (task, handle) = future_task(&hub, Priority::NORMAL, fut);
        let slot = probe.slot.clone();
        let waker = thread::spawn(move || slot.take().wake());
        assert!(matches!(task.run(), RunResult::Finished(Outcome::Output)));
        waker.join().unwrap();
        assert_eq!(get(&hub.scheduled), 0, "a complete task was scheduled");
        assert_eq!(get(&probe.polls), 1);
        handle.join().unwrap();
        assert_eq!(get(&probe.dropped), 1);
        assert_eq!(hub.freed(), 1);
    });
}

/// An idle future (polled once, `Pending`, waker handed out) whose last three references
/// (a waker, the join handle, a spare `TaskRef`) are dropped on three threads: exactly
/// one drop frees the cell, and the future is dropped exactly once.
#[test]
fn idle_future_freed_once_by_the_last_reference() {
    model(3, || {
        let hub = Hub::new();
        let (fut, probe) = handoff(1, false);
        let (task, handle) = future_task(&hub, Priority::NORMAL, fut);
        let spare = task.clone();
        assert!(matches!(task.run(), RunResult::Idle));
        let waker = probe.slot.try_take().expect("waker handed out");
        let t1 = thread::spawn(move || drop(waker));
        let t2 = thread::spawn(move || drop(handle));
        drop(spare);
        t1.join().unwrap();
        t2.join().unwrap();
        assert_eq!(get(&probe.dropped), 1, "future dropped exactly once");
        assert_eq!(hub.freed(), 1, "cell freed exactly once");
        assert_eq!(get(&hub.scheduled), 0);
    });
}

/// The references a worker must run again after a poll: the runner's (`Yielded`) and
/// whatever the wakers handed to the scheduler.
fn requeued(first: RunResult, hub: &Hub) -> Vec<TaskRef> {
    let mut again = match first {
        RunResult::Yielded(t) => vec![t],
        RunResult::Idle => Vec::new(),
        other => panic!("unexpected first run result {other:?}"),
    };
    again.extend(hub.take_scheduled());
    again
}
