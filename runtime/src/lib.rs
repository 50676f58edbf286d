//! # kairos-rt
//!
//! Add it as `kairos-rt = "0.1"` and import it as `kairos_rt` (the package name `kairos`
//! on crates.io belongs to an unrelated library).
//!
//! A multi-threaded, lock-free, work-stealing task runtime that runs very many small
//! jobs **in priority order, now or at a given time, on all cores**.
//!
//! - Every task has a [`Priority`] (64 levels); workers always run the most urgent work
//!   they can see, and urgent work submitted from outside never waits behind local bulk.
//! - Any task may have a due time ([`Runtime::spawn_after`], [`Runtime::spawn_at`]):
//!   it waits in a per-worker hierarchical timing wheel with ~1 µs resolution and O(1)
//!   insert and cancel, and costs no allocation beyond the task itself.
//! - Closures and futures alike; [`JoinHandle`]s can be joined, awaited or cancelled.
//! - Shutdown accounts for every task ([`ShutdownReport`]).
//!
//! # Quick start
//!
//! ```
//! use kairos_rt::{Priority, Runtime};
//! use std::time::Duration;
//!
//! let rt = Runtime::builder().workers(2).build()?;
//!
//! // Closures: now, later, at a priority.
//! let sum = rt.spawn(Priority::NORMAL, || (1..=10).sum::<u32>());
//! let retry = rt.spawn_after(Duration::from_millis(10), Priority::HIGH, || "retried");
//!
//! // Futures, with kairos's own timers and spawning inside tasks.
//! let job = rt.spawn_future(Priority::LOW, async {
//!     kairos_rt::sleep(Duration::from_millis(1)).await;
//!     let child = kairos_rt::spawn(Priority::HIGHEST, || 2);
//!     child.await.unwrap() * 21
//! });
//!
//! assert_eq!(sum.join().unwrap(), 55);
//! assert_eq!(retry.join().unwrap(), "retried");
//! assert_eq!(job.join().unwrap(), 42);
//!
//! let report = rt.shutdown();
//! // sum, retry, job, child, and the sleep's timer (a sleep is a tiny timed task).
//! assert_eq!(report.completed, 5);
//! assert!(report.is_balanced());
//! # Ok::<(), kairos_rt::BuildError>(())
//! ```
//!
//! # Policies and observability
//!
//! - [`Task`] + [`Handle::spawn_with`]: deadlines (start-by; [`JoinError::is_expired`]),
//!   run timeouts for futures ([`JoinError::is_timed_out`]) and retries ([`RetryPolicy`],
//!   [`RetryOutcome`]).
//! - [`Handle::spawn_process`]: an OS command under a timeout and a concurrency cap.
//! - [`Builder::max_pending`]: backpressure ([`SpawnError::is_full`],
//!   [`Handle::spawn_async`]).
//! - [`Aging`] (on by default), [`JoinHandle::set_priority`],
//!   [`Builder::lifo_within_level`].
//! - [`Handle::pending`], [`JoinHandle::status`], [`Handle::metrics`] with
//!   [`MetricsSnapshot::to_prometheus`].
//!
//! ```
//! use kairos_rt::{Priority, RetryPolicy, Runtime, Task};
//! use std::time::{Duration, Instant};
//!
//! let rt = Runtime::builder().workers(2).max_pending(100_000).build()?;
//! let mut tries = 0;
//! let flaky = rt.spawn_with(
//!     Task::new(move || { tries += 1; if tries < 2 { Err("timeout") } else { Ok("paid") } })
//!         .priority(Priority::HIGH)
//!         .retry(RetryPolicy::exponential(Duration::from_millis(1), Duration::from_millis(20))),
//! ).unwrap();
//! let stale = rt.spawn_with(Task::new(|| ()).deadline(Instant::now() - Duration::from_secs(1))).unwrap();
//! assert_eq!(flaky.join().unwrap().result, Ok("paid"));
//! assert!(stale.join().unwrap_err().is_expired());
//! assert!(rt.metrics().to_prometheus().contains("kairos_tasks_expired_total 1"));
//! let report = rt.shutdown();
//! assert_eq!(report.expired, 1);
//! assert!(report.is_balanced());
//! # Ok::<(), kairos_rt::BuildError>(())
//! ```
//!
//! # Inside tasks
//!
//! [`spawn`], [`spawn_future`], [`sleep`], [`sleep_until`] and [`timeout`] find the
//! runtime of the task (or `block_on`) they are called from, and panic with a message
//! that says what to use instead when called elsewhere. [`yield_now`] needs no runtime.
#![deny(unsafe_op_in_unsafe_fn)]
#![warn(missing_docs, missing_debug_implementations)]

