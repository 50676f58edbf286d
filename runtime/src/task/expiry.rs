//! Deadline expiry: a task whose start deadline passes while it waits ends `Expired`
//! then, not when a worker finally reaches it.
//!
//! ## Protocol
//!
//! A task spawned with a start deadline ([`Task::deadline`](crate::Task::deadline), or a
//! closure's [`timeout`](crate::Task::timeout)) gets an **expiry timer**: a tiny
//! `HIGHEST` timed closure due at the deadline, exempt from `max_pending`, holding a
//! counted reference to the task. When it runs it claims the task with
//! `Outcome::Expired` (`TaskRef::cancel`, which for a timed task also sends its wheel the
//! cancel message, as a handle's cancel does).
//!
//! - **Exactly one wins.** The expiry claim is one CAS on the task's state word
//!   (`State::claim_for_cancel`), as are the first run (`transition_to_running`, which
//!   sets `STARTED`), a handle's cancel and shutdown's; an expiry claims only a task
//!   that never started. A task that won against its expiry runs as usual; an expired one
//!   has its body dropped at once and its handle and `status()` say `Expired` from then;
//!   the worker that later reaches its queue entry skips it and counts it expired. The
//!   body's own check at its first run (deadline passed: `Expired`) stays, for a worker
//!   that reaches the task before its expiry timer fires. Modelled in
//!   `loom-tests/tests/task_state.rs` (expiry vs first run vs cancel vs shutdown).
//! - **On time while workers are busy.** The expiry timer sits in a wheel like every
//!   timer, so a free worker fires it about on time even when the task's own worker is
//!   busy (the wheel hand-over of `sched::worker::timers`). Only when every worker is
//!   busy does it wait, like every timer.
//! - **Freed early.** The task's body keeps the timer's handle in an [`ExpiryLink`];
//!   when the body goes (the task starts, is cancelled or expires, or shutdown drops it)
//!   the link's last owner cancels the timer, so its cell is freed then, not at the
//!   deadline. The spawner holds the link too until it has stored the timer's handle, so
//!   a body that goes first still cancels the timer (through the spawner's drop).
//!
//! ## Cost
//!
//! Only tasks with a deadline pay: one more timed cell and one `Arc`; the timer is one
//! of the runtime's own (`RuntimeTimerAction`), counted apart from user tasks in
//! `runtime_timers` (set, then fired, or cancelled when the task starts first), as a
//! [`sleep`](crate::sleep)'s timer is. Tasks without a deadline
//! and plain `spawn*` calls are untouched.

use crate::sched::runtime_timer::RuntimeTimerAction;
use crate::sched::spawn::Admit;
use crate::Handle;
use kairos_rt_core::sync::Arc;
use kairos_rt_core::task::{JoinHandle, Outcome};
use kairos_rt_core::Priority;
use std::sync::OnceLock;
use std::time::Instant;

/// The handle of a task's expiry timer, shared by the task's body and its spawner; the
/// last of them to go cancels the timer (a no-op once it has fired).
#[derive(Default)]
pub(super) struct ExpiryLink {
    timer: OnceLock<JoinHandle<()>>,
}

impl Drop for ExpiryLink {
    fn drop(&mut self) {
        if let Some(timer) = self.timer.get() {
            let _ = timer.cancel();
        }
    }
}

/// Arms the expiry timer of `task` (just spawned on `handle`) for `deadline`, and stores
/// its handle in `link`. A runtime that refuses the timer (it is shutting down) leaves
/// the task to the check at its first run.
pub(super) fn arm<T>(handle: &Handle, task: &JoinHandle<T>, deadline: Instant, link: Arc<ExpiryLink>) {
    let Some(target) = task.task_ref() else { return };
    let expire = RuntimeTimerAction(move || {
        let _ = target.cancel(Outcome::Expired);
    });
    if let Ok(timer) = handle.submit(expire, Priority::HIGHEST, handle.due_at(deadline), Admit::Exempt) {
        let _ = link.timer.set(timer);
    }
}
