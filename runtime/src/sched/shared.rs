//! State shared by all workers and handles of one runtime ([`Shared`]), and each worker's
//! [`Remote`]: the parts of a worker that other threads reach (its stealers, timer inbox
//! and cancel queue, parker, counters and gauges).
//!
//! ## Wake-up protocols from outside, both sides
//!
//! **Ready task from outside** ([`Shared::push_injected`]; loom model `park.rs`):
//!
//! - submitter: push onto the injectors (`Injectors::push` ends with a `SeqCst` fence,
//!   after the level mask update); then `Idle::notify_one`, which unparks a sleeper if
//!   no worker is searching (and one anyway past a backlog: `notify_after_remote_push`).
//! - worker (`WorkerCtx::park_inner`): `Idle::register_sleeper`; publish
//!   `parked_until`; `SeqCst` fence; re-check for work (`work_hint`: its queue, the
//!   injectors, its peers, its timer inbox and cancels); park only if there is none. A
//!   *lingering* worker (`worker/park.rs`) publishes `parked_until` and fences, takes its
//!   inbox and cancels, then registers, fences and re-checks the rest.
//!
//! Either the worker's re-check sees the task, or the submitter's notify sees the
//! registered sleeper and unparks it.
//!
//! **Ready task from inside** (`WorkerCtx::push_local`): the same, with the worker's own
//! queue for the injectors: push, `SeqCst` fence, `Idle::wants_notify`. The fence costs
//! a locked instruction per spawn from inside (fan-out 250k, 6 paired runs: 7-15% fewer
//! tasks a second); rayon-core skips it and lets a rare missed wake-up wait for the
//! pusher, but here a task that spawns work and then blocks or runs long relies on a
//! free worker taking it. No loom model: the loom stand-in for crossbeam's deque is a
//! mutex, so it cannot show the store-load reordering the fence forbids.
//!
//! **Timed task from outside** ([`Shared::push_timer_inbox`]; loom model
//! `far_timers_registered_while_worker_parks_all_reach_the_wheel`): see that method,
//! which states the submitter's and the owner's steps.
//!
//! **Cancel of a timed closure from outside** (`Sched::timer_cancelled`): push onto the
//! owner's cancel queue, then the park door (`kairos_rt_core::park_door`): unpark the
//! owner if it parks and this is the first message of its park (shared with the inbox; loom model
//! `a_cancel_and_a_far_timer_sent_while_worker_parks_both_reach_it`); the owner's re-check
//! above covers the cancel queue too, and a lingering owner takes it when its park ends.
//!
//! ## Intake and shutdown
//!
//! Submissions from non-worker threads pass the [`Intake`] gate, which shutdown closes
//! and drains before it stops the workers: after that no outside submission can land
//! in a queue. Workers check the gate with a plain load before they spawn: a worker that
//! misses the close pushes onto its own queue, which it empties before it exits.
//!
//! ## Waiting tasks (`Builder::max_pending`)
//!
//! With a limit, every admitted task holds one unit of [`Admission`] until it *leaves
//! the waiting state*: at its first run (the worker sees `STARTED` clear before the run),
//! or, if it never runs, where its end is counted ([`Shared::count_end`] with
//! `started == false`). A release that may have made room wakes one more waiting
//! submitter (`room.rs` states that protocol); shutdown wakes them all.
//!
//! ## Home
//!
//! The runtime registers a [`Home`] (a weak reference to this state) in kairos-rt-core's
//! process-wide table, so `JoinHandle::set_priority` can queue a new entry for a ready
//! closure, and `JoinHandle::cancel` can tell a timed closure's wheel owner to unlink
//! it: closures carry no scheduler. The slot is freed when this state is dropped, which
//! is after shutdown completed every timed task (worker exit and the inbox drains cancel
//! them), so a task that is not complete always names this runtime's slot. A runtime
//! that gets no slot (the table is full) is not built (`Builder::build` fails).
//!
//! ## When this state is freed
//!
//! It is held by the `Runtime` and every `Handle`, each worker thread (until it exits),
//! and each future's cell (its scheduler). Registry entries hold future cells, so while a
//! future is registered the state holds itself: shutdown's final drain, which runs in
//! every ending once the last worker exited (see `sched::shutdown`), empties the registry
//! and breaks that cycle.

