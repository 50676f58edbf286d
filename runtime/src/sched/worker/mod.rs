//! A worker: one OS thread that runs tasks in priority order.
//!
//! This folder owns a worker's private state ([`WorkerCtx`]: its run queue, its timing
//! wheel, its searching flag and its policies) and the loop that uses it. Files, by
//! step of the loop: `find.rs` (steps 2 and 3), `timers.rs` (step 1 and every change to
//! the wheel), `park.rs` (step 4); the policies the loop consults are beside them:
//! `aging.rs`, `batching.rs` (injector steals), `spin.rs` (spin before parking),
//! `density.rs` (wait for dense timers in windows); `test_helpers` (below) holds what
//! their unit tests share. Rules:
//! only the owning thread touches the queue's pop end; only the holder of a wheel (its
//! owner, or a free worker helping a busy owner: see [`timers`]) touches the wheel and its
//! gauges; other threads reach the worker only through its `Remote`.
//!
//! ## Finding work (`main_loop`)
//!
//! 1. Timers: drain the inbox and cancel messages from other threads, then move due
//!    tasks from the wheel into the local run queue (the clock is read only while the
//!    wheel holds something).
//! 2. Local queue and injectors, in priority order: if the injectors' global mask shows a
//!    level above the local queue's highest, take from the injectors first, so urgent work
//!    submitted from outside never waits behind local bulk. At equal levels the local queue
//!    goes first, except every 61st pick, when a batch of the injectors' tasks is moved
//!    *behind* the local ones (FIFO within a level holds), so the injectors never starve.
//!    Every 16th pick, a worker first checks its peers' advertised levels and steals
//!    from one that holds more urgent work than anything it could run itself, so a busy
//!    peer's queued urgent tasks never wait while this worker runs less urgent ones.
//!    A worker whose injector steals have been taking one task at a time from a stream
//!    of outside submissions waits a few microseconds before its next one, so a batch
//!    builds up instead of every push contending with a steal (see [`batching`]).
//! 3. Search: steal a batch from the worker advertising the most urgent level. At most
//!    half of the workers search at once (see [`idle`](kairos_rt_core::idle)); the last
//!    searcher to find work wakes another sleeper, so parallelism ramps up with load.
//! 4. Help, then park: fire the due timers of a peer that is busy past them (see
//!    [`timers`]); else spin for the configured budget while recent idle spells show that
//!    spinning pays (see [`spin`]), then register as a sleeper, re-check, and
//!    park until woken or until the next deadline it watches (its wheel's; a peer's
//!    that is running a task since before it; a peer's plus `HELP_AFTER` that is
//!    between tasks; a parked peer's wake tick plus `STALL_GRACE`, in case its
//!    wake-up is late). A deadline of its own closer than
//!    [`NEAR_DEADLINE`](park::NEAR_DEADLINE) is waited out by yielding instead, for
//!    precision, unless the worker fires timers densely: then it parks until its
//!    deadline plus the dense timer slack
//!    ([`Builder::dense_timer_slack`](crate::Builder::dense_timer_slack)) and fires
//!    what came due together (see [`density`]).
//!
//! Aging (see [`aging`]) may serve one task of an overdue level ahead of
//! step 2's order every few picks.
//!
//! ## Accounting and metrics
//!
//! A run that is a task's first (its state had no `STARTED`) counts `Started`, releases
//! the task's admission unit, and, for 1 task in 64 (chosen by address), records the
//! submit-to-start latency from the submit tick that the spawn stored in the task's
//! (otherwise unused) wheel links. Time spent in `park` (spinning included) is idle
//! time; the rest is busy.
//!
//! ## Shutdown
//!
//! Once `stopping` is set, a worker keeps running ready closures (futures it pops are
//! cancelled instead of polled, except a never-started one whose body keeps a closure's
//! rule, `Body::STARTS_AT_SHUTDOWN`: a retried closure runs its first attempt) until it
//! finds no ready work anywhere, then cancels every task in its wheel and inbox with the
//! `Shutdown` outcome, counting each. The last worker to exit (or the shutting-down
//! thread, if it leaves after every worker) runs shutdown's final drain.

