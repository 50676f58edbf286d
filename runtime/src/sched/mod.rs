//! The scheduler: where a task waits and which thread runs it. No public types, and no
//! knowledge of retries or processes (those are built on top, from spawns and timers).
//!
//! It owns:
//!
//! - [`shared`]: the state all workers and handles of one runtime share (`Shared`): the
//!   injectors, each worker's `Remote` (the parts other threads reach), intake,
//!   admission and the counters; and the remote-push and remote-timer protocols, stated
//!   with both their sides in `shared.rs`;
//! - [`worker`]: one worker thread, its loop and its policies;
//! - [`spawn`]: the spawn path (admission, intake, allocation, routing);
//! - [`shutdown`]: how the runtime stops, in numbered steps;
//! - [`context`]: which runtime (and which worker) the current thread belongs to;
//! - [`registry`]: the live futures, so shutdown can cancel those that wait forever;
//! - [`room`]: the submitters waiting for room under `max_pending`, and their wake-ups;
//! - `gauges.rs`: what the readings (`observe/`) ask of the scheduler (queue depths,
//!   timed-task gauges, idle time, latency samples), as methods of `Shared`;
//! - [`blocking`]: the blocking pool, the threads that run `spawn_blocking` closures;
//! - [`runtime_timer`]: the bodies of the runtime's own timers (behind every sleep,
//!   timeout, backoff and deadline), which the counters tell apart from user tasks.
//!
//! Rules: every task ends counted once (through `stats`); a task is in exactly one of a
//! run queue, a wheel, an inbox, or running, unless it is a future waiting for a wake-up
//! (then it is in the registry); after intake closes no submission from outside lands in
//! a queue that nobody drains.

pub(crate) mod blocking;
pub(crate) mod context;
mod gauges;
pub(crate) mod registry;
pub(crate) mod room;
pub(crate) mod runtime_timer;
pub(crate) mod shared;
pub(crate) mod shutdown;
pub(crate) mod spawn;
pub(crate) mod worker;
