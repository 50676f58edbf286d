//! One worker's timer driver: its [`TimingWheel`] holding timed tasks.
//!
//! Only the owning worker touches the driver. A timed task's *lineage* reference (the one
//! reference that travels spawn → inbox → wheel → run queue) is "forgotten" into the wheel
//! while the task waits there, and taken back when the task is due, removed, or dropped at
//! shutdown. Every method that releases a lineage of a task that will not run reports the
//! task's outcome to the caller, exactly once per task, so the runtime can count it:
//!
//! - [`TimerDriver::insert`] of a task claimed by a canceller on its way in;
//! - [`TimerDriver::remove`] of a task cancelled from elsewhere, if still linked;
//! - [`TimerDriver::fire`] finding a due task already claimed by a canceller;
//! - [`TimerDriver::cancel_all`] at shutdown.
//!
//! Cancellation from another thread arrives as a message (the canceller's
//! [`Schedule::timer_cancelled`](crate::task::Schedule::timer_cancelled)); the owner calls
//! `remove`, which is a no-op if the task already left the wheel (then the place that
//! took it out reported its outcome).

use crate::task::{Header, Outcome, TaskRef};
use crate::wheel::{TimerLinks, TimingWheel};

/// What [`TimerDriver::insert`] did with a task.
#[derive(Debug)]
#[must_use]
pub enum Inserted {
    /// The wheel holds it.
    Linked,
    /// It is already due: push it onto a run queue.
    Due(TaskRef),
    /// A canceller claimed it on the way: count this outcome, then drop the task (its
    /// lineage reference).
    Finished(Outcome, TaskRef),
}

/// One worker's timing wheel of tasks (see the module docs).
#[derive(Debug, Default)]
pub struct TimerDriver {
    wheel: TimingWheel,
}

fn claimed_outcome(task: &TaskRef) -> Option<Outcome> {
    let snap = task.snapshot();
    (snap.is_complete() || snap.is_running()).then(|| snap.outcome())
}

impl TimerDriver {
    /// An empty driver.
    pub fn new() -> TimerDriver {
        TimerDriver::default()
    }

    /// Whether no task waits.
    pub fn is_empty(&self) -> bool {
        self.wheel.is_empty()
    }

    /// Number of tasks waiting.
    pub fn len(&self) -> usize {
        self.wheel.len()
    }

    /// A lower bound on the next due tick (see [`TimingWheel::next_expiration`]).
    pub fn next_expiration(&self) -> Option<u64> {
        self.wheel.next_expiration()
    }

    /// Takes a timed task's lineage reference (from a spawn or the inbox).
    pub fn insert(&mut self, task: TaskRef) -> Inserted {
        if let Some(outcome) = claimed_outcome(&task) {
            return Inserted::Finished(outcome, task);
        }
        let links = task.timer_links();
        // SAFETY: the task is in no wheel (it comes from a spawn or the inbox) and only this
        // driver's owner touches its links; the wheel keeps the pointer until it is popped or
        // removed, and the reference forgotten below keeps the cell alive until then.
        match unsafe { self.wheel.insert(links) } {
            Ok(()) => {
                let _ = task.into_raw();
                Inserted::Linked
            }
            Err(_) => {
                let epoch = task.header().state().clear_timed().epoch();
                Inserted::Due(task.with_epoch(epoch))
            }
        }
    }

    /// Unlinks a task cancelled elsewhere. If the wheel still held it, releases its
    /// lineage and returns its outcome; `None` if it had already left the wheel.
    pub fn remove(&mut self, task: &TaskRef) -> Option<Outcome> {
        let links = task.timer_links();
        // SAFETY: only the owner touches `prev` (`is_linked` reads only that field; a task in
        // transit in an inbox has its `next` written by a pusher, never its `prev`); `task`
        // keeps the cell alive.
        if !unsafe { TimerLinks::is_linked(links) } {
            return None;
        }
        // SAFETY: linked, and a task is only ever linked in its owner's wheel.
        unsafe { self.wheel.remove(links) };
        // SAFETY: the wheel held the lineage reference, forgotten at insert.
        let lineage = unsafe { TaskRef::from_raw(task.as_ptr()) };
        Some(lineage.snapshot().outcome())
    }

    fn take(links: core::ptr::NonNull<TimerLinks>) -> TaskRef {
        // SAFETY: every node in the wheel is the links of a task header inserted by `insert`.
        let header = unsafe { Header::from_timer_links(links) };
        // SAFETY: the wheel held the lineage reference, forgotten at insert.
        unsafe { TaskRef::from_raw(header) }
    }

    /// Hands every task due at `now` to `ready`; reports tasks found claimed by a
    /// canceller to `finished` (which reads their outcome and priority, and whether they
    /// are futures, before their lineage is released). Returns how many went to `ready`.
    pub fn fire(
        &mut self,
        now: u64,
        mut ready: impl FnMut(TaskRef),
        mut finished: impl FnMut(&TaskRef),
    ) -> usize {
        let mut moved = 0;
        while let Some(links) = self.wheel.poll(now) {
            let task = Self::take(links);
            // The entry's stamp comes from the same operation that takes the task out of
            // the wheel: a priority change after it makes this entry stale and queues its own.
            let epoch = task.header().state().clear_timed().epoch();
            let task = task.with_epoch(epoch);
            match claimed_outcome(&task) {
                Some(_) => finished(&task),
                None => {
                    ready(task);
                    moved += 1;
                }
            }
        }
        moved
    }

    /// Cancels every waiting task with [`Outcome::Shutdown`] and reports each outcome,
    /// with the task (before its lineage is released).
    pub fn cancel_all(&mut self, mut finished: impl FnMut(Outcome, &TaskRef)) {
        while let Some(links) = self.wheel.pop_any() {
            let task = Self::take(links);
            finished(cancel_for_shutdown(&task), &task);
        }
    }
}

/// Cancels a task at shutdown; returns how it ended (`Shutdown`, or the outcome of
/// whoever claimed it first). The caller then releases its reference.
///
/// The task must be in no wheel (taken out of one or out of an inbox, or never timed):
/// its timed flag is cleared first, so the cancel sends no message to unlink it (nor
/// looks up its runtime to send one).
pub fn cancel_for_shutdown(task: &TaskRef) -> Outcome {
    task.header().state().clear_timed();
    if task.cancel(Outcome::Shutdown) {
        Outcome::Shutdown
    } else {
        task.snapshot().outcome()
    }
}
