//! Bounded admission: an exact, lock-free count of tasks waiting to start, with a limit.
//!
//! ## Protocol
//!
//! - [`Admission::try_acquire`] admits a task only if fewer than `limit` wait: one CAS
//!   loop on the count, which never moves it past the limit. A refused caller changes
//!   nothing, so a racing release can never make a refusal spurious (a fetch-add then
//!   fetch-sub scheme would: two callers could each see the other's transient +1).
//! - [`Admission::force_acquire`] admits past the limit (a worker thread spawning a
//!   child must not block: that could deadlock the runtime).
//! - [`Admission::release`] is called exactly once per admitted task, when it leaves
//!   the waiting state (first run, or an end without running); it returns whether the
//!   count was at or above the limit, i.e. whether a waiter may now have room.
//!
//! Invariant: `count` = admitted − released, so it is exact whenever no operation is
//! in flight; tasks admitted by `try_acquire` never make it exceed `limit`.

use crate::sync::atomic::{AtomicUsize, Ordering::*};

/// The count of waiting tasks and its limit.
#[derive(Debug)]
pub struct Admission {
    limit: usize,
    count: crossbeam_utils::CachePadded<AtomicUsize>,
}

impl Admission {
    /// A count of 0 with `limit` (`limit >= 1`).
    pub fn new(limit: usize) -> Admission {
        Admission { limit, count: crossbeam_utils::CachePadded::new(AtomicUsize::new(0)) }
    }

    /// The limit.
    pub fn limit(&self) -> usize {
        self.limit
    }

    /// Tasks waiting now.
    pub fn count(&self) -> usize {
        self.count.load(Acquire)
    }

    /// Admits one task if fewer than `limit` wait.
    pub fn try_acquire(&self) -> bool {
        self.count.fetch_update(AcqRel, Acquire, |n| (n < self.limit).then_some(n + 1)).is_ok()
    }

    /// Admits one task whatever the count.
    pub fn force_acquire(&self) {
        self.count.fetch_add(1, AcqRel);
    }

    /// One admitted task stopped waiting. Returns whether the count was at or above the
    /// limit before (a blocked submitter may now get in).
    pub fn release(&self) -> bool {
        let prev = self.count.fetch_sub(1, AcqRel);
        debug_assert!(prev > 0, "admission released more often than acquired");
        prev >= self.limit
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    #[test]
    fn admits_up_to_the_limit_then_refuses_until_a_release() {
        let a = Admission::new(2);
        assert!(a.try_acquire() && a.try_acquire());
        assert!(!a.try_acquire());
        assert_eq!(a.count(), 2);
        assert!(a.release(), "was at the limit");
        assert!(a.try_acquire());
        a.force_acquire();
        assert_eq!(a.count(), 3);
        assert!(a.release() && a.release());
        assert!(!a.release(), "below the limit now");
        assert_eq!(a.count(), 0);
    }
}
