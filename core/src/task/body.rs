//! What a task runs: a closure (runs once) or a future (polled until ready).

use core::future::Future;
use core::pin::Pin;
use core::task::{Context, Poll};

/// The work inside a task.
///
/// # Safety
/// Implementations must follow the contract of [`Body::run`] exactly: the harness relies
/// on it to know whether the body is still in the cell.
pub unsafe trait Body: Send + 'static {
    /// What the body produces.
    type Output: Send + 'static;
    /// `true` for futures: the body can return `Pending`, stays in place after `run`
    /// until the harness drops it, and can be cancelled at a poll point.
    const IS_FUTURE: bool;
    /// For a future: whether a runtime that is shutting down still polls it when it
    /// finds it queued and *never started*, as it runs every queued closure (a future
    /// that stands for a closure, such as a retried one, keeps the closure's shutdown
    /// rule). Other futures are cancelled unpolled once shutdown begins. Closures ignore
    /// it: they always run.
    const STARTS_AT_SHUTDOWN: bool = false;
    /// Whether the task is one of the runtime's own timers (the no-op task behind a
    /// sleep, a timeout, a run-timeout limit or a retry backoff) rather than work a user
    /// submitted: the runtime counts such tasks apart from user tasks. It changes
    /// nothing in how the task runs.
    const IS_RUNTIME_TIMER: bool = false;

    /// Runs or polls the body. `Ready(Err(abort))` ends the task without an output,
    /// with the outcome the [`Abort`] names.
    ///
    /// # Safety
    /// `this` points to an initialised body that the caller owns exclusively. Closures
    /// move themselves out (the body is gone after the call, also if it panics or
    /// aborts) and never return `Pending`. Futures stay in place whatever the result;
    /// the caller drops them.
    unsafe fn run(this: *mut Self, cx: &mut Context<'_>) -> Poll<Result<Self::Output, Abort>>;
}

/// Why a body ended without running to its output.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Abort {
    /// Its deadline passed before it started ([`Outcome::Expired`](super::Outcome::Expired)).
    Expired,
    /// A future ran past its run timeout ([`Outcome::TimedOut`](super::Outcome::TimedOut)).
    TimedOut,
}

impl Abort {
    /// The outcome a task aborted this way ends with.
    pub fn outcome(self) -> super::Outcome {
        match self {
            Abort::Expired => super::Outcome::Expired,
            Abort::TimedOut => super::Outcome::TimedOut,
        }
    }
}

/// A closure body: runs once.
///
/// ```
/// use kairos_rt::task::Closure;
/// use kairos_rt::{Runtime, Task};
///
/// let rt = Runtime::builder().workers(1).build()?;
/// let task: Task<Closure<_>> = Task::new(|| 1 + 1); // the body type of a closure task
/// assert_eq!(rt.spawn_with(task).unwrap().join().unwrap(), 2);
/// rt.shutdown();
/// # Ok::<(), kairos_rt::BuildError>(())
/// ```
pub struct Closure<F>(pub F);

impl<F> core::fmt::Debug for Closure<F> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("Closure(..)")
    }
}

// SAFETY: `run` moves the closure out of `this` before calling it, as the contract for
// `IS_FUTURE == false` requires.
unsafe impl<F, T> Body for Closure<F>
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    type Output = T;
    const IS_FUTURE: bool = false;

    #[inline]
    unsafe fn run(this: *mut Self, _cx: &mut Context<'_>) -> Poll<Result<T, Abort>> {
        // SAFETY: the caller owns an initialised body and gives it up to this call.
        let Closure(f) = unsafe { this.read() };
        Poll::Ready(Ok(f()))
    }
}

/// A future body: polled in place until ready.
///
/// ```
/// use kairos_rt::task::FutureBody;
/// use kairos_rt::{Runtime, Task};
///
/// let rt = Runtime::builder().workers(1).build()?;
/// let task: Task<FutureBody<_>> = Task::future(async { 1 + 1 }); // the body type of a future task
/// assert_eq!(rt.spawn_with(task).unwrap().join().unwrap(), 2);
/// rt.shutdown();
/// # Ok::<(), kairos_rt::BuildError>(())
/// ```
pub struct FutureBody<F>(pub F);

impl<F> core::fmt::Debug for FutureBody<F> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("FutureBody(..)")
    }
}

// SAFETY: `run` polls the future in place and never moves or drops it, as the contract
// for `IS_FUTURE == true` requires.
unsafe impl<F> Body for FutureBody<F>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    type Output = F::Output;
    const IS_FUTURE: bool = true;

    #[inline]
    unsafe fn run(this: *mut Self, cx: &mut Context<'_>) -> Poll<Result<F::Output, Abort>> {
        // SAFETY: the cell never moves (it is heap-allocated and freed only at the last
        // reference), so pinning the future in place is sound.
        let fut = unsafe { Pin::new_unchecked(&mut (*this).0) };
        fut.poll(cx).map(Ok)
    }
}
