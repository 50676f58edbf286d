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
//! - **Reserve** (`reserve`, before admission): the submission counts itself in
//!   `reserved`; if no thread is alive, it starts one now. If the OS refuses that
//!   thread, nothing is queued: the spawn is refused with the closure back
//!   (`SpawnError::is_no_thread`; `spawn_blocking` panics, as `std::thread::spawn`
//!   does). While any reservation is out, no thread leaves on its keep-alive, so the
//!   thread it counted on is still there at its push.
//! - **Queue** (`push`, under the lock): the job goes into the heap; one idle thread is
//!   notified; if the jobs queued now outnumber the idle and starting threads and fewer
//!   than `max_threads` threads exist, a new thread is started (its count is taken under
//!   the lock, so the cap is never passed). If the OS refuses it, the job waits for the
//!   threads there are and the next push tries again. So every queued job has an idle
//!   thread notified for it, a running thread that looks at the queue again when its job
//!   ends, or a thread of its own: **a job is never queued with no thread alive**.
//!
//! ## Threads the OS refuses: why refuse at submit
//!
//! A job queued with no thread to run it would wait for a later submission that may
//! never come (its handle never resolving), so something must give. Retrying on a later
//! submit alone cannot promise that; running it on the submitter would block a worker,
//! the very thing the pool exists to prevent. So the pool refuses only the one case it
//! cannot serve (no thread alive, none can start), at once and with the closure back,
//! as tokio's pool and `std::thread::spawn` do; with any thread alive, a refused extra
//! thread costs only parallelism, and the next push retries. The one window left is a
//! shutdown that let every thread go while a worker it did not wait for still pushes:
//! such a job (`end_stranded`, `end_unqueued`) ends `Shutdown` at once, counted, its
//! handle resolved.
//! - **Thread loop**: take the most urgent job, run it outside the lock, count its end,
//!   repeat. With no job: exit if shutdown began, else wait up to `keep_alive`; a wait
//!   that ends with no job (and no shutdown) ends the thread (the pool shrinks). The
//!   queue is checked before the timeout, so a job queued as a wait times out is taken.
//! - **Shutdown** (after the workers are joined, so no spawn can still arrive but from a
//!   worker that outlived a shutdown timeout): set the flag and wake every thread.
//!   Threads run every job still queued (like queued closures on the workers), then
//!   exit (reservations do not keep them); shutdown waits for the last one, up to its
//!   deadline. A job that never returns cannot be killed: past the deadline shutdown
//!   gives up, and the report counts that job and the ones queued behind it, one by one,
//!   as `blocking_unfinished` (they end later, on that thread). If no thread exists at
//!   shutdown yet a job is queued (none should be: see "Reserve"), the shutting-down
//!   thread runs it, or past the deadline ends it `Shutdown`. A shutdown that already
//!   gave up on the workers only tells the pool to stop.
//!
//! ## Accounting
//!
//! A job is a ready closure task (a plain closure, or one wrapped in a `Task`'s deadline)
//! without a home slot (so `set_priority` on its handle
//! returns `false`: it cannot be queued again elsewhere), admitted and counted like any
//! spawn (a spawn made *on* a pool thread that finds `max_pending` full is admitted past
//! it, as a worker's is: the units it would wait for may belong to jobs queued behind the
//! very job that waits). Its end is counted once, under the pool's lock, when a thread
//! has taken it off the queue (so under that lock every job is exactly one of queued,
//! running or counted, and shutdown's snapshot of what is left is exact): completed or
//! panicked after its run, expired if its deadline passed before it started, or, if its handle cancelled it while it waited, cancelled
//! (a cancelled job stays in the heap, counted as queued, until a thread pops it). Its
//! admission unit (`max_pending`) goes back when it starts or ends unrun.

use super::shared::{Sched, Shared};
use super::spawn::{wrap, Admit, Refusal};
use crate::config::blocking::BlockingConfig;
use crate::sched::context;
use crate::stats::{accounting, Count, Totals};
use kairos_rt_core::sync::Arc;
use kairos_rt_core::task::state::Snapshot;
use kairos_rt_core::task::{allocate, Body, JoinHandle, Outcome, RunResult, TaskOptions, TaskRef};
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
    /// Threads started (counted in `threads`) that have not yet looked at the queue: a
    /// push counts them as idle, so a burst does not start a thread per job.
    starting: usize,
    /// Submissions between `reserve` and `push`: while any, no thread leaves on its
    /// keep-alive (so the thread a reservation counted on is still there at the push).
    reserved: usize,
    shutdown: bool,
}

