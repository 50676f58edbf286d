//! The retry loop behind [`Task::retry`](crate::Task::retry): runs attempts until one
//! succeeds or the policy's attempts are used up, pausing between them on a wheel timer,
//! and reports each pause to its [`RetryHooks`] (the runtime's retry gauges).
//!
//! Rules: `resumed` follows every `waiting` exactly once, even when the future is
//! dropped mid-pause; no attempt starts once the runtime has begun shutting down; no
//! policy, validated or not, makes the loop panic (only a retried panic is re-raised).

use super::retry_policy::RetryPolicy;
use std::any::Any;
use std::future::{poll_fn, Future};
use std::panic::{catch_unwind, resume_unwind, AssertUnwindSafe};
use std::pin::pin;
use std::task::Poll;
use std::time::Duration;

/// How a retried task ended: the last attempt's result and how many attempts ran.
///
/// ```
/// use kairos_rt::RetryOutcome;
///
/// let out: RetryOutcome<u32, String> = RetryOutcome { result: Ok(7), attempts: 3 };
/// assert!(out.is_ok());
/// assert_eq!(out.attempts(), 3);
/// assert_eq!(out.into_result(), Ok(7));
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RetryOutcome<T, E> {
    /// The last attempt's result: the first `Ok`, or the last `Err` once attempts ran out.
    pub result: Result<T, E>,
    /// Attempts that ran, the first one included (at least 1).
    pub attempts: u32,
}

impl<T, E> RetryOutcome<T, E> {
    /// Whether an attempt succeeded.
    ///
    /// ```
    /// # use kairos_rt::RetryOutcome;
    /// assert!(!RetryOutcome::<(), &str> { result: Err("down"), attempts: 3 }.is_ok());
    /// ```
    pub fn is_ok(&self) -> bool {
        self.result.is_ok()
    }

    /// Whether every attempt failed.
    ///
    /// ```
    /// # use kairos_rt::RetryOutcome;
    /// assert!(RetryOutcome::<(), &str> { result: Err("down"), attempts: 3 }.is_err());
    /// ```
    pub fn is_err(&self) -> bool {
        self.result.is_err()
    }

    /// The last attempt's result.
    ///
    /// ```
    /// # use kairos_rt::RetryOutcome;
    /// let out = RetryOutcome::<(), &str> { result: Err("down"), attempts: 2 };
    /// assert_eq!(out.into_result(), Err("down"));
    /// ```
    pub fn into_result(self) -> Result<T, E> {
        self.result
    }

    /// Attempts that ran, the first one included.
    ///
    /// ```
    /// # use kairos_rt::RetryOutcome;
    /// assert_eq!(RetryOutcome::<u8, ()> { result: Ok(1), attempts: 1 }.attempts(), 1);
    /// ```
    pub fn attempts(&self) -> u32 {
        self.attempts
    }
}

/// Observes a retry loop's backoff waits, so the runtime can keep its "waiting for a
/// retry" gauge exact.
///
/// `waiting` is called right before every pause between attempts (also a zero-delay
/// pause, which yields instead of using a timer) and `resumed` exactly once after each,
/// also when the retry future is dropped mid-wait (cancellation, shutdown). Neither may
/// panic: `resumed` can run inside a drop during unwinding.
pub(crate) trait RetryHooks: Send + 'static {
    /// A pause before attempt `next_attempt` begins; it lasts `delay` (jitter applied).
    fn waiting(&mut self, next_attempt: u32, delay: Duration);
    /// The pause announced by the last `waiting` ended (or its future was dropped).
    fn resumed(&mut self);
    /// Attempt `attempt` (at least 2) is about to run: called once per retry that
    /// actually starts, unlike `resumed`, which also follows a pause whose future was
    /// dropped or that ended in shutdown. Does nothing by default.
    fn retrying(&mut self, attempt: u32) {
        let _ = attempt;
    }
}

/// No hooks.
impl RetryHooks for () {
    fn waiting(&mut self, _next_attempt: u32, _delay: Duration) {}
    fn resumed(&mut self) {}
}

/// Calls `resumed` when dropped: at the end of a pause, or when the future is dropped
/// during it.
struct Resume<'a, H: RetryHooks>(&'a mut H);

impl<H: RetryHooks> Drop for Resume<'_, H> {
    fn drop(&mut self) {
        self.0.resumed();
    }
}

