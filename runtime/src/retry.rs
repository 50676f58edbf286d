//! Retry policies ([`RetryPolicy`]) and the retry loop behind `Task::retry`.
//!
//! # What a retry is
//!
//! A task with a retry policy returns `Result<T, E>`. When an attempt returns `Err`, the
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
//!   large for a [`Duration`] is simply `max_delay`.
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
//!
//! # Edge values
//!
//! [`RetryPolicy::validate`] rejects, with a [`RetryPolicyError`] naming the problem:
//!
//! - `max_attempts(0)`: zero attempts would never run the task;
//! - an exponential policy whose `max_delay` is shorter than its `base`.
//!
//! Everything else has a documented meaning:
//!
//! - a zero delay (`fixed(Duration::ZERO)`, or `exponential` with a zero base) retries
//!   at once: the task yields and is re-queued behind the work already waiting at its
//!   priority level; no timer is used;
//! - a huge delay is capped at `max_delay` (exponential) and never overflows;
//! - `Duration::MAX` (as a fixed delay or as `max_delay`) is allowed: a wait that long
//!   never comes due, so the retry waits until its task is cancelled or the runtime
//!   shuts down; then the handle's error reports
//!   [`is_shutdown`](crate::JoinError::is_shutdown) (or [`is_cancelled`](crate::JoinError::is_cancelled));
//! - once the runtime has begun shutting down, no new attempt starts: a retry whose
//!   wait ends then finishes with its last failure (its error, or its panic re-raised),
//!   if its task is still polled at all (spawned tasks are cancelled at shutdown).
//!
//! Even an unvalidated policy never makes the retry loop panic: `max_attempts(0)` runs
//! one attempt, and an inverted exponential policy waits `max_delay` before every retry.

use std::any::Any;
use std::fmt;
use std::future::{poll_fn, Future};
use std::panic::{catch_unwind, resume_unwind, AssertUnwindSafe};
use std::pin::pin;
use std::task::Poll;
use std::time::Duration;

const NANOS_PER_SEC: u128 = 1_000_000_000;

