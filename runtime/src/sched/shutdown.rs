//! Shutdown: how a runtime stops, and how every task it ever accepted is accounted for.
//!
//! 1. **Close intake and stop**: no outside submission passes the intake gate any more
//!    (one already past it completes its push); `stopping` tells the workers to exit once
//!    they find no ready work.
//! 2. **Wake everyone**: submitters blocked on a full runtime (they find it closed and
//!    give up), sleeping workers (through the idle state and every parker). Then the
//!    shutting-down thread gives up its unit of `parties` (see step 4).
//! 3. **Join the workers** (up to the timeout). Each worker, before it exits, runs the
//!    ready closures it can find (futures it pops are cancelled, not polled, except a
//!    retried closure that never started: it runs its first attempt like any queued
//!    closure, whatever other policy wraps it), then
//!    cancels every task in its wheel and timer inbox with the `Shutdown` outcome and
//!    counts each (`WorkerCtx::exit`). A worker that is the caller's own thread (the
//!    runtime shut down or dropped inside one of its tasks or hooks) cannot be joined: it
//!    exits by itself once that task or hook returns. If some worker was not joined (the
//!    timeout passed, or it is the caller's), the shutting-down thread cancels every live
//!    future of the registry now (`cancel_live_futures`: an idle one ends at once with
//!    `Shutdown`, one being polled ends when its poll returns), so no handle of a future
//!    waits for a worker that may never come back.
//!    **Then the blocking pool** (`sched::blocking`): its threads run every queued
//!    blocking closure and exit. Shutdown waits for them up to the same deadline once
//!    every worker was joined (no spawn can reach the pool any more); past the deadline,
//!    or if some worker was not joined, it only tells the pool to stop, and the threads
//!    it did not wait for are reported (`unjoined_blocking_threads`: a blocking call
//!    that never returns, or the caller's own thread when the runtime was dropped inside
//!    a blocking job), their jobs `unfinished`. Only when everything was waited for does
//!    it stop the tokio runtime the runtime owns, if any (`config::io`); else that
//!    runtime stops when the shared state is freed.
//! 4. **Final drain**, by the last party to leave (`LastOut`, loom model `last_out.rs`):
//!    the parties are the shutting-down thread (after step 2) and every worker thread
//!    (after its exit, outside its worker context). So it runs exactly once, after every
//!    worker is gone, whether or not the shutdown waited for them: by the shutting-down
//!    thread when the workers were all gone first, else by the last worker (possibly
//!    long after a `shutdown_timeout` gave up, or after the task that dropped the runtime
//!    returned). It cancels the live futures of the registry and drops any entry left,
//!    runs what is left in the injectors (only a priority change racing shutdown leaves
//!    anything there), cancels the tasks in the timer inboxes and drops cancel messages,
//!    after it set `closed` (and fenced: loom model `late_push.rs`). Emptying the
//!    registry breaks the one reference cycle a runtime has (registry entry -> future
//!    cell -> its scheduler -> the shared state), so the shared state is freed when the
//!    last `Handle`, `JoinHandle` or waker of one of its futures goes.
//! 5. **Late pushes**: a push that raced step 4 (a waker firing after the final drain,
//!    a timed closure cancelled from outside) either lands before step 4 empties its
//!    queue, or sees `closed` after its push and drains what it pushed itself
//!    (`Shared::push_injected`, `Sched::timer_cancelled`). Such a wake-up is
//!    harmless: the task it names already ended and was counted in step 4, its entry is
//!    dropped, and the pusher holds its own reference to the shared state while it
//!    drains (the entry may have held the state's last one).
//!
//! The report's counts then balance: every admitted task ended counted exactly once
//! (see `stats::counters`), unless some worker was not joined (then what it still had
//! queued or running is `unfinished`, and ends later, counted where it ends).

use super::shared::Shared;
use crate::stats::{accounting, Totals};
use kairos_rt_core::sync::atomic::{fence, Ordering::SeqCst};
use kairos_rt_core::timer::cancel_for_shutdown;
use std::time::{Duration, Instant};

/// What the shutting-down thread could wait for (step 3).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Waited {
    /// Blocking jobs still queued or running when shutdown stopped waiting for the pool.
    pub(crate) blocking_left: u64,
    /// The counts at that same moment (see `PoolWaited::totals`).
    pub(crate) totals: Totals,
    /// The timeout passed before every worker it could join exited.
    pub(crate) timed_out: bool,
    /// Workers not joined: still running at the timeout, or the caller's own.
    pub(crate) unjoined_workers: usize,
    /// Blocking-pool threads not waited for (see `BlockingPool::shut_down`).
    pub(crate) unjoined_blocking_threads: usize,
}

