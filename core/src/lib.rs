//! # kairos-rt-core
//!
//! The data structures of the [kairos-rt](https://docs.rs/kairos-rt) runtime, with no threads
//! of their own:
//!
//! - [`Priority`] and [`LevelMask`]: 64 priority levels and the occupancy masks that
//!   find the most urgent non-empty level in one bit scan;
//! - [`task`]: the task cell (one allocation holding header, closure or future, and
//!   output) and its state word, whose transitions decide run-vs-cancel,
//!   complete-vs-join and wake-while-running each in one atomic operation;
//! - [`queue`]: per-worker priority run queues over work-stealing deques, and the
//!   shared per-level injectors for submission from any thread;
//! - [`wheel`]: a hierarchical timing wheel with O(1) insert and cancel, and [`timer`],
//!   one worker's driver of timed tasks over it, and [`timer_inbox`], the intrusive
//!   queue that carries timed tasks from other threads to that driver;
//! - [`idle`], [`intake`], [`park`]: the sleep/wake protocol, the shutdown gate for
//!   outside submissions, and the parker workers sleep on; [`last_out`]: which of the
//!   threads ending a runtime runs its final drain;
//! - [`sync`]: the facade that swaps `std` for `loom` under `--cfg loom`.
//!
//! Most users want the `kairos` crate, which builds a runtime out of these pieces.
#![deny(unsafe_op_in_unsafe_fn)]
#![warn(missing_docs, missing_debug_implementations)]

pub mod admission;
pub mod idle;
pub mod intake;
pub mod last_out;
pub mod park;
pub mod park_door;
mod priority;
pub mod queue;
pub mod shared_wheel;
pub mod sync;
pub mod task;
pub mod timer;
pub mod timer_inbox;
pub mod wheel;

pub use priority::{InvalidPriority, LevelMask, Priority};