mod clock;
mod config;
mod error;
mod observe;
mod process;
mod runtime;
mod sched;
mod stats;
pub mod task;
mod time;

pub use config::Aging;
pub use error::{BuildError, Elapsed, SpawnError};
pub use kairos_rt_core::{InvalidPriority, Priority};
pub use observe::{LatencySummary, LevelCounts, MetricsSnapshot, PendingSnapshot, ShutdownReport};
pub use process::{ProcessError, ProcessOutput};
pub use runtime::{Builder, Handle, Runtime};
pub use task::{Jitter, RetryOutcome, RetryPolicy, RetryPolicyError, RetryTask, Task};
pub use task::{JoinError, JoinHandle, TaskId, TaskStatus};
pub use time::{sleep, sleep_until, timeout, yield_now, Sleep, Timeout, YieldNow};

use std::future::Future;

/// Runs `f` with a handle to the current thread's runtime: borrowed on a worker (no
/// reference-count traffic on the spawn path), cloned inside `block_on`.
///
/// # Panics
///
/// Outside a kairos task or `block_on`, with a message naming `what` to use instead.
fn with_current<R>(what: &str, instead: &str, f: impl FnOnce(&Handle) -> R) -> R {
    let mut f = Some(f);
    if let Some(r) = sched::context::with_worker(|w| {
        w.map(|w| (f.take().expect("called once"))(Handle::from_shared(w.shared())))
    }) {
        return r;
    }
    match sched::context::current_shared() {
        Some(shared) => (f.take().expect("called once"))(&Handle { shared }),
        None => panic!(
            "kairos_rt::{what} must be called from inside a kairos task or Runtime::block_on; \
             outside a runtime, use {instead} instead"
        ),
    }
}

/// Spawns a closure onto the runtime running the current task.
///
/// # Panics
///
/// Outside a kairos task or `Runtime::block_on`; use [`Handle::spawn`] there.
///
/// ```
/// # use kairos_rt::{Priority, Runtime};
/// let rt = Runtime::builder().workers(2).build().unwrap();
/// let parent = rt.spawn(Priority::NORMAL, || kairos_rt::spawn(Priority::HIGH, || 7));
/// assert_eq!(parent.join().unwrap().join().unwrap(), 7);
/// ```
pub fn spawn<F, T>(priority: Priority, f: F) -> JoinHandle<T>
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    with_current("spawn", "Runtime::spawn or Handle::spawn", |h| h.spawn(priority, f))
}

/// Spawns a future onto the runtime running the current task.
///
/// # Panics
///
/// Outside a kairos task or `Runtime::block_on`; use [`Handle::spawn_future`] there.
///
/// # Examples
///
/// ```
/// use kairos_rt::{Priority, Runtime};
///
/// let rt = Runtime::builder().workers(1).build()?;
/// let h = rt.spawn_future(Priority::NORMAL, async {
///     let child = kairos_rt::spawn_future(Priority::HIGH, async { 40 });
///     child.await.unwrap() + 2
/// });
/// assert_eq!(h.join().unwrap(), 42);
/// # Ok::<(), kairos_rt::BuildError>(())
/// ```
pub fn spawn_future<Fut>(priority: Priority, fut: Fut) -> JoinHandle<Fut::Output>
where
    Fut: Future + Send + 'static,
    Fut::Output: Send + 'static,
{
    with_current("spawn_future", "Runtime::spawn_future or Handle::spawn_future", |h| {
        h.spawn_future(priority, fut)
    })
}

/// A handle to the runtime running the current task, if any.
///
/// ```
/// use kairos_rt::{Priority, Runtime};
///
/// assert!(kairos_rt::try_current().is_none(), "not inside a task");
/// let rt = Runtime::builder().workers(1).build()?;
/// let inside = rt.spawn(Priority::NORMAL, || kairos_rt::try_current().is_some());
/// assert!(inside.join().unwrap());
/// # Ok::<(), kairos_rt::BuildError>(())
/// ```
pub fn try_current() -> Option<Handle> {
    sched::context::current_shared().map(|shared| Handle { shared })
}
