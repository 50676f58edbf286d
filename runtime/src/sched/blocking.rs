//! The blocking pool: OS threads, apart from the workers, that run the closures given to
//! `spawn_blocking`, most urgent first, so a blocking call (a synchronous HTTP client, a
//! file read, a database driver) never holds a worker.
//!
//! ## Shape
//!
//! One `Mutex` holds the queue (a `BinaryHeap` ordered by priority, then arrival), the
//! thread counts and the shutdown flag; one `Condvar` wakes idle threads for a job,
//! another tells shutdown that the last thread left. A lock is fine here: blocking work
//! is not the hot path (a job costs three short critical sections, queue, take and
//! finish, against a call that blocks for milliseconds), and the workers never take it.
//!
//! ## Protocol
//!
//! - **Queue** (`push`, under the lock): the job goes into the heap; one idle thread is
//!   notified; if the jobs queued now outnumber the idle threads and fewer than
//!   `max_threads` threads exist, a new thread is started (its count is taken under the
//!   lock, so the cap is never passed). So every queued job has an idle thread notified
//!   for it, a running thread that looks at the queue again when its job ends, or a
//!   thread of its own.
//! - **Thread loop**: take the most urgent job, run it outside the lock, count its end,
//!   repeat. With no job: exit if shutdown began, else wait up to `keep_alive`; a wait
//!   that ends with no job (and no shutdown) ends the thread (the pool shrinks). The
//!   queue is checked before the timeout, so a job queued as a wait times out is taken.
//! - **Shutdown** (after the workers are joined, so no spawn can still arrive but from a
//!   worker that outlived a shutdown timeout): set the flag and wake every thread.
//!   Threads run every job still queued (like queued closures on the workers), then
//!   exit; shutdown waits for the last one, up to its deadline. A job that never returns
//!   cannot be killed: past the deadline shutdown gives up, and the report counts that
//!   job and the ones queued behind it as `unfinished`. If no thread exists at shutdown
//!   (a thread could not be started), the shutting-down thread runs the queue itself.
//!   A shutdown that already gave up on the workers only tells the pool to stop.
//!
//! ## Accounting
//!
//! A job is a ready closure task (a plain closure, or one wrapped in a `Task`'s deadline)
//! without a home slot (so `set_priority` on its handle
//! returns `false`: it cannot be queued again elsewhere), admitted and counted like any
//! spawn (a spawn made *on* a pool thread that finds `max_pending` full is admitted past
//! it, as a worker's is: the units it would wait for may belong to jobs queued behind the
//! very job that waits). Its end is counted once, where it is taken off the queue: completed or
//! panicked after its run, expired if its deadline passed before it started, or, if its handle cancelled it while it waited, cancelled
//! (a cancelled job stays in the heap, counted as queued, until a thread pops it). Its
//! admission unit (`max_pending`) goes back when it starts or ends unrun.

use super::shared::{Sched, Shared};
use super::spawn::{wrap, Admit, Refusal};
use crate::config::blocking::BlockingConfig;
use crate::sched::context;
use crate::stats::accounting;
use kairos_rt_core::sync::Arc;
use kairos_rt_core::task::{allocate, Body, JoinHandle, RunResult, TaskOptions, TaskRef};
use kairos_rt_core::Priority;
use std::cell::Cell;
use std::collections::BinaryHeap;
use std::sync::{Condvar, Mutex, MutexGuard, PoisonError};
use std::time::Instant;

/// A queued job: most urgent level first, then the earliest arrival.
struct Queued {
    level: u8,
    seq: u64,
    task: TaskRef,
}

impl PartialEq for Queued {
    fn eq(&self, other: &Self) -> bool {
        (self.level, self.seq) == (other.level, other.seq)
    }
}
impl Eq for Queued {}
impl PartialOrd for Queued {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Queued {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        // The heap pops its maximum: a higher level, then a lower (earlier) sequence.
        self.level.cmp(&other.level).then(other.seq.cmp(&self.seq))
    }
}

#[derive(Default)]
struct PoolState {
    queue: BinaryHeap<Queued>,
    next_seq: u64,
    /// Threads alive (started, not yet past their exit).
    threads: usize,
    /// Threads waiting for a job.
    idle: usize,
    /// Jobs running now.
    running: usize,
    shutdown: bool,
}

/// The blocking pool of one runtime (see the module docs).
pub(crate) struct BlockingPool {
    config: BlockingConfig,
    state: Mutex<PoolState>,
    /// Idle threads wait here for a job (or shutdown).
    work: Condvar,
    /// Shutdown waits here for the last thread to leave.
    exited: Condvar,
    /// Test hook: the next this-many thread starts fail as if the OS refused them.
    #[cfg(test)]
    fail_spawns: std::sync::atomic::AtomicUsize,
}

