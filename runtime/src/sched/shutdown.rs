//! Shutdown: how a runtime stops, and how every task it ever accepted is accounted for.
//!
//! 1. **Close intake and stop**: no outside submission passes the intake gate any more
//!    (one already past it completes its push); `stopping` tells the workers to exit once
//!    they find no ready work.
//! 2. **Wake everyone**: submitters blocked on a full runtime (they find it closed and
//!    give up), sleeping workers (through the idle state and every parker).
//! 3. **Join the workers** (up to the timeout). Each worker, before it exits, runs the
//!    ready closures it can find (futures it pops are cancelled, not polled, except a
//!    retried closure that never started: it runs its first attempt like any queued
//!    closure, whatever other policy wraps it), then
//!    cancels every task in its wheel and timer inbox with the `Shutdown` outcome and
//!    counts each (`WorkerCtx::exit`). A worker that is the caller's own thread (the
//!    runtime dropped inside one of its tasks) exits by itself and is not joined.
//! 4. **Final drain**, only if every worker was joined: cancel the live futures of the
//!    registry, run what is left in the injectors (only a priority change racing
//!    shutdown leaves anything there), cancel the tasks in the timer inboxes, drop
//!    cancel messages, and set `closed`.
//! 5. **Late pushes**: a push that raced step 4 (a waker firing after the final drain,
//!    a timed closure cancelled from outside) sees `closed` and drains what it pushed
//!    itself (`Shared::push_injected`, `Sched::timer_cancelled`). Such a wake-up is
//!    harmless: the task it names already ended and was counted in step 4, its entry is
//!    dropped, and the pusher holds its own reference to the shared state while it
//!    drains (the entry may have held the state's last one).
//!
//! The report's counts then balance: every admitted task ended counted exactly once
//! (see `stats::counters`), unless the wait timed out (then the rest is `unfinished`).

use super::shared::Shared;
use kairos_rt_core::sync::atomic::Ordering::SeqCst;
use kairos_rt_core::timer::cancel_for_shutdown;
use std::time::{Duration, Instant};

impl Shared {
    /// Shuts the runtime down (steps 1 to 4 of the module docs), waiting for `threads`
    /// until `timeout` after `start` (`None`, or a timeout too large to add: no limit).
    /// Returns whether it gave up waiting (some tasks are then still queued or running).
    pub(crate) fn shut_down(
        &self,
        threads: Vec<std::thread::JoinHandle<()>>,
        timeout: Option<Duration>,
        start: Instant,
    ) -> bool {
        let shared = self;
        // 1. Close intake, and tell the workers to stop once they find no ready work.
        shared.intake.close();
        shared.stopping.store(true, SeqCst);
        // 2. Wake everyone. Submitters blocked on a full runtime find it closed and give up.
        shared.room.notify(usize::MAX);
        let _ = shared.idle.notify_all();
        for r in shared.remotes.iter() {
            r.parker.unpark();
        }
        // 3. Join the workers. A timeout too large to add (`Duration::MAX`) waits like `shutdown`.
        let deadline = timeout.and_then(|d| start.checked_add(d));
        let mut timed_out = false;
        let me = std::thread::current().id();
        for t in threads {
            if t.thread().id() == me {
                // Dropped from inside one of its own tasks: that worker exits by itself.
                timed_out = true;
                continue;
            }
            match deadline {
                None => {
                    let _ = t.join();
                }
                Some(dl) => {
                    while !t.is_finished() && Instant::now() < dl {
                        std::thread::sleep(Duration::from_micros(200));
                    }
                    if t.is_finished() {
                        let _ = t.join();
                    } else {
                        timed_out = true;
                    }
                }
            }
        }
        // 4. With every worker gone: cancel the live futures, run what a late priority
        // change left in the injectors, cancel what waits in timer inboxes, and mark the
        // runtime closed (step 5 is for late pushes: see the module docs).
        if !timed_out {
            for task in shared.registry.drain() {
                shared.count_end(
                    cancel_for_shutdown(&task),
                    false,
                    task.header().is_runtime_timer(),
                    task.snapshot(),
                );
            }
            shared.drain_injectors();
            for r in shared.remotes.iter() {
                for t in r.timer_inbox.take() {
                    let outcome = cancel_for_shutdown(&t);
                    // A timed future is counted by the registry drain above.
                    if !t.header().is_future() {
                        shared.count_end(outcome, true, t.header().is_runtime_timer(), t.snapshot());
                    }
                }
                Shared::drain_queue(&r.timer_cancels, drop);
            }
            shared.closed.store(true, SeqCst);
        }
        timed_out
    }
}
