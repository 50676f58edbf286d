//! [`Spawnable`]: what [`Handle::spawn_with`] takes ([`Task`], [`RetryTask`],
//! [`BlockingTask`](super::BlockingTask)), sealed, and the `spawn_with` /
//! `try_spawn_with` entry points on [`Handle`] and [`Runtime`](crate::Runtime) (`try_`:
//! never waits for room).

use super::super::async_fn::AsyncFn;
use super::super::expiry;
use super::super::retry_loop::{retry_loop, retry_loop_async, RetryOutcome};
use super::retrying::spawn_retrying;
use super::{RetryTask, Task};
use crate::runtime::error::SpawnError;
use crate::sched::spawn::Admit;
use crate::Handle;
use kairos_rt_core::task::{Body, Closure, JoinHandle};
use std::future::Future;

pub(in crate::task) mod sealed {
    pub trait Sealed {}
}

/// Something [`Handle::spawn_with`] can spawn: a [`Task`], a [`RetryTask`] or a
/// [`BlockingTask`](super::BlockingTask).
///
/// ```
/// use kairos_rt::task::Spawnable;
/// use kairos_rt::{Handle, JoinHandle, Runtime, Task};
///
/// // Generic over every kind of task spawn_with takes.
/// fn start<S: Spawnable>(handle: &Handle, task: S) -> JoinHandle<S::Output> {
///     handle.spawn_with(task).unwrap_or_else(|e| panic!("refused: {e}"))
/// }
///
/// let rt = Runtime::builder().workers(1).build()?;
/// assert_eq!(start(&rt.handle(), Task::new(|| 1)).join().unwrap(), 1);
/// assert_eq!(start(&rt.handle(), Task::future(async { 2 })).join().unwrap(), 2);
/// rt.shutdown();
/// # Ok::<(), kairos_rt::BuildError>(())
/// ```
pub trait Spawnable: sealed::Sealed + Sized {
    /// What the task's handle resolves to.
    type Output: Send + 'static;

    #[doc(hidden)]
    fn spawn_on(self, handle: &Handle, wait: bool) -> Result<JoinHandle<Self::Output>, SpawnError<Self>>;
}

impl<B: Body> sealed::Sealed for Task<B> {}

impl<B: Body> Spawnable for Task<B> {
    type Output = B::Output;

    fn spawn_on(self, handle: &Handle, wait: bool) -> Result<JoinHandle<B::Output>, SpawnError<Self>> {
        let (mut body, settings) = self.policed();
        let expiry = body.link_expiry();
        let admit = if wait { Admit::Wait } else { Admit::Try };
        let task = handle
            .submit(body, settings.priority, settings.due(handle), admit)
            .map_err(|r| r.into_spawn_error(|p| settings.rebuild(p.inner)))?;
        if let Some((deadline, link)) = expiry {
            expiry::arm(handle, &task, deadline, link);
        }
        Ok(task)
    }
}

impl<B> sealed::Sealed for RetryTask<B> {}

impl<F, T, E> Spawnable for RetryTask<Closure<F>>
where
    F: FnMut() -> Result<T, E> + Send + 'static,
    T: Send + 'static,
    E: Send + 'static,
{
    type Output = RetryOutcome<T, E>;

    fn spawn_on(self, handle: &Handle, wait: bool) -> Result<JoinHandle<Self::Output>, SpawnError<Self>> {
        // A retried closure keeps the closure's shutdown rule: queued, it still runs.
        spawn_retrying::<_, _, _, true>(self, handle, wait, |Closure(f), policy, hooks| {
            Box::pin(retry_loop(f, policy, hooks))
        })
    }
}

