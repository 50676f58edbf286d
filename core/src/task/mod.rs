//! Tasks: one allocation per task holding header, body and outcome.
//!
//! - [`state`]: the atomic state word and its transitions (the protocol; see its docs).
//! - `header`, `cell`: the type-erased header and the concrete cell with its harness.
//! - [`TaskRef`]: a counted reference, the unit that run queues and wheels hold.
//! - [`JoinHandle`] and [`JoinError`]: waiting for, and cancelling, a task.
//! - [`Schedule`]: what a future or timed task needs from its runtime.
//!
//! ## Life of a task
//!
//! ```text
//! allocate ──► run queue ──► transition_to_running ──► body ──► transition_to_complete
//!    │             ▲                                     │ (future: Pending)
//!    └─► wheel ────┘ (due)                               └──► idle ──wake──► run queue
//! cancel (handle/shutdown): claim_for_cancel ──► drop body ──► complete(Cancelled|Shutdown)
//! ```
//!
//! References: the scheduler side (run queue, wheel or its inbox) holds one, a join
//! handle one, each waker one; the runtime's future registry one per live future.

mod body;
mod cell;
mod header;
pub mod home;
mod id;
mod join;
mod schedule;
pub mod state;
mod task_ref;
mod waker;

pub use body::Abort;
pub use body::{Body, Closure, FutureBody};
#[cfg(loom)]
#[doc(hidden)]
pub use cell::sole_runs;
pub use cell::{allocate, carries_scheduler, TaskOptions};
pub use header::Header;
pub use id::TaskId;
pub use join::{JoinError, JoinHandle, TaskStatus};
pub use schedule::Schedule;
pub use state::{Outcome, Snapshot};
pub use task_ref::TaskRef;

/// Task cells for the crate's unit tests.
#[cfg(test)]
pub(crate) mod test_tasks {
    use super::{allocate, Closure, Outcome, Schedule, TaskOptions, TaskRef};
    use crate::Priority;

    /// A scheduler type for cells that carry none (never called).
    pub(crate) struct Unused;

    impl Schedule for Unused {
        fn schedule(&self, _task: TaskRef) {
            unreachable!()
        }
        fn timer_cancelled(&self, _task: TaskRef) {
            unreachable!()
        }
        fn future_completed(&self, _task: &TaskRef, _outcome: Outcome) {
            unreachable!()
        }
    }

    /// A ready, detached closure task doing nothing, at `priority`.
    pub(crate) fn ready(priority: Priority) -> TaskRef {
        allocate(Closure(|| ()), None::<Unused>, TaskOptions::ready(priority)).0
    }
}

/// What happened when a worker ran a task from its run queue.
#[derive(Debug)]
#[must_use]
pub enum RunResult {
    /// The task reached its final outcome in this run.
    Finished(Outcome),
    /// A future returned `Pending` and waits for a wake-up.
    Idle,
    /// A future woke itself during the poll (`yield_now`): push this reference back.
    Yielded(TaskRef),
    /// The queued reference was stale: the task was already complete or claimed by a
    /// canceller. The snapshot is the state that was seen.
    Skipped(Snapshot),
    /// The entry's epoch was not the task's (its priority changed and another entry is
    /// live): nothing ran, and nothing is to be counted.
    Stale,
}