use crate::clock::Clock;
use crate::config::BuilderConfig;
use crate::sched::context;
use crate::sched::registry::Registry;
use crate::sched::room::{Room, RoomListener};
use crate::stats::{accounting, Count, Counters, Totals};
use crossbeam_utils::CachePadded;
use kairos_rt_core::admission::Admission;
use kairos_rt_core::idle::Idle;
use kairos_rt_core::intake::Intake;
use kairos_rt_core::last_out::LastOut;
use kairos_rt_core::park::Parker;
use kairos_rt_core::park_door::{Knock, ParkDoor};
use kairos_rt_core::queue::{Injectors, Stealers};
use kairos_rt_core::shared_wheel::SharedWheel;
use kairos_rt_core::sync::atomic::{AtomicBool, AtomicU64, Ordering::*};
use kairos_rt_core::sync::deque::{Injector, Steal};
use kairos_rt_core::sync::Arc;
use kairos_rt_core::task::home::{self, Home};
use kairos_rt_core::task::{Outcome, RunResult, Schedule, Snapshot, TaskRef};
use kairos_rt_core::timer_inbox::TimerInbox;
use kairos_rt_core::Priority;

/// How many tasks of one level must wait in the injector behind a searcher before a
/// submission from outside wakes a sleeper anyway (see
/// `Shared::notify_after_remote_push`). Waking at the first task queued behind an untaken
/// one cost about a fifth of the spawn-from-outside rate (a sleeper woken, finding
/// little, parking again, once per few tasks); a few tasks of backlog still bound the
/// wait behind a descheduled searcher to a few submissions.
const FORCED_WAKE_BACKLOG: usize = 4;

/// The parts of one worker that other threads reach.
#[derive(Debug)]
pub(crate) struct Remote {
    pub(super) stealers: Stealers,
    /// The worker's timing wheel: held by the worker, or by a free worker firing its due
    /// timers while it is busy (see `worker/timers.rs`).
    pub(super) wheel: SharedWheel,
    /// Timed tasks registered from other threads, for the owner to put in its wheel.
    pub(super) timer_inbox: CachePadded<TimerInbox>,
    /// Timed tasks cancelled from other threads, for the owner to unlink.
    pub(super) timer_cancels: Injector<TaskRef>,
    pub(super) parker: Parker,
    /// What a thread registering a timer reads to decide whom to wake; on a cache line of
    /// its own, away from the fields the owner writes at every task or timer.
    /// What senders of timed tasks and cancels read (`kairos_rt_core::park_door`).
    pub(super) door: CachePadded<ParkDoor>,
    pub(super) counters: Counters,
    /// Nanoseconds spent parked or spinning for work, in idle periods that ended
    /// (owner-written).
    pub(super) idle_nanos: AtomicU64,
    /// When the current idle period began, in nanoseconds since the clock's start plus
    /// one; 0 while the worker is not idle (owner-written). Lets a metrics reader count a
    /// long park that has not ended yet.
    pub(super) idle_since: AtomicU64,
    /// Timed tasks in this worker's wheel, per level, as wrapping two's-complement counts
    /// (owner-written; a level can read negative after a priority change, see `pending`).
    pub(super) timed_by_level: CachePadded<[AtomicU64; Priority::LEVELS]>,
    /// The runtime's own timers (sleeps, timeouts, backoffs) in this worker's wheel,
    /// counted apart from `timed_by_level` (owner-written, like it).
    pub(super) runtime_timers: AtomicU64,
    /// The wheel's next expiration tick (`u64::MAX`: none: the wheel is empty), published
    /// by whoever holds the wheel after every change.
    pub(super) next_due: AtomicU64,
    /// While the worker runs a task: the tick of its last look at its wheel before that
    /// run (it fired everything due up to then; a lower bound of when the run started);
    /// `u64::MAX` between tasks (owner-written, `Relaxed`: see `worker/timers.rs`, "a
    /// stuck owner").
    pub(super) running_since: AtomicU64,
    /// How densely timers fire from this worker's wheel (written by the wheel's holder):
    /// whether its owner waits for them in windows (see `worker/density.rs`).
    pub(super) density: crate::sched::worker::density::TimerDensity,
    /// Sampled submit-to-start latencies of the tasks this worker started.
    pub(super) latency: crate::stats::LatencySampler,
}

