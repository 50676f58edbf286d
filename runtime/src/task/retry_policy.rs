//! [`RetryPolicy`] (how often and after what waits a failed task runs again), [`Jitter`]
//! and [`RetryPolicyError`]. What a retry is: the [`task`](crate::task) module docs; the
//! loop that applies a policy: `retry_loop.rs`.

use std::fmt;
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
/// [`RetryOutcome`](crate::RetryOutcome): the last attempt's result and the number of attempts that ran.
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
/// - once the runtime has begun shutting down, no new attempt starts: a retry whose
///   wait ends then finishes with its last failure (its error, or its panic re-raised),
///   if its task is still polled at all (spawned tasks are cancelled at shutdown).
///
/// Even an unvalidated policy never makes the retry loop panic: `max_attempts(0)` runs
/// one attempt, and an inverted exponential policy waits `max_delay` before every retry.
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
    pub(super) max_attempts: u32,
    jitter: Jitter,
    pub(super) retry_on_panic: bool,
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
    pub(super) fn apply(self, d: Duration, rand_upto: impl FnOnce(u128) -> u128) -> Duration {
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
    ///
    /// ```
    /// use kairos_rt::{Priority, RetryPolicy};
    /// use std::time::Duration;
    ///
    /// let p = RetryPolicy::fixed(Duration::from_millis(5));
    /// assert_eq!(p.retries_at(), None); // retries run at the task's own priority
    /// assert_eq!(p.retry_priority(Priority::LOW).retries_at(), Some(Priority::LOW));
    /// ```
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
    pub(super) fn jittered_delay_before(&self, attempt: u32) -> Duration {
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
    ///
    /// ```
    /// use kairos_rt::RetryPolicy;
    /// use std::time::Duration;
    ///
    /// let err = RetryPolicy::fixed(Duration::from_millis(1)).max_attempts(0).validate().unwrap_err();
    /// assert!(err.is_zero_attempts() && !err.is_inverted_delays());
    /// ```
    pub fn is_zero_attempts(&self) -> bool {
        matches!(self.kind, ErrorKind::ZeroAttempts)
    }

    /// The exponential policy's `max_delay` was shorter than its `base`.
    ///
    /// ```
    /// use kairos_rt::RetryPolicy;
    /// use std::time::Duration;
    ///
    /// let p = RetryPolicy::exponential(Duration::from_secs(10), Duration::from_secs(1));
    /// assert!(p.validate().unwrap_err().is_inverted_delays());
    /// ```
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
