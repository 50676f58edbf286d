//! Test doubles shared by the loom models; they prove nothing by themselves.
//!
//! - [`Hub`]: what a mock runtime records. [`TaskSched`], the [`Schedule`] stored in every
//!   task cell, pushes woken tasks into `Hub::queue`, timer cancel messages into
//!   `Hub::cancels` (a facade `Injector`, like the runtime's `timer_cancels`), counts
//!   completed futures, and, when the cell is deallocated (the scheduler is dropped with
//!   it), bumps `Hub::freed`. So `freed` counts deallocations of task cells exactly.
//! - [`DropCount`]: a capture that counts its drops (a body or an output dropped).
//! - [`CountingWaker`]: a waker that counts its wake-ups; [`Mailbox`]: a blocking
//!   hand-off between threads (no spinning, which loom cannot bound).
//! - [`TwoWorkers`]: the idle protocol of two workers, the injectors and worker 1's
//!   parker, for the models where worker 1 sleeps while worker 0 and a submitter act.
//! - [`model`]: `loom::model` with the preemption bound from `LOOM_MAX_PREEMPTIONS`
//!   (2 if unset), raised to a model's own minimum; it also fails when loom raised a
//!   violation that kairos's own `catch_unwind` (around bodies and drops) swallowed.

use kairos_rt_core::idle::Idle;
use kairos_rt_core::park::Parker;
use kairos_rt_core::queue::Injectors;
use kairos_rt_core::sync::deque::{Injector, Steal};
use kairos_rt_core::task::{
    allocate, Closure, FutureBody, JoinHandle, Outcome, Schedule, TaskOptions, TaskRef,
};
use kairos_rt_core::Priority;
use loom::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use loom::sync::{Arc, Condvar, Mutex};
use std::future::Future;
use std::task::{Wake, Waker};

/// Runs `f` under loom with at least `min_preemptions` preemptions (or more, if
/// `LOOM_MAX_PREEMPTIONS` asks for more), and prints how many executions it explored.
pub fn model<F>(min_preemptions: usize, f: F)
where
    F: Fn() + Sync + Send + 'static,
{
    let mut builder = loom::model::Builder::new();
    let bound = builder.preemption_bound.unwrap_or(2).max(min_preemptions);
    builder.preemption_bound = Some(bound);
    let runs = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counted = runs.clone();
    let start = std::time::Instant::now();
    static HOOK: std::sync::Once = std::sync::Once::new();
    HOOK.call_once(|| {
        let default_hook = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            // loom's threads are `generator` coroutines, cancelled by unwinding: not a failure.
            let internal = info.location().is_some_and(|l| l.file().contains("/generator-"));
            // A violation loom found (a causality violation, a leak...) is raised in
            // loom's own code; one raised while kairos runs a body or a drop under
            // `catch_unwind` would be swallowed there, so it is noted for `model` to see.
            if info.location().is_some_and(|l| l.file().contains("/loom-")) {
                LOOM_FAULT.with(|f| f.set(true));
            }
            if !internal {
                let steps = TRACE
                    .with(|t| t.try_borrow_mut().map(|mut t| std::mem::take(&mut *t)).unwrap_or_default());
                if !steps.is_empty() {
                    eprintln!("steps of the failing execution:\n  {}", steps.join("\n  "));
                }
            }
            default_hook(info);
        }));
    });
    LOOM_FAULT.with(|f| f.set(false));
    builder.check(move || {
        counted.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        TRACE.with(|t| t.borrow_mut().clear());
        f();
    });
    assert!(
        !LOOM_FAULT.with(|f| f.get()),
        "loom reported a violation that a catch_unwind swallowed (see its message above)"
    );
    eprintln!(
        "loom: {} executions, preemption bound {bound}, {:.1?}",
        runs.load(std::sync::atomic::Ordering::Relaxed),
        start.elapsed()
    );
}