#[derive(Debug)]
pub(crate) struct Shared {
    pub(super) injectors: Injectors,
    pub(super) remotes: Box<[Remote]>,
    /// Written by workers as they start and stop searching; on a line of its own.
    pub(super) idle: CachePadded<Idle>,
    pub(super) registry: Registry,
    pub(super) clock: Clock,
    /// Written twice by every submission from outside; on a line of its own, so those
    /// writes neither wait for nor invalidate the lines the workers poll.
    pub(super) intake: CachePadded<Intake>,
    /// Workers exit once they find no ready work.
    pub(super) stopping: AtomicBool,
    /// Shutdown finished its final drain; late pushes must drain themselves.
    pub(super) closed: AtomicBool,
    /// The parties that must be gone before the final drain: the shutdown itself and
    /// every worker thread started; the last to leave runs the drain (see `shutdown`).
    pub(super) parties: LastOut,
    /// Counts made by non-worker threads.
    pub(super) counters: Counters,
    pub(super) config: BuilderConfig,
    /// The cap on concurrently running child processes (`spawn_process`).
    processes: std::sync::Arc<crate::limiter::ProcessLimiter>,
    /// Retry gauges (`Task::retry`).
    pub(super) retries: crate::stats::RetryGauges,
    /// The census of this runtime's recurring schedules, set when the first is spawned.
    pub(super) schedules: std::sync::OnceLock<std::sync::Arc<dyn crate::stats::ScheduleCensus>>,
    /// The bound on waiting tasks, if `Builder::max_pending` set one.
    pub(super) admission: Option<Admission>,
    /// Submitters waiting on a full `admission` (see `room.rs`).
    pub(super) room: Room,
    /// This runtime's slot in the process-wide home table (0: none).
    pub(super) home_slot: usize,
    /// The threads that run `spawn_blocking` closures.
    pub(super) blocking: crate::sched::blocking::BlockingPool,
}

/// What `JoinHandle::set_priority` reaches this runtime through.
struct RuntimeHome(std::sync::Weak<Shared>);

impl Home for RuntimeHome {
    fn enter(&self) -> bool {
        // The intake gate: shutdown closes it and waits for every holder to leave before
        // it lets the workers drain, so a requeued entry is never stranded.
        self.0.upgrade().is_some_and(|s| s.intake.begin())
    }

    fn leave(&self) {
        if let Some(s) = self.0.upgrade() {
            s.intake.end();
        }
    }

    fn requeue(&self, task: TaskRef) {
        match self.0.upgrade() {
            Some(shared) => Sched(shared).schedule(task),
            // Unreachable while the task is alive (see the home table's invariants); drop
            // the entry's reference rather than leak it.
            None => drop(task),
        }
    }

    fn with_scheduler(&self, f: &mut dyn FnMut(&dyn Schedule)) -> bool {
        match self.0.upgrade() {
            Some(shared) => {
                f(&Sched(shared));
                true
            }
            None => false,
        }
    }
}

impl Drop for Shared {
    fn drop(&mut self) {
        // SAFETY: the slot was registered for this runtime, and its shared state is
        // dropped only after every task naming it completed (the home table's
        // invariants); handles of completed tasks may outlive it, which the slot allows.
        unsafe { home::unregister(self.home_slot) };
    }
}

impl Shared {
    /// The shared state, registered in the home table.
    pub(crate) fn new_arc(config: BuilderConfig, stealers: Vec<Stealers>) -> Arc<Shared> {
        Arc::new_cyclic(|weak| {
            let slot = home::register(std::sync::Arc::new(RuntimeHome(weak.clone())));
            Shared::new(config, stealers, slot)
        })
    }

    fn new(config: BuilderConfig, stealers: Vec<Stealers>, home_slot: usize) -> Shared {
        let workers = stealers.len();
        Shared {
            injectors: Injectors::new(),
            remotes: stealers
                .into_iter()
                .map(|stealers| Remote {
                    stealers,
                    wheel: SharedWheel::new(),
                    timer_inbox: CachePadded::new(TimerInbox::new()),
                    timer_cancels: Injector::new(),
                    parker: Parker::new(),
                    door: CachePadded::default(),
                    counters: Counters::default(),
                    idle_nanos: AtomicU64::new(0),
                    idle_since: AtomicU64::new(0),
                    timed_by_level: CachePadded::new(core::array::from_fn(|_| AtomicU64::new(0))),
                    runtime_timers: AtomicU64::new(0),
                    next_due: AtomicU64::new(u64::MAX),
                    running_since: AtomicU64::new(u64::MAX),
                    density: crate::sched::worker::density::TimerDensity::new(),
                    latency: crate::stats::LatencySampler::new(),
                })
                .collect(),
            idle: CachePadded::new(Idle::new(workers)),
            registry: Registry::new(),
            clock: Clock::new(),
            intake: CachePadded::new(Intake::new()),
            stopping: AtomicBool::new(false),
            closed: AtomicBool::new(false),
            parties: LastOut::new(),
            counters: Counters::default(),
            processes: std::sync::Arc::new(crate::limiter::ProcessLimiter::new(config.max_processes)),
            retries: crate::stats::RetryGauges::default(),
            schedules: std::sync::OnceLock::new(),
            admission: config.max_pending.map(Admission::new),
            room: Room::default(),
            home_slot,
            blocking: crate::sched::blocking::BlockingPool::new(config.blocking.clone()),
            config,
        }
    }