/// How long to wait between failed attempts of a retried task, how many attempts to
/// make, and whether panics are retried.
///
/// Defaults: 3 attempts in total, [`Jitter::None`], panics are not retried.
///
/// # Meaning
///
/// A failed attempt (an `Err`, or a panic with [`retry_on_panic(true)`](Self::retry_on_panic))
/// re-queues the *same* task at its own priority after the backoff delay. The wait is a
/// timer in the runtime's timing wheel: no thread is held while a retry waits.
/// Attempts are numbered from 1; attempt `k + 1` runs after `k` failures and
/// [`delay_before(k + 1)`](Self::delay_before). The task's handle resolves with a
/// [`RetryOutcome`]: the last attempt's result and the number of attempts that ran.
///
/// # Edge values
///
/// [`validate`](Self::validate) rejects `max_attempts(0)` and an exponential policy whose
/// `max_delay` is shorter than its `base`. Everything else has a meaning:
///
/// - a zero delay (`fixed(Duration::ZERO)`, or `exponential` with a zero base) retries
///   at once: the task yields and is re-queued behind the work already waiting at its
///   priority level, without a timer;
/// - exponential delays are capped at `max_delay` and never overflow;
/// - `Duration::MAX` (as a fixed delay or as `max_delay`) is allowed: such a wait never
///   comes due, so the retry waits until its task is cancelled or the runtime shuts
///   down, and the handle's error then reports [`is_cancelled`](crate::JoinError::is_cancelled)
///   or [`is_shutdown`](crate::JoinError::is_shutdown);
/// - once the runtime has begun shutting down, no new attempt starts.
///
/// # Examples
///
/// ```
/// use kairos_rt::{Jitter, RetryPolicy};
/// use std::time::Duration;
///
/// let policy = RetryPolicy::exponential(Duration::from_millis(10), Duration::from_secs(1))
///     .max_attempts(5)
///     .jitter(Jitter::Equal);
/// assert!(policy.validate().is_ok());
/// // Before attempts 2, 3, 4, 5 (jitter aside): 10 ms, 20 ms, 40 ms, 80 ms.
/// assert_eq!(policy.delay_before(2), Duration::from_millis(10));
/// assert_eq!(policy.delay_before(5), Duration::from_millis(80));
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RetryPolicy {
    backoff: Backoff,
    max_attempts: u32,
    jitter: Jitter,
    retry_on_panic: bool,
    retry_priority: Option<kairos_rt_core::Priority>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Backoff {
    Fixed(Duration),
    Exponential { base: Duration, max_delay: Duration },
}

/// Random spreading of retry delays, so that tasks that failed together do not all come
/// back at the same instant (AWS "exponential backoff and jitter"). It is applied after
/// the `max_delay` cap, so a wait never exceeds it.
///
/// With a computed delay `d`:
///
/// ```
/// use kairos_rt::{Jitter, RetryPolicy};
/// use std::time::Duration;
///
/// // Full: uniform in [0, d]. Equal: d/2 + uniform in [0, d/2]. None: exactly d.
/// let policy = RetryPolicy::fixed(Duration::from_millis(100)).jitter(Jitter::Full);
/// assert_eq!(policy.delay_before(2), Duration::from_millis(100)); // before jitter
/// assert_eq!(Jitter::default(), Jitter::None);
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Jitter {
    /// Wait exactly the computed delay.
    #[default]
    None,
    /// Wait a uniformly random time in `[0, d]`.
    Full,
    /// Wait `d/2` plus a uniformly random time in `[0, d/2]`.
    Equal,
}

impl Jitter {
    /// `d` with this jitter applied; `rand_upto(n)` must return a uniform value in `[0, n]`.
    fn apply(self, d: Duration, rand_upto: impl FnOnce(u128) -> u128) -> Duration {
        let n = d.as_nanos();
        let jittered = match self {
            Jitter::None => return d,
            Jitter::Full => rand_upto(n).min(n),
            Jitter::Equal => {
                let half = n / 2;
                half + rand_upto(n - half).min(n - half)
            }
        };
        duration_from_nanos(jittered)
    }
}

/// A `Duration` of `n` nanoseconds, saturating at `Duration::MAX`.
fn duration_from_nanos(n: u128) -> Duration {
    match u64::try_from(n / NANOS_PER_SEC) {
        // The remainder is below 10^9, so it fits a u32.
        Ok(secs) => Duration::new(secs, (n % NANOS_PER_SEC) as u32),
        Err(_) => Duration::MAX,
    }
}

impl RetryPolicy {
    /// Exponential backoff: the delay before attempt `k + 1` (after `k` failures) is
    /// `min(base × 2^(k-1), max_delay)`, without overflow.
    ///
    /// A zero `base` retries at once (no timer). `max_delay` may be `Duration::MAX` (no
    /// cap). [`validate`](Self::validate) rejects `max_delay < base`.
    ///
    /// ```
    /// use kairos_rt::RetryPolicy;
    /// use std::time::Duration;
    ///
    /// let p = RetryPolicy::exponential(Duration::from_millis(1), Duration::from_millis(5));
    /// let delays: Vec<_> = (2..=6).map(|a| p.delay_before(a).as_millis()).collect();
    /// assert_eq!(delays, [1, 2, 4, 5, 5]);
    /// ```
    pub fn exponential(base: Duration, max_delay: Duration) -> RetryPolicy {
        RetryPolicy::with_backoff(Backoff::Exponential { base, max_delay })
    }

    /// The same `delay` before every retry. A zero delay retries at once (no timer).
    ///
    /// ```
    /// use kairos_rt::RetryPolicy;
    /// use std::time::Duration;
    ///
    /// let p = RetryPolicy::fixed(Duration::from_millis(3));
    /// assert_eq!(p.delay_before(2), p.delay_before(100));
    /// ```
    pub fn fixed(delay: Duration) -> RetryPolicy {
        RetryPolicy::with_backoff(Backoff::Fixed(delay))
    }

    fn with_backoff(backoff: Backoff) -> RetryPolicy {
        RetryPolicy {
            backoff,
            max_attempts: 3,
            jitter: Jitter::None,
            retry_on_panic: false,
            retry_priority: None,
        }
    }

    /// At most `n` attempts in total, the first one included (default 3). `1` means no
    /// retry; `0` is rejected by [`validate`](Self::validate).
    ///
    /// ```
    /// use kairos_rt::RetryPolicy;
    /// use std::time::Duration;
    ///
    /// let p = RetryPolicy::fixed(Duration::from_millis(1)).max_attempts(0);
    /// assert!(p.validate().unwrap_err().is_zero_attempts());
    /// ```
    pub fn max_attempts(mut self, n: u32) -> RetryPolicy {
        self.max_attempts = n;
        self
    }

    /// Random spreading of the delays (default [`Jitter::None`]).
    ///
    /// ```
    /// use kairos_rt::{Jitter, RetryPolicy};
    /// use std::time::Duration;
    ///
    /// let p = RetryPolicy::fixed(Duration::from_millis(10)).jitter(Jitter::Full);
    /// assert_eq!(p.jitter_mode(), Jitter::Full);
    /// ```
    pub fn jitter(mut self, jitter: Jitter) -> RetryPolicy {
        self.jitter = jitter;
        self
    }

    /// Whether a panicking attempt counts as a failure to retry (default `false`: a
    /// panic ends the task as a panic at once).
    ///
    /// With `true`, a panic on the last attempt is still re-raised, so the task's handle
    /// reports [`is_panic`](crate::JoinError::is_panic).
    ///
    /// ```
    /// use kairos_rt::RetryPolicy;
    /// use std::time::Duration;
    ///
    /// let p = RetryPolicy::fixed(Duration::from_millis(1)).retry_on_panic(true);
    /// assert!(p.retries_panics());
    /// ```
    pub fn retry_on_panic(mut self, retry: bool) -> RetryPolicy {
        self.retry_on_panic = retry;
        self
    }

    /// The maximum number of attempts, as set by [`max_attempts`](Self::max_attempts).
    ///
    /// ```
    /// # use kairos_rt::RetryPolicy;
    /// # use std::time::Duration;
    /// assert_eq!(RetryPolicy::fixed(Duration::ZERO).attempts_limit(), 3);
    /// ```
    pub fn attempts_limit(&self) -> u32 {
        self.max_attempts
    }

    /// The jitter, as set by [`jitter`](Self::jitter).
    ///
    /// ```
    /// # use kairos_rt::{Jitter, RetryPolicy};
    /// # use std::time::Duration;
    /// assert_eq!(RetryPolicy::fixed(Duration::ZERO).jitter_mode(), Jitter::None);
    /// ```
    pub fn jitter_mode(&self) -> Jitter {
        self.jitter
    }

    /// Whether panics are retried, as set by [`retry_on_panic`](Self::retry_on_panic).
    ///
    /// ```
    /// # use kairos_rt::RetryPolicy;
    /// # use std::time::Duration;
    /// assert!(!RetryPolicy::fixed(Duration::ZERO).retries_panics());
    /// ```
    pub fn retries_panics(&self) -> bool {
        self.retry_on_panic
    }

    /// Runs the attempts after the first at `priority` instead of the task's own
    /// (default: the task's priority). A payment retry can drop below fresh work, or an
    /// alert's retries rise above it.
    ///
    /// ```
    /// use kairos_rt::{Priority, RetryPolicy};
    /// use std::time::Duration;
    ///
    /// let p = RetryPolicy::fixed(Duration::from_millis(5)).retry_priority(Priority::LOW);
    /// assert_eq!(p.retries_at(), Some(Priority::LOW));
    /// ```
    pub fn retry_priority(mut self, priority: kairos_rt_core::Priority) -> RetryPolicy {
        self.retry_priority = Some(priority);
        self
    }

    /// The priority of attempts after the first, if [`retry_priority`](Self::retry_priority)
    /// set one.
    pub fn retries_at(&self) -> Option<kairos_rt_core::Priority> {
        self.retry_priority
    }

    /// The backoff delay before attempt number `attempt` (numbered from 1), without
    /// jitter. `attempt` 0 and 1 have no delay ([`Duration::ZERO`]): the first attempt
    /// runs at once. Never overflows or panics, whatever the values.
    ///
    /// ```
    /// use kairos_rt::RetryPolicy;
    /// use std::time::Duration;
    ///
    /// let p = RetryPolicy::exponential(Duration::from_secs(1), Duration::from_secs(60));
    /// assert_eq!(p.delay_before(1), Duration::ZERO);
    /// assert_eq!(p.delay_before(2), Duration::from_secs(1));
    /// assert_eq!(p.delay_before(4), Duration::from_secs(4));
    /// assert_eq!(p.delay_before(u32::MAX), Duration::from_secs(60));
    /// ```
    pub fn delay_before(&self, attempt: u32) -> Duration {
        if attempt < 2 {
            return Duration::ZERO;
        }
        match self.backoff {
            Backoff::Fixed(d) => d,
            Backoff::Exponential { base, max_delay } => {
                // Failed attempts so far: k = attempt - 1 >= 1; the factor is 2^(k-1).
                let shift = attempt - 2;
                let base_n = base.as_nanos();
                let scaled = if base_n == 0 {
                    0
                } else if shift > base_n.leading_zeros() {
                    u128::MAX
                } else {
                    base_n << shift
                };
                let capped = scaled.min(max_delay.as_nanos());
                duration_from_nanos(capped)
            }
        }
    }

    /// [`delay_before`](Self::delay_before) with the policy's jitter applied (thread-local
    /// random numbers).
    fn jittered_delay_before(&self, attempt: u32) -> Duration {
        self.jitter.apply(self.delay_before(attempt), |n| fastrand::u128(0..=n))
    }

    /// Checks that the policy makes sense.
    ///
    /// # Errors
    ///
    /// - [`max_attempts(0)`](Self::max_attempts): zero attempts would never run the task
    ///   ([`RetryPolicyError::is_zero_attempts`]);
    /// - an exponential policy with `max_delay < base`
    ///   ([`RetryPolicyError::is_inverted_delays`]).
    ///
    /// Zero and huge delays (up to `Duration::MAX`) are valid; see
    /// [Edge values](Self#edge-values) for what they mean.
    ///
    /// ```
    /// use kairos_rt::RetryPolicy;
    /// use std::time::Duration;
    ///
    /// let bad = RetryPolicy::exponential(Duration::from_secs(2), Duration::from_secs(1));
    /// let err = bad.validate().unwrap_err();
    /// assert!(err.is_inverted_delays());
    /// assert!(err.to_string().contains("max_delay"));
    /// assert!(RetryPolicy::fixed(Duration::MAX).validate().is_ok());
    /// ```
    pub fn validate(&self) -> Result<(), RetryPolicyError> {
        if self.max_attempts == 0 {
            return Err(RetryPolicyError { kind: ErrorKind::ZeroAttempts });
        }
        if let Backoff::Exponential { base, max_delay } = self.backoff {
            if max_delay < base {
                return Err(RetryPolicyError { kind: ErrorKind::InvertedDelays { base, max_delay } });
            }
        }
        Ok(())
    }
}

/// Why a [`RetryPolicy`] was rejected by [`RetryPolicy::validate`]. Its `Display` says
/// exactly what was wrong.
///
/// ```
/// use kairos_rt::RetryPolicy;
/// use std::time::Duration;
///
/// let err = RetryPolicy::fixed(Duration::from_millis(1)).max_attempts(0).validate().unwrap_err();
/// assert!(err.is_zero_attempts());
/// assert_eq!(
///     err.to_string(),
///     "max_attempts must be at least 1: 0 attempts would never run the task"
/// );
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RetryPolicyError {
    kind: ErrorKind,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum ErrorKind {
    ZeroAttempts,
    InvertedDelays { base: Duration, max_delay: Duration },
}

impl RetryPolicyError {
    /// The policy had `max_attempts(0)`.
    pub fn is_zero_attempts(&self) -> bool {
        matches!(self.kind, ErrorKind::ZeroAttempts)
    }

    /// The exponential policy's `max_delay` was shorter than its `base`.
    pub fn is_inverted_delays(&self) -> bool {
        matches!(self.kind, ErrorKind::InvertedDelays { .. })
    }
}

impl fmt::Display for RetryPolicyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.kind {
            ErrorKind::ZeroAttempts => {
                f.write_str("max_attempts must be at least 1: 0 attempts would never run the task")
            }
            ErrorKind::InvertedDelays { base, max_delay } => write!(
                f,
                "max_delay ({max_delay:?}) is shorter than base ({base:?}): an exponential backoff \
                 starts at base and is capped at max_delay, so max_delay must be at least base"
            ),
        }
    }
}