/// A submission on its way to the queue (see [`BlockingPool::reserve`]); dropping it
/// unused (the spawn was refused after all) gives the count back.
pub(crate) struct Reservation<'a> {
    pool: &'a BlockingPool,
}

impl Drop for Reservation<'_> {
    fn drop(&mut self) {
        self.pool.lock().reserved -= 1;
    }
}

/// How a job taken off the queue ended, for `BlockingPool::finish` to count.
enum JobEnd {
    /// Its body ran (or its deadline had passed): `Started` if any, then its outcome.
    Ran {
        started: Option<Count>,
        end: Count,
    },
    /// It had ended before a thread reached it (cancelled, expired, dropped at shutdown).
    Unrun(Count, Snapshot),
    Nothing,
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
    /// Jobs still queued or running then (they end on those threads, later).
    pub(crate) left: u64,
    /// The runtime's counts at that same moment (read under the pool's lock, where every
    /// job's end is counted, so `left` is exactly the pool's share of what they lack).
    pub(crate) totals: Totals,
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

    /// Step one of a submission (see "Threads" in the module docs): makes sure a thread
    /// will be there for the job about to be queued. With no thread alive, starts one
    /// now; if the OS refuses it, nothing is queued and the error comes back (the caller
    /// hands the closure back). The reservation keeps every thread from leaving on its
    /// keep-alive until [`push`](Self::push) queues the job (or the reservation drops).
    pub(crate) fn reserve(&self, shared: &Arc<Shared>) -> std::io::Result<Reservation<'_>> {
        let start = {
            let mut st = self.lock();
            st.reserved += 1;
            let start = st.threads == 0;
            if start {
                st.threads += 1;
                st.starting += 1;
            }
            start
        };
        let reservation = Reservation { pool: self };
        if start {
            // On an error, dropping the reservation gives its count back.
            self.start_thread(shared)?;
        }
        Ok(reservation)
    }

    /// Queues `task` (a ready closure task without a home slot) under `reservation`;
    /// starts a thread for it if no idle (or starting) thread will take it and the cap
    /// allows. If the OS refuses that thread, the job waits for the threads there are
    /// (the reservation kept at least one, or this is a shutdown that raced a worker it
    /// did not wait for: see `end_stranded`), and the next push tries again.
    pub(crate) fn push(&self, shared: &Arc<Shared>, task: TaskRef, reservation: Reservation<'_>) {
        let level = task.priority().level();
        let (seq, start_thread) = {
            let mut st = self.lock();
            std::mem::forget(reservation);
            st.reserved -= 1;
            let seq = st.next_seq;
            st.next_seq += 1;
            st.queue.push(Queued { level, seq, task });
            self.work.notify_one();
            let start = st.queue.len() > st.idle + st.starting && st.threads < self.config.max_threads;
            if start {
                st.threads += 1;
                st.starting += 1;
            }
            (seq, start)
        };
        if start_thread && self.start_thread(shared).is_err() {
            self.end_stranded(shared, seq);
        }
    }

    /// After a refused thread: if no thread is left, the job `seq` (if still queued) has
    /// none to run it. A reservation keeps a thread until its push, so this happens only
    /// once shutdown let every thread go (a worker shutdown did not wait for, pushing
    /// late): the job ends `Shutdown`, counted, and its handle resolves.
    fn end_stranded(&self, shared: &Shared, seq: u64) {
        let mut st = self.lock();
        if st.threads > 0 {
            return;
        }
        debug_assert!(st.shutdown, "a reservation keeps a thread until its push");
        let mut stranded = None;
        st.queue.retain(|q| {
            if q.seq == seq {
                stranded = Some(q.task.clone());
                return false;
            }
            true
        });
        if let Some(task) = stranded {
            task.cancel(Outcome::Shutdown);
            // The queue's reference: the run finds the task ended and counts it.
            self.finish(shared, &mut st, run_job(shared, task));
        }
    }

    /// A job admitted while shutting down, for which no thread exists nor can start: it
    /// ends `Shutdown` (counted) and its handle resolves.
    fn end_unqueued(&self, shared: &Shared, task: TaskRef) {
        task.cancel(Outcome::Shutdown);
        let mut st = self.lock();
        self.finish(shared, &mut st, run_job(shared, task));
    }

    /// Starts one thread whose count (`threads`, `starting`) the caller already took;
    /// gives the count back if the OS refuses.
    fn start_thread(&self, shared: &Arc<Shared>) -> std::io::Result<()> {
        let mut b = std::thread::Builder::new().name(format!("{}-blocking", self.config.thread_name));
        if let Some(size) = self.config.stack_size {
            b = b.stack_size(size);
        }
        let owned = shared.clone();
        #[cfg(test)]
        let spawned = if self.take_injected_failure() {
            drop(owned);
            Err(std::io::Error::other("injected: the OS refused a thread"))
        } else {
            b.spawn(move || thread_main(owned)).map(drop)
        };
        #[cfg(not(test))]
        let spawned = b.spawn(move || thread_main(owned)).map(drop);
        if spawned.is_err() {
            let mut st = self.lock();
            st.threads -= 1;
            st.starting -= 1;
            drop(st);
            self.exited.notify_all();
        }
        spawned
    }

    /// Counts a job's end (`end`, from `run_job`) under the pool's lock, so a job is
    /// always either queued, running or counted for anyone who reads both under it
    /// (`shut_down`'s snapshot of what is left).
    fn finish(&self, shared: &Shared, _st: &mut MutexGuard<'_, PoolState>, end: JobEnd) {
        match end {
            JobEnd::Ran { started, end } => {
                if let Some(started) = started {
                    shared.count(started);
                }
                shared.count(end);
            }
            JobEnd::Unrun(kind, snap) => shared.count_end(kind, snap),
            JobEnd::Nothing => {}
        }
    }

    /// The loop of one pool thread (see the module docs).
    fn serve(&self, shared: &Shared) {
        let mut st = self.lock();
        st.starting -= 1;
        loop {
            if let Some(job) = st.queue.pop() {
                st.running += 1;
                drop(st);
                let end = run_job(shared, job.task);
                st = self.lock();
                self.finish(shared, &mut st, end);
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
            if wait.timed_out() && st.queue.is_empty() && st.reserved == 0 && !st.shutdown {
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
        if st.threads == 0 {
            // Only a job stranded by a refused thread could be here (a reservation keeps
            // a thread until its push): it has no thread but this one. Past the deadline
            // it is not started, but ended `Shutdown`, so its handle resolves.
            let run = deadline.is_none_or(|dl| Instant::now() < dl);
            while let Some(job) = st.queue.pop() {
                if !run {
                    job.task.cancel(Outcome::Shutdown);
                }
                drop(st);
                let end = run_job(shared, job.task);
                st = self.lock();
                self.finish(shared, &mut st, end);
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
        // Under the lock, a job is queued, running or counted: never two, never none.
        let left = (st.queue.len() + st.running) as u64;
        PoolWaited { hit_deadline, unjoined_threads: st.threads, left, totals: shared.totals() }
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

/// Runs one job (or finds it ended) and says how to count its end (see "Accounting" in
/// the module docs); the caller counts it under the pool's lock (`BlockingPool::finish`).
fn run_job(shared: &Shared, task: TaskRef) -> JobEnd {
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
            JobEnd::Ran { started, end }
        }
        RunResult::Skipped(snap) => JobEnd::Unrun(accounting::closure_unrun(snap.outcome(), false), snap),
        RunResult::Idle | RunResult::Yielded(_) | RunResult::Stale => JobEnd::Nothing,
    }
}

impl Shared {
    /// Spawns `f` onto the blocking pool: a thread reserved for it first (see "Threads"
    /// in the module docs: refused, with the body back, if the pool has no thread and the
    /// OS will not start one; nothing is counted then, as for a spawn refused for room),
    /// then steps 1 to 3 of a spawn (see `sched::spawn`: admission, intake, allocation,
    /// each counted as for any spawn), then the pool's queue instead of a run queue. From
    /// outside, the push happens inside the intake gate, so shutdown (which drains the
    /// gate before it stops the pool) finds the job.
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
        // A closed runtime refuses below (counted `Rejected`): no thread for that.
        let reservation = match self.is_closed() {
            true => None,
            false => match self.blocking.reserve(self) {
                Ok(r) => Some(r),
                Err(e) => return Err(Refusal::NoThread(body, e)),
            },
        };
        context::with_worker(|w| {
            let local = w.filter(|w| Arc::ptr_eq(w.shared(), self));
            let holds_unit = match self.enter(local, admit, false) {
                Ok(holds_unit) => holds_unit,
                Err(refused) => return Err(refused.with(body)),
            };
            // Closed just after the check above, yet admitted (a worker that missed the
            // close): reserve now, and a refusal is shutdown's, not a lost job.
            let reservation = match reservation {
                Some(r) => Ok(r),
                None => self.blocking.reserve(self),
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
            match reservation {
                Ok(r) => self.blocking.push(self, task, r),
                // Shutting down, no thread, and the OS refuses one: the job ends now.
                Err(_) => self.blocking.end_unqueued(self, task),
            }
            if local.is_none() {
                self.intake.end();
            }
            Ok(wrap(join))
        })
    }
}
