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
pub use join::{JoinError, JoinHandle, TaskStatus};
pub use schedule::Schedule;
pub use state::{Outcome, Snapshot};
pub use task_ref::TaskRef;

use core::fmt;
use core::ptr::NonNull;

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

/// Identifies a task among all live tasks of the process.
///
/// The id is derived from the task's address: it is unique while the task or any
/// handle to it is alive, and may be reused afterwards.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TaskId(u64);

impl TaskId {
    pub(crate) fn of(ptr: NonNull<Header>) -> TaskId {
        TaskId(ptr.as_ptr() as usize as u64)
    }
    /// The id as a number.
    pub fn as_u64(self) -> u64 {
        self.0
    }
    /// An id for a task that was refused before it existed (never equal to a live one:
    /// live ids are aligned addresses, refused ids are odd).
    #[doc(hidden)]
    pub fn refused(seq: u64) -> TaskId {
        TaskId((seq << 1) | 1)
    }
}

impl fmt::Debug for TaskId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TaskId({:#x})", self.0)
    }
}

impl fmt::Display for TaskId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:#x}", self.0)
    }
}