impl std::error::Error for RetryPolicyError {}

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
/// attempts as the policy says; see the [module docs](self).
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
#[allow(dead_code)] // Not wired yet: `Task` retries closures only.
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Priority, Runtime};
    use std::sync::atomic::{AtomicU32, Ordering::SeqCst};
    use std::sync::{Arc, Mutex};

    const MS: Duration = Duration::from_millis(1);

    fn runtime() -> Runtime {
        Runtime::builder().workers(2).build().expect("runtime")
    }

    /// Counts hook calls; records `(next_attempt, delay)` of every `waiting`.
    #[derive(Clone, Default)]
    struct TestHooks {
        waits: Arc<Mutex<Vec<(u32, Duration)>>>,
        resumed: Arc<AtomicU32>,
        retried: Arc<Mutex<Vec<u32>>>,
    }

    impl TestHooks {
        fn waiting_count(&self) -> usize {
            self.waits.lock().unwrap().len()
        }
        fn resumed_count(&self) -> usize {
            self.resumed.load(SeqCst) as usize
        }
        /// Waits (bounded) until `waiting` was called `n` times.
        fn await_waiting(&self, n: usize) {
            let give_up = std::time::Instant::now() + Duration::from_secs(20);
            while self.waiting_count() < n {
                assert!(std::time::Instant::now() < give_up, "waiting hook never called");
                std::thread::sleep(MS);
            }
        }
    }

    impl RetryHooks for TestHooks {
        fn waiting(&mut self, next_attempt: u32, delay: Duration) {
            self.waits.lock().unwrap().push((next_attempt, delay));
        }
        fn resumed(&mut self) {
            self.resumed.fetch_add(1, SeqCst);
        }
        fn retrying(&mut self, attempt: u32) {
            self.retried.lock().unwrap().push(attempt);
        }
    }

    /// A closure failing with its attempt number until attempt `ok_at`.
    fn fails_until(ok_at: u32) -> impl FnMut() -> Result<&'static str, u32> + Send + 'static {
        let mut n = 0;
        move || {
            n += 1;
            if n >= ok_at {
                Ok("done")
            } else {
                Err(n)
            }
        }
    }

    #[test]
    fn exponential_doubles_then_caps() {
        let p = RetryPolicy::exponential(10 * MS, 75 * MS);
        let got: Vec<Duration> = (1..=7).map(|a| p.delay_before(a)).collect();
        assert_eq!(got, [Duration::ZERO, 10 * MS, 20 * MS, 40 * MS, 75 * MS, 75 * MS, 75 * MS]);
        assert_eq!(p.delay_before(0), Duration::ZERO);
    }

    #[test]
    fn exponential_never_overflows() {
        let p = RetryPolicy::exponential(Duration::MAX, Duration::MAX);
        for a in [2, 3, 64, 200, u32::MAX] {
            assert_eq!(p.delay_before(a), Duration::MAX, "attempt {a}");
        }
        let p = RetryPolicy::exponential(Duration::from_nanos(1), Duration::from_secs(3600));
        assert_eq!(p.delay_before(200), Duration::from_secs(3600));
        assert_eq!(p.delay_before(u32::MAX), Duration::from_secs(3600));
        // 2^127 ns still fits u128 and is capped.
        assert_eq!(p.delay_before(129), Duration::from_secs(3600));
        let p = RetryPolicy::exponential(Duration::from_secs(1), Duration::MAX);
        assert_eq!(p.delay_before(2 + 40), Duration::from_secs(1 << 40));
        assert_eq!(p.delay_before(200), Duration::MAX);
        // Zero base: always zero.
        let p = RetryPolicy::exponential(Duration::ZERO, Duration::MAX);
        assert_eq!(p.delay_before(u32::MAX), Duration::ZERO);
        // Unvalidated inverted policy: capped at max_delay, no panic.
        let p = RetryPolicy::exponential(Duration::from_secs(2), Duration::from_secs(1));
        assert_eq!(p.delay_before(2), Duration::from_secs(1));
    }

    #[test]
    fn fixed_is_constant() {
        let p = RetryPolicy::fixed(7 * MS);
        for a in [2, 3, 10, 200, u32::MAX] {
            assert_eq!(p.delay_before(a), 7 * MS);
        }
        assert_eq!(p.delay_before(1), Duration::ZERO);
        assert_eq!(RetryPolicy::fixed(Duration::MAX).delay_before(5), Duration::MAX);
    }

    #[test]
    fn jitter_bounds() {
        let d = Duration::from_micros(1_001); // odd number of ns halves unevenly
        let full = RetryPolicy::fixed(d).jitter(Jitter::Full);
        let equal = RetryPolicy::fixed(d).jitter(Jitter::Equal);
        let none = RetryPolicy::fixed(d);
        let (mut full_lo, mut full_hi) = (Duration::MAX, Duration::ZERO);
        for _ in 0..1000 {
            let f = full.jittered_delay_before(2);
            assert!(f <= d, "full {f:?}");
            full_lo = full_lo.min(f);
            full_hi = full_hi.max(f);
            let e = equal.jittered_delay_before(2);
            assert!(e >= d / 2 && e <= d, "equal {e:?}");
            assert_eq!(none.jittered_delay_before(2), d);
        }
        // The samples spread over the range rather than sitting at one value.
        assert!(full_lo < d / 4 && full_hi > d * 3 / 4, "{full_lo:?}..{full_hi:?}");
        // Extremes of the random source stay in range; huge delays do not overflow.
        assert_eq!(Jitter::Full.apply(d, |n| n), d);
        assert_eq!(Jitter::Full.apply(d, |_| 0), Duration::ZERO);
        assert_eq!(Jitter::Equal.apply(d, |_| 0), d / 2);
        assert_eq!(Jitter::Equal.apply(d, |n| n), d);
        assert_eq!(Jitter::Equal.apply(Duration::MAX, |n| n), Duration::MAX);
        assert_eq!(Jitter::Full.apply(Duration::MAX, |_| u128::MAX), Duration::MAX);
        assert_eq!(Jitter::Full.apply(Duration::ZERO, |n| n), Duration::ZERO);
        let _ = RetryPolicy::fixed(Duration::MAX).jitter(Jitter::Full).jittered_delay_before(2);
    }

    #[test]
    fn validate_errors_name_the_problem() {
        let err = RetryPolicy::fixed(MS).max_attempts(0).validate().unwrap_err();
        assert!(err.is_zero_attempts() && !err.is_inverted_delays());
        assert_eq!(err.to_string(), "max_attempts must be at least 1: 0 attempts would never run the task");

        let err = RetryPolicy::exponential(2 * MS, MS).validate().unwrap_err();
        assert!(err.is_inverted_delays() && !err.is_zero_attempts());
        let msg = err.to_string();
        assert!(msg.contains("max_delay (1ms)") && msg.contains("base (2ms)"), "{msg}");

        // Zero attempts is reported first.
        let err = RetryPolicy::exponential(2 * MS, MS).max_attempts(0).validate().unwrap_err();
        assert!(err.is_zero_attempts());

        // Documented edge values are valid.
        assert!(RetryPolicy::fixed(Duration::ZERO).validate().is_ok());
        assert!(RetryPolicy::fixed(Duration::MAX).validate().is_ok());
        assert!(RetryPolicy::exponential(Duration::ZERO, Duration::ZERO).validate().is_ok());
        assert!(RetryPolicy::exponential(MS, MS).validate().is_ok());
        assert!(RetryPolicy::exponential(MS, Duration::MAX).max_attempts(u32::MAX).validate().is_ok());
        assert!(RetryPolicy::fixed(MS).max_attempts(1).validate().is_ok());
    }

    #[test]
    fn defaults() {
        let p = RetryPolicy::fixed(MS);
        assert_eq!(p.attempts_limit(), 3);
        assert_eq!(p.jitter_mode(), Jitter::None);
        assert!(!p.retries_panics());
    }

    #[test]
    fn fails_twice_then_succeeds() {
        let rt = runtime();
        let hooks = TestHooks::default();
        let policy = RetryPolicy::exponential(MS, 5 * MS).max_attempts(5);
        let out = rt
            .block_on(rt.spawn_future(Priority::NORMAL, retry_loop(fails_until(3), policy, hooks.clone())))
            .unwrap();
        assert_eq!(out.attempts(), 3);
        assert_eq!(out.result, Ok("done"));
        assert_eq!(*hooks.waits.lock().unwrap(), [(2, MS), (3, 2 * MS)]);
        assert_eq!(hooks.resumed_count(), 2);
        assert_eq!(*hooks.retried.lock().unwrap(), [2, 3]);
        assert!(rt.shutdown().is_balanced());
    }

    #[test]
    fn always_fails_returns_last_error() {
        let rt = runtime();
        let hooks = TestHooks::default();
        let policy = RetryPolicy::fixed(MS).max_attempts(4).jitter(Jitter::Full);
        let out = rt.block_on(
            rt.spawn_future(Priority::HIGH, retry_loop(fails_until(u32::MAX), policy, hooks.clone())),
        );
        let out = out.unwrap();
        assert_eq!(out.attempts, 4);
        assert!(!out.is_ok());
        assert_eq!(out.into_result(), Err(4));
        let waits = hooks.waits.lock().unwrap().clone();
        assert_eq!(waits.iter().map(|w| w.0).collect::<Vec<_>>(), [2, 3, 4]);
        assert!(waits.iter().all(|w| w.1 <= MS), "{waits:?}");
        assert_eq!(hooks.resumed_count(), 3);
    }

    #[test]
    fn one_attempt_and_zero_attempts_run_once() {
        let rt = runtime();
        for n in [0, 1] {
            let hooks = TestHooks::default();
            let policy = RetryPolicy::fixed(MS).max_attempts(n);
            let out = rt
                .block_on(
                    rt.spawn_future(Priority::NORMAL, retry_loop(fails_until(5), policy, hooks.clone())),
                )
                .unwrap();
            assert_eq!((out.attempts, out.result), (1, Err(1)), "max_attempts({n})");
            assert_eq!(hooks.waiting_count(), 0);
        }
    }

    #[test]
    fn zero_delay_yields_without_a_timer() {
        // A sleep is a timed task counted in the report; a zero-delay retry uses none.
        let rt = runtime();
        let hooks = TestHooks::default();
        let policy = RetryPolicy::exponential(Duration::ZERO, Duration::ZERO).max_attempts(5);
        let h = rt.spawn_future(Priority::NORMAL, retry_loop(fails_until(4), policy, hooks.clone()));
        let out = h.join().unwrap();
        assert_eq!((out.attempts, out.result), (4, Ok("done")));
        assert_eq!(hooks.waiting_count(), 3);
        assert_eq!(hooks.resumed_count(), 3);
        let report = rt.shutdown();
        assert_eq!(report.completed, 1, "{report:?}");

        // The same with a 1 ms delay: the future and its two timers.
        let rt = runtime();
        let policy = RetryPolicy::fixed(MS).max_attempts(5);
        let h = rt.spawn_future(Priority::NORMAL, retry_loop(fails_until(3), policy, ()));
        assert_eq!(h.join().unwrap().attempts, 3);
        let report = rt.shutdown();
        assert_eq!(report.completed, 3, "{report:?}");
    }

    fn panics_until(ok_at: u32) -> impl FnMut() -> Result<u32, ()> + Send + 'static {
        let mut n = 0;
        move || {
            n += 1;
            if n < ok_at {
                panic!("attempt {n} panics (expected by the test)");
            }
            Ok(n)
        }
    }

    #[test]
    fn panic_is_not_retried_by_default() {
        let rt = runtime();
        let calls = Arc::new(AtomicU32::new(0));
        let c = calls.clone();
        let mut inner = panics_until(3);
        let f = move || {
            c.fetch_add(1, SeqCst);
            inner()
        };
        let policy = RetryPolicy::fixed(MS).max_attempts(5);
        let err = rt.block_on(rt.spawn_future(Priority::NORMAL, retry_loop(f, policy, ()))).unwrap_err();
        assert!(err.is_panic());
        assert_eq!(calls.load(SeqCst), 1);
    }

    #[test]
    fn panic_is_retried_when_asked() {
        let rt = runtime();
        let hooks = TestHooks::default();
        let policy = RetryPolicy::fixed(MS).max_attempts(5).retry_on_panic(true);
        let out = rt
            .block_on(rt.spawn_future(Priority::NORMAL, retry_loop(panics_until(3), policy, hooks.clone())))
            .unwrap();
        assert_eq!((out.attempts, out.result), (3, Ok(3)));
        assert_eq!((hooks.waiting_count(), hooks.resumed_count()), (2, 2));
    }

    #[test]
    fn panic_on_last_attempt_is_a_panic() {
        let rt = runtime();
        let hooks = TestHooks::default();
        let policy = RetryPolicy::fixed(MS).max_attempts(3).retry_on_panic(true);
        let err = rt
            .block_on(rt.spawn_future(Priority::NORMAL, retry_loop(panics_until(10), policy, hooks.clone())))
            .unwrap_err();
        assert!(err.is_panic());
        let msg = err.into_panic().downcast::<String>().map(|s| *s).unwrap_or_default();
        assert!(msg.contains("attempt 3"), "{msg}");
        assert_eq!((hooks.waiting_count(), hooks.resumed_count()), (2, 2));
        assert!(rt.shutdown().is_balanced());
    }

    #[test]
    fn async_attempts() {
        let rt = runtime();
        let hooks = TestHooks::default();
        let mut n = 0u32;
        let f = move || {
            n += 1;
            let this = n;
            async move {
                crate::sleep(MS).await;
                match this {
                    1 => Err(format!("attempt {this} failed")),
                    2 => panic!("attempt 2 panics mid-future (expected by the test)"),
                    _ => Ok(this * 10),
                }
            }
        };
        let policy = RetryPolicy::exponential(MS, 2 * MS).max_attempts(3).retry_on_panic(true);
        let out =
            rt.block_on(rt.spawn_future(Priority::LOW, retry_loop_async(f, policy, hooks.clone()))).unwrap();
        assert_eq!((out.attempts, out.result), (3, Ok(30)));
        assert_eq!((hooks.waiting_count(), hooks.resumed_count()), (2, 2));

        // Without retry_on_panic, a panic inside the attempt's future ends the task.
        let f = || async { panic!("mid-future panic (expected by the test)") };
        let policy = RetryPolicy::fixed(MS);
        let err = rt
            .block_on(rt.spawn_future(Priority::LOW, retry_loop_async::<_, _, (), (), _>(f, policy, ())))
            .unwrap_err();
        assert!(err.is_panic());
    }

    #[test]
    fn dropped_mid_wait_still_resumes() {
        let rt = runtime();
        let hooks = TestHooks::default();
        let policy = RetryPolicy::fixed(Duration::from_secs(3600));
        let looped = retry_loop(fails_until(9), policy, hooks.clone());
        let r = rt.block_on(async { crate::timeout(MS, looped).await });
        assert!(r.is_err());
        assert_eq!((hooks.waiting_count(), hooks.resumed_count()), (1, 1));

        // Cancelling the spawned task through its handle.
        let hooks = TestHooks::default();
        let policy = RetryPolicy::fixed(Duration::from_secs(3600));
        let h = rt.spawn_future(Priority::NORMAL, retry_loop(fails_until(9), policy, hooks.clone()));
        hooks.await_waiting(1);
        h.cancel();
        assert!(h.join().unwrap_err().is_cancelled());
        assert_eq!((hooks.waiting_count(), hooks.resumed_count()), (1, 1));
        assert!(rt.shutdown().is_balanced());
    }

    #[test]
    fn duration_max_waits_until_shutdown() {
        let rt = runtime();
        let hooks = TestHooks::default();
        let policy = RetryPolicy::fixed(Duration::MAX).jitter(Jitter::Equal);
        let h = rt.spawn_future(Priority::NORMAL, retry_loop(fails_until(9), policy, hooks.clone()));
        hooks.await_waiting(1);
        let report = rt.shutdown();
        assert!(h.join().unwrap_err().is_shutdown());
        assert_eq!((hooks.waiting_count(), hooks.resumed_count()), (1, 1));
        assert!(hooks.retried.lock().unwrap().is_empty());
        assert!(report.is_balanced(), "{report:?}");
    }

    #[test]
    fn no_attempt_starts_after_shutdown_in_block_on() {
        let rt = runtime();
        let hooks = TestHooks::default();
        let calls = Arc::new(AtomicU32::new(0));
        let c = calls.clone();
        let mut inner = fails_until(9);
        let f = move || {
            c.fetch_add(1, SeqCst);
            inner()
        };
        // Without shutdown, this would wait forever before attempt 2.
        let policy = RetryPolicy::fixed(Duration::MAX).max_attempts(u32::MAX);
        let handle = rt.handle();
        let (tx, rx) = std::sync::mpsc::channel();
        let h2 = hooks.clone();
        std::thread::spawn(move || {
            let _ = tx.send(handle.block_on(retry_loop(f, policy, h2)));
        });
        hooks.await_waiting(1);
        let _ = rt.shutdown();
        let out = rx.recv_timeout(Duration::from_secs(20)).expect("block_on ended after shutdown");
        assert_eq!((out.attempts, out.result), (1, Err(1)));
        assert_eq!(calls.load(SeqCst), 1);
        assert_eq!((hooks.waiting_count(), hooks.resumed_count()), (1, 1));
        assert!(hooks.retried.lock().unwrap().is_empty(), "no retry started after shutdown");
    }
}
