//! Task accounting: how many tasks were submitted and how each one ended.
//!
//! Every submitted task is counted once as submitted and once by outcome, at the single
//! place where the runtime lets go of the task's scheduler-side lineage (the reference
//! that travels inbox → wheel → run queue → worker), or, for futures, when the future
//! leaves the registry. Workers count into their own cache-padded counters with plain
//! load+store (no read-modify-write, no contention); other threads use `fetch_add` on a
//! shared set. A snapshot sums both.
//!
//! Two kinds of task are counted apart, each balancing on its own:
//!
//! - **user tasks** (everything a `spawn*` submitted): `Admitted` or `Rejected` once,
//!   then one outcome (`Completed` … `TimedOut`);
//! - **the runtime's own timers** (the no-op task behind a sleep, a timeout, a run-timeout
//!   limit or a retry backoff: [`Header::is_runtime_timer`]): `TimerSet` or
//!   `TimerRefused` once, then `TimerFired`, `TimerCancelled` or `TimerShutdown`. They
//!   never count as `Started`.
//!
//! `RefusedFull` (a spawn refused for room, handed back to its caller), `Started` and
//! `Stolen` are metrics outside either balance.
//!
//! Which counter each way of ending bumps is decided in `accounting.rs`, not here and
//! not by the scheduler.
//!
//! [`Header::is_runtime_timer`]: kairos_rt_core::task::Header::is_runtime_timer

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
    /// A spawn refused because `max_pending` tasks already waited (not a submission: the
    /// body went back to its caller).
    RefusedFull,
    /// A runtime timer armed (the runtime's `Admitted`).
    TimerSet,
    /// A runtime timer asked for while the runtime was shutting down (its `Rejected`).
    TimerRefused,
    /// A runtime timer that fired.
    TimerFired,
    /// A runtime timer cancelled before it fired (its sleep was dropped).
    TimerCancelled,
    /// A runtime timer that ended without firing for any other reason: shutdown.
    TimerShutdown,
}

pub(crate) const KINDS: usize = 17;

impl Count {
    /// The counter for a task that ended with `outcome`; `timed` tells a timed task
    /// dropped at shutdown from a future dropped at shutdown; `runtime_timer` is the
    /// task's [`Header::is_runtime_timer`](kairos_rt_core::task::Header::is_runtime_timer).
    pub(super) fn of(outcome: kairos_rt_core::task::Outcome, timed: bool, runtime_timer: bool) -> Count {
        use kairos_rt_core::task::Outcome;
        if runtime_timer {
            return match outcome {
                Outcome::Output => Count::TimerFired,
                Outcome::Cancelled => Count::TimerCancelled,
                _ => Count::TimerShutdown,
            };
        }
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
