//! A worker: one OS thread that runs tasks in priority order.
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
//! 4. Park: spin for the configured budget while recent idle spells show that spinning
//!    pays (see [`spin`](crate::spin)), then register as a sleeper, re-check, and
//!    park until woken or until the wheel's next deadline. A deadline closer than
//!    [`NEAR_DEADLINE`] is waited out by yielding instead, for precision.
//!
//! Aging (see [`aging`](crate::aging)) may serve one task of an overdue level ahead of
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
//! cancelled instead of polled) until it finds no ready work anywhere, then cancels
//! every task in its wheel and inbox with the `Shutdown` outcome, counting each.

use crate::aging::{AgingState, CHECK_EVERY};
use crate::batching::{self, InjectorBatching, Took};
use crate::context;
use crate::stats::Count;
use crate::shared::{Remote, Shared};
use crate::spin::SpinPolicy;
use crate::Handle;
use kairos_rt_core::queue::RunQueue;
use kairos_rt_core::sync::atomic::{fence, Ordering::*};
use kairos_rt_core::sync::Arc;
use kairos_rt_core::task::{Header, Outcome, RunResult, Snapshot, TaskRef};
use kairos_rt_core::timer::{cancel_for_shutdown, Inserted, TimerDriver};
use kairos_rt_core::wheel::TimerLinks;
use kairos_rt_core::Priority;
use std::cell::{Cell, RefCell};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::time::{Duration, Instant};

/// A deadline closer than this is waited for by yielding rather than parking.
pub(crate) const NEAR_DEADLINE: Duration = Duration::from_micros(60);

/// How often (in picks) the injectors get a turn at the local queue's own level.
const GLOBAL_QUEUE_INTERVAL: u32 = 61;

/// How often (in picks) a busy worker looks for more urgent work queued at its peers.
const PEER_CHECK_INTERVAL: u32 = 16;

