//! Priority run queues.
//!
//! - [`RunQueue`]: one worker's queues, one FIFO work-stealing deque per priority level
//!   plus an occupancy mask, and [`Stealers`], the handle other workers steal through.
//! - [`Injectors`]: one multi-producer queue per level plus a global occupancy mask, for
//!   submission from any thread without a lock.
//!
//! ## Occupancy masks
//!
//! Bit `i` of a mask says "level `i` may be non-empty". Finding the most urgent level is
//! one `leading_zeros`. The masks are hints that may over-report (a bit set for a level
//! whose last task was just taken); they must never under-report a task that has been
//! pushed and not yet taken, because a worker about to sleep trusts them. Each mask's
//! comments say how its owner keeps that promise.

mod injectors;
mod run_queue;

pub use injectors::Injectors;
pub use run_queue::{RunQueue, Stealers};

use crate::sync::deque::Steal;
use crate::Priority;

/// Tries `attempt` on each level of `mask` from the most urgent down, retrying a level
/// while it answers `Retry`, until one succeeds. `on_empty` hears of each level found
/// empty (so a mask owner can clear its bit) and answers whether the level refilled
/// meanwhile: then the level is tried again (see `Injectors::clear_if_empty`).
fn steal_highest<T>(
    mut mask: u64,
    mut attempt: impl FnMut(Priority) -> Steal<T>,
    mut on_empty: impl FnMut(usize) -> bool,
) -> Option<T> {
    while mask != 0 {
        let index = 63 - mask.leading_zeros() as usize;
        loop {
            match attempt(Priority::from_index(index)) {
                Steal::Success(t) => return Some(t),
                Steal::Retry => continue,
                Steal::Empty if on_empty(index) => continue,
                Steal::Empty => break,
            }
        }
        mask &= !(1u64 << index);
    }
    None
}

/// The bits of levels at or above `min`.
fn at_or_above(min: Priority) -> u64 {
    !((1u64 << min.index()) - 1)
}