impl<F, Fut, T, E> Spawnable for RetryTask<AsyncFn<F>>
where
    F: FnMut() -> Fut + Send + 'static,
    Fut: Future<Output = Result<T, E>> + Send + 'static,
    T: Send + 'static,
    E: Send + 'static,
{
    type Output = RetryOutcome<T, E>;

    fn spawn_on(self, handle: &Handle, wait: bool) -> Result<JoinHandle<Self::Output>, SpawnError<Self>> {
        // A retried async call keeps the futures' shutdown rule: queued, it is cancelled.
        spawn_retrying::<_, _, _, false>(self, handle, wait, |AsyncFn(f), policy, hooks| {
            Box::pin(retry_loop_async(f, policy, hooks))
        })
    }
}

impl Handle {
    /// Spawns a [`Task`] (or a [`RetryTask`]) with its policies. Like
    /// [`spawn`](Self::spawn), it waits for room when
    /// [`Builder::max_pending`](crate::Builder::max_pending) tasks wait (without
    /// blocking a worker thread).
    ///
    /// # Errors
    ///
    /// The task comes back inside a [`SpawnError`] if the runtime is shut down, or its
    /// settings are invalid (a retry policy that fails [`RetryPolicy::validate`](crate::RetryPolicy::validate)).
    ///
    /// ```
    /// use kairos_rt::{Priority, Runtime, Task};
    /// use std::time::{Duration, Instant};
    ///
    /// let rt = Runtime::builder().workers(1).build()?;
    /// let stale = rt.spawn_with(Task::new(|| 1).deadline(Instant::now() - Duration::from_secs(1))).unwrap();
    /// assert!(stale.join().unwrap_err().is_expired());
    /// # Ok::<(), kairos_rt::BuildError>(())
    /// ```
    pub fn spawn_with<S: Spawnable>(&self, task: S) -> Result<JoinHandle<S::Output>, SpawnError<S>> {
        task.spawn_on(self, true)
    }

    /// Like [`spawn_with`](Self::spawn_with), but never waits for room: a full runtime
    /// refuses the task ([`SpawnError::is_full`]).
    ///
    /// ```
    /// use kairos_rt::{Priority, Runtime, Task};
    ///
    /// let rt = Runtime::builder().workers(1).max_pending(1).build()?;
    /// let h = rt.handle().try_spawn_with(Task::new(|| 5).priority(Priority::HIGH)).unwrap();
    /// assert_eq!(h.join().unwrap(), 5);
    /// rt.shutdown();
    /// # Ok::<(), kairos_rt::BuildError>(())
    /// ```
    pub fn try_spawn_with<S: Spawnable>(&self, task: S) -> Result<JoinHandle<S::Output>, SpawnError<S>> {
        task.spawn_on(self, false)
    }
}

impl crate::Runtime {
    /// See [`Handle::spawn_with`].
    ///
    /// ```
    /// # use kairos_rt::{Priority, Task};
    /// # let rt = kairos_rt::Runtime::builder().workers(1).build()?;
    /// let h = rt.spawn_with(Task::new(|| 5).priority(Priority::HIGH)).unwrap();
    /// assert_eq!(h.join().unwrap(), 5);
    /// # Ok::<(), kairos_rt::BuildError>(())
    /// ```
    pub fn spawn_with<S: Spawnable>(&self, task: S) -> Result<JoinHandle<S::Output>, SpawnError<S>> {
        self.handle.spawn_with(task)
    }

    /// See [`Handle::try_spawn_with`].
    ///
    /// ```
    /// # use kairos_rt::{Priority, Task};
    /// # let rt = kairos_rt::Runtime::builder().workers(1).build()?;
    /// let h = rt.try_spawn_with(Task::new(|| 5).priority(Priority::HIGH)).unwrap();
    /// assert_eq!(h.join().unwrap(), 5);
    /// # Ok::<(), kairos_rt::BuildError>(())
    /// ```
    pub fn try_spawn_with<S: Spawnable>(&self, task: S) -> Result<JoinHandle<S::Output>, SpawnError<S>> {
        self.handle.try_spawn_with(task)
    }
}