/// One worker's private state, reachable from its thread through `context`.
pub(crate) struct WorkerCtx {
    handle: Handle,
    index: usize,
    queue: RunQueue,
    timers: RefCell<TimerDriver>,
    tick: Cell<u32>,
    searching: Cell<bool>,
    /// Whether to spin before parking (see [`spin`](crate::spin)).
    spin: SpinPolicy,
    rng: Cell<u64>,
    aging: Option<AgingState>,
    /// Sampling counter (see `next_sample`).
    samples: Cell<u32>,
    /// The address of the task this worker is running, while it runs (0: none). An
    /// address, not a pointer, so the context stays `Send` until its thread starts.
    current: Cell<usize>,
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
            batching: InjectorBatching::default(),
            samples: Cell::new(0),
            handle: Handle { shared },
            index,
            queue,
            timers: RefCell::new(TimerDriver::new()),
            tick: Cell::new(0),
            searching: Cell::new(false),
            spin: SpinPolicy::new(),
            rng: Cell::new(0x9E37_79B9_7F4A_7C15 ^ (index as u64 + 1)),
        }
    }

    pub(crate) fn shared(&self) -> &Arc<Shared> {
        &self.handle.shared
    }

    /// A borrowed handle to this worker's runtime (no reference-count traffic).
    pub(crate) fn handle(&self) -> &Handle {
        &self.handle
    }

    pub(crate) fn index(&self) -> usize {
        self.index
    }

    pub(crate) fn remote(&self) -> &Remote {
        &self.handle.shared.remotes[self.index]
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
    pub(crate) fn push_local(&self, task: TaskRef) {
        self.queue.push(task);
        if self.handle.shared.idle.wants_notify() {
            self.handle.shared.notify_one();
        }
    }

    /// Puts a timed task (owned by this worker) in the wheel, or runs it now if due.
    pub(crate) fn insert_timer(&self, task: TaskRef) {
        match self.timers.try_borrow_mut() {
            Ok(mut timers) => {
                let level = task.priority();
                match timers.insert(task) {
                    Inserted::Linked => {
                        self.timed_gauge(level, 1);
                        self.publish_next_due(&timers);
                    }
                    Inserted::Due(ready) => {
                        drop(timers);
                        self.sample_due(&ready);
                        self.push_local(ready);
                    }
                    Inserted::Finished(outcome, t) => self.count_unstarted(outcome, &t),
                }
            }
            Err(_) => self.remote().timer_inbox.push(task),
        }
    }

    /// Adds `delta` to this worker's timed-task gauge of `level` (owner-only, wrapping).
    fn timed_gauge(&self, level: Priority, delta: i64) {
        let slot = &self.remote().timed_by_level[level.index()];
        slot.store(slot.load(Relaxed).wrapping_add(delta as u64), Relaxed);
    }

    fn publish_next_due(&self, timers: &TimerDriver) {
        self.remote().next_due.store(timers.next_expiration().unwrap_or(u64::MAX), Relaxed);
    }

    /// Unlinks a timed task cancelled on this thread. Returns it back if the wheel is
    /// busy (the caller then sends it as a cancel message).
    pub(crate) fn unlink_timer(&self, task: TaskRef) -> Option<TaskRef> {
        match self.timers.try_borrow_mut() {
            Ok(mut timers) => {
                self.remove_timer(&mut timers, &task);
                None
            }
            Err(_) => Some(task),
        }
    }

    fn remove_timer(&self, timers: &mut TimerDriver, task: &TaskRef) {
        if let Some(outcome) = timers.remove(task) {
            self.timed_gauge(task.priority(), -1);
            self.count_unstarted(outcome, task);
        }
    }

    fn count(&self, kind: Count) {
        self.remote().counters.bump_owned(kind);
    }

    /// Counts the end of a closure or timed task whose lineage this worker released
    /// (a closure never ends with `Shutdown`; a timed task does when its wheel is dropped).
    /// `snap` is the task's state; a task that never ran gives back its admission unit.
    fn count_end(&self, outcome: Outcome, snap: Snapshot) {
        self.count(Count::of(outcome, true));
        if !snap.is_started() && snap.holds_unit() {
            self.handle.shared.left_waiting();
        }
    }

    /// Counts the end of a timed task that never ran (claimed by a canceller, or dropped),
    /// unless it is a future: the registry counts those when they complete.
    fn count_unstarted(&self, outcome: Outcome, task: &TaskRef) {
        if !task.header().is_future() {
            self.count_end(outcome, task.snapshot());
        }
    }

    /// The worker thread's body.
    pub(crate) fn run(self) {
        let _guard = context::enter_worker(&self);
        reduce_timer_slack();
        // A panicking hook must not take the worker with it (its queue and its wheel
        // would be stranded); the payload is dropped.
        if let Some(hook) = &self.handle.shared.config.on_thread_start {
            let _ = catch_unwind(AssertUnwindSafe(|| hook()));
        }
        self.main_loop();
        self.exit();
        if let Some(hook) = &self.handle.shared.config.on_thread_stop {
            let _ = catch_unwind(AssertUnwindSafe(|| hook()));
        }
    }

    fn main_loop(&self) {
        loop {
            let tick = self.tick.get().wrapping_add(1);
            self.tick.set(tick);
            self.maintain_timers();
            if let Some(task) = self.next_task(tick) {
                self.stop_searching();
                self.run_task(task);
                continue;
            }
            if let Some(task) = self.search() {
                self.run_task(task);
                continue;
            }
            if self.handle.shared.stopping.load(Acquire) {
                if self.ready_work_visible() {
                    continue;
                }
                return;
            }
            self.park();
        }
    }

    fn run_task(&self, task: TaskRef) {
        let is_future = task.header().is_future();
        if is_future && self.handle.shared.stopping.load(Relaxed) {
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
        let result = task.run_observed(&mut || {
            first.set(true);
            self.first_run(ptr);
        });
        self.current.set(0);
        #[cfg(feature = "tracing")]
        tracing::debug!(result = ?result, "kairos.task.ran");
        if is_future && first.get() && !matches!(result, RunResult::Finished(Outcome::Expired)) {
            self.count(Count::Started);
        }
        match result {
            RunResult::Finished(Outcome::Expired) if !is_future => self.count(Count::Expired),
            RunResult::Finished(outcome) if !is_future => {
                self.count(Count::Started);
                self.count(Count::of(outcome, true));
            }
            RunResult::Skipped(snap) if !is_future => self.count_end(snap.outcome(), snap),
            // A yielding future goes behind everything queued at its level, including
            // work submitted from outside (the injectors), not just this worker's queue.
            RunResult::Yielded(t) => self.handle.shared.injectors.push(t),
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
        let due = if header.has_links() {
            // SAFETY: the cell has links, and the task is claimed for this run: nobody
            // else touches them.
            unsafe { TimerLinks::due(Header::timer_links(ptr)) }
        } else {
            0
        };
        if snap.holds_unit() {
            self.handle.shared.left_waiting();
        }
        if due != 0 {
            let now = self.handle.shared.clock.now_tick();
            let nanos = now.saturating_sub(due).saturating_mul(crate::clock::TICK_NANOS);
            self.remote().latency.record(nanos);
        }
    }

    /// Whether this worker's next sample is due (1 call in `SAMPLE_EVERY`).
    pub(crate) fn next_sample(&self) -> bool {
        crate::stats::latency::next_sample(&self.samples)
    }

    /// A timed task leaving the wheel keeps its due tick (so its due-to-start latency is
    /// recorded) for 1 task in `SAMPLE_EVERY`; the others get 0 (not sampled).
    fn sample_due(&self, task: &TaskRef) {
        if !self.next_sample() {
            // SAFETY: the task has just left the wheel (so its cell has links) and is not
            // queued yet: this thread has the only access to them.
            unsafe { TimerLinks::set_due(Header::timer_links(task.as_ptr()), 0) };
        }
    }

    fn next_task(&self, tick: u32) -> Option<TaskRef> {
        if tick % CHECK_EVERY == 0 {
            if let Some(t) = self.aged_task() {
                return Some(t);
            }
        }
        let injectors = &self.handle.shared.injectors;
        let global = injectors.mask().highest();
        if tick % PEER_CHECK_INTERVAL == 0 {
            let mine = self.queue.highest().max(global);
            if let Some(t) = self.steal_more_urgent(mine) {
                return Some(t);
            }
        }
        let Some(local) = self.queue.highest() else {
            return global.and_then(|_| self.steal_injected(Priority::LOWEST));
        };
        let global_first = match global {
            Some(g) => g > local || (g == local && tick % GLOBAL_QUEUE_INTERVAL == 0),
            None => false,
        };
        if let Some(g) = global.filter(|_| global_first) {
            let t = if g > local {
                // Every level above the local one, not just the advertised top: a bit can
                // outlive its level's last task until a steal finds the level empty.
                let above = Priority::new(local.level() + 1).unwrap_or(Priority::HIGHEST);
                self.steal_injected(above)
            } else {
                injectors.refill_and_pop(&self.queue, local)
            };
            if t.is_some() {
                return t;
            }
        }
        self.queue.pop().or_else(|| self.steal_injected(Priority::LOWEST))
    }

    /// Steals a batch from the injectors' most urgent level at or above `min`, first
    /// waiting for the batch to build up if this worker has been catching single tasks of
    /// a stream (see [`batching`]).
    fn steal_injected(&self, min: Priority) -> Option<TaskRef> {
        let waited = self.batching.armed() && self.queue.is_empty();
        if waited {
            batching::wait_for_batch();
        }
        let task = self.handle.shared.injectors.steal_into(&self.queue, min);
        let took = match &task {
            None => Took::Nothing,
            // Judged by this worker's queue: a steal into a queue that held tasks already
            // counts as several (no wait needed while there is local work).
            Some(_) if self.queue.is_empty() => Took::One,
            Some(_) => Took::Several,
        };
        self.batching.after_steal(waited, took);
        task
    }

    /// One task of the most overdue level, if aging is on and a level is overdue.
    fn aged_task(&self) -> Option<TaskRef> {
        let aging = self.aging.as_ref()?;
        let injectors = &self.handle.shared.injectors;
        let visible = kairos_rt_core::LevelMask(self.queue.mask().0 | injectors.mask().0);
        if visible.0.count_ones() < 2 {
            // One level or none: nothing can be starved. Keep the clocks of the idle
            // levels reset without reading the time.
            return None;
        }
        let now = self.handle.shared.clock.now_tick().max(1);
        let level = aging.overdue(visible, now)?;
        let t = self.queue.pop_at(level).or_else(|| injectors.steal_level_into(&self.queue, level))?;
        aging.served(level, now);
        Some(t)
    }

    /// Steals from a peer that advertises a level above `mine` (the best this worker could
    /// run otherwise), so urgent work queued behind a busy peer does not wait while this
    /// worker runs less urgent work.
    fn steal_more_urgent(&self, mine: Option<Priority>) -> Option<TaskRef> {
        let remotes = &self.handle.shared.remotes;
        if remotes.len() <= 1 || mine == Some(Priority::HIGHEST) {
            return None;
        }
        let min =
            mine.map_or(Priority::LOWEST, |m| Priority::new(m.level() + 1).unwrap_or(Priority::HIGHEST));
        let victim = self.most_urgent_peer(self.index + 1, min);
        let found = victim.and_then(|v| remotes[v].stealers.steal_into(&self.queue, min));
        if found.is_some() {
            self.count(Count::Stolen);
        }
        found
    }

    fn stop_searching(&self) {
        if self.searching.replace(false) && self.handle.shared.idle.stop_searching() {
            // The last searcher found work: there may be more, wake a helper. Always, even
            // when only a few tasks are queued: skipping it for those saves a wake-up per
            // burst of short tasks, but leaves a worker asleep while the queued tasks wait
            // behind a long or blocking one (tests/wake_ups.rs fails then).
            self.handle.shared.notify_one();
        }
    }

    fn search(&self) -> Option<TaskRef> {
        if !self.searching.get() {
            if !self.handle.shared.idle.try_start_searching() {
                return None;
            }
            self.searching.set(true);
        }
        let found = self.steal_from_peers().or_else(|| self.steal_injected(Priority::LOWEST));
        if found.is_some() {
            self.stop_searching();
        }
        found
    }

    fn steal_from_peers(&self) -> Option<TaskRef> {
        let remotes = &self.handle.shared.remotes;
        let n = remotes.len();
        if n <= 1 {
            return None;
        }
        let start = (self.next_random() % n as u64) as usize;
        let first = self.most_urgent_peer(start, Priority::LOWEST)?;
        let found = remotes[first].stealers.steal_into(&self.queue, Priority::LOWEST).or_else(|| {
            (0..n)
                .map(|k| (start + k) % n)
                .filter(|&v| v != self.index && v != first)
                .find_map(|v| remotes[v].stealers.steal_into(&self.queue, Priority::LOWEST))
        });
        if found.is_some() {
            self.count(Count::Stolen);
        }
        found
    }

    /// The peer advertising the most urgent level at or above `min`, scanning every other
    /// worker once from index `start` (modulo their number); ties go to the first scanned.
    fn most_urgent_peer(&self, start: usize, min: Priority) -> Option<usize> {
        let remotes = &self.handle.shared.remotes;
        let n = remotes.len();
        let mut best: Option<(Priority, usize)> = None;
        for v in (0..n).map(|k| (start + k) % n).filter(|&v| v != self.index) {
            if let Some(level) = remotes[v].stealers.advertised().highest().filter(|&h| h >= min) {
                if best.is_none_or(|(b, _)| level > b) {
                    best = Some((level, v));
                }
            }
        }
        best.map(|(_, v)| v)
    }

    /// Whether any ready work or timer message is visible (cheap; used before parking).
    fn work_hint(&self) -> bool {
        let remote = self.remote();
        self.ready_work_visible() || !remote.timer_inbox.is_empty() || !remote.timer_cancels.is_empty()
    }

    fn ready_work_visible(&self) -> bool {
        if !self.queue.is_empty() || self.handle.shared.injectors.maybe_has_work() {
            return true;
        }
        self.handle
            .shared
            .remotes
            .iter()
            .enumerate()
            .any(|(i, r)| i != self.index && r.stealers.maybe_has_work() && r.stealers.has_work())
    }

    fn maintain_timers(&self) {
        let remote = self.remote();
        let inbox = !remote.timer_inbox.is_empty();
        let cancels = !remote.timer_cancels.is_empty();
        let Ok(mut timers) = self.timers.try_borrow_mut() else { return };
        if !inbox && !cancels && timers.is_empty() {
            return;
        }
        if inbox {
            for t in remote.timer_inbox.take() {
                let level = t.priority();
                match timers.insert(t) {
                    Inserted::Linked => self.timed_gauge(level, 1),
                    Inserted::Due(ready) => {
                        self.sample_due(&ready);
                        self.queue.push(ready);
                    }
                    Inserted::Finished(outcome, t) => self.count_unstarted(outcome, &t),
                }
            }
        }
        if cancels {
            Shared::drain_queue(&remote.timer_cancels, |t| self.remove_timer(&mut timers, &t));
        }
        if let Some(next) = timers.next_expiration() {
            let now = self.handle.shared.clock.now_tick();
            if next <= now {
                let moved = timers.fire(
                    now,
                    |t| {
                        self.timed_gauge(t.priority(), -1);
                        self.sample_due(&t);
                        self.queue.push(t);
                    },
                    |t| {
                        let snap = t.snapshot();
                        self.timed_gauge(snap.priority(), -1);
                        self.count_unstarted(snap.outcome(), t);
                    },
                );
                self.publish_next_due(&timers);
                drop(timers);
                if moved > 1 && self.handle.shared.idle.wants_notify() {
                    self.handle.shared.notify_one();
                }
                return;
            }
        }
        self.publish_next_due(&timers);
    }

    fn park(&self) {
        let entered = Instant::now();
        let remote = self.remote();
        let since_start = entered.saturating_duration_since(self.handle.shared.clock.start());
        remote.idle_since.store(nanos(since_start).saturating_add(1), Relaxed);
        let budget = self.handle.shared.config.spin_before_park;
        self.park_inner(entered, self.spin.spin_for(budget));
        let elapsed = entered.elapsed();
        self.batching.after_idle(elapsed);
        self.spin.record(elapsed, budget);
        let idle = remote.idle_nanos.load(Relaxed);
        remote.idle_nanos.store(idle.saturating_add(nanos(elapsed)), Relaxed);
        remote.idle_since.store(0, Relaxed);
    }

    fn park_inner(&self, entered: Instant, spin: Duration) {
        // The wheel cannot change during the spin (only this thread links timers, and a
        // timer or cancel sent in ends the spin through `work_hint`): look it up once.
        let next = self.timers.try_borrow().ok().and_then(|t| t.next_expiration());
        // The spin ends at the budget or at the wheel's next deadline, whichever is first
        // (a long budget must not make a due timer wait for it); a budget too large to add
        // (`Duration::MAX`) ends only at a deadline, work or shutdown.
        let timer_due_at = next.and_then(|tick| self.handle.shared.clock.instant_of(tick));
        let spin_until = match (entered.checked_add(spin), timer_due_at) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        loop {
            for _ in 0..32 {
                std::hint::spin_loop();
            }
            if self.work_hint() || self.handle.shared.stopping.load(Relaxed) {
                return;
            }
            if spin_until.is_some_and(|until| Instant::now() >= until) {
                break;
            }
            std::thread::yield_now();
        }
        // How far the deadline is now, after the spin.
        let wait = next.map(|tick| self.handle.shared.clock.until(tick));
        if let Some(Some(d)) = wait {
            if d < NEAR_DEADLINE {
                std::thread::yield_now();
                return;
            }
        }
        let remote = self.remote();
        let was_searching = self.searching.replace(false);
        self.handle.shared.idle.register_sleeper(self.index, was_searching);
        remote.inbox_wake_sent.store(false, Relaxed);
        remote.parked_until.store(next.unwrap_or(u64::MAX).max(1), SeqCst);
        fence(SeqCst);
        if !self.work_hint() && !self.handle.shared.stopping.load(SeqCst) {
            match wait {
                Some(Some(d)) => {
                    // Wake a little early and yield out the rest for precision.
                    let _ = remote.parker.park_timeout(d.saturating_sub(NEAR_DEADLINE / 2));
                }
                _ => remote.parker.park(),
            }
        }
        remote.parked_until.store(0, SeqCst);
        if self.handle.shared.idle.unregister_sleeper(self.index) {
            self.searching.set(true);
        }
    }

    fn exit(&self) {
        self.stop_searching();
        let remote = self.remote();
        {
            // The wheel stays borrowed while its tasks are dropped: a dropped closure that
            // cancels another timed task of this wheel then sends a cancel message (dropped
            // below; `cancel_all` counts that task once, as cancelled) instead of unlinking
            // it from under `cancel_all` (which freed it while the wheel still linked it).
            let mut timers = self.timers.borrow_mut();
            for t in remote.timer_inbox.take() {
                self.count_unstarted(cancel_for_shutdown(&t), &t);
            }
            timers.cancel_all(|outcome, t| self.count_unstarted(outcome, t));
        }
        for gauge in &remote.timed_by_level {
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

/// Asks Linux to wake this thread's timed sleeps on time rather than batching them with
/// the default 50 µs timer slack.
fn reduce_timer_slack() {
    #[cfg(target_os = "linux")]
    // SAFETY: PR_SET_TIMERSLACK takes an integer argument and only affects this thread.
    unsafe {
        libc::prctl(libc::PR_SET_TIMERSLACK, 1 as libc::c_ulong, 0, 0, 0);
    }
}

/// `d` in nanoseconds, saturating.
fn nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

#[cfg(all(test, feature = "tracing"))]
mod tracing_tests {
    use crate::{Priority, Runtime};
    use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
    use tracing::span::{Attributes, Id, Record};
    use tracing::{Event, Metadata, Subscriber};

    static TASK_SPANS: AtomicUsize = AtomicUsize::new(0);
    static SPAWNED_EVENTS: AtomicUsize = AtomicUsize::new(0);

    /// Counts kairos's task spans and spawn events, process-wide.
    struct Counting;

    impl Subscriber for Counting {
        fn enabled(&self, _: &Metadata<'_>) -> bool {
            true
        }
        fn new_span(&self, span: &Attributes<'_>) -> Id {
            if span.metadata().name() == "kairos.task" {
                TASK_SPANS.fetch_add(1, SeqCst);
            }
            Id::from_u64(1)
        }
        fn record(&self, _: &Id, _: &Record<'_>) {}
        fn record_follows_from(&self, _: &Id, _: &Id) {}
        fn event(&self, event: &Event<'_>) {
            // The spawn event is the one with a `timed` field.
            if event.metadata().fields().field("timed").is_some() {
                SPAWNED_EVENTS.fetch_add(1, SeqCst);
            }
        }
        fn enter(&self, _: &Id) {}
        fn exit(&self, _: &Id) {}
    }

    #[test]
    fn task_lifecycle_spans_and_events_reach_the_subscriber() {
        tracing::subscriber::set_global_default(Counting).expect("the only global subscriber");
        let rt = Runtime::builder().workers(2).build().unwrap();
        for _ in 0..10 {
            rt.spawn(Priority::NORMAL, || ()).join().unwrap();
        }
        rt.shutdown();
        assert!(TASK_SPANS.load(SeqCst) >= 10, "{} task spans", TASK_SPANS.load(SeqCst));
        assert!(SPAWNED_EVENTS.load(SeqCst) >= 10, "{} spawn events", SPAWNED_EVENTS.load(SeqCst));
    }
}
