//! Task accounting: how many tasks were submitted and how each one ended.
//!
//! Every submitted task is counted once as submitted and once by outcome, at the single
//! place where the runtime lets go of the task's scheduler-side lineage (the reference
//! that travels inbox → wheel → run queue → worker), or, for futures, when the future
//! leaves the registry. Workers count into their own cache-padded counters with plain
//! load+store (no read-modify-write, no contention); other threads use `fetch_add` on a
//! shared set. A snapshot sums both.

use crossbeam_utils::CachePadded;
use kairos_rt_core::sync::atomic::{AtomicU64, Ordering::Relaxed};

/// What is counted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Count {
    /// Accepted by a `spawn*` (a refused spawn counts only as `Rejected`).
    Admitted = 0,
    Completed,
    Panicked,
    Cancelled,
    TimerDropped,
    FutureDropped,
    Rejected,
    /// Deadline passed before the task started.
    Expired,
    /// A future ran past its run timeout.
    TimedOut,
    /// First runs (not an outcome: a metric).
    Started,
    /// Tasks taken from another worker's queue (not an outcome: a metric).
    Stolen,
}

pub(crate) const KINDS: usize = 11;

impl Count {
    /// The counter for a task that ended with `outcome`; `timed` tells a timed task
    /// dropped at shutdown from a future dropped at shutdown.
    pub(crate) fn of(outcome: kairos_rt_core::task::Outcome, timed: bool) -> Count {
        use kairos_rt_core::task::Outcome;
        match outcome {
            Outcome::Output => Count::Completed,
            Outcome::Panicked => Count::Panicked,
            Outcome::Cancelled => Count::Cancelled,
            Outcome::Shutdown if timed => Count::TimerDropped,
            Outcome::Shutdown => Count::FutureDropped,
            Outcome::Expired => Count::Expired,
            Outcome::TimedOut => Count::TimedOut,
        }
    }
}

/// One set of counters.
#[derive(Debug, Default)]
pub(crate) struct Counters {
    slots: CachePadded<[AtomicU64; KINDS]>,
}

impl Counters {
    /// Adds one from the single thread that owns this set (no read-modify-write).
    pub(crate) fn bump_owned(&self, kind: Count) {
        let slot = &self.slots[kind as usize];
        slot.store(slot.load(Relaxed) + 1, Relaxed);
    }

    /// Adds `n` from any thread.
    pub(crate) fn add_shared(&self, kind: Count, n: u64) {
        self.slots[kind as usize].fetch_add(n, Relaxed);
    }
}

/// Sums of every counter set.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Totals(pub [u64; KINDS]);

impl Totals {
    pub(crate) fn add(&mut self, c: &Counters) {
        for (i, t) in self.0.iter_mut().enumerate() {
            *t += c.slots[i].load(Relaxed);
        }
    }
    pub(crate) fn get(&self, kind: Count) -> u64 {
        self.0[kind as usize]
    }
}
