//! The classic scheduler, done right: one `Mutex` around two binary heaps, one `Condvar`.
//!
//! This is the design of the reference tutorials (a priority queue of ready work and a
//! due-time heap of delayed work behind a lock), written the way a careful engineer would
//! write it, so that kairos is compared with the best version of the idea:
//!
//! - **Ready tasks** wait in a max-heap ordered by priority, then by submission order
//!   (FIFO within a level, through a sequence number). **Timed tasks** wait in a min-heap
//!   ordered by due time, then submission order. A worker that takes the lock first moves
//!   every due timed task to the ready heap, at the task's priority, then pops the most
//!   urgent ready task.
//! - **One allocation per task**: an `Arc` cell holding a small header (state, priority,
//!   where it waits) and the closure. The heaps and the handle share it.
//! - **Run vs cancel** is decided by one compare-and-swap on the state byte, so a task runs
//!   at most once and a cancelled task never runs. A cancelled task's closure is dropped at
//!   once; its heap entry is removed lazily, and the timed heap is compacted when more than
//!   half of it is cancelled, so cancelling everything gives the memory back.
//! - **Priority change** stores the new priority in the header and, when the task is
//!   already in the ready heap, pushes a second entry; the stale one is skipped when popped
//!   because its priority no longer matches the header's.
//! - **Sleeping workers** wait on the condvar, with a timeout equal to the next due time
//!   when there is one. Submitters call `notify_one` only when some worker sleeps (the count
//!   is read under the lock, so no wake-up is lost), and a timed task that becomes the
//!   earliest wakes a sleeper so it can shorten its timeout.
//! - **Bounded submission**: with `max_pending`, `try_spawn` rejects a task when that many
//!   are already waiting.
//! - **Panics** in tasks are caught; the worker goes on. **Shutdown** stops intake, runs
//!   the ready tasks, drops the timed ones and joins the workers.
//!
//! Its costs are the ones the design implies: every submit and every pop takes the global
//! lock (two cores fight over one cache line), and both heaps are O(log n).

use std::cell::{OnceCell, UnsafeCell};
use std::cmp::{Ordering as CmpOrdering, Reverse};
use std::collections::BinaryHeap;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicU8, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread;
use std::time::Instant;

const PENDING: u8 = 0;
const RUNNING: u8 = 1;
const DONE: u8 = 2;
const CANCELLED: u8 = 3;
const PANICKED: u8 = 4;

/// The header every task cell starts with.
#[derive(Debug)]
pub(crate) struct Header {
    /// PENDING -> RUNNING -> DONE | PANICKED, or PENDING -> CANCELLED.
    state: AtomicU8,
    /// Priority, 0..=63 (changed by `set_priority`).
    prio: AtomicU8,
    /// Whether the task is (or was) in the ready heap rather than the timed heap. Written
    /// under the pool's lock.
    in_ready: AtomicBool,
}

/// A type-erased task cell.
pub(crate) trait Job: Send + Sync {
    fn header(&self) -> &Header;
    /// Claims and runs the task; does nothing when it was cancelled or already claimed.
    fn run(&self);
    /// Cancels the task if it is still pending (dropping its closure); `true` on success.
    fn cancel(&self) -> bool;
}

struct Cell<F> {
    header: Header,
    f: UnsafeCell<Option<F>>,
}

// SAFETY: the closure is only touched by the one thread that won the PENDING -> RUNNING or
// PENDING -> CANCELLED compare-and-swap on `header.state`, so sharing a `&Cell` between
// threads never gives two threads access to `f`; `F: Send` lets that thread be any thread.
unsafe impl<F: Send> Sync for Cell<F> {}

impl<F: FnOnce() + Send + 'static> Job for Cell<F> {
    fn header(&self) -> &Header {
        &self.header
    }

    fn run(&self) {
        if self.header.state.compare_exchange(PENDING, RUNNING, Ordering::AcqRel, Ordering::Acquire).is_err()
        {
            return;
        }
        // SAFETY: we won the PENDING -> RUNNING transition, which happens once, so no other
        // thread can ever access `f` again (see the `Sync` impl).
        let f = unsafe { (*self.f.get()).take() };
        let outcome = match f {
            Some(f) => match catch_unwind(AssertUnwindSafe(f)) {
                Ok(()) => DONE,
                Err(_) => PANICKED,
            },
            None => DONE,
        };
        self.header.state.store(outcome, Ordering::SeqCst);
    }

    fn cancel(&self) -> bool {
        if self
            .header
            .state
            .compare_exchange(PENDING, CANCELLED, Ordering::AcqRel, Ordering::Acquire)
            .is_err()
        {
            return false;
        }
        // SAFETY: we won the PENDING -> CANCELLED transition: no runner will touch `f`.
        drop(unsafe { (*self.f.get()).take() });
        true
    }
}