mod aging;
mod batching;
pub(super) mod density;
#[cfg(test)]
mod events;
mod find;
mod park;
mod spin;
#[cfg(all(test, feature = "tracing"))]
mod tests;
mod timers;

use crate::sched::context;
use crate::sched::shared::{Remote, Shared};
use crate::stats::{accounting, Count};
use aging::AgingState;
use batching::InjectorBatching;
use kairos_rt_core::queue::RunQueue;
use kairos_rt_core::sync::atomic::Ordering::*;
use kairos_rt_core::sync::Arc;
use kairos_rt_core::task::{Header, Outcome, RunResult, TaskRef};
use kairos_rt_core::timer::cancel_for_shutdown;
use kairos_rt_core::Priority;
use park::reduce_timer_slack;
use spin::SpinPolicy;
use std::cell::Cell;
use std::panic::{catch_unwind, AssertUnwindSafe};

/// One worker's private state, reachable from its thread through `context`.
pub(crate) struct WorkerCtx {
    shared: Arc<Shared>,
    index: usize,
    queue: RunQueue,
    /// Whether this thread holds a wheel (its own or a peer's) right now: a nested wheel
    /// access then falls back to a message instead of waiting (see `timers.rs`).
    holding: Cell<bool>,
    /// Tasks picked so far (wrapping): the loop's policies act every n-th pick.
    picks: Cell<u32>,
    searching: Cell<bool>,
    /// Whether to spin before parking (see [`spin`]).
    spin: SpinPolicy,
    rng: Cell<u64>,
    aging: Option<AgingState>,
    /// Sampling counter (see `next_sample`).
    samples: Cell<u32>,
    /// The address of the task this worker is running, while it runs (0: none). An
    /// address, not a pointer, so the context stays `Send` until its thread starts.
    current: Cell<usize>,
    /// The tick of this worker's last look at its own wheel, read there anyway (0: none
    /// yet): published as `Remote::running_since` while it runs a task (see [`timers`]).
    checked_tick: Cell<u64>,
    /// Whether to wait for a batch before the next injector steal (see [`batching`]).
    batching: InjectorBatching,
}

impl core::fmt::Debug for WorkerCtx {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("WorkerCtx").field("index", &self.index).field("queue", &self.queue).finish()
    }
}

impl WorkerCtx {
    pub(crate) fn new(shared: Arc<Shared>, index: usize, queue: RunQueue) -> WorkerCtx {
        WorkerCtx {
            aging: shared.config.aging.as_ref().map(AgingState::new),
            current: Cell::new(0),
            checked_tick: Cell::new(0),
            batching: InjectorBatching::default(),
            samples: Cell::new(0),
            shared,
            index,
            queue,
            holding: Cell::new(false),
            picks: Cell::new(0),
            searching: Cell::new(false),
            spin: SpinPolicy::new(),
            rng: Cell::new(0x9E37_79B9_7F4A_7C15 ^ (index as u64 + 1)),
        }
    }

    pub(crate) fn shared(&self) -> &Arc<Shared> {
        &self.shared
    }

    pub(crate) fn index(&self) -> usize {
        self.index
    }

    pub(crate) fn remote(&self) -> &Remote {
        &self.shared.remotes[self.index]
    }

