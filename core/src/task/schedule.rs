//! The hooks through which a task talks back to the runtime that owns it.

use super::TaskRef;

/// What a task needs from its runtime.
///
/// Only futures carry one in their cells (and timed closures of a runtime without a home
/// slot): a closure's only way back to its runtime, a cancel while it waits in a wheel,
/// borrows the scheduler from the runtime's [home](super::home) instead.
pub trait Schedule: Send + Sync + 'static {
    /// A woken (or yielding) future must go back on a run queue. `task` is the queue's
    /// reference.
    fn schedule(&self, task: TaskRef);

    /// A timed task was cancelled by a thread other than its wheel's owner; the owner
    /// (index in the task's state word) must unlink it. `task` is a reference for the
    /// message.
    fn timer_cancelled(&self, task: TaskRef);

    /// A future reached its final `outcome`; the runtime drops its registry entry and
    /// counts the outcome. Called exactly once per future, by whoever completed it, while
    /// that caller still holds a reference.
    fn future_completed(&self, task: &TaskRef, outcome: super::Outcome);
}