thread_local! {
    /// Set when loom raised a panic of its own during the current model (see [`model`]).
    static LOOM_FAULT: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
    /// Steps recorded by [`step`] in the current execution, outside loom's view. loom runs
    /// all threads of a model as coroutines on the test's own thread, so this is per model.
    static TRACE: std::cell::RefCell<Vec<String>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// Records a step of the current execution; a failing model prints its steps.
pub fn step(what: impl Into<String>) {
    let what = what.into();
    TRACE.with(|t| t.borrow_mut().push(what));
}

/// What the mock runtime saw.
#[derive(Default)]
pub struct Hub {
    /// Tasks handed to `Schedule::schedule` (woken futures), in order.
    pub queue: Mutex<Vec<TaskRef>>,
    /// Timer cancel messages (`Schedule::timer_cancelled`), like a worker's `timer_cancels`.
    pub cancels: Injector<TaskRef>,
    /// Number of `Schedule::schedule` calls.
    pub scheduled: AtomicUsize,
    /// Number of `Schedule::timer_cancelled` calls.
    pub timer_cancelled: AtomicUsize,
    /// Outcomes reported through `Schedule::future_completed`.
    pub futures_completed: Mutex<Vec<Outcome>>,
    /// Task cells deallocated (a [`TaskSched`] dropped).
    pub freed: AtomicUsize,
}

impl Hub {
    /// A fresh hub.
    pub fn new() -> Arc<Hub> {
        Arc::new(Hub::default())
    }

    /// Takes every task handed to `schedule` so far.
    pub fn take_scheduled(&self) -> Vec<TaskRef> {
        std::mem::take(&mut *self.queue.lock().unwrap())
    }

    /// Takes every timer cancel message so far.
    pub fn take_cancels(&self) -> Vec<TaskRef> {
        let mut out = Vec::new();
        loop {
            match self.cancels.steal() {
                Steal::Success(t) => out.push(t),
                Steal::Retry => continue,
                Steal::Empty => return out,
            }
        }
    }

    /// Number of deallocated cells.
    pub fn freed(&self) -> usize {
        self.freed.load(SeqCst)
    }
}

/// The scheduler stored in a task cell; dropped exactly when the cell is freed.
pub struct TaskSched {
    hub: Arc<Hub>,
}

impl TaskSched {
    /// A scheduler reporting to `hub`.
    pub fn new(hub: &Arc<Hub>) -> TaskSched {
        TaskSched { hub: hub.clone() }
    }
}

impl Drop for TaskSched {
    fn drop(&mut self) {
        self.hub.freed.fetch_add(1, SeqCst);
    }
}

impl Schedule for TaskSched {
    fn schedule(&self, task: TaskRef) {
        self.hub.scheduled.fetch_add(1, SeqCst);
        self.hub.queue.lock().unwrap().push(task);
    }

    fn timer_cancelled(&self, task: TaskRef) {
        self.hub.timer_cancelled.fetch_add(1, SeqCst);
        self.hub.cancels.push(task);
    }

    fn future_completed(&self, _task: &TaskRef, outcome: Outcome) {
        self.hub.futures_completed.lock().unwrap().push(outcome);
    }
}

/// Counts its own drops in a shared counter.
pub struct DropCount(pub Arc<AtomicUsize>);

impl Drop for DropCount {
    fn drop(&mut self) {
        self.0.fetch_add(1, SeqCst);
    }
}

/// A new shared counter.
pub fn counter() -> Arc<AtomicUsize> {
    Arc::new(AtomicUsize::new(0))
}

/// Reads a shared counter.
pub fn get(c: &AtomicUsize) -> usize {
    c.load(SeqCst)
}

/// A one-way hand-off of values between loom threads: `put` never blocks, `take` blocks
/// (on a loom `Condvar`, so loom sees the waiting thread as blocked, not spinning).
pub struct Mailbox<T> {
    items: Mutex<Vec<T>>,
    cond: Condvar,
}

impl<T> Default for Mailbox<T> {
    fn default() -> Self {
        Mailbox { items: Mutex::new(Vec::new()), cond: Condvar::new() }
    }
}

impl<T> Mailbox<T> {
    /// An empty mailbox.
    pub fn new() -> Arc<Mailbox<T>> {
        Arc::new(Mailbox::default())
    }

    /// Leaves `item` and wakes every taker.
    pub fn put(&self, item: T) {
        self.items.lock().unwrap().push(item);
        self.cond.notify_all();
    }

    /// Waits until an item is there and takes it.
    pub fn take(&self) -> T {
        let mut items = self.items.lock().unwrap();
        loop {
            if let Some(item) = items.pop() {
                return item;
            }
            items = self.cond.wait(items).unwrap();
        }
    }

    /// Takes an item if one is there.
    pub fn try_take(&self) -> Option<T> {
        self.items.lock().unwrap().pop()
    }
}

/// A waker that counts how often it was woken.
#[derive(Default)]
pub struct CountingWaker {
    wakes: AtomicUsize,
}

impl CountingWaker {
    /// A new counting waker and the `Waker` built on it.
    pub fn new() -> (std::sync::Arc<CountingWaker>, Waker) {
        let cw = std::sync::Arc::new(CountingWaker::default());
        let waker = Waker::from(cw.clone());
        (cw, waker)
    }

    /// How many wake-ups it received.
    pub fn wakes(&self) -> usize {
        self.wakes.load(SeqCst)
    }
}

impl Wake for CountingWaker {
    fn wake(self: std::sync::Arc<Self>) {
        self.wakes.fetch_add(1, SeqCst);
    }
    fn wake_by_ref(self: &std::sync::Arc<Self>) {
        self.wakes.fetch_add(1, SeqCst);
    }
}

/// Options of a ready task at `priority`, with or without a join handle.
pub fn ready(priority: Priority, join: bool) -> TaskOptions {
    TaskOptions { join, ..TaskOptions::ready(priority) }
}

/// Allocates a closure task with a [`TaskSched`] and a join handle.
pub fn closure_task<F, T>(hub: &Arc<Hub>, opts: TaskOptions, f: F) -> (TaskRef, JoinHandle<T>)
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    assert!(opts.join);
    let (task, join) = allocate(Closure(f), Some(TaskSched::new(hub)), opts);
    // SAFETY: `allocate` with `join: true` returns the handle's counted reference to a cell
    // whose output type is `T`.
    let handle = unsafe { JoinHandle::from_raw(join.expect("join requested")) };
    (task, handle)
}

