//! One worker's priority run queue and the thief-side handle to it.
//!
//! The owner pushes and pops; any thread may steal through [`Stealers`]. Each level is a
//! crossbeam FIFO deque (`Worker`/`Stealer`). Two masks track occupancy:
//!
//! - `local`, read and written only by the owner: exact up to concurrent steals (a bit
//!   may stay set after thieves emptied the level; the next pop clears it);
//! - `advertised`, an atomic copy for thieves: set (Release) after the push that made a
//!   level non-empty, cleared by the owner when it finds the level empty. Thieves use it
//!   to pick victims and levels; a stale bit costs one failed steal.
//!
//! A task pushed by the owner is always found by the owner itself (it checks `local`
//! first), so a worker never sleeps on its own work; other workers see it through
//! `advertised`, which is set before the owner's next wake-up check.

use super::{at_or_above, steal_highest};
use crate::idle::Idle;
use crate::sync::atomic::{fence, AtomicU64, Ordering::*};
use crate::sync::deque::{Steal, Stealer, Worker};
use crate::sync::Arc;
use crate::task::TaskRef;
use crate::{LevelMask, Priority};
use core::cell::Cell;

/// The owner side of one worker's priority run queue.
pub struct RunQueue {
    levels: Box<[Worker<TaskRef>]>,
    /// Whether the owner pops its newest task of a level first.
    lifo: bool,
    local: Cell<u64>,
    advertised: Arc<AtomicU64>,
}

/// The thief side of a [`RunQueue`]: cloneable, `Send + Sync`.
#[derive(Clone)]
pub struct Stealers {
    levels: Arc<Vec<Stealer<TaskRef>>>,
    advertised: Arc<AtomicU64>,
}

impl Default for RunQueue {
    fn default() -> Self {
        Self::new()
    }
}

impl RunQueue {
    /// An empty run queue with one FIFO deque per level.
    pub fn new() -> RunQueue {
        Self::with_order(false)
    }

    /// An empty run queue whose levels are LIFO (`lifo`: the owner pops its newest task
    /// of a level first; thieves still take the oldest) or FIFO.
    pub fn with_order(lifo: bool) -> RunQueue {
        RunQueue {
            levels: (0..Priority::LEVELS)
                .map(|_| if lifo { Worker::new_lifo() } else { Worker::new_fifo() })
                .collect(),
            lifo,
            local: Cell::new(0),
            advertised: Arc::new(AtomicU64::new(0)),
        }
    }

    /// A thief handle to this queue.
    pub fn stealers(&self) -> Stealers {
        Stealers {
            levels: Arc::new(self.levels.iter().map(|w| w.stealer()).collect()),
            advertised: self.advertised.clone(),
        }
    }

    /// Pushes `task` at its own priority.
    pub fn push(&self, task: TaskRef) {
        let level = task.priority();
        self.push_at(level, task);
    }

    /// The owner's push that may need a sleeping peer: pushes `task`, `SeqCst` fence, and
    /// returns whether a sleeper should be woken ([`Idle::wants_notify`]). The pusher's
    /// half of the idle protocol (the sleeper registers, fences, then looks at this
    /// queue): without the fence the look at the sleepers could be ordered before the
    /// deque's store of the task, and both sides miss each other. The runtime's
    /// `push_local` and the loom model `push_local.rs` both call this.
    pub fn push_then_wants_notify(&self, task: TaskRef, idle: &Idle) -> bool {
        self.push(task);
        fence(SeqCst);
        idle.wants_notify()
    }

    /// After the owner filled this queue from elsewhere (a batch stolen from the
    /// injectors or a peer, timers fired from a wheel), outside any search: whether
    /// tasks are left here and a sleeper should be woken for them. `SeqCst` fence, then
    /// [`Idle::wants_notify`], the same half of the idle protocol as
    /// [`push_then_wants_notify`](Self::push_then_wants_notify).
    ///
    /// Needed because a batch is briefly in neither queue: a searcher that looked at the
    /// injectors after the steal emptied them, and at this queue before the batch
    /// landed, goes to sleep (its re-check saw nothing), while the submitter that pushed
    /// those tasks skipped its wake-up because that searcher was searching. Without this
    /// look the leftovers wait for the owner's current task to end (loom model
    /// `batch_steal.rs`; `tests/wake_ups.rs` failed in CI once on it).
    ///
    /// `level`: the level a batch moved at (a batch moves within one level), when only
    /// tasks left there need the look (tasks of other levels were visible already), or
    /// `None` for tasks of any level (timers fired from a wheel).
    pub fn filled_then_wants_notify(&self, idle: &Idle, level: Option<Priority>) -> bool {
        let left = match level {
            Some(level) => !self.levels[level.index()].is_empty(),
            None => !self.is_empty(),
        };
        if !left {
            return false;
        }
        fence(SeqCst);
        idle.wants_notify()
    }

    /// Pushes `task` at `level`.
    pub fn push_at(&self, level: Priority, task: TaskRef) {
        self.levels[level.index()].push(task);
        self.mark(level);
    }

    fn mark(&self, level: Priority) {
        let bit = LevelMask::bit(level);
        let local = self.local.get();
        if local & bit == 0 {
            self.local.set(local | bit);
            self.advertised.fetch_or(bit, Release);
        }
    }