type TaskRef = Arc<dyn Job>;

fn new_task<F: FnOnce() + Send + 'static>(prio: u8, f: F) -> TaskRef {
    Arc::new(Cell {
        header: Header {
            state: AtomicU8::new(PENDING),
            prio: AtomicU8::new(prio.min(63)),
            in_ready: AtomicBool::new(false),
        },
        f: UnsafeCell::new(Some(f)),
    })
}

/// A heap entry ordered by its key alone: the greatest key is popped first.
struct Keyed<K> {
    key: K,
    task: TaskRef,
}

impl<K: Ord> PartialEq for Keyed<K> {
    fn eq(&self, other: &Self) -> bool {
        self.key == other.key
    }
}
impl<K: Ord> Eq for Keyed<K> {}
impl<K: Ord> PartialOrd for Keyed<K> {
    fn partial_cmp(&self, other: &Self) -> Option<CmpOrdering> {
        Some(self.cmp(other))
    }
}
impl<K: Ord> Ord for Keyed<K> {
    fn cmp(&self, other: &Self) -> CmpOrdering {
        self.key.cmp(&other.key)
    }
}

/// Ready tasks: higher priority first, then older (smaller sequence number).
type ReadyEntry = Keyed<(u8, Reverse<u64>)>;
/// Delayed tasks: earliest due first, then older.
type TimedEntry = Keyed<(Reverse<Instant>, Reverse<u64>)>;

/// The two heaps and the bookkeeping that the lock protects. No threads, no clock: the
/// caller passes `now`, so the ordering rules are unit-tested directly.
#[derive(Default)]
pub(crate) struct Queues {
    ready: BinaryHeap<ReadyEntry>,
    timed: BinaryHeap<TimedEntry>,
    seq: u64,
    /// Cancelled tasks still in `timed`.
    stale_timed: usize,
    /// Workers waiting on the condvar.
    sleeping: usize,
    shutdown: bool,
    completed: u64,
}

impl Queues {
    fn next_seq(&mut self) -> u64 {
        self.seq += 1;
        self.seq
    }

    fn push_ready(&mut self, task: TaskRef) {
        let h = task.header();
        h.in_ready.store(true, Ordering::Relaxed);
        let prio = h.prio.load(Ordering::Relaxed);
        let seq = self.next_seq();
        self.ready.push(Keyed { key: (prio, Reverse(seq)), task });
    }

    /// Queues a timed task; `true` when it is now the earliest.
    fn push_timed(&mut self, due: Instant, task: TaskRef) -> bool {
        let seq = self.next_seq();
        self.timed.push(Keyed { key: (Reverse(due), Reverse(seq)), task });
        self.timed.peek().is_some_and(|e| e.key.1 .0 == seq)
    }

    /// Moves the timed tasks due at `now` to the ready heap.
    fn promote(&mut self, now: Instant) {
        while self.timed.peek().is_some_and(|e| e.key.0 .0 <= now) {
            let e = self.timed.pop().expect("peeked");
            if e.task.header().state.load(Ordering::Acquire) == CANCELLED {
                self.stale_timed = self.stale_timed.saturating_sub(1);
                continue;
            }
            self.push_ready(e.task);
        }
    }

    /// The most urgent ready task after promoting what is due at `now` (`None` for `now`
    /// means "don't look at the clock": no timed tasks are waiting).
    fn pop(&mut self, now: Option<Instant>) -> Option<TaskRef> {
        if let Some(now) = now {
            self.promote(now);
        }
        while let Some(e) = self.ready.pop() {
            let h = e.task.header();
            if h.state.load(Ordering::Acquire) != PENDING {
                continue; // cancelled, or already run through a newer entry
            }
            if h.prio.load(Ordering::Relaxed) != e.key.0 {
                continue; // re-prioritised: a newer entry carries the right priority
            }
            return Some(e.task);
        }
        None
    }

    fn next_due(&self) -> Option<Instant> {
        self.timed.peek().map(|e| e.key.0 .0)
    }

    /// Tasks waiting (ready or timed), not counting the cancelled ones known to be stale.
    fn pending(&self) -> usize {
        (self.ready.len() + self.timed.len()).saturating_sub(self.stale_timed)
    }

    /// Drops cancelled entries from the timed heap when they are more than half of it.
    fn note_cancelled_timed(&mut self) {
        self.stale_timed += 1;
        if self.stale_timed * 2 > self.timed.len() && self.timed.len() >= 64 {
            self.timed.retain(|e| e.task.header().state.load(Ordering::Acquire) == PENDING);
            self.stale_timed = 0;
            if self.timed.capacity() > 4 * self.timed.len().max(16) {
                self.timed.shrink_to_fit();
            }
        }
        if self.timed.is_empty() {
            self.stale_timed = 0;
            self.timed.shrink_to_fit();
        }
    }
}