impl std::fmt::Debug for BlockingPool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let st = self.lock();
        f.debug_struct("BlockingPool")
            .field("max_threads", &self.config.max_threads)
            .field("keep_alive", &self.config.keep_alive)
            .field("threads", &st.threads)
            .field("running", &st.running)
            .field("queued", &st.queue.len())
            .finish()
    }
}

/// What shutdown could wait for in the pool.
#[derive(Clone, Copy, Debug)]
pub(crate) struct PoolWaited {
    /// The deadline passed with threads still running.
    pub(crate) hit_deadline: bool,
    /// Threads still alive when shutdown stopped waiting (the caller's own included).
    pub(crate) unjoined_threads: usize,
}

/// The pool's gauges at one moment (read under its lock, so they agree with each other).
#[derive(Clone, Copy, Debug)]
pub(crate) struct BlockingGauges {
    /// Jobs waiting for a thread, per level (index = level).
    pub(crate) queued: [u64; Priority::LEVELS],
    pub(crate) running: u64,
    pub(crate) threads: u64,
}

impl BlockingPool {
    pub(crate) fn new(config: BlockingConfig) -> BlockingPool {
        BlockingPool {
            config,
            state: Mutex::default(),
            work: Condvar::new(),
            exited: Condvar::new(),
            #[cfg(test)]
            fail_spawns: std::sync::atomic::AtomicUsize::new(0),
        }
    }

    fn lock(&self) -> MutexGuard<'_, PoolState> {
        // No user code runs under the lock, so a poisoned lock still holds a sound state.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Queues `task` (a ready closure task without a home slot); starts a thread for it
    /// if no idle one will take it and the cap allows.
    pub(crate) fn push(&self, shared: &Arc<Shared>, task: TaskRef) {
        let level = task.priority().level();
        let start_thread = {
            let mut st = self.lock();
            let seq = st.next_seq;
            st.next_seq += 1;
            st.queue.push(Queued { level, seq, task });
            self.work.notify_one();
            let start = st.queue.len() > st.idle && st.threads < self.config.max_threads;
            if start {
                st.threads += 1;
            }
            start
        };
        if start_thread {
            self.start_thread(shared);
        }
    }

    /// Starts one thread whose count `push` already took; gives the count back if the OS
    /// refuses (the job then waits for the next thread: a later push, or shutdown).
    fn start_thread(&self, shared: &Arc<Shared>) {
        let mut b = std::thread::Builder::new().name(format!("{}-blocking", self.config.thread_name));
        if let Some(size) = self.config.stack_size {
            b = b.stack_size(size);
        }
        let owned = shared.clone();
        #[cfg(test)]
        if self.take_injected_failure() {
            drop(owned);
            self.lock().threads -= 1;
            self.exited.notify_all();
            return;
        }
        if b.spawn(move || thread_main(owned)).is_err() {
            self.lock().threads -= 1;
            self.exited.notify_all();
        }
    }

    /// The loop of one pool thread (see the module docs).
    fn serve(&self, shared: &Shared) {
        let mut st = self.lock();
        loop {
            if let Some(job) = st.queue.pop() {
                st.running += 1;
                drop(st);
                run_job(shared, job.task);
                st = self.lock();
                st.running -= 1;
                continue;
            }
            if st.shutdown {
                break;
            }
            st.idle += 1;
            let (guard, wait) =
                self.work.wait_timeout(st, self.config.keep_alive).unwrap_or_else(PoisonError::into_inner);
            st = guard;
            st.idle -= 1;
            if wait.timed_out() && st.queue.is_empty() && !st.shutdown {
                break;
            }
        }
        st.threads -= 1;
        // Shutdown may wait for all threads, or for all but its own (see `shut_down`).
        self.exited.notify_all();
    }

    /// Shutdown's step for the pool (see the module docs): runs what is queued, waits for
    /// every thread to leave until `deadline` (`None`: no limit).
    ///
    /// Called from one of this pool's own threads (the runtime dropped inside a blocking
    /// closure), it waits for the others only, and gives up on its own job.
    pub(crate) fn shut_down(&self, shared: &Shared, deadline: Option<Instant>) -> PoolWaited {
        let me = self.serves_current_thread();
        let mut st = self.lock();
        st.shutdown = true;
        self.work.notify_all();
        if st.threads == 0 && deadline.is_none_or(|dl| Instant::now() < dl) {
            while let Some(job) = st.queue.pop() {
                drop(st);
                run_job(shared, job.task);
                st = self.lock();
            }
        }
        let mut hit_deadline = false;
        while st.threads > usize::from(me) {
            st = match deadline {
                None => self.exited.wait(st).unwrap_or_else(PoisonError::into_inner),
                Some(dl) => {
                    let left = dl.saturating_duration_since(Instant::now());
                    if left.is_zero() {
                        hit_deadline = true;
                        break;
                    }
                    self.exited.wait_timeout(st, left).unwrap_or_else(PoisonError::into_inner).0
                }
            };
        }
        PoolWaited { hit_deadline, unjoined_threads: st.threads }
    }