/// A failed attempt, kept through the following pause in case the runtime shuts down
/// and no further attempt may start.
enum Failure<E> {
    Error(E),
    Panic(Box<dyn Any + Send + 'static>),
}

impl<E> Failure<E> {
    /// The outcome of a loop that ends on this failure; a panic is re-raised.
    fn finish<T>(self, attempts: u32) -> RetryOutcome<T, E> {
        match self {
            Failure::Error(e) => RetryOutcome { result: Err(e), attempts },
            Failure::Panic(payload) => resume_unwind(payload),
        }
    }
}

/// Whether the runtime running this future has begun shutting down.
fn runtime_closing() -> bool {
    crate::sched::context::current_shared().is_some_and(|s| s.is_closed())
}

/// Waits `delay` before attempt `next_attempt`: a timer in the runtime's wheel, or a
/// yield (re-queued behind the work at the same level) for a zero delay.
async fn pause<H: RetryHooks>(hooks: &mut H, next_attempt: u32, delay: Duration) {
    hooks.waiting(next_attempt, delay);
    let _resume = Resume(hooks);
    if delay.is_zero() {
        crate::yield_now().await;
    } else {
        crate::sleep(delay).await;
    }
}

/// Runs one attempt, catching a panic in making or polling its future.
async fn attempt_caught<F, Fut, T, E>(f: &mut F) -> Result<Result<T, E>, Box<dyn Any + Send + 'static>>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, E>>,
{
    let fut = catch_unwind(AssertUnwindSafe(f))?;
    let mut fut = pin!(fut);
    poll_fn(|cx| match catch_unwind(AssertUnwindSafe(|| fut.as_mut().poll(cx))) {
        Ok(Poll::Ready(r)) => Poll::Ready(Ok(r)),
        Ok(Poll::Pending) => Poll::Pending,
        Err(payload) => Poll::Ready(Err(payload)),
    })
    .await
}

/// Runs `f` until it returns `Ok` or `policy`'s attempts are used up, pausing between
/// attempts as the policy says; see the [module docs](super).
///
/// Panics of `f` propagate (ending the task as a panic) unless the policy retries them;
/// a panic on the last attempt is always re-raised. The policy should have been
/// [validated](RetryPolicy::validate), but no policy makes the loop itself panic:
/// `max_attempts(0)` is treated as 1.
pub(crate) async fn retry_loop<F, T, E, H>(mut f: F, policy: RetryPolicy, hooks: H) -> RetryOutcome<T, E>
where
    F: FnMut() -> Result<T, E> + Send + 'static,
    T: Send + 'static,
    E: Send + 'static,
    H: RetryHooks,
{
    retry_loop_async(move || std::future::ready(f()), policy, hooks).await
}

/// [`retry_loop`] for attempts that are futures: each attempt awaits a fresh `f()`.
///
/// With `retry_on_panic`, a panic while making or polling an attempt's future counts as
/// a failure (the broken future is dropped).
pub(crate) async fn retry_loop_async<F, Fut, T, E, H>(
    mut f: F,
    policy: RetryPolicy,
    mut hooks: H,
) -> RetryOutcome<T, E>
where
    F: FnMut() -> Fut + Send + 'static,
    Fut: Future<Output = Result<T, E>> + Send,
    T: Send + 'static,
    E: Send + 'static,
    H: RetryHooks,
{
    let max_attempts = policy.max_attempts.max(1);
    let mut attempt: u32 = 0;
    loop {
        // Never overflows: the loop ends once `attempt` reaches `max_attempts`.
        attempt += 1;
        let failure = if policy.retry_on_panic {
            match attempt_caught(&mut f).await {
                Ok(Ok(v)) => return RetryOutcome { result: Ok(v), attempts: attempt },
                Ok(Err(e)) => Failure::Error(e),
                Err(payload) => Failure::Panic(payload),
            }
        } else {
            match f().await {
                Ok(v) => return RetryOutcome { result: Ok(v), attempts: attempt },
                Err(e) => Failure::Error(e),
            }
        };
        if attempt >= max_attempts {
            return failure.finish(attempt);
        }
        pause(&mut hooks, attempt + 1, policy.jittered_delay_before(attempt + 1)).await;
        if runtime_closing() {
            return failure.finish(attempt);
        }
        drop(failure);
        hooks.retrying(attempt + 1);
    }
}
