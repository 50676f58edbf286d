//! One worker's timers: its timing wheel, fed by its own spawns and by the inbox that
//! other threads push to.
//!
//! Only the owning worker touches the wheel. A timed task's lineage reference lives in
//! the inbox, then in the wheel (as a raw pointer, the reference "forgotten" into the
//! wheel), then in a run queue once due. Cancellation from another thread arrives as a
//! message in `timer_cancels`; the owner unlinks the task if the wheel still holds it.
//! Whoever releases the lineage of a cancelled task counts its outcome (see `counters`).

use crate::shared::Shared;
use kairos_core::queue::RunQueue;
use kairos_core::task::{Header, Outcome, TaskRef};
use kairos_core::wheel::{TimerLinks, TimingWheel};

#[derive(Debug, Default)]
pub(crate) struct Timers {
    wheel: TimingWheel,
}

impl Timers {
    pub(crate) fn is_empty(&self) -> bool {
        self.wheel.is_empty()
    }

    pub(crate) fn len(&self) -> usize {
        self.wheel.len()
    }

    pub(crate) fn next_expiration(&self) -> Option<u64> {
        self.wheel.next_expiration()
    }

    /// Puts a timed task (its lineage reference) in the wheel, or returns it if it is
    /// already due or was cancelled on the way (then its outcome is counted here).
    pub(crate) fn insert(&mut self, task: TaskRef, shared: &Shared) -> Option<TaskRef> {
        let snap = task.snapshot();
        if snap.is_complete() || snap.is_running() {
            shared.count_outcome(snap.outcome(), true);
            return None;
        }
        let links = Header::timer_links(task.as_ptr());
        // SAFETY: the task is not in any wheel (it came from a spawn or the inbox) and only
        // this worker touches its links; the wheel keeps the pointer until it is popped or
        // removed, and the reference we forget below keeps the cell alive until then.
        match unsafe { self.wheel.insert(links) } {
            Ok(()) => {
                let _ = task.into_raw();
                None
            }
            Err(_) => {
                task.header().state().clear_timed();
                Some(task)
            }
        }
    }

    /// Unlinks a cancelled task if the wheel holds it, releasing (and counting) its lineage.
    pub(crate) fn remove(&mut self, task: &TaskRef, shared: &Shared) {
        let links = Header::timer_links(task.as_ptr());
        // SAFETY: only the owner touches links; `task` keeps the cell alive.
        if unsafe { TimerLinks::is_linked(links) } {
            // SAFETY: linked, and only ever linked in this worker's wheel.
            unsafe { self.wheel.remove(links) };
            // SAFETY: the wheel held the lineage reference, forgotten at insert.
            let lineage = unsafe { TaskRef::from_raw(task.as_ptr()) };
            shared.count_outcome(lineage.snapshot().outcome(), true);
        }
    }

    /// Moves every task due at `now` to `queue`. Returns how many moved.
    pub(crate) fn fire(&mut self, now: u64, queue: &RunQueue, shared: &Shared) -> usize {
        let mut moved = 0;
        while let Some(links) = self.wheel.poll(now) {
            // SAFETY: every node in the wheel is the links of a task header, inserted above.
            let header = unsafe { Header::from_timer_links(links) };
            // SAFETY: the wheel held the lineage reference, forgotten at insert.
            let task = unsafe { TaskRef::from_raw(header) };
            task.header().state().clear_timed();
            let snap = task.snapshot();
            if snap.is_complete() || snap.is_running() {
                shared.count_outcome(snap.outcome(), true);
                continue;
            }
            queue.push(task);
            moved += 1;
        }
        moved
    }

    /// Cancels every task in the wheel with `Shutdown` (counting each) and empties it.
    pub(crate) fn cancel_all(&mut self, shared: &Shared) {
        while let Some(links) = self.wheel.pop_any() {
            // SAFETY: as in `fire`.
            let header = unsafe { Header::from_timer_links(links) };
            // SAFETY: as in `fire`.
            let task = unsafe { TaskRef::from_raw(header) };
            cancel_for_shutdown(task, shared);
        }
    }
}

/// Cancels a timed task's lineage at shutdown and counts how it ended.
pub(crate) fn cancel_for_shutdown(task: TaskRef, shared: &Shared) {
    if task.cancel(Outcome::Shutdown) {
        shared.count_outcome(Outcome::Shutdown, true);
    } else {
        // A handle claimed it first (cancelled), or it already completed.
        shared.count_outcome(task.snapshot().outcome(), true);
    }
}