    fn next_random(&self) -> u64 {
        // xorshift64*: only picks a starting victim.
        let mut x = self.rng.get();
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.rng.set(x);
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// Pushes a ready task onto this worker's queue and wakes a sleeper if that helps.
    ///
    /// `RunQueue::push_then_wants_notify` fences between the push and the look at the
    /// sleepers, the pusher's half of the idle protocol (`Idle::notify_one`; the sleeper
    /// registers, fences, then looks at its peers' queues): without it the look could be
    /// ordered before the deque's store of the task (store then load, as a store buffer
    /// allows), see no sleeper, while the sleeper's look saw no task, and the task would
    /// wait for this worker's current run to end. The level mask's `fetch_or` is no
    /// fence: it is skipped while the level's bit is already set.
    pub(crate) fn push_local(&self, task: TaskRef) {
        if self.queue.push_then_wants_notify(task, &self.shared.idle) {
            self.shared.notify_one();
        }
    }

    /// Queues a future that yielded, or was woken while it was polled, on the injectors,
    /// then looks at the sleepers as any push from outside does (`Injectors::push`
    /// fences; `notify_one` wakes one if nobody searches).
    ///
    /// The look used to be missing: a future that spawned a task (whose push saw a
    /// searcher, and woke nobody) and then yielded was missed by that searcher going to
    /// sleep if it read the injectors before the future's push and this worker's queue
    /// after this worker took the task from it; the future then waited for the task to
    /// end (for ever, if the task waits for the future). Looking only when this worker
    /// has queued work of its own is not enough: a timer it fires next, an aged level or
    /// a more urgent task stolen from a peer can run first too. The cost: a future that
    /// yields in a loop on an otherwise idle runtime wakes a sleeping worker at each
    /// yield (one load when every worker is busy or one searches).
    fn push_yielded(&self, task: TaskRef) {
        self.shared.injectors.push(task);
        self.shared.notify_one();
    }

    fn count(&self, kind: Count) {
        self.remote().counters.bump_owned(kind);
    }

    /// Counts the end of a timed task that never ran (claimed by a canceller, or dropped),
    /// unless it is a future: the registry counts those when they complete.
    fn count_unstarted(&self, outcome: Outcome, task: &TaskRef) {
        let header = task.header();
        if let Some(kind) = accounting::timed_unrun(outcome, header.is_future(), header.is_runtime_timer()) {
            self.shared.count_end(kind, task.snapshot());
        }
    }

    /// The worker thread's body. The builder gave it a unit of `Shared::parties` before
    /// starting the thread; it gives it up last of all, and the last party out runs
    /// shutdown's final drain (see `sched::shutdown`, step 4), here if it is this worker.
    pub(crate) fn run(self) {
        {
            let _guard = context::enter_worker(&self);
            // The I/O driver (with the `tokio` feature: tokio's reactor and timers) for
            // the thread's life as a worker, hooks included; dropped before it leaves.
            let _io = self.shared.config.io.enter();
            reduce_timer_slack();
            // A panicking hook must not take the worker with it (its queue and its wheel
            // would be stranded); the payload is dropped.
            if let Some(hook) = &self.shared.config.on_thread_start {
                let _ = catch_unwind(AssertUnwindSafe(|| hook()));
            }
            self.main_loop();
            self.exit();
            if let Some(hook) = &self.shared.config.on_thread_stop {
                let _ = catch_unwind(AssertUnwindSafe(|| hook()));
            }
        }
        // Outside the worker context: the drain may cancel futures whose drop reaches
        // the runtime (a dropped `sleep`), which must not take this worker's closed wheel.
        if self.shared.parties.leave() {
            self.shared.final_drain();
        }
    }

    fn main_loop(&self) {
        loop {
            let pick = self.picks.get().wrapping_add(1);
            self.picks.set(pick);
            self.maintain_timers();
            if let Some(task) = self.next_task(pick) {
                self.stop_searching();
                self.run_task(task);
                continue;
            }
            if let Some(task) = self.search() {
                self.run_task(task);
                continue;
            }
            if self.help_peers() {
                continue;
            }
            if self.shared.stopping.load(Acquire) {
                if self.ready_work_visible() {
                    continue;
                }
                return;
            }
            self.park();
        }
    }

    /// Whether shutdown still polls this queued future: one that keeps a closure's
    /// shutdown rule (`Body::STARTS_AT_SHUTDOWN`, a retried closure) and never started.
    fn starts_at_shutdown(task: &TaskRef) -> bool {
        task.header().starts_at_shutdown() && !task.snapshot().is_started()
    }

    fn run_task(&self, task: TaskRef) {
        let is_future = task.header().is_future();
        let runtime_timer = task.header().is_runtime_timer();
        if is_future && self.shared.stopping.load(Relaxed) && !Self::starts_at_shutdown(&task) {
            // Futures are cancelled, not polled, once shutdown begins (counted through
            // the registry when the cancel completes them).
            let _ = task.cancel(Outcome::Shutdown);
            return;
        }
        let ptr = task.as_ptr();
        let first = Cell::new(false);
        #[cfg(feature = "tracing")]
        let _span = tracing::debug_span!(
            "kairos.task",
            task = task.as_ptr().as_ptr() as usize,
            priority = task.priority().level(),
            worker = self.index
        )
        .entered();
        self.current.set(task.as_ptr().as_ptr() as usize);
        // Since when this worker is busy, for a free one deciding whether it is stuck
        // past its timers (see `timers`): one store each way, no clock read.
        let running_since = &self.remote().running_since;
        running_since.store(self.checked_tick.get(), Relaxed);
        let result = task.run_observed(&mut || {
            first.set(true);
            self.first_run(ptr);
        });
        running_since.store(u64::MAX, Relaxed);
        self.current.set(0);
        #[cfg(feature = "tracing")]
        tracing::debug!(result = ?result, "kairos.task.ran");
        if is_future {
            let expired = matches!(result, RunResult::Finished(Outcome::Expired));
            if let Some(started) = accounting::future_first_poll(first.get(), expired) {
                self.count(started);
            }
        }
        match result {
            RunResult::Finished(outcome) if !is_future => {
                let (started, end) = accounting::closure_finished(outcome, runtime_timer);
                if let Some(started) = started {
                    self.count(started);
                }
                self.count(end);
            }
            RunResult::Skipped(snap) if !is_future => {
                self.shared.count_end(accounting::closure_unrun(snap.outcome(), runtime_timer), snap)
            }
            // A yielding future (or one woken while it was polled) goes behind everything
            // queued at its level, including work submitted from outside (the
            // injectors), not just this worker's queue.
            RunResult::Yielded(t) => self.push_yielded(t),
            RunResult::Finished(_) | RunResult::Skipped(_) | RunResult::Idle | RunResult::Stale => {}
        }
    }

    /// Moves the task this worker is running to `priority` (see
    /// [`State::set_priority_while_running`](kairos_rt_core::task::state::State::set_priority_while_running)).
    pub(crate) fn reprioritize_current(&self, priority: Priority) -> bool {
        match std::ptr::NonNull::new(self.current.get() as *mut Header) {
            // SAFETY: `current` is set only while `run_task` holds the task's queue
            // reference, which keeps the cell alive.
            Some(ptr) => unsafe { ptr.as_ref() }.state().set_priority_while_running(priority),
            None => false,
        }
    }

    /// Accounting for a task's first run, called once it is claimed and before its body
    /// starts: its admission unit goes back, and a sampled task (a non-zero tick in its
    /// otherwise unused wheel links: see [`sample_due`](Self::sample_due) and the spawn
    /// path) records its submit-to-start latency. `Started` is counted after the run,
    /// unless the task expired instead of starting.
    fn first_run(&self, ptr: std::ptr::NonNull<Header>) {
        // SAFETY: the caller holds the queue reference (the cell is alive).
        let header = unsafe { ptr.as_ref() };
        let snap = header.state().load();
        // SAFETY: the task is claimed for this run: it is in no wheel and nobody else
        // touches its links.
        let sample = unsafe { Header::latency_sample(ptr) };
        if snap.holds_unit() {
            self.shared.left_waiting();
        }
        if sample != 0 {
            let now = self.shared.clock.now_tick();
            let nanos = now.saturating_sub(sample).saturating_mul(crate::clock::TICK_NANOS);
            self.remote().latency.record(nanos);
        }
    }

    /// Whether this worker's next sample is due (1 call in `SAMPLE_EVERY`).
    pub(crate) fn next_sample(&self) -> bool {
        crate::stats::latency::next_sample(&self.samples)
    }

    fn exit(&self) {
        self.stop_searching();
        let remote = self.remote();
        {
            // The wheel stays held while its tasks are dropped: a dropped closure that
            // cancels another timed task of this wheel then sends a cancel message (dropped
            // below; `cancel_all` counts that task once, as cancelled) instead of unlinking
            // it from under `cancel_all` (which freed it while the wheel still linked it).
            // Closing it (waiting for a helper that holds it) ends every helper's access.
            self.holding.set(true);
            remote.wheel.close(|timers| {
                for t in remote.timer_inbox.take() {
                    self.count_unstarted(cancel_for_shutdown(&t), &t);
                }
                timers.cancel_all(|outcome, t| self.count_unstarted(outcome, t));
            });
            self.holding.set(false);
        }
        for gauge in remote.timed_by_level.iter().chain([&remote.runtime_timers]) {
            gauge.store(0, Relaxed);
        }
        remote.next_due.store(u64::MAX, Relaxed);
        Shared::drain_queue(&remote.timer_cancels, drop);
        // Anything still local (a race with a last-moment push) is run, not lost.
        while let Some(t) = self.queue.pop() {
            self.run_task(t);
        }
    }
}

#[cfg(test)]
mod exit_tests {
    use super::WorkerCtx;
    use crate::test_support::runtime_without_threads;
    use crate::Priority;
    use std::time::Duration;