struct Shared {
    queues: Mutex<Queues>,
    /// Workers wait here for work.
    work: Condvar,
    /// Joiners wait here for a task to finish.
    finished: Condvar,
    joiners: AtomicUsize,
    max_pending: Option<usize>,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Queues> {
        // A poisoned lock means a bug in this file (tasks run outside the lock).
        self.queues.lock().expect("heap pool lock poisoned")
    }

    /// Queues a ready task, unless full (`Err` hands the task back) or shut down (the task
    /// is cancelled).
    fn submit(&self, task: TaskRef, bounded: bool) -> Result<(), TaskRef> {
        let mut q = self.lock();
        if q.shutdown {
            drop(q);
            task.cancel();
            return Ok(());
        }
        if bounded && self.max_pending.is_some_and(|m| q.pending() >= m) {
            return Err(task);
        }
        q.push_ready(task);
        let wake = q.sleeping > 0;
        drop(q);
        if wake {
            self.work.notify_one();
        }
        Ok(())
    }

    fn submit_at(&self, due: Instant, task: TaskRef) {
        let mut q = self.lock();
        if q.shutdown {
            drop(q);
            task.cancel();
            return;
        }
        let earliest = q.push_timed(due, task);
        let wake = earliest && q.sleeping > 0;
        drop(q);
        if wake {
            self.work.notify_one();
        }
    }

    fn worker_loop(self: &Arc<Shared>) {
        let mut q = self.lock();
        loop {
            let now = if q.timed.is_empty() { None } else { Some(Instant::now()) };
            if let Some(task) = q.pop(now) {
                drop(q);
                task.run();
                drop(task);
                if self.joiners.load(Ordering::SeqCst) > 0 {
                    let _q = self.lock();
                    self.finished.notify_all();
                }
                q = self.lock();
                q.completed += 1;
                continue;
            }
            if q.shutdown {
                return;
            }
            q.sleeping += 1;
            q = match q.next_due() {
                Some(due) => {
                    let wait = due.saturating_duration_since(now.unwrap_or_else(Instant::now));
                    self.work.wait_timeout(q, wait).expect("heap pool lock poisoned").0
                }
                None => self.work.wait(q).expect("heap pool lock poisoned"),
            };
            q.sleeping -= 1;
        }
    }
}

thread_local! {
    static CURRENT: OnceCell<Arc<Shared>> = const { OnceCell::new() };
}

/// The `Mutex<BinaryHeap>` + `Condvar` pool (see the module docs).
pub struct HeapPool {
    shared: Arc<Shared>,
    threads: Vec<thread::JoinHandle<()>>,
}

impl std::fmt::Debug for HeapPool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HeapPool")
            .field("workers", &self.threads.len())
            .field("max_pending", &self.shared.max_pending)
            .finish()
    }
}

/// A handle to one task of a [`HeapPool`]: cancel it, change its priority, poll or join it.
/// Dropping it detaches the task.
pub struct TaskHandle {
    task: TaskRef,
    shared: Arc<Shared>,
}

impl std::fmt::Debug for TaskHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TaskHandle")
            .field("state", &self.task.header().state.load(Ordering::Relaxed))
            .finish()
    }
}

impl TaskHandle {
    /// Cancels the task if it has not started; `true` when it will never run. Its closure
    /// is dropped at once.
    pub fn cancel(&self) -> bool {
        if !self.task.cancel() {
            return false;
        }
        if !self.task.header().in_ready.load(Ordering::Relaxed) {
            let mut q = self.shared.lock();
            // Re-check under the lock: promotion to the ready heap happens under it.
            if !self.task.header().in_ready.load(Ordering::Relaxed) {
                q.note_cancelled_timed();
            }
        }
        true
    }

    /// Whether the task ran, panicked or was cancelled.
    pub fn is_finished(&self) -> bool {
        self.task.header().state.load(Ordering::Acquire) >= DONE
    }

    /// Whether the task panicked.
    pub fn is_panicked(&self) -> bool {
        self.task.header().state.load(Ordering::Acquire) == PANICKED
    }

    /// Changes the priority of a pending task; `false` when it has already started or was
    /// cancelled.
    pub fn set_priority(&self, prio: u8) -> bool {
        let mut q = self.shared.lock();
        let h = self.task.header();
        if h.state.load(Ordering::Acquire) != PENDING {
            return false;
        }
        let prio = prio.min(63);
        if h.prio.swap(prio, Ordering::Relaxed) != prio && h.in_ready.load(Ordering::Relaxed) {
            q.push_ready(self.task.clone());
        }
        true
    }

