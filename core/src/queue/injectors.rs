//! Lock-free submission from any thread: one [`Injector`] per level (crossbeam-queue's
//! `SegQueue` with batch steals, see [`sync::injector`](crate::sync::injector)) and a global
//! occupancy mask.
//!
//! ## Mask protocol (never under-reports a pushed task)
//!
//! - push: `injector[l].push(t)`; `SeqCst` fence; then, if bit `l` looks clear,
//!   `fetch_or` it and fence again. The fences order the push (and the mask update)
//!   before the caller's read of any sleep state (see the runtime's idle protocol).
//! - clear: a worker that found level `l` empty does `fetch_and(!bit)` (SeqCst), then a
//!   `SeqCst` fence, then re-checks `injector[l].is_empty()`; if the level refilled, it
//!   sets the bit again **and tries the level again itself** (`steal_highest` retries).
//!
//! If a push's mask read saw the bit set, that read precedes the clearing `fetch_and` in
//! the mask's modification order, so by the fences the clearer's re-check sees the push;
//! otherwise the pusher sets the bit itself. So the bit is set while the task waits,
//! except between a clearer's `fetch_and` and its `fetch_or`: a worker going to sleep
//! that reads the mask in that moment sees no task, and the pusher (which read the bit
//! set) wrote nothing and may have skipped its wake-up (a searcher was counted). That is
//! why the clearer takes the refilled level itself rather than leaving it to others: the
//! task is then in the clearer's hands (any batch left in its queue is offered to sleepers
//! as every batch is), never waiting unseen behind whatever the clearer runs next.

use crate::sync::atomic::{fence, AtomicU64, Ordering::*};
use crate::sync::deque::{Injector, Steal};
use crate::task::TaskRef;
use crate::{LevelMask, Priority};

use super::{at_or_above, steal_highest, RunQueue};

/// Per-level injectors plus the global occupancy mask.
pub struct Injectors {
    levels: Box<[Injector<TaskRef>]>,
    mask: crossbeam_utils::CachePadded<AtomicU64>,
}

impl Default for Injectors {
    fn default() -> Self {
        Self::new()
    }
}

impl Injectors {
    /// Empty injectors.
    pub fn new() -> Injectors {
        Injectors {
            levels: (0..Priority::LEVELS).map(|_| Injector::new()).collect(),
            mask: crossbeam_utils::CachePadded::new(AtomicU64::new(0)),
        }
    }

    /// Pushes `task` at its priority. The caller must issue a `SeqCst` fence before
    /// reading sleep state (see the module docs).
    pub fn push(&self, task: TaskRef) {
        let level = task.priority();
        self.levels[level.index()].push(task);
        let bit = LevelMask::bit(level);
        // Orders the push before the mask read here and before the caller's read of
        // sleep state (the idle protocol's "push, fence, read").
        fence(SeqCst);
        if self.mask.load(SeqCst) & bit == 0 {
            self.mask.fetch_or(bit, SeqCst);
            // Orders the mask update before the caller's read of sleep state too. In C11
            // the SeqCst accesses already order it; the fence makes that explicit, and
            // visible to loom, which models SeqCst accesses as AcqRel. When the bit was
            // already set (the common case under load) nothing was written since the
            // fence above, so one fence per push suffices.
            fence(SeqCst);
        }
    }

    /// The levels that may hold tasks.
    pub fn mask(&self) -> LevelMask {
        LevelMask(self.mask.load(SeqCst))
    }

    /// Whether any level may hold tasks.
    pub fn maybe_has_work(&self) -> bool {
        !self.mask().is_empty()
    }

    /// Whether a level holds tasks right now: the mask's levels, each checked for a
    /// task (a bit can stay set a while after its level emptied, until a steal finds the
    /// level empty and clears it; this does not clear it).
    pub fn has_work(&self) -> bool {
        let mut mask = self.mask.load(SeqCst);
        while mask != 0 {
            let index = mask.trailing_zeros() as usize;
            if !self.levels[index].is_empty() {
                return true;
            }
            mask &= mask - 1;
        }
        false
    }

    /// Steals a batch from the most urgent level at or above `min` into `dest` and
    /// returns one task of it.
    pub fn steal_into(&self, dest: &RunQueue, min: Priority) -> Option<TaskRef> {
        steal_highest(
            self.mask().0 & at_or_above(min),
            |level| match self.batch_and_pop(level, dest) {
                Steal::Success(t) => {
                    dest.note_filled(level);
                    Steal::Success(t)
                }
                other => other,
            },
            |index| self.clear_if_empty(index),
        )
    }

    /// Like [`steal_into`](Self::steal_into), but from exactly `level` (used by aging to
    /// serve an overdue level below the most urgent one).
    pub fn steal_level_into(&self, dest: &RunQueue, level: Priority) -> Option<TaskRef> {
        let bit = LevelMask::bit(level);
        steal_highest(
            self.mask().0 & bit,
            |level| match self.batch_and_pop(level, dest) {
                Steal::Success(t) => {
                    dest.note_filled(level);
                    Steal::Success(t)
                }
                other => other,
            },
            |index| self.clear_if_empty(index),
        )
    }

