//! Tasks with policies, and the task types: [`Task`] (one job with its priority, start
//! time, deadline, run timeout and retries, spawned with
//! [`Handle::spawn_with`](crate::Handle::spawn_with)), [`RetryPolicy`] and what a retry
//! returns ([`RetryOutcome`]); and the task types every spawn deals in ([`JoinHandle`],
//! [`JoinError`], [`TaskId`], [`TaskStatus`]) and the bodies a `Task` wraps ([`Closure`],
//! [`FutureBody`], and [`AsyncFn`], a function that makes a future, for async retries).
//!
//! ```
//! use kairos_rt::task::{JoinHandle, RetryOutcome, RetryPolicy, Task};
//! use kairos_rt::{Priority, Runtime};
//! use std::time::Duration;
//!
//! let rt = Runtime::builder().workers(1).build()?;
//! let policy = RetryPolicy::fixed(Duration::from_millis(1)).max_attempts(2);
//! let task = Task::new(|| Err::<(), _>("refused")).priority(Priority::HIGH).retry(policy);
//! let h: JoinHandle<RetryOutcome<(), &str>> = rt.spawn_with(task).unwrap();
//! let outcome = h.join().unwrap();
//! assert_eq!((outcome.attempts, outcome.result), (2, Err("refused")));
//! rt.shutdown();
//! # Ok::<(), kairos_rt::BuildError>(())
//! ```
//!
//! This folder owns the policies; the scheduler underneath knows nothing of them (a
//! policed task is an ordinary closure or future to it). Files: `builder.rs` (the `Task`
//! builder and how its policies run; `builder/blocking.rs`: `Task::blocking`, a task for
//! the blocking pool), `async_fn.rs` ([`Task::from_async`]: a task whose future is made at
//! its first poll, and again for each retry), `retry_policy.rs` (the policy and its
//! validation), `retry_loop.rs` (the loop that applies it). "Edge values" of a policy (zero, huge and
//! invalid ones) are documented once, on [`RetryPolicy`].
//!
//! # What a retry is
//!
//! A task with a retry policy returns `Result<T, E>`: a closure ([`Task::new`]) returns it,
//! or an async call ([`Task::from_async`]) makes a fresh future for each attempt that
//! resolves to it. When an attempt returns `Err`, the
//! *same* task runs again after a backoff delay, at the *same* priority: the task's
//! future waits on a timer in the runtime's timing wheel (like [`sleep`](crate::sleep)),
//! and when the timer fires it is re-queued at its own priority. No thread is held
//! while a retry waits: a waiting retry is one small timed entry in a worker's wheel.
//!
//! The task's handle resolves with a [`RetryOutcome`]: the *last* attempt's result
//! (the first `Ok`, or the last `Err` once attempts are used up) and the number of
//! attempts that ran.
//!
//! # Attempt numbering
//!
//! Attempts are numbered from 1: attempt 1 runs as soon as the task is scheduled, and
//! attempt `k + 1` runs after `k` failed attempts and the backoff
//! [`delay_before(k + 1)`](RetryPolicy::delay_before). A policy with
//! [`max_attempts(n)`](RetryPolicy::max_attempts) runs at most `n` attempts in total,
//! the first one included (so at most `n - 1` retries).
//!
//! # Backoff
//!
//! - [`RetryPolicy::exponential(base, max_delay)`](RetryPolicy::exponential): the delay
//!   before attempt `k + 1` is `min(base × 2^(k-1), max_delay)`: `base`, `2·base`,
//!   `4·base`, …, capped at `max_delay`. It is computed without overflow: a product too
//!   large for a [`Duration`](std::time::Duration) is simply `max_delay`.
//! - [`RetryPolicy::fixed(delay)`](RetryPolicy::fixed): the same delay before every retry.
//!
//! # Jitter
//!
//! [`Jitter`] spreads retries of many tasks that failed together, so they do not all
//! come back at the same instant (AWS "exponential backoff and jitter"). With a computed
//! delay `d`: [`Jitter::None`] waits exactly `d`; [`Jitter::Full`] waits a uniformly
//! random time in `[0, d]`; [`Jitter::Equal`] waits `d/2` plus a uniformly random time in
//! `[0, d/2]`. Jitter is applied after the cap, so a wait never exceeds `max_delay`.
//!
//! # Panics
//!
//! By default a panicking attempt ends the task as a panic: no further attempt runs and
//! the handle's error reports [`is_panic`](crate::JoinError::is_panic). With
//! [`retry_on_panic(true)`](RetryPolicy::retry_on_panic), a panic counts as a failure
//! like an `Err`: it is retried if attempts remain, and if the *last* attempt panics,
//! the panic is re-raised so the handle still reports `is_panic`.

mod async_fn;
mod builder;
mod expiry;
mod retry_loop;
mod retry_policy;
#[cfg(test)]
mod retry_tests;

pub use async_fn::AsyncFn;
pub use builder::{BlockingTask, RetryTask, Spawnable, Task};
pub use kairos_rt_core::task::{Closure, FutureBody, JoinError, JoinHandle, TaskId, TaskStatus};
pub use retry_loop::RetryOutcome;
pub use retry_policy::{Jitter, RetryPolicy, RetryPolicyError};