    /// Blocks until the task finished (ran, panicked or was cancelled).
    pub fn join(self) {
        if self.is_finished() {
            return;
        }
        self.shared.joiners.fetch_add(1, Ordering::SeqCst);
        let mut q = self.shared.lock();
        while !self.is_finished() {
            q = self.shared.finished.wait(q).expect("heap pool lock poisoned");
        }
        drop(q);
        self.shared.joiners.fetch_sub(1, Ordering::SeqCst);
    }
}

/// What [`HeapPool::shutdown`] accounts for.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ShutdownSummary {
    /// Tasks run (including panicked ones).
    pub completed: u64,
    /// Timed tasks still pending at shutdown, dropped without running.
    pub dropped_timed: usize,
}

impl HeapPool {
    /// A pool of `workers` threads; `max_pending` bounds [`HeapPool::try_spawn`].
    pub fn new(workers: usize, max_pending: Option<usize>) -> HeapPool {
        let shared = Arc::new(Shared {
            queues: Mutex::new(Queues::default()),
            work: Condvar::new(),
            finished: Condvar::new(),
            joiners: AtomicUsize::new(0),
            max_pending,
        });
        let threads = (0..workers.max(1))
            .map(|i| {
                let shared = shared.clone();
                thread::Builder::new()
                    .name(format!("heap-pool-{i}"))
                    .spawn(move || {
                        CURRENT.with(|c| {
                            let _ = c.set(shared.clone());
                        });
                        shared.worker_loop();
                    })
                    .expect("spawn heap pool worker")
            })
            .collect();
        HeapPool { shared, threads }
    }

    /// Submits a detached task.
    pub fn spawn<F: FnOnce() + Send + 'static>(&self, prio: u8, f: F) {
        let _ = self.shared.submit(new_task(prio, f), false);
    }

    /// Submits a task and returns its handle.
    pub fn spawn_handle<F: FnOnce() + Send + 'static>(&self, prio: u8, f: F) -> TaskHandle {
        let task = new_task(prio, f);
        let _ = self.shared.submit(task.clone(), false);
        TaskHandle { task, shared: self.shared.clone() }
    }

    /// Submits a task that becomes ready at `due`, at priority `prio`.
    pub fn spawn_at<F: FnOnce() + Send + 'static>(&self, due: Instant, prio: u8, f: F) -> TaskHandle {
        let task = new_task(prio, f);
        self.shared.submit_at(due, task.clone());
        TaskHandle { task, shared: self.shared.clone() }
    }

    /// Submits a detached task unless `max_pending` tasks are waiting; `false` when
    /// rejected (the closure is dropped).
    pub fn try_spawn<F: FnOnce() + Send + 'static>(&self, prio: u8, f: F) -> bool {
        self.shared.submit(new_task(prio, f), true).is_ok()
    }

    /// Submits a detached task onto the pool whose worker runs the caller; `false` (and the
    /// closure is dropped) when the caller is not a worker of a heap pool.
    pub fn spawn_current<F: FnOnce() + Send + 'static>(prio: u8, f: F) -> bool {
        CURRENT.with(|c| match c.get() {
            Some(shared) => {
                let _ = shared.submit(new_task(prio, f), false);
                true
            }
            None => false,
        })
    }

    /// Submits a detached task due at `due` onto the pool whose worker runs the caller;
    /// `false` (and the closure is dropped) when the caller is not a worker of a heap pool.
    pub fn spawn_at_current<F: FnOnce() + Send + 'static>(due: Instant, prio: u8, f: F) -> bool {
        CURRENT.with(|c| match c.get() {
            Some(shared) => {
                shared.submit_at(due, new_task(prio, f));
                true
            }
            None => false,
        })
    }

    /// Tasks waiting (ready or timed).
    pub fn pending(&self) -> usize {
        self.shared.lock().pending()
    }

    /// Stops intake, runs the ready tasks, drops the timed ones, joins the workers.
    pub fn shutdown(mut self) -> ShutdownSummary {
        self.stop()
    }

    fn stop(&mut self) -> ShutdownSummary {
        let mut q = self.shared.lock();
        q.shutdown = true;
        let timed = std::mem::take(&mut q.timed);
        let dropped_timed = timed.iter().filter(|e| e.task.cancel()).count();
        drop(q);
        drop(timed);
        self.shared.work.notify_all();
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
        ShutdownSummary { completed: self.shared.lock().completed, dropped_timed }
    }
}

impl Drop for HeapPool {
    fn drop(&mut self) {
        if !self.threads.is_empty() {
            self.stop();
        }
    }
}

#[cfg(test)]
#[path = "heap_pool_tests.rs"]
mod tests;
