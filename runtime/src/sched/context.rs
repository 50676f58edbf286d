//! Which runtime the current thread belongs to.
//!
//! A worker thread points at its [`WorkerCtx`] for as long as it runs; a thread inside
//! [`Runtime::block_on`](crate::Runtime::block_on) points at the runtime's shared state.
//! `kairos_rt::spawn`, `kairos_rt::sleep` and friends look here to find their runtime, and
//! the scheduler uses it to push a woken task onto the local queue when it can.

use crate::sched::shared::Shared;
use crate::sched::worker::WorkerCtx;
use kairos_rt_core::sync::Arc;
use std::cell::{Cell, RefCell};

thread_local! {
    static WORKER: Cell<*const WorkerCtx> = const { Cell::new(std::ptr::null()) };
    static ENTERED: RefCell<Vec<Arc<Shared>>> = const { RefCell::new(Vec::new()) };
}

/// Marks the current thread as running `ctx` until the guard drops.
pub(crate) struct WorkerGuard(());

pub(crate) fn enter_worker(ctx: &WorkerCtx) -> WorkerGuard {
    WORKER.with(|w| w.set(ctx as *const WorkerCtx));
    WorkerGuard(())
}

impl Drop for WorkerGuard {
    fn drop(&mut self) {
        WORKER.with(|w| w.set(std::ptr::null()));
    }
}

/// Runs `f` with the current thread's worker context, if it is a worker.
pub(crate) fn with_worker<R>(f: impl FnOnce(Option<&WorkerCtx>) -> R) -> R {
    let ptr = WORKER.try_with(|w| w.get()).unwrap_or(std::ptr::null());
    // SAFETY: the pointer is set by `enter_worker` from a `WorkerCtx` that outlives the
    // guard, and cleared when the guard drops; the worker never moves its context while
    // the guard lives. Only this thread reads it.
    let ctx = unsafe { ptr.as_ref() };
    f(ctx)
}

/// Whether the current thread is a worker of any kairos runtime.
pub(crate) fn on_worker_thread() -> bool {
    with_worker(|w| w.is_some())
}

/// Whether the current thread is a worker of a runtime that is shutting down (its
/// intake closed, or its workers told to stop).
pub(crate) fn on_closing_worker() -> bool {
    with_worker(|w| {
        w.is_some_and(|w| {
            let shared = w.shared();
            shared.is_closed() || shared.stopping.load(std::sync::atomic::Ordering::SeqCst)
        })
    })
}

/// Marks the current thread as inside `block_on` of `shared` until the guard drops.
pub(crate) struct EnterGuard(());

pub(crate) fn enter(shared: Arc<Shared>) -> EnterGuard {
    ENTERED.with(|e| e.borrow_mut().push(shared));
    EnterGuard(())
}

impl Drop for EnterGuard {
    fn drop(&mut self) {
        let _ = ENTERED.try_with(|e| e.borrow_mut().pop());
    }
}

/// The runtime the current thread runs in (worker or `block_on`), if any.
pub(crate) fn current_shared() -> Option<Arc<Shared>> {
    if let Some(s) = with_worker(|w| w.map(|w| w.shared().clone())) {
        return Some(s);
    }
    ENTERED.try_with(|e| e.borrow().last().cloned()).ok().flatten()
}