    pub(crate) fn num_workers(&self) -> usize {
        self.remotes.len()
    }

    /// Whether the runtime got a slot in the process-wide home table (see "Home"); a
    /// runtime without one must not be built.
    pub(crate) fn has_home(&self) -> bool {
        self.home_slot != 0
    }

    /// A worker thread is about to start: one more party must leave before shutdown's
    /// final drain (see `sched::shutdown`).
    pub(crate) fn worker_arrives(&self) {
        self.parties.arrive();
    }

    /// The worker thread that [arrived](Self::worker_arrives) could not be started.
    pub(crate) fn worker_not_started(&self) {
        self.parties.withdraw();
    }

    /// A `spawn_async` future's listener, woken when room may have been made below
    /// `Builder::max_pending` (listen first, then try again, then wait: no wake-up is
    /// missed; see `room.rs`).
    pub(crate) fn listen_for_room(&self) -> RoomListener<'_> {
        self.room.listen_future()
    }

    /// Enters the I/O context the builder configured (tokio's reactor, with the `tokio`
    /// feature), for as long as the guard lives.
    pub(crate) fn enter_io(&self) -> crate::config::io::IoGuard<'_> {
        self.config.io.enter()
    }

    /// The cap on concurrently running child processes, for `spawn_process`.
    pub(crate) fn process_limiter(&self) -> std::sync::Arc<crate::limiter::ProcessLimiter> {
        self.processes.clone()
    }

    /// When the runtime's clock started (tick 0).
    pub(crate) fn clock_start(&self) -> std::time::Instant {
        self.clock.start()
    }

    /// The census of this runtime's recurring schedules, made by `make` and set on first
    /// use (the `recurring` layer's; the scheduler only holds it).
    pub(crate) fn schedule_census_or_init(
        &self,
        make: impl FnOnce() -> std::sync::Arc<dyn crate::stats::ScheduleCensus>,
    ) -> std::sync::Arc<dyn crate::stats::ScheduleCensus> {
        self.schedules.get_or_init(make).clone()
    }

    /// A failed attempt of a retried task starts waiting for its backoff.
    #[inline]
    pub(crate) fn record_retry_wait_began(&self) {
        self.retries.wait_began();
    }

    /// A retried task's backoff wait ended.
    #[inline]
    pub(crate) fn record_retry_wait_ended(&self) {
        self.retries.wait_ended();
    }

    /// A retried task starts an attempt after its first.
    #[inline]
    pub(crate) fn record_retry(&self) {
        self.retries.retried();
    }

    /// A retried task ran out of attempts with an error.
    #[inline]
    pub(crate) fn record_retries_exhausted(&self) {
        self.retries.exhausted();
    }

    /// Whether intake is closed.
    pub(crate) fn is_closed(&self) -> bool {
        self.intake.is_closed()
    }

    /// Counts `kind` from whatever thread we are on.
    pub(crate) fn count(&self, kind: Count) {
        context::with_worker(|w| match w {
            Some(w) if std::ptr::eq(Arc::as_ptr(w.shared()), self) => w.remote().counters.bump_owned(kind),
            _ => self.counters.add_shared(kind, 1),
        })
    }

    /// Counts the end of a task whose lineage the caller releases, as `kind` (which the
    /// caller gets from a rule of `stats::accounting`); `snap` is its state. A task that
    /// never ran leaves the waiting state here (giving back its admission unit, if it
    /// holds one).
    pub(crate) fn count_end(&self, kind: Count, snap: Snapshot) {
        self.count(kind);
        if !snap.is_started() && snap.holds_unit() {
            self.left_waiting();
        }
    }

    /// A task holding an admission unit stopped waiting to start (see the module docs).
    /// Every release wakes one more waiting submitter of each kind, if any waits (a fence
    /// and a load otherwise: `room.rs`): a release below the limit still matters to a
    /// submitter that saw the runtime full a moment ago.
    #[inline]
    pub(crate) fn left_waiting(&self) {
        if let Some(a) = &self.admission {
            a.release();
            self.room.released();
        }
    }

    /// Admits a task past any limit (worker threads, which must not block).
    pub(crate) fn admit_forced(&self) {
        if let Some(a) = &self.admission {
            a.force_acquire();
        }
    }

    pub(crate) fn totals(&self) -> Totals {
        let mut t = Totals::default();
        t.add(&self.counters);
        for r in self.remotes.iter() {
            t.add(&r.counters);
        }
        t
    }

    /// Pushes a ready task from a thread that is not one of our workers, and wakes a
    /// sleeper if needed.
    ///
    /// A push that finds the runtime closed (a waker firing as or after the runtime
    /// ends) drops the entry: the task already ended and was counted, or shutdown's final
    /// drain, which sets `closed` first, cancels and counts it through the registry.
    /// A push that races the final drain drains the injectors itself, which may drop
    /// the last references to tasks and so to this state: the caller must hold its own
    /// `Arc` for the call (as `Sched::schedule` does), not borrow one from a task.
    pub(crate) fn push_injected(&self, task: TaskRef) {
        if self.closed.load(Acquire) {
            drop(task);
            return;
        }
        #[cfg(test)]
        tests::before_remote_push();
        let level = task.priority();
        // `Injectors::push` fences after the push (and after a mask update), as the idle
        // protocol requires.
        self.injectors.push(task);
        self.notify_after_remote_push(level);
        if self.closed.load(SeqCst) {
            self.drain_injectors();
            #[cfg(test)]
            tests::after_late_drain();
        }
    }

    /// Wakes one sleeping worker if nobody searches.
    pub(crate) fn notify_one(&self) {
        if let Some(i) = self.idle.notify_one() {
            self.remotes[i].parker.unpark();
        }
    }

    /// The wake-up after a push from outside: [`notify_one`](Self::notify_one), and when
    /// a searcher makes that a no-op but more than [`FORCED_WAKE_BACKLOG`] tasks of the
    /// level wait in the injector (the searcher is not taking them: the OS may have
    /// descheduled it for a time slice), one sleeper woken anyway. Only ever adds
    /// wake-ups, so the idle protocol's no-lost-wake-up argument is untouched.
    fn notify_after_remote_push(&self, level: Priority) {
        let woken = self.idle.notify_one().or_else(|| {
            let backlog = self.idle.has_sleepers() && self.injectors.len_at(level) > FORCED_WAKE_BACKLOG;
            backlog.then(|| self.idle.notify_one_despite_searchers()).flatten()
        });
        if let Some(i) = woken {
            self.remotes[i].parker.unpark();
        }
    }

    /// Which worker's wheel a timed task from another thread goes to: a sleeping worker
    /// if one is found (a busy one may be stuck in a long task and only drains its inbox
    /// between tasks), else a random one. A thread keeps the worker it chose last while
    /// that one still sleeps, so a burst from one thread feeds one lingering worker (see
    /// `worker/park.rs`) while the others sleep on: 1M timed inserts from one thread into
    /// 2 workers (`probe_timed_insert`, 3 alternated runs of 5 rounds) went from 13.3-14.5
    /// to 18.0-18.4 M/s, process CPU from 126-145 to 71-81 ms and context switches from
    /// 850-1,160 to 176-220 per round, against a fresh random pick for every task.
    pub(crate) fn timer_owner(&self) -> usize {
        thread_local! {
            /// The runtime (its `Shared`'s address) and the worker this thread chose last.
            static LAST: std::cell::Cell<(usize, usize)> = const { std::cell::Cell::new((0, 0)) };
        }
        let me = self as *const Shared as usize;
        let n = self.num_workers();
        let (runtime, last) = LAST.get();
        if runtime == me && last < n && self.remotes[last].door.parked_until_hint() != 0 {
            return last;
        }
        let start = fastrand::usize(..n);
        // From `start` round to `start - 1`, with no division per worker looked at.
        let owner = (start..n)
            .chain(0..start)
            .find(|&i| self.remotes[i].door.parked_until_hint() != 0)
            .unwrap_or(start);
        LAST.set((me, owner));
        owner
    }

    /// Registers a timed task with worker `owner`'s wheel from another thread.
    ///
    /// Every timer pushed is taken into the owner's wheel within one park of the owner,
    /// even one due long after the owner's next wake-up: there it is counted by
    /// `pending()` and its inbox slot is freed. The protocol is the park door's
    /// (`kairos_rt_core::park_door`, both sides; loom model
    /// `far_timers_registered_while_worker_parks_all_reach_the_wheel`, which calls the
    /// same door): push, then the door says whom to wake.
    ///
    /// The cost: a slow stream of far-off timers (slower than a park cycle) wakes the
    /// owner once per timer. A fast one finds the owner *lingering* (`worker/park.rs`):
    /// it left the door's flag set and takes its inbox itself after it publishes a
    /// `parked_until` at most 1 ms ahead, so only a timer due before then wakes it.
    ///
    /// An owner that is awake (`parked_until` 0) may be busy in a long task: then one
    /// sleeper is notified instead, which takes the inbox into the owner's wheel for it.
    pub(crate) fn push_timer_inbox(&self, owner: usize, task: TaskRef, due: u64) {
        let remote = &self.remotes[owner];
        remote.timer_inbox.push(task);
        self.knock(owner, remote.door.after_timer_push(due));
    }

    /// Wakes whom a sender's look at worker `owner`'s door says (`park_door`): the owner,
    /// or, while it is awake and may be stuck in a long task, one sleeper, which takes
    /// the message for it (`WorkerCtx::help_peers`; a parker's re-check looks at awake
    /// peers' inboxes and cancel queues, which the idle protocol orders against this
    /// notify).
    fn knock(&self, owner: usize, knock: Knock) {
        match knock {
            Knock::Owner => self.remotes[owner].parker.unpark(),
            Knock::Peer => self.notify_one(),
            Knock::Nobody => {}
        }
    }

    /// Empties the injectors after the workers exited (or after a late push): a ready
    /// closure still there (only a priority change racing shutdown leaves one) is run
    /// here, as shutdown promises; futures were already cancelled through the registry
    /// and stale entries are dropped.
    pub(crate) fn drain_injectors(&self) {
        while let Some(t) = self.injectors.steal_one() {
            if t.header().is_future() {
                drop(t);
                continue;
            }
            let runtime_timer = t.header().is_runtime_timer();
            match t.run() {
                RunResult::Finished(outcome) => {
                    self.count(accounting::closure_at_drain(outcome, runtime_timer))
                }
                RunResult::Skipped(snap) => {
                    self.count_end(accounting::closure_at_drain(snap.outcome(), runtime_timer), snap)
                }
                RunResult::Stale | RunResult::Idle | RunResult::Yielded(_) => {}
            }
        }
    }

    pub(crate) fn drain_queue(q: &Injector<TaskRef>, mut f: impl FnMut(TaskRef)) {
        loop {
            match q.steal() {
                Steal::Success(t) => f(t),
                Steal::Retry => continue,
                Steal::Empty => break,
            }
        }
    }
}

