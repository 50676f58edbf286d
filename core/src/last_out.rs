//! The last-one-out count: which of several threads ending one shared piece of work runs
//! the cleanup that must come after all of them.
//!
//! A runtime's final drain (cancel the live futures, empty the injectors and timer
//! inboxes, mark the runtime closed) must run after every worker has exited, but the
//! thread that shuts the runtime down cannot always wait for that: it may give up at a
//! timeout, or be one of the workers itself (the runtime dropped inside one of its own
//! tasks or hooks). So each party that must finish first holds one unit of a
//! [`LastOut`] count, and whoever gives up the last unit runs the cleanup.
//!
//! ## Protocol
//!
//! - [`LastOut::new`] starts with one unit (the closer's: the thread that will shut down).
//! - A party joins with [`LastOut::arrive`] *before* it can leave (a runtime adds a
//!   worker's unit before it starts the thread), and a party that never started gives
//!   its unit back with [`LastOut::withdraw`] (which never makes anyone last: the
//!   closer's unit is still held then).
//! - [`LastOut::leave`] is one `fetch_sub` with `AcqRel`: it returns `true` to exactly
//!   one caller, the one that took the count to zero, and that caller sees everything
//!   every other party wrote before its own `leave` (release sequences on one word).
//!
//! loom model: `loom-tests/tests/last_out.rs`.

use crate::sync::atomic::{AtomicUsize, Ordering::*};

/// The count of parties that must leave before the cleanup runs (see the module docs).
///
/// # Examples
///
/// ```
/// use kairos_rt_core::last_out::LastOut;
///
/// let parties = LastOut::new(); // the closer's unit
/// parties.arrive(); // a worker's
/// assert!(!parties.leave(), "the closer leaves first: the worker is still at work");
/// assert!(parties.leave(), "the worker leaves last and runs the cleanup");
/// ```
#[derive(Debug)]
pub struct LastOut {
    left: AtomicUsize,
}

impl Default for LastOut {
    fn default() -> LastOut {
        LastOut::new()
    }
}

impl LastOut {
    /// A count holding the closer's unit.
    pub fn new() -> LastOut {
        LastOut { left: AtomicUsize::new(1) }
    }

    /// One more party must leave before the cleanup.
    pub fn arrive(&self) {
        self.left.fetch_add(1, Relaxed);
    }

    /// Gives back the unit of a party that [arrived](Self::arrive) but never started.
    /// Must be called while the closer still holds its unit.
    pub fn withdraw(&self) {
        let prev = self.left.fetch_sub(1, Relaxed);
        debug_assert!(prev > 1, "LastOut::withdraw after the closer left");
    }

    /// Gives up one unit; `true` to the caller that gave up the last one, which must then
    /// run the cleanup.
    #[must_use]
    pub fn leave(&self) -> bool {
        let prev = self.left.fetch_sub(1, AcqRel);
        debug_assert!(prev > 0, "LastOut::leave without a unit");
        prev == 1
    }

    /// How many units are still held (a reading: it may change at once).
    pub fn remaining(&self) -> usize {
        self.left.load(Acquire)
    }
}
