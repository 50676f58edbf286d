//! Test-only counters of one kind of worker event (a hand-off wake-up, a lingering park)
//! in one runtime, so a test can tell which path its workers took. Tests of other
//! runtimes running at the same time do not count.

use crate::sched::shared::Shared;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering::SeqCst};

/// How many times one kind of event happened in the watched runtime since [`watch`](Self::watch).
#[derive(Debug)]
pub(crate) struct RuntimeEvents {
    /// The watched runtime's `Shared` address (0: none).
    watched: AtomicUsize,
    count: AtomicU64,
}

impl RuntimeEvents {
    pub(crate) const fn new() -> RuntimeEvents {
        RuntimeEvents { watched: AtomicUsize::new(0), count: AtomicU64::new(0) }
    }

    /// Starts counting the events of `shared`'s runtime (from zero).
    pub(crate) fn watch(&self, shared: &Shared) {
        self.count.store(0, SeqCst);
        self.watched.store(shared as *const Shared as usize, SeqCst);
    }

    /// Counts one event of `shared`'s runtime, if it is the watched one.
    pub(crate) fn record(&self, shared: &Shared) {
        if self.watched.load(SeqCst) == shared as *const Shared as usize {
            self.count.fetch_add(1, SeqCst);
        }
    }

    /// The events counted since [`watch`](Self::watch).
    pub(crate) fn count(&self) -> u64 {
        self.count.load(SeqCst)
    }
}