impl Shared {
    /// Shuts the runtime down (steps 1 to 3 of the module docs, and step 4 if the
    /// workers are all gone by then), waiting for `threads` until `timeout` after
    /// `start` (`None`, or a timeout too large to add: no limit).
    pub(crate) fn shut_down(
        &self,
        threads: Vec<std::thread::JoinHandle<()>>,
        timeout: Option<Duration>,
        start: Instant,
    ) -> Waited {
        let shared = self;
        // 1. Close intake, and tell the workers to stop once they find no ready work.
        shared.intake.close();
        shared.stopping.store(true, SeqCst);
        // 2. Wake everyone. Submitters blocked on a full runtime find it closed and give up.
        shared.room.close();
        let _ = shared.idle.notify_all();
        for r in shared.remotes.iter() {
            r.parker.unpark();
        }
        if shared.parties.leave() {
            shared.final_drain();
        }
        // 3. Join the workers. A timeout too large to add (`Duration::MAX`) waits like `shutdown`.
        let deadline = timeout.and_then(|d| start.checked_add(d));
        let mut waited = Waited {
            blocking_left: 0,
            totals: Totals::default(),
            timed_out: false,
            unjoined_workers: 0,
            unjoined_blocking_threads: 0,
        };
        let me = std::thread::current().id();
        for t in threads {
            if t.thread().id() == me {
                // Shut down from inside one of its own tasks or hooks: this worker exits
                // by itself when that returns (and may be the one to run step 4).
                waited.unjoined_workers += 1;
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
                        waited.timed_out = true;
                        waited.unjoined_workers += 1;
                    }
                }
            }
        }
        if waited.unjoined_workers > 0 {
            // No future handle may wait for a worker that may never come back.
            shared.cancel_live_futures();
        }
        // 3, continued: the blocking pool. With a worker still running it could still be
        // given a job, so it is only told to stop then (its threads drain the queue and
        // exit in the background).
        let pool_deadline = if waited.unjoined_workers > 0 { Some(Instant::now()) } else { deadline };
        let pool = shared.blocking.shut_down(shared, pool_deadline);
        if waited.unjoined_workers == 0 {
            waited.timed_out |= pool.hit_deadline;
        }
        waited.unjoined_blocking_threads = pool.unjoined_threads;
        (waited.blocking_left, waited.totals) = (pool.left, pool.totals);
        if waited.unjoined_workers == 0 && waited.unjoined_blocking_threads == 0 {
            // Nothing of this runtime runs any more: an I/O driver it owns can stop.
            shared.config.io.shut_down();
        }
        waited
    }

    /// Cancels every future in the registry with the `Shutdown` outcome: an idle or
    /// queued one at once, one being polled when its poll returns (a worker that is
    /// stuck elsewhere cannot reach it). Each is counted where it completes
    /// (`Sched::future_completed`), once, since the entry stays until then.
    pub(crate) fn cancel_live_futures(&self) {
        for task in self.registry.snapshot() {
            let _ = task.cancel(kairos_rt_core::task::Outcome::Shutdown);
        }
    }

    /// Step 4 of the module docs, run once by the last party to leave: every worker has
    /// exited, so nothing polls a future or holds a wheel any more.
    pub(crate) fn final_drain(&self) {
        // `closed` first, then a fence, then the queues: a late push (a future's wake-up,
        // a cancel message) either sees `closed` after its own push and fence, and drains
        // itself, or lands before this drain empties the queues (loom model
        // `late_push.rs`, which fails with `closed` set last, as it was, or without the
        // fence). An entry left behind would keep its cell, and a future cell keeps the
        // shared state alive through its scheduler: the runtime would never be freed.
        self.closed.store(true, SeqCst);
        fence(SeqCst);
        self.cancel_live_futures();
        // Every completion removed its entry; an entry still there (none expected) must
        // not keep the state alive through its cell's scheduler.
        for task in self.registry.drain() {
            let outcome = cancel_for_shutdown(&task);
            self.count_end(
                accounting::future_left(outcome, task.header().is_runtime_timer()),
                task.snapshot(),
            );
        }
        self.drain_injectors();
        for r in self.remotes.iter() {
            for t in r.timer_inbox.take() {
                let outcome = cancel_for_shutdown(&t);
                // A timed future is counted through the registry.
                let header = t.header();
                if let Some(kind) =
                    accounting::timed_unrun(outcome, header.is_future(), header.is_runtime_timer())
                {
                    self.count_end(kind, t.snapshot());
                }
            }
            Shared::drain_queue(&r.timer_cancels, drop);
        }
    }
}