    /// A worker's exit cancels the timed tasks in its own timer inbox at once, not only
    /// the final drain (which waits for the last worker: after a `shutdown_timeout` that
    /// gave up on a stuck peer, maybe never): their handles resolve when this worker goes.
    #[test]
    fn a_worker_exit_drops_the_timed_tasks_in_its_inbox() {
        let (rt, shared, mut queues) = runtime_without_threads(1);
        let h = rt.spawn_after(Duration::from_secs(3600), Priority::NORMAL, || ());
        assert!(!shared.remotes[0].timer_inbox.is_empty(), "registered from outside: in the inbox");
        // Play worker 0's way out, as after its main loop found no ready work.
        let worker = WorkerCtx::new(shared.clone(), 0, queues.pop().expect("one queue"));
        worker.exit();
        assert!(h.is_finished(), "the exit cancelled the timed closure in its inbox");
        drop(worker);
        let report = rt.shutdown();
        assert_eq!((report.submitted, report.timers_dropped), (1, 1), "{report:?}");
        assert!(report.is_balanced(), "{report:?}");
        assert!(h.join().unwrap_err().is_shutdown());
    }
}

/// Helpers the worker modules' unit tests share (they reach `Shared`'s fields, which are
/// private to `sched`).
#[cfg(test)]
mod test_helpers {
    use crate::sched::shared::Shared;
    use crate::{Handle, JoinHandle, Priority};
    use std::time::Instant;

    /// Sends a timed task due at `due` from outside to worker `owner`: its door reads
    /// parked for the call, and `Shared::timer_owner` prefers a worker that reads parked.
    pub(super) fn spawn_at_worker(
        handle: &Handle,
        shared: &Shared,
        owner: usize,
        due: Instant,
    ) -> JoinHandle<()> {
        shared.remotes[owner].door.close(u64::MAX);
        let timed = handle.spawn_at(due, Priority::NORMAL, || ());
        shared.remotes[owner].door.open();
        timed
    }
}
