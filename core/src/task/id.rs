//! [`TaskId`]: a number that names one task for the whole life of the process.
//!
//! ## Protocol
//!
//! Ids come from one process-wide counter, but a thread does not touch it for every id:
//! it reserves a block of [`BLOCK`] ids with one `fetch_add` and hands them out from a
//! thread-local range, so making an id is a thread-local increment and spawning threads
//! do not contend on one cache line (one shared `fetch_add` per 1024 ids).
//!
//! ## Invariants
//!
//! - Every reservation (a block, or a single id when the thread's locals are already
//!   destroyed) is a distinct range of the counter, and an id is handed out from one
//!   range once, so no two ids are equal; they are never reused, unlike the address of a
//!   freed task cell.
//! - Ids are never zero (the value is one past the reserved counter value), so an
//!   `Option<TaskId>` and a handle holding one keep a spare niche.
//! - The counter is 64 bits: at a billion ids a second it would wrap after 584 years.
//!
//! Ids are increasing per thread but not across threads, and a thread that exits leaves
//! the rest of its block unused: they are names, not a count of tasks.
//!
//! The counter is a plain `std` atomic even under loom: it is part of no protocol that
//! loom models (any interleaving of `fetch_add`s gives distinct ranges).

use core::cell::Cell;
use core::fmt;
use core::num::NonZeroU64;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

/// Ids a thread reserves from the process-wide counter at a time.
pub const BLOCK: u64 = 1024;

/// The next unreserved value of the process-wide counter.
static RESERVED: AtomicU64 = AtomicU64::new(0);

std::thread_local! {
    /// This thread's reserved range: `(next, end)` counter values; empty when equal.
    static RANGE: Cell<(u64, u64)> = const { Cell::new((0, 0)) };
}

/// Identifies a task: unique among all tasks of the process for its whole life (an id
/// is never reused, also after the task is freed and its memory given to another task).
///
/// Each [`JoinHandle`](super::JoinHandle) is given its id when the task is spawned (a
/// thread-local increment; a task spawned without a handle has no id, because nothing
/// could ever ask for it), and the [`JoinError`](super::JoinError) of the task carries
/// the same id.
///
/// ```
/// use kairos_rt_core::task::TaskId;
///
/// let (a, b) = (TaskId::next(), TaskId::next());
/// assert_ne!(a, b);
/// assert_ne!(a.as_u64(), 0);
/// assert_eq!(format!("{a}"), a.as_u64().to_string());
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TaskId(NonZeroU64);

impl TaskId {
    /// A new id, never handed out before in this process (the runtime makes one per
    /// join handle).
    #[doc(hidden)]
    pub fn next() -> TaskId {
        let reserved = RANGE
            .try_with(|range| {
                let (mut next, mut end) = range.get();
                if next == end {
                    next = RESERVED.fetch_add(BLOCK, Relaxed);
                    end = next + BLOCK;
                }
                range.set((next + 1, end));
                next
            })
            // This thread's locals are gone (a spawn from a thread-local destructor):
            // reserve a single id.
            .unwrap_or_else(|_| RESERVED.fetch_add(1, Relaxed));
        TaskId(NonZeroU64::MIN.saturating_add(reserved))
    }

    /// The id as a number (never zero).
    ///
    /// ```
    /// use kairos_rt::{Priority, Runtime};
    ///
    /// let rt = Runtime::builder().workers(1).build()?;
    /// let (a, b) = (rt.spawn(Priority::NORMAL, || ()), rt.spawn(Priority::NORMAL, || ()));
    /// assert_ne!(a.id().as_u64(), b.id().as_u64());
    /// assert_ne!(a.id().as_u64(), 0);
    /// rt.shutdown();
    /// # Ok::<(), kairos_rt::BuildError>(())
    /// ```
    pub fn as_u64(self) -> u64 {
        self.0.get()
    }
}

impl fmt::Debug for TaskId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TaskId({})", self.0)
    }
}

impl fmt::Display for TaskId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn ids_from_many_threads_never_repeat() {
        let per_thread = 3 * BLOCK as usize + 7;
        let threads: Vec<_> = (0..4)
            .map(|_| std::thread::spawn(move || (0..per_thread).map(|_| TaskId::next()).collect::<Vec<_>>()))
            .collect();
        let mut seen = HashSet::new();
        for t in threads {
            for id in t.join().unwrap() {
                assert!(seen.insert(id), "{id:?} handed out twice");
            }
        }
        assert_eq!(seen.len(), 4 * per_thread);
    }

    #[test]
    fn ids_are_not_zero_and_an_option_of_one_is_one_word() {
        assert_ne!(TaskId::next().as_u64(), 0);
        assert_eq!(core::mem::size_of::<Option<TaskId>>(), 8);
    }
}
