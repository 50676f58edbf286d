//! [`AsyncFn`]: a task made from a function that makes its future, so the future can be
//! made again for a retry ([`Task::from_async`]).
//!
//! Without a retry policy the function is called once, at the task's first poll, and its
//! future polled to completion: the task behaves like [`Task::future`] (same shutdown rule,
//! deadline and run timeout), at the cost of one allocation for the future. With
//! [`Task::retry`](Task#method.retry-1) each attempt calls the function again and awaits
//! the new future; see `builder.rs` and `retry_loop.rs`.
//!
//! Invariant: the function is only called by a worker polling the task, never at spawn
//! time, so a refused spawn hands the function back untouched.

use super::builder::{Spawnable, Task};
use crate::runtime::error::SpawnError;
use crate::Handle;
use kairos_rt_core::task::{FutureBody, JoinHandle};
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

/// The body of a task built by [`Task::from_async`]: a function that makes the task's
/// future (again for each attempt, when the task is retried).
///
/// ```
/// use kairos_rt::task::AsyncFn;
/// use kairos_rt::{Runtime, Task};
///
/// let rt = Runtime::builder().workers(1).build()?;
/// let task: Task<AsyncFn<_>> = Task::from_async(|| async { 6 * 7 });
/// assert_eq!(rt.spawn_with(task).unwrap().join().unwrap(), 42);
/// # Ok::<(), kairos_rt::BuildError>(())
/// ```
pub struct AsyncFn<F>(pub F);

impl<F> fmt::Debug for AsyncFn<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("AsyncFn(..)")
    }
}

impl<F, Fut> Task<AsyncFn<F>>
where
    F: FnMut() -> Fut + Send + 'static,
    Fut: Future + Send + 'static,
    Fut::Output: Send + 'static,
{
    /// A task whose future is made by `make` when a worker first polls it. Use it to
    /// [retry](Task#method.retry-1) an async call: each attempt calls `make` again and
    /// awaits the fresh future (a future that has completed cannot be polled again, so
    /// a retried task needs a way to make a new one).
    ///
    /// Not retried, it is [`Task::future`] with the future made lazily (one allocation
    /// for the future, at its first poll).
    ///
    /// ```
    /// use kairos_rt::{Priority, RetryPolicy, Runtime, Task};
    /// use std::sync::atomic::{AtomicU32, Ordering::SeqCst};
    /// use std::sync::Arc;
    /// use std::time::Duration;
    ///
    /// let rt = Runtime::builder().workers(2).build()?;
    /// let calls = Arc::new(AtomicU32::new(0));
    /// let c = calls.clone();
    /// // An async payment call that fails twice, then succeeds.
    /// let pay = rt.spawn_with(
    ///     Task::from_async(move || {
    ///         let n = c.fetch_add(1, SeqCst) + 1;
    ///         async move {
    ///             kairos_rt::sleep(Duration::from_millis(1)).await; // the "network"
    ///             if n < 3 { Err("503 busy") } else { Ok(n) }
    ///         }
    ///     })
    ///     .priority(Priority::HIGH)
    ///     .retry(RetryPolicy::exponential(Duration::from_millis(1), Duration::from_millis(20)).max_attempts(5)),
    /// ).unwrap();
    /// let outcome = pay.join().unwrap();
    /// assert_eq!((outcome.attempts, outcome.result), (3, Ok(3)));
    /// # Ok::<(), kairos_rt::BuildError>(())
    /// ```
    pub fn from_async(make: F) -> Self {
        Task::with_body(AsyncFn(make))
    }
}

/// The future of an [`AsyncFn`] task that is not retried: calls the function at the
/// first poll, then polls its future.
struct CallOnce<F, Fut> {
    make: Option<F>,
    running: Option<Pin<Box<Fut>>>,
}

impl<F, Fut> Unpin for CallOnce<F, Fut> {}

impl<F, Fut> Future for CallOnce<F, Fut>
where
    F: FnMut() -> Fut,
    Fut: Future,
{
    type Output = Fut::Output;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Fut::Output> {
        if let Some(mut make) = self.make.take() {
            self.running = Some(Box::pin(make()));
        }
        match self.running.as_mut() {
            Some(fut) => fut.as_mut().poll(cx),
            // Unreachable: `make` is taken at the first poll, which sets `running`, and
            // the harness never polls a finished task again.
            None => Poll::Pending,
        }
    }
}

impl<F> super::builder::sealed::Sealed for Task<AsyncFn<F>> {}

impl<F, Fut> Spawnable for Task<AsyncFn<F>>
where
    F: FnMut() -> Fut + Send + 'static,
    Fut: Future + Send + 'static,
    Fut::Output: Send + 'static,
{
    type Output = Fut::Output;

    fn spawn_on(self, handle: &Handle, wait: bool) -> Result<JoinHandle<Fut::Output>, SpawnError<Self>> {
        let lazy = self.map_body(|AsyncFn(make)| FutureBody(CallOnce { make: Some(make), running: None }));
        lazy.spawn_on(handle, wait).map_err(|e| {
            e.map(|t| {
                t.map_body(|FutureBody(call)| {
                    AsyncFn(call.make.expect("a refused task was never polled, so its function is there"))
                })
            })
        })
    }
}