    /// Whether the calling thread is one of this pool's threads (a blocking job of this
    /// runtime is running on it).
    pub(crate) fn serves_current_thread(&self) -> bool {
        POOL_THREAD.try_with(|p| p.get()).unwrap_or(0) == self as *const BlockingPool as usize
    }

    /// The gauges for `pending()` and `metrics()`.
    pub(crate) fn gauges(&self) -> BlockingGauges {
        let st = self.lock();
        let mut queued = [0; Priority::LEVELS];
        for job in st.queue.iter() {
            queued[usize::from(job.level)] += 1;
        }
        BlockingGauges { queued, running: st.running as u64, threads: st.threads as u64 }
    }
}

#[cfg(test)]
impl BlockingPool {
    /// Makes the next `n` thread starts fail as if the OS refused them.
    pub(crate) fn fail_next_spawns(&self, n: usize) {
        self.fail_spawns.store(n, std::sync::atomic::Ordering::SeqCst);
    }

    fn take_injected_failure(&self) -> bool {
        use std::sync::atomic::Ordering::SeqCst;
        self.fail_spawns.fetch_update(SeqCst, SeqCst, |n| n.checked_sub(1)).is_ok()
    }
}

#[cfg(test)]
mod tests;

thread_local! {
    /// The address of the pool this thread serves (0: none).
    static POOL_THREAD: Cell<usize> = const { Cell::new(0) };
}

/// A pool thread: runs inside its runtime (so `kairos_rt::spawn` and friends work in a
/// blocking closure) and inside the runtime's I/O driver (with the `tokio` feature,
/// `tokio::runtime::Handle::current()` works there).
fn thread_main(shared: Arc<Shared>) {
    POOL_THREAD.with(|p| p.set(&shared.blocking as *const BlockingPool as usize));
    let _runtime = context::enter(shared.clone());
    let _io = shared.config.io.enter();
    shared.blocking.serve(&shared);
}

/// Runs one job and counts its end (see "Accounting" in the module docs).
fn run_job(shared: &Shared, task: TaskRef) {
    let holds_unit = task.snapshot().holds_unit();
    let result = task.run_observed(&mut || {
        if holds_unit {
            shared.left_waiting();
        }
    });
    match result {
        // A deadline (`Task::deadline`) passed before the job started: it never ran.
        RunResult::Finished(outcome) => {
            let (started, end) = accounting::closure_finished(outcome, false);
            if let Some(started) = started {
                shared.count(started);
            }
            shared.count(end);
        }
        RunResult::Skipped(snap) => shared.count_end(accounting::closure_unrun(snap.outcome(), false), snap),
        RunResult::Idle | RunResult::Yielded(_) | RunResult::Stale => {}
    }
}

impl Shared {
    /// Spawns `f` onto the blocking pool: steps 1 to 3 of a spawn (see `sched::spawn`:
    /// admission, intake, allocation, each counted as for any spawn), then the pool's
    /// queue instead of a run queue. From outside, the push happens inside the intake
    /// gate, so shutdown (which drains the gate before it stops the pool) finds the job.
    ///
    /// `body` is a closure's (a `Closure`, or one wrapped in a `Task`'s policies): the pool
    /// runs each job once, to its end.
    pub(crate) fn submit_blocking<B: Body>(
        self: &Arc<Self>,
        body: B,
        priority: Priority,
        admit: Admit,
    ) -> Result<JoinHandle<B::Output>, Refusal<B>> {
        const { assert!(!B::IS_FUTURE, "the blocking pool runs closures") };
        context::with_worker(|w| {
            let local = w.filter(|w| Arc::ptr_eq(w.shared(), self));
            let holds_unit = match self.enter(local, admit, false) {
                Ok(holds_unit) => holds_unit,
                Err(refused) => return Err(refused.with(body)),
            };
            // No home slot: nothing may queue this task anywhere but here.
            let opts = TaskOptions {
                priority,
                due: None,
                join: true,
                home: 0,
                holds_unit,
                owner: 0,
                sample_tick: 0,
            };
            let (task, join) = allocate(body, None::<Sched>, opts);
            self.blocking.push(self, task);
            if local.is_none() {
                self.intake.end();
            }
            Ok(wrap(join))
        })
    }
}