    /// Moves a batch of `level`'s injector tasks *behind* the tasks `dest` already holds
    /// at that level, then pops `dest`'s oldest task at that level. Used for the
    /// periodic fairness pick at equal levels: the injectors get a turn without a newer
    /// task overtaking older ones of the same level (FIFO within a level holds for tasks
    /// from one submitter). A LIFO `dest` (`lifo_within_level`) pops its newest local
    /// task first: there the batch goes on top, popped oldest first, ahead of the local
    /// tasks (a yielded future among them too: the Builder's docs say so).
    pub fn refill_and_pop(&self, dest: &RunQueue, level: Priority) -> Option<TaskRef> {
        let index = level.index();
        loop {
            let (injector, into) = (&self.levels[index], dest.deque(level));
            let stolen =
                if dest.is_lifo() { injector.steal_batch_lifo(into) } else { injector.steal_batch(into) };
            match stolen {
                Steal::Success(()) => {
                    dest.note_filled(level);
                    break;
                }
                Steal::Retry => continue,
                Steal::Empty if self.clear_if_empty(index) => continue,
                Steal::Empty => break,
            }
        }
        dest.pop_level(level)
    }

    /// Pops `level`'s oldest injected task and moves a batch behind it into `dest`, in
    /// the order `dest`'s owner takes them oldest first (FIFO or LIFO `dest`).
    fn batch_and_pop(&self, level: Priority, dest: &RunQueue) -> Steal<TaskRef> {
        let injector = &self.levels[level.index()];
        if dest.is_lifo() {
            injector.steal_batch_and_pop_lifo(dest.deque(level))
        } else {
            injector.steal_batch_and_pop(dest.deque(level))
        }
    }

    /// Steals one task from the most urgent non-empty level (no batch).
    pub fn steal_one(&self) -> Option<TaskRef> {
        steal_highest(
            self.mask().0,
            |level| self.levels[level.index()].steal(),
            |index| self.clear_if_empty(index),
        )
    }

    /// Clears level `index`'s bit after a steal found the level empty; returns whether
    /// the level refilled meanwhile (the bit is set again, and the caller must try the
    /// level again: see the module docs).
    fn clear_if_empty(&self, index: usize) -> bool {
        #[cfg(test)]
        tests::before_clear();
        let bit = 1u64 << index;
        self.mask.fetch_and(!bit, SeqCst);
        fence(SeqCst);
        if !self.levels[index].is_empty() {
            self.mask.fetch_or(bit, SeqCst);
            return true;
        }
        false
    }

    /// Number of queued tasks (approximate under concurrency).
    pub fn len(&self) -> usize {
        self.levels.iter().map(|i| i.len()).sum()
    }

    /// Number of tasks queued at `level` (approximate under concurrency).
    pub fn len_at(&self, level: Priority) -> usize {
        self.levels[level.index()].len()
    }

    /// Whether every injector is empty right now.
    pub fn is_empty(&self) -> bool {
        self.levels.iter().all(|i| i.is_empty())
    }
}

impl core::fmt::Debug for Injectors {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Injectors").field("mask", &self.mask()).field("len", &self.len()).finish()
    }
}

#[cfg(test)]
mod tests {
    use super::Injectors;
    use crate::queue::RunQueue;
    use crate::task::test_tasks::ready as task;
    use crate::Priority;
    use std::cell::RefCell;

    thread_local! {
        /// Run once by the next `clear_if_empty` on this thread, after its steal found
        /// the level empty and before it clears the bit: lets a test put a push there.
        static BEFORE_CLEAR: RefCell<Option<Box<dyn FnOnce()>>> = const { RefCell::new(None) };
    }

    pub(super) fn before_clear() {
        if let Some(f) = BEFORE_CLEAR.with(|h| h.borrow_mut().take()) {
            f();
        }
    }

    /// A stale HIGH bit (its level's last task taken), a worker whose steal finds that
    /// level empty, and a push of X at HIGH before the worker clears the bit (the pusher
    /// reads the bit set and writes nothing): the worker's re-check finds X and it takes
    /// X itself. Left in the injector, X would wait unseen by a sleeper that read the
    /// mask while it was clear, behind whatever the worker ran instead.
    #[test]
    fn a_level_refilled_while_its_bit_is_cleared_is_taken_by_the_clearer() {
        let injectors = std::sync::Arc::new(Injectors::new());
        injectors.push(task(Priority::HIGH));
        let dest = RunQueue::new();
        assert!(injectors.steal_into(&dest, Priority::LOWEST).is_some(), "the only task");
        assert!(injectors.mask().contains(Priority::HIGH), "the bit stays set: stale");
        let pusher = injectors.clone();
        BEFORE_CLEAR.with(|h| *h.borrow_mut() = Some(Box::new(move || pusher.push(task(Priority::HIGH)))));
        let x = injectors.steal_into(&dest, Priority::LOWEST);
        assert!(x.is_some(), "the clearer left the refilled level to nobody");
        assert!(injectors.is_empty());
    }
}
