//! Homes: how a task finds its runtime again when nothing in the cell points there.
//!
//! A closure carries no scheduler (an `Arc` clone per task would cost every spawn a
//! contended reference-count update, and a timed task 8 bytes). Yet
//! [`JoinHandle::set_priority`] must queue a new run-queue entry on the task's runtime
//! from any thread, and [`JoinHandle::cancel`] of a closure waiting in a wheel must tell
//! the wheel's owner. So each runtime registers a [`Home`] in a process-wide table once,
//! at build time, and every task's state word names its runtime's slot (7 bits,
//! [`MAX_HOMES`] slots; slot 0 means "none", and then a timed closure keeps a scheduler
//! in its cell after all).
//!
//! ## A full table
//!
//! [`register`] returns 0 when every slot is taken. kairos-rt then refuses to build the
//! runtime (`BuildError::is_too_many_runtimes`) rather than run it without a slot, where
//! `set_priority` would silently fail on its queued tasks. The other way out, a table
//! that grows with ready closures of slot-less runtimes carrying a scheduler reference
//! in their cells (as timed ones can), would cost every such spawn a contended
//! reference-count update and 8 more bytes, and the state word has no spare bits for
//! more slots. A slot is held only while its runtime's shared state lives (shutdown
//! frees it in every ending), so the cap counts runtimes alive at the same time.
//!
//! ## Invariants
//!
//! - A slot is registered before any task names it and unregistered only when its
//!   runtime's shared state is dropped, which a runtime allows only after it completed
//!   every task it still held (its shutdown cancels every timed task, in wheels and in
//!   inboxes): a task that is not complete always finds its own runtime in its slot. A
//!   runtime that dropped a timed task's reference without completing it would break
//!   this (a later cancel could reach another runtime registered in the same slot).
//! - A home lends its scheduler ([`Home::with_scheduler`]) only while it is registered
//!   in its slot, i.e. while its runtime is alive; the per-thread cache of the last home
//!   looked up relies on it.
//! - The table lock is taken only to register, unregister and look up; the look-up is
//!   done by `set_priority` and by the cancel of a timed closure (from a handle, or a
//!   dropped `sleep`), never on the spawn path; a cancel takes the lock only when its
//!   thread's cache holds another runtime. The lock is a plain `std` mutex held for no
//!   more than a clone (loom models drive the state-word protocol directly and never
//!   reach it).
//!
//! [`JoinHandle::set_priority`]: super::JoinHandle::set_priority
//! [`JoinHandle::cancel`]: super::JoinHandle::cancel
//! [`MAX_HOMES`]: super::state::MAX_HOMES

use super::state::MAX_HOMES;
use super::{Schedule, TaskRef};
use std::cell::RefCell;
use std::sync::{Arc, Mutex, PoisonError};

std::thread_local! {
    /// The last home this thread looked up for [`with_scheduler`], so that cancelling
    /// many timed tasks of one runtime takes the table's lock once. A cached home is
    /// still its slot's as long as it can lend a scheduler: its runtime is alive, and a
    /// slot is only freed when its runtime is dropped. (A dead runtime's cached home
    /// keeps that runtime's emptied shared-state allocation, through its weak
    /// reference, until the thread looks up another runtime or exits.)
    static LAST_HOME: RefCell<Option<(usize, Arc<dyn Home>)>> = const { RefCell::new(None) };
}

/// What a runtime offers the tasks that name its slot.
///
/// A priority change runs `enter` → change the state word → `requeue` → `leave`. `enter`
/// must hold off the runtime's shutdown until `leave` (as its intake gate does for
/// spawns), so the new entry is queued before the workers drain their queues for good.
pub trait Home: Send + Sync + 'static {
    /// Whether the runtime still takes new run-queue entries; if so, shutdown waits for
    /// the matching [`leave`](Self::leave).
    fn enter(&self) -> bool;
    /// Queues a new entry for a task whose priority changed (the entry carries its own
    /// reference and epoch stamp).
    fn requeue(&self, task: TaskRef);
    /// Ends what [`enter`](Self::enter) began.
    fn leave(&self);
    /// Lends `f` the runtime's scheduler and keeps the runtime alive (not its intake
    /// open) until `f` returns; returns false, without calling `f`, once the runtime is
    /// gone. A home must lend only while registered in its slot (its runtime unregisters
    /// it when dropped). The cancel of a timed closure runs its claim and its message to
    /// the wheel's owner inside `f`.
    fn with_scheduler(&self, f: &mut dyn FnMut(&dyn Schedule)) -> bool;
}

type Slots = Mutex<Vec<Option<Arc<dyn Home>>>>;

fn slots() -> &'static Slots {
    static SLOTS: std::sync::OnceLock<Slots> = std::sync::OnceLock::new();
    SLOTS.get_or_init(|| Mutex::new(vec![None; MAX_HOMES + 1]))
}

/// Registers a runtime; returns its slot, or 0 if all [`MAX_HOMES`] slots are taken
/// (its tasks could then not change priority once queued: kairos-rt refuses to build
/// such a runtime).
pub fn register(home: Arc<dyn Home>) -> usize {
    let mut slots = slots().lock().unwrap_or_else(PoisonError::into_inner);
    match slots.iter().skip(1).position(Option::is_none) {
        Some(i) => {
            slots[i + 1] = Some(home);
            i + 1
        }
        None => 0,
    }
}

/// Frees `slot` (0, and a slot out of range, are ignored).
///
/// # Safety
///
/// `slot` was returned by [`register`] to the caller, and every task that names it is
/// complete, with no new one to be made: a later runtime registered in the slot would otherwise be
/// handed that task's cancel messages and priority changes (see the module's invariants).
pub unsafe fn unregister(slot: usize) {
    if slot != 0 {
        if let Some(home) = slots().lock().unwrap_or_else(PoisonError::into_inner).get_mut(slot) {
            *home = None;
        }
    }
}

/// Runs `f` with the scheduler of the runtime in `slot`, pinned for the call (see
/// [`Home::with_scheduler`]); with `None` if the slot is empty or its runtime is gone.
///
/// Re-entrant: `f` may drop a closure whose `Drop` cancels another timed task (the
/// nested call may read the cache, which the outer call holds borrowed, but does not
/// update it).
pub(crate) fn with_scheduler(slot: usize, f: &mut dyn FnMut(Option<&dyn Schedule>)) {
    let mut lend = |s: &dyn Schedule| f(Some(s));
    let cached = LAST_HOME
        .try_with(|last| match last.try_borrow().as_deref() {
            Ok(Some((cached_slot, home))) if *cached_slot == slot => home.with_scheduler(&mut lend),
            _ => false,
        })
        .unwrap_or(false);
    if cached {
        return;
    }
    let Some(home) = get(slot) else { return f(None) };
    if !home.with_scheduler(&mut lend) {
        return f(None);
    }
    let _ = LAST_HOME.try_with(|last| {
        if let Ok(mut last) = last.try_borrow_mut() {
            *last = Some((slot, home));
        }
    });
}

/// The home in `slot`, if any.
pub(crate) fn get(slot: usize) -> Option<Arc<dyn Home>> {
    if slot == 0 {
        return None;
    }
    slots().lock().unwrap_or_else(PoisonError::into_inner).get(slot).cloned().flatten()
}