/// Allocates a closure task with a [`TaskSched`] and no join handle.
pub fn detached_task<F>(hub: &Arc<Hub>, priority: Priority, f: F) -> TaskRef
where
    F: FnOnce() + Send + 'static,
{
    allocate(Closure(f), Some(TaskSched::new(hub)), ready(priority, false)).0
}

/// Allocates a future task with a [`TaskSched`] and a join handle.
pub fn future_task<F>(hub: &Arc<Hub>, priority: Priority, fut: F) -> (TaskRef, JoinHandle<F::Output>)
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    let (task, join) = allocate(FutureBody(fut), Some(TaskSched::new(hub)), ready(priority, true));
    // SAFETY: `allocate` with `join: true` returns the handle's counted reference to a cell
    // whose output type is the future's output.
    let handle = unsafe { JoinHandle::from_raw(join.expect("join requested")) };
    (task, handle)
}

/// Priority level `level` (0..=63).
pub fn prio(level: u8) -> Priority {
    Priority::new(level).expect("valid level")
}

/// Two workers' idle protocol, the injectors, and worker 1's parker (the only sleeper of
/// the models that use it).
pub struct TwoWorkers {
    pub idle: Idle,
    pub injectors: Injectors,
    pub parker1: Parker,
}

impl TwoWorkers {
    /// Both awake, nothing queued.
    pub fn new() -> Arc<TwoWorkers> {
        Arc::new(TwoWorkers { idle: Idle::new(2), injectors: Injectors::new(), parker1: Parker::new() })
    }

    /// A worker's search of the injectors alone, until it finds a task (yielding, which
    /// loom bounds, between looks).
    pub fn steal_one_waiting(&self) -> TaskRef {
        loop {
            match self.injectors.steal_one() {
                Some(t) => return t,
                None => loom::thread::yield_now(),
            }
        }
    }

    /// `Shared::notify_one`: wakes worker 1 if `Idle::notify_one` picks it.
    pub fn notify_one(&self) {
        if let Some(i) = self.idle.notify_one() {
            assert_eq!(i, 1, "worker 1 is the only sleeper");
            self.parker1.unpark();
        }
    }
}