/// The scheduler stored in futures (and lent by the runtime's home to the cancel of a
/// timed closure): the runtime's shared state.
pub(crate) struct Sched(pub(crate) Arc<Shared>);

impl Schedule for Sched {
    fn schedule(&self, task: TaskRef) {
        let shared = &self.0;
        let handled = context::with_worker(|w| match w {
            Some(w) if Arc::ptr_eq(w.shared(), shared) && !shared.stopping.load(Relaxed) => {
                w.push_local(task);
                None
            }
            _ => Some(task),
        });
        if let Some(task) = handled {
            // `self` lives in the task's own cell. Once the runtime is closed the push
            // drains the injectors and may drop that cell's last reference, taking the
            // runtime's last `Arc` with it: hold one of our own for the call.
            let shared = Arc::clone(shared);
            shared.push_injected(task);
        }
    }

    fn timer_cancelled(&self, task: TaskRef) {
        let shared = &self.0;
        let owner = task.snapshot().owner();
        let task = context::with_worker(|w| match w {
            Some(w) if Arc::ptr_eq(w.shared(), shared) && w.index() == owner => w.unlink_timer(task),
            _ => Some(task),
        });
        let Some(task) = task else { return };
        let remote = &shared.remotes[owner];
        remote.timer_cancels.push(task);
        // As for a far-off timer (`push_timer_inbox`): the first message of a park wakes
        // the owner (a lingering owner takes the queue at its park's end); an awake
        // owner's cancel is unlinked by a sleeper woken for it, so the cell is freed now.
        shared.knock(owner, remote.door.after_cancel_push());
        if shared.closed.load(SeqCst) {
            Shared::drain_queue(&remote.timer_cancels, drop);
        }
    }

