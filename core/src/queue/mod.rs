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
