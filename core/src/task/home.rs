//! Homes: how a task finds its runtime again when nothing in the cell points there.
//!
//! A ready closure carries no scheduler (an `Arc` clone per task would cost every spawn a
//! contended reference-count update). Yet [`JoinHandle::set_priority`] must queue a new
//! run-queue entry on the task's runtime from any thread. So each runtime registers a
//! [`Home`] in a process-wide table once, at build time, and every task's state word
//! names its runtime's slot (7 bits, [`MAX_HOMES`] slots; slot 0 means "none").
//!
//! ## Invariants
//!
//! - A slot is registered before any task names it and unregistered only when its
//!   runtime's shared state is dropped, i.e. after every task of that runtime completed
//!   or was dropped: a live, unstarted task always finds its own runtime in its slot.
//! - The table lock is taken only to register, unregister and look up; the look-up is
//!   done by `set_priority`, never on the spawn or run paths. The lock is a plain `std`
//!   mutex held for no more than a clone (loom models drive the state-word protocol
//!   directly and never reach it).
//!
//! [`JoinHandle::set_priority`]: super::JoinHandle::set_priority
//! [`MAX_HOMES`]: super::state::MAX_HOMES

use super::state::MAX_HOMES;
use super::TaskRef;
use std::sync::{Arc, Mutex, PoisonError};

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
}

type Slots = Mutex<Vec<Option<Arc<dyn Home>>>>;

fn slots() -> &'static Slots {
    static SLOTS: std::sync::OnceLock<Slots> = std::sync::OnceLock::new();
    SLOTS.get_or_init(|| Mutex::new(vec![None; MAX_HOMES + 1]))
}

/// Registers a runtime; returns its slot, or 0 if all [`MAX_HOMES`] slots are taken
/// (its tasks then cannot change priority once queued).
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

/// Frees `slot` (0 is ignored).
pub fn unregister(slot: usize) {
    if slot != 0 {
        slots().lock().unwrap_or_else(PoisonError::into_inner)[slot] = None;
    }
}

/// The home in `slot`, if any.
pub(crate) fn get(slot: usize) -> Option<Arc<dyn Home>> {
    if slot == 0 {
        return None;
    }
    slots().lock().unwrap_or_else(PoisonError::into_inner).get(slot).cloned().flatten()
}