    fn unmark(&self, index: usize) {
        let bit = 1u64 << index;
        self.local.set(self.local.get() & !bit);
        self.advertised.fetch_and(!bit, Relaxed);
    }

    /// The levels this worker may hold tasks at (owner's view).
    pub fn mask(&self) -> LevelMask {
        LevelMask(self.local.get())
    }

    /// The most urgent level that may be non-empty.
    pub fn highest(&self) -> Option<Priority> {
        self.mask().highest()
    }

    /// Pops the oldest task of the most urgent non-empty level.
    ///
    /// A pop that empties its level clears the level's bit at once, so the mask never
    /// shows a level above the real highest one to the owner (which compares it with
    /// the injectors' levels before every pick).
    pub fn pop(&self) -> Option<TaskRef> {
        loop {
            let level = self.highest()?;
            let deque = &self.levels[level.index()];
            if let Some(t) = deque.pop() {
                if deque.is_empty() {
                    self.unmark(level.index());
                }
                return Some(t);
            }
            self.unmark(level.index());
        }
    }

    /// Pops the oldest task at exactly `level`, if any.
    pub fn pop_at(&self, level: Priority) -> Option<TaskRef> {
        if !self.mask().contains(level) {
            return None;
        }
        let t = self.levels[level.index()].pop();
        if t.is_none() {
            self.unmark(level.index());
        }
        t
    }

    /// Whether every level is empty (owner's view; thieves may have taken more).
    pub fn is_empty(&self) -> bool {
        let mut m = self.local.get();
        while m != 0 {
            let i = 63 - m.leading_zeros() as usize;
            if !self.levels[i].is_empty() {
                return false;
            }
            m &= !(1u64 << i);
        }
        true
    }

    /// Number of tasks queued (approximate while thieves steal).
    pub fn len(&self) -> usize {
        self.levels.iter().map(|w| w.len()).sum()
    }

    /// The deque for `level`, for batch steals into it.
    /// Whether the owner pops its newest task of a level first ([`with_order`](Self::with_order)).
    pub fn is_lifo(&self) -> bool {
        self.lifo
    }

    pub(crate) fn deque(&self, level: Priority) -> &Worker<TaskRef> {
        &self.levels[level.index()]
    }

    /// Pops the oldest task at exactly `level`, clearing the level's bit if that
    /// empties it (or if the level was empty already: a stale bit).
    ///
    /// ```
    /// use kairos_rt_core::queue::RunQueue;
    /// use kairos_rt_core::Priority;
    ///
    /// let q = RunQueue::new();
    /// assert!(q.pop_level(Priority::NORMAL).is_none());
    /// assert!(q.highest().is_none());
    /// ```
    pub fn pop_level(&self, level: Priority) -> Option<TaskRef> {
        let deque = &self.levels[level.index()];
        let t = deque.pop();
        if deque.is_empty() {
            self.unmark(level.index());
        }
        t
    }

    /// Records that a batch steal may have put tasks at `level`: marks the level unless
    /// the steal left it empty (it returned the batch's only task), so a steal does not
    /// leave a stale bit that shows the level as more urgent than what the queue holds.
    pub(crate) fn note_filled(&self, level: Priority) {
        if !self.levels[level.index()].is_empty() {
            self.mark(level);
        }
    }
}

impl Stealers {
    /// The levels the owner advertises as possibly non-empty.
    pub fn advertised(&self) -> LevelMask {
        LevelMask(self.advertised.load(Acquire))
    }

    /// Steals a batch from the most urgent advertised level at or above `min` into
    /// `dest` (at the same level) and returns one task of it.
    pub fn steal_into(&self, dest: &RunQueue, min: Priority) -> Option<TaskRef> {
        steal_highest(
            self.advertised().0 & at_or_above(min),
            |level| match self.levels[level.index()].steal_batch_and_pop(dest.deque(level)) {
                Steal::Success(t) => {
                    dest.note_filled(level);
                    Steal::Success(t)
                }
                other => other,
            },
            // Only the owner clears its advertised bits.
            |_| false,
        )
    }

    /// Number of tasks the victim holds at `level` (approximate while it runs).
    pub fn len_at(&self, level: Priority) -> usize {
        self.levels[level.index()].len()
    }

    /// Whether the victim advertises any level at all.
    pub fn maybe_has_work(&self) -> bool {
        !self.advertised().is_empty()
    }

    /// Whether an advertised level really holds a task right now (checks the deques).
    pub fn has_work(&self) -> bool {
        let mut m = self.advertised().0;
        while m != 0 {
            let i = 63 - m.leading_zeros() as usize;
            if !self.levels[i].is_empty() {
                return true;
            }
            m &= !(1u64 << i);
        }
        false
    }

    /// Takes every task the victim still holds (used at shutdown, after its owner exited).
    pub fn drain(&self, mut f: impl FnMut(TaskRef)) {
        for s in self.levels.iter() {
            loop {
                match s.steal() {
                    Steal::Success(t) => f(t),
                    Steal::Retry => continue,
                    Steal::Empty => break,
                }
            }
        }
    }
}

impl core::fmt::Debug for RunQueue {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("RunQueue").field("levels", &self.mask()).field("len", &self.len()).finish()
    }
}

impl core::fmt::Debug for Stealers {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Stealers").field("advertised", &self.advertised()).finish()
    }
}
