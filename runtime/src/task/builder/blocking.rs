//! [`Task::blocking`]: a [`Task`] whose closure runs on the blocking pool
//! (`sched::blocking`) instead of a worker, with the task's priority, deadline and
//! timeout (for a closure, a start-by limit), spawned with `spawn_with` like any `Task`.
//! A deadline arms the same expiry timer (`task::expiry`, on the workers' wheels) as for
//! a task on the workers, so a job still queued at its deadline ends `Expired` then.
//!
//! A blocking task starts now: a start time (`after`, `at`) makes `spawn_with` refuse it
//! ([`SpawnError::is_invalid`]), since the pool has no timers (spawn a timed closure that
//! calls `spawn_blocking` instead); and it is not retried (a [`RetryTask`](super::RetryTask)
//! runs on the workers).

use super::{Settings, Spawnable, Start, Task};
use crate::runtime::error::SpawnError;
use crate::sched::spawn::Admit;
use crate::Handle;
use kairos_rt_core::task::{Closure, JoinHandle};
use std::fmt;

/// A [`Task`] that runs on the blocking pool; made by [`Task::blocking`].
///
/// ```
/// use kairos_rt::{BlockingTask, Priority, Runtime, Task};
///
/// let rt = Runtime::builder().workers(1).build()?;
/// let job: BlockingTask<_> = Task::new(|| 2 + 2).priority(Priority::HIGH).blocking();
/// assert_eq!(rt.spawn_with(job).unwrap().join().unwrap(), 4);
/// # Ok::<(), kairos_rt::BuildError>(())
/// ```
#[must_use = "a BlockingTask does nothing until it is spawned with spawn_with"]
pub struct BlockingTask<F> {
    task: Task<Closure<F>>,
}

impl<F> fmt::Debug for BlockingTask<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BlockingTask").field("task", &self.task).finish()
    }
}

impl<F> BlockingTask<F> {
    /// The closure back (from a refused spawn).
    ///
    /// ```
    /// use kairos_rt::{Runtime, Task};
    /// use std::time::Duration;
    ///
    /// let rt = Runtime::builder().workers(1).build()?;
    /// // A start time is refused (the blocking pool has no timers): the closure comes back.
    /// let refused = rt.spawn_with(Task::new(|| 7).after(Duration::from_secs(1)).blocking()).unwrap_err();
    /// assert_eq!((refused.into_inner().into_inner())(), 7);
    /// # Ok::<(), kairos_rt::BuildError>(())
    /// ```
    pub fn into_inner(self) -> F {
        self.task.body.0
    }
}

impl<F, T> Task<Closure<F>>
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    /// Runs the closure on the runtime's blocking pool, as
    /// [`Handle::spawn_blocking`](crate::Handle::spawn_blocking) does, with the task's
    /// [`priority`](Self::priority) (its place in the pool's queue),
    /// [`deadline`](Self::deadline) and [`timeout`](Self::timeout) (both start-by limits
    /// for a closure: checked when a blocking thread reaches the job). It must start now:
    /// with [`after`](Self::after) or [`at`](Self::at), `spawn_with` refuses it
    /// ([`SpawnError::is_invalid`]).
    ///
    /// ```
    /// use kairos_rt::{Priority, Runtime, Task};
    /// use std::time::{Duration, Instant};
    ///
    /// let rt = Runtime::builder().workers(1).build()?;
    /// let read = rt.spawn_with(
    ///     Task::new(|| std::fs::read_to_string("Cargo.toml").is_ok())
    ///         .priority(Priority::HIGH)
    ///         .deadline(Instant::now() + Duration::from_secs(60))
    ///         .blocking(),
    /// ).unwrap();
    /// assert!(read.join().unwrap());
    /// let later = rt.spawn_with(Task::new(|| ()).after(Duration::from_secs(1)).blocking());
    /// assert!(later.unwrap_err().is_invalid());
    /// # Ok::<(), kairos_rt::BuildError>(())
    /// ```
    pub fn blocking(self) -> BlockingTask<F> {
        BlockingTask { task: self }
    }
}

impl<F, T> super::spawnable::sealed::Sealed for BlockingTask<F>
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
}

impl<F, T> Spawnable for BlockingTask<F>
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    type Output = T;

    fn spawn_on(self, handle: &Handle, wait: bool) -> Result<JoinHandle<T>, SpawnError<Self>> {
        if self.task.start != Start::Now {
            return Err(SpawnError::invalid(
                self,
                "a blocking task starts now: the blocking pool has no timers (drop `after`/`at`, or spawn a \
                 timed closure that calls spawn_blocking)"
                    .to_string(),
            ));
        }
        let (mut body, settings): (_, Settings) = self.task.policed();
        let expiry = body.link_expiry();
        let admit = if wait { Admit::Wait } else { Admit::Try };
        let task = handle
            .shared
            .submit_blocking(body, settings.priority, admit)
            .map_err(|r| r.into_spawn_error(|p| BlockingTask { task: settings.rebuild(p.inner) }))?;
        if let Some((deadline, link)) = expiry {
            // As for any task with a deadline: an expiry timer on the workers ends the job
            // `Expired` at its deadline if no blocking thread started it by then.
            super::super::expiry::arm(handle, &task, deadline, link);
        }
        Ok(task)
    }
}
