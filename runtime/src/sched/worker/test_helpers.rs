//! Helpers the worker modules' unit tests share (they reach `Shared`'s fields, which are
//! private to `sched`).

use crate::sched::shared::Shared;
use crate::{Handle, JoinHandle, Priority};
use std::time::Instant;

/// Sends a timed task due at `due` from outside to worker `owner`: its door reads parked
/// for the call, and `Shared::timer_owner` prefers a worker that reads parked.
pub(super) fn spawn_at_worker(
    handle: &Handle,
    shared: &Shared,
    owner: usize,
    due: Instant,
) -> JoinHandle<()> {
    shared.remotes[owner].door.close(u64::MAX);
    let timed = handle.spawn_at(due, Priority::NORMAL, || ());
    shared.remotes[owner].door.open();
    timed
}