    fn future_completed(&self, task: &TaskRef, outcome: Outcome) {
        if self.0.registry.remove(task) {
            self.0.count_end(
                accounting::future_left(outcome, task.header().is_runtime_timer()),
                task.snapshot(),
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Runtime;
    use std::cell::RefCell;
    use std::sync::Mutex;
    use std::task::{Poll, Waker};
    use std::time::Duration;

    thread_local! {
        /// Run once by the next `push_injected` on this thread, between its first check
        /// of `closed` and its push: lets a test put shutdown's final drain there.
        static BEFORE_REMOTE_PUSH: RefCell<Option<Box<dyn FnOnce()>>> = const { RefCell::new(None) };
    }

    thread_local! {
        /// Run once by the next `push_injected` on this thread that drained the
        /// injectors itself (it found the runtime closed after its push), as it returns.
        static AFTER_LATE_DRAIN: RefCell<Option<Box<dyn FnOnce()>>> = const { RefCell::new(None) };
    }

    pub(super) fn before_remote_push() {
        if let Some(f) = BEFORE_REMOTE_PUSH.with(|h| h.borrow_mut().take()) {
            f();
        }
    }

    pub(super) fn after_late_drain() {
        if let Some(f) = AFTER_LATE_DRAIN.with(|h| h.borrow_mut().take()) {
            f();
        }
    }

    /// A runtime of two workers whose threads never start (see `test_support`).
    fn runtime_without_threads() -> (Runtime, Arc<Shared>) {
        let (rt, shared, _queues) = crate::test_support::runtime_without_threads(2);
        (rt, shared)
    }

    #[test]
    fn a_backlog_behind_a_searcher_wakes_a_sleeper() {
        let (rt, shared) = runtime_without_threads();
        shared.idle.register_sleeper(1, false);
        assert!(shared.idle.try_start_searching(), "worker 0 searches");

        for queued in 1..=FORCED_WAKE_BACKLOG {
            drop(rt.spawn(Priority::NORMAL, || ()));
            assert_eq!(shared.idle.num_searching(), 1, "{queued} queued: left to the searcher");
        }
        drop(rt.spawn(Priority::HIGH, || ()));
        assert_eq!(shared.idle.num_searching(), 1, "the only task of its level: still the searcher's");
        assert!(!shared.remotes[1].parker.park_timeout(Duration::ZERO), "no wake-up yet");

        drop(rt.spawn(Priority::NORMAL, || ()));
        assert_eq!(shared.idle.num_searching(), 2, "a backlog behind the searcher: the sleeper is woken");
        assert!(shared.remotes[1].parker.park_timeout(Duration::ZERO), "and unparked");
        assert!(shared.idle.unregister_sleeper(1), "the notifier took it off the list");

        let report = rt.shutdown();
        assert_eq!(report.completed, FORCED_WAKE_BACKLOG as u64 + 2, "{report:?}");
    }

    #[test]
    fn a_past_instant_spawned_just_before_shutdown_runs() {
        let (rt, _shared) = runtime_without_threads();
        let recent = std::time::Instant::now();
        while std::time::Instant::now() < recent + Duration::from_micros(5) {
            std::hint::spin_loop();
        }
        // After the runtime started, already past: ready work, which shutdown runs (a
        // timed task would be dropped with the wheels).
        let h = rt.spawn_at(recent, Priority::NORMAL, || 7);
        let report = rt.shutdown();
        assert_eq!((report.completed, report.timers_dropped), (1, 0), "{report:?}");
        assert_eq!(h.join().unwrap(), 7);
    }

    /// A waker fires as the runtime goes away: it sees the runtime open, then shutdown's
    /// final drain completes and the `Runtime` is dropped before it pushes. Its push finds
    /// the runtime closed and drains the injectors itself, dropping the task, whose cell
    /// holds the last reference to the shared state. That state must outlive the drain
    /// (it used to be freed in the middle of it: "index out of bounds: the len is 0" in
    /// `Injectors::steal_one`).
    #[test]
    fn a_wake_up_racing_the_final_drain_is_dropped_harmlessly() {
        let (rt, shared) = runtime_without_threads();
        let slot: std::sync::Arc<Mutex<Option<Waker>>> = Default::default();
        let stored = slot.clone();
        let h = rt.spawn_future(
            Priority::NORMAL,
            std::future::poll_fn(move |cx| {
                *stored.lock().unwrap() = Some(cx.waker().clone());
                Poll::<()>::Pending
            }),
        );
        // Play the worker: poll the future once, so it waits for its waker.
        let task = shared.injectors.steal_one().expect("the spawned future is queued");
        assert!(matches!(task.run(), RunResult::Idle));
        let waker = slot.lock().unwrap().take().expect("the future stored its waker");
        drop(h); // detached: its cell ends with the waker's reference
        let state = Arc::downgrade(&shared);
        drop(shared);
        let alive_after_drain = std::sync::Arc::new(Mutex::new(None));
        let (alive, weak) = (alive_after_drain.clone(), state.clone());
        AFTER_LATE_DRAIN.with(|hook| {
            *hook.borrow_mut() =
                Some(Box::new(move || *alive.lock().unwrap() = Some(weak.strong_count() > 0)));
        });
        let report = std::sync::Arc::new(Mutex::new(None));
        let seen = report.clone();
        BEFORE_REMOTE_PUSH.with(|hook| {
            *hook.borrow_mut() = Some(Box::new(move || *seen.lock().unwrap() = Some(rt.shutdown())));
        });
        waker.wake();
        assert_eq!(
            *alive_after_drain.lock().unwrap(),
            Some(true),
            "the late push drained the injectors itself, and the state it borrowed outlived that drain"
        );
        let report = report.lock().unwrap().take().expect("shutdown ran inside the push");
        assert_eq!((report.submitted, report.futures_dropped), (1, 1), "{report:?}");
        assert!(report.is_balanced(), "{report:?}");
        assert!(state.upgrade().is_none(), "the shared state is freed once the task is gone");
    }

    /// Shutdown's final drain runs a closure it finds in the injectors and counts it by
    /// how it ended: one that panics there is `panicked`, not `completed`. (No worker
    /// thread ever starts here, so the final drain is what runs the queued closures.)
    #[test]
    fn a_closure_that_panics_in_the_final_drain_counts_as_panicked() {
        let (rt, _shared) = runtime_without_threads();
        let fine = rt.spawn(Priority::NORMAL, || 7);
        let bad = rt.spawn(Priority::NORMAL, || -> u32 { panic!("panics in the final drain") });
        let report = rt.shutdown();
        assert_eq!((report.completed, report.panicked), (1, 1), "{report:?}");
        assert!(report.is_balanced(), "{report:?}");
        assert_eq!(fine.join().unwrap(), 7);
        assert!(bad.join().unwrap_err().is_panic());
    }

    /// A timed closure registered from outside waits in its owner's timer inbox; if no
    /// worker took it into a wheel before the last one left, shutdown's final drain
    /// cancels it from the inbox (`timers_dropped`) and its handle resolves.
    #[test]
    fn a_timed_closure_left_in_a_timer_inbox_is_dropped_by_the_final_drain() {
        let (rt, shared) = runtime_without_threads();
        let h = rt.spawn_after(Duration::from_secs(3600), Priority::NORMAL, || ());
        assert!(
            shared.remotes.iter().any(|r| !r.timer_inbox.is_empty()),
            "the timed closure waits in a timer inbox"
        );
        let report = rt.shutdown();
        assert_eq!((report.submitted, report.timers_dropped), (1, 1), "{report:?}");
        assert!(report.is_balanced(), "{report:?}");
        assert!(h.is_finished(), "the final drain ended it");
        assert!(h.join().unwrap_err().is_shutdown());
    }

    /// A ready closure cancelled while it waits in the injectors is found already ended
    /// by shutdown's final drain (`Skipped`), which counts it once, as cancelled.
    #[test]
    fn a_closure_cancelled_in_the_injectors_is_counted_by_the_final_drain() {
        let (rt, _shared) = runtime_without_threads();
        let h = rt.spawn(Priority::NORMAL, || ());
        assert!(h.cancel());
        let report = rt.shutdown();
        assert_eq!((report.submitted, report.cancelled), (1, 1), "{report:?}");
        assert!(report.is_balanced(), "{report:?}");
    }
}
