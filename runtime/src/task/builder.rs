//! [`Task`]: one job with its policies (priority, start time, deadline, run timeout,
//! retries), spawned with [`Handle::spawn_with`].
//!
//! ## How the policies run
//!
//! A task spawned this way runs inside a *policed body* that wraps the closure or future:
//!
//! - **deadline** (start-by): an expiry timer in the runtime's wheels claims the task at
//!   the deadline if it has not started by then (`expiry.rs`): the body is dropped unrun
//!   and the task ends with the `Expired` outcome
//!   ([`JoinError::is_expired`](crate::JoinError::is_expired)) at that time, while it
//!   still waits in its queue. A worker that reaches the task first checks the deadline
//!   too, so a task never starts past it.
//! - **run timeout**: for a future, a timer in the runtime's wheel is armed at its first
//!   poll; once it fires, the future is dropped at its next poll point and the task ends
//!   `TimedOut` ([`JoinError::is_timed_out`](crate::JoinError::is_timed_out)). A closure
//!   cannot be interrupted, so for a closure the timeout applies to its *start* only: it
//!   is a deadline `timeout` after the spawn.
//! - **retries** ([`Task::retry`]): the task is a future that calls the closure (or, for
//!   a task made by [`Task::from_async`], calls the function and awaits its future), and
//!   after a failure waits for its backoff on a wheel timer (no thread held) and runs
//!   again at its own priority; see [`RetryPolicy`].
//!
//! **At shutdown** a queued task follows the rule of what it wraps, whatever its
//! policies: a queued closure runs (a deadline still applies; a retried closure runs its
//! first attempt), a future is cancelled (also a retried async call, which never starts). A retried task whose attempt failed and that
//! waits for its backoff when shutdown begins is cancelled: no further attempt starts,
//! its handle reports [`JoinError::is_shutdown`](crate::JoinError::is_shutdown), and the
//! shutdown report counts it in `futures_dropped`.
//!
//! Plain `spawn*` calls never go through this module, so tasks that use no policy pay
//! nothing for it.
//!
//! ## Files
//!
//! This file holds the builders ([`Task`], [`RetryTask`]); beside it: `policed.rs` (the
//! policed body: deadline check, expiry link, run timeout), `retrying.rs` (a retried
//! task's body, its lazy start and the retry gauges), `spawnable.rs` ([`Spawnable`] and
//! `spawn_with` / `try_spawn_with`) and `blocking.rs` ([`BlockingTask`]).

mod blocking;
mod policed;
mod retrying;
mod spawnable;

pub use blocking::BlockingTask;
pub(in crate::task) use spawnable::sealed;
pub use spawnable::Spawnable;

use super::async_fn::AsyncFn;
use super::retry_policy::RetryPolicy;
use crate::sched::spawn::Due;
use crate::Handle;
use kairos_rt_core::task::{Closure, FutureBody};
use kairos_rt_core::Priority;
use std::fmt;
use std::future::Future;
use std::time::{Duration, Instant};

/// When a task may start.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Start {
    Now,
    After(Duration),
    At(Instant),
}

/// A job and its policies, built step by step and spawned with
/// [`Handle::spawn_with`] (or [`Runtime::spawn_with`](crate::Runtime::spawn_with)).
///
/// Defaults: [`Priority::NORMAL`], start now, no deadline, no timeout, no retries.
///
/// # Examples
///
/// ```
/// use kairos_rt::{Priority, RetryPolicy, Runtime, Task};
/// use std::time::{Duration, Instant};
///
/// let rt = Runtime::builder().workers(2).build()?;
///
/// // A notification that is worthless after 5 s.
/// let note = rt.spawn_with(
///     Task::new(|| "sent").priority(Priority::HIGH).deadline(Instant::now() + Duration::from_secs(5)),
/// ).unwrap();
/// assert_eq!(note.join().unwrap(), "sent");
///
/// // A payment call that fails twice, retried with exponential backoff.
/// let mut calls = 0;
/// let pay = rt.spawn_with(
///     Task::new(move || { calls += 1; if calls < 3 { Err("busy") } else { Ok(calls) } })
///         .priority(Priority::HIGH)
///         .retry(RetryPolicy::exponential(Duration::from_millis(1), Duration::from_millis(50)).max_attempts(5)),
/// ).unwrap();
/// let outcome = pay.join().unwrap();
/// assert_eq!(outcome.attempts, 3);
/// assert_eq!(outcome.result, Ok(3));
/// # Ok::<(), kairos_rt::BuildError>(())
/// ```
#[must_use = "a Task does nothing until it is spawned with spawn_with"]
pub struct Task<B> {
    body: B,
    priority: Priority,
    start: Start,
    deadline: Option<Instant>,
    timeout: Option<Duration>,
}

impl<B> fmt::Debug for Task<B> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Task")
            .field("priority", &self.priority)
            .field("start", &self.start)
            .field("deadline", &self.deadline)
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

impl<F> Task<Closure<F>> {
    /// A task that runs the closure `f` (an `FnOnce`; an `FnMut` returning `Result` can
    /// also be [retried](Self::retry)).
    ///
    /// ```
    /// use kairos_rt::{Runtime, Task};
    ///
    /// let rt = Runtime::builder().workers(1).build()?;
    /// let h = rt.spawn_with(Task::new(|| "plain")).unwrap();
    /// assert_eq!(h.join().unwrap(), "plain");
    /// rt.shutdown();
    /// # Ok::<(), kairos_rt::BuildError>(())
    /// ```
    pub fn new(f: F) -> Self {
        Task::with_body(Closure(f))
    }
}

impl<Fut> Task<FutureBody<Fut>>
where
    Fut: Future + Send + 'static,
    Fut::Output: Send + 'static,
{
    /// A task that polls the future `fut` to completion.
    ///
    /// ```
    /// use kairos_rt::{Runtime, Task};
    /// use std::time::Duration;
    ///
    /// let rt = Runtime::builder().workers(1).build()?;
    /// // Dropped at its first await after 5 ms: the handle says it timed out.
    /// let slow = rt.spawn_with(
    ///     Task::future(async { kairos_rt::sleep(Duration::from_secs(60)).await }).timeout(Duration::from_millis(5)),
    /// ).unwrap();
    /// assert!(slow.join().unwrap_err().is_timed_out());
    /// # Ok::<(), kairos_rt::BuildError>(())
    /// ```
    pub fn future(fut: Fut) -> Self {
        Task::with_body(FutureBody(fut))
    }
}

impl<B> Task<B> {
    pub(super) fn with_body(body: B) -> Task<B> {
        Task { body, priority: Priority::NORMAL, start: Start::Now, deadline: None, timeout: None }
    }

    /// The same task with its body changed by `f` (its policies kept).
    pub(super) fn map_body<C>(self, f: impl FnOnce(B) -> C) -> Task<C> {
        let Task { body, priority, start, deadline, timeout } = self;
        Task { body: f(body), priority, start, deadline, timeout }
    }

    /// Runs at `priority` (default [`Priority::NORMAL`]).
    ///
    /// ```
    /// use kairos_rt::{Priority, Runtime, Task};
    ///
    /// let rt = Runtime::builder().workers(1).build()?;
    /// let h = rt.spawn_with(Task::new(|| 1).priority(Priority::HIGH)).unwrap();
    /// assert_eq!(h.join().unwrap(), 1);
    /// rt.shutdown();
    /// # Ok::<(), kairos_rt::BuildError>(())
    /// ```
    pub fn priority(mut self, priority: Priority) -> Self {
        self.priority = priority;
        self
    }

    /// Starts no earlier than `delay` from the spawn (see [`Handle::spawn_after`]).
    ///
    /// ```
    /// use kairos_rt::{Runtime, Task};
    /// use std::time::{Duration, Instant};
    ///
    /// let rt = Runtime::builder().workers(1).build()?;
    /// let spawned = Instant::now();
    /// let h = rt.spawn_with(Task::new(Instant::now).after(Duration::from_millis(2))).unwrap();
    /// assert!(h.join().unwrap() >= spawned + Duration::from_millis(2));
    /// rt.shutdown();
    /// # Ok::<(), kairos_rt::BuildError>(())
    /// ```
    pub fn after(mut self, delay: Duration) -> Self {
        self.start = Start::After(delay);
        self
    }

    /// Starts no earlier than `when` (see [`Handle::spawn_at`]).
    ///
    /// ```
    /// use kairos_rt::{Runtime, Task};
    /// use std::time::{Duration, Instant};
    ///
    /// let rt = Runtime::builder().workers(1).build()?;
    /// let when = Instant::now() + Duration::from_millis(2);
    /// let h = rt.spawn_with(Task::new(Instant::now).at(when)).unwrap();
    /// assert!(h.join().unwrap() >= when);
    /// rt.shutdown();
    /// # Ok::<(), kairos_rt::BuildError>(())
    /// ```
    pub fn at(mut self, when: Instant) -> Self {
        self.start = Start::At(when);
        self
    }

    /// Must start by `when`: if it has not started by then, it is dropped unrun and the
    /// handle's error [`is_expired`](crate::JoinError::is_expired). A deadline already in
    /// the past is allowed and means the task expires at once.
    ///
    /// The task expires when the deadline passes, not when a worker reaches it: a timer
    /// in the runtime's wheels (fired by any free worker) claims it, and from then its
    /// handle resolves and [`status`](crate::JoinHandle::status) says `Expired`. Its queue
    /// entry (a pointer to the emptied cell) stays until a worker reaches it, and until
    /// then, with [`Builder::max_pending`](crate::Builder::max_pending), it holds its unit
    /// of room. When every worker is busy in a long task, the expiry timer waits for one
    /// of them like every timer. The deadline costs one more small timed task, cancelled
    /// when the task starts, and counted apart from user tasks in the metrics and the
    /// shutdown report like a `sleep`'s timer (see
    /// [`ShutdownReport::runtime_timers`](crate::ShutdownReport::runtime_timers)).
    ///
    /// ```
    /// use kairos_rt::{Runtime, Task};
    /// use std::time::{Duration, Instant};
    ///
    /// let rt = Runtime::builder().workers(1).build()?;
    /// let in_time = rt.spawn_with(Task::new(|| 1).deadline(Instant::now() + Duration::from_secs(60))).unwrap();
    /// let too_late = rt.spawn_with(Task::new(|| 2).deadline(Instant::now() - Duration::from_secs(1))).unwrap();
    /// assert_eq!(in_time.join().unwrap(), 1);
    /// assert!(too_late.join().unwrap_err().is_expired());
    /// rt.shutdown();
    /// # Ok::<(), kairos_rt::BuildError>(())
    /// ```
    pub fn deadline(mut self, when: Instant) -> Self {
        self.deadline = Some(when);
        self
    }

    /// For a future: how long it may run from its first poll; past that it is dropped at
    /// its next poll point and the handle's error
    /// [`is_timed_out`](crate::JoinError::is_timed_out). `Duration::ZERO` lets the
    /// future run until it first waits.
    ///
    /// For a closure, which cannot be interrupted, the timeout applies to its start only:
    /// it is a [`deadline`](Self::deadline) `timeout` after the spawn (the earlier of the
    /// two if both are set), so `Duration::ZERO` makes it expire.
    ///
    /// ```
    /// use kairos_rt::{Runtime, Task};
    /// use std::time::Duration;
    ///
    /// let rt = Runtime::builder().workers(1).build()?;
    /// let slow = Task::future(async { kairos_rt::sleep(Duration::from_secs(60)).await }).timeout(Duration::from_millis(2));
    /// assert!(rt.spawn_with(slow).unwrap().join().unwrap_err().is_timed_out());
    /// let fast = Task::future(async { 7 }).timeout(Duration::from_secs(60));
    /// assert_eq!(rt.spawn_with(fast).unwrap().join().unwrap(), 7);
    /// rt.shutdown();
    /// # Ok::<(), kairos_rt::BuildError>(())
    /// ```
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }
}

/// A task's settings, kept to rebuild the [`Task`] a refused spawn hands back.
#[derive(Clone, Copy)]
struct Settings {
    priority: Priority,
    start: Start,
    deadline: Option<Instant>,
    timeout: Option<Duration>,
}

impl Settings {
    fn rebuild<B>(self, body: B) -> Task<B> {
        let Settings { priority, start, deadline, timeout } = self;
        Task { body, priority, start, deadline, timeout }
    }

    fn due(self, handle: &Handle) -> Due {
        match self.start {
            Start::Now => Due::Now,
            Start::After(d) => handle.due_after(d),
            Start::At(t) => handle.due_at(t),
        }
    }
}

impl<F, T, E> Task<Closure<F>>
where
    F: FnMut() -> Result<T, E> + Send + 'static,
    T: Send + 'static,
    E: Send + 'static,
{
    /// Retries the closure after a failure (an `Err`, or a panic if the policy says so),
    /// per `policy`. The handle resolves to a [`RetryOutcome`](crate::RetryOutcome): the last attempt's
    /// result and how many attempts ran. Between attempts the task waits on a timer in
    /// the runtime's wheel, holding no thread, and each attempt runs at the task's
    /// priority (or at [`RetryPolicy::retry_priority`] after the first). A deadline
    /// applies to the first attempt's start; a timeout bounds the whole sequence (the
    /// task is a future).
    ///
    /// An invalid policy (see [`RetryPolicy::validate`]) makes `spawn_with` refuse the
    /// task with an error whose [`is_invalid`](crate::SpawnError::is_invalid) is true.
    ///
    /// For an async call, build the task with [`Task::from_async`] and retry that.
    ///
    /// ```
    /// use kairos_rt::{RetryPolicy, Runtime, Task};
    /// use std::time::Duration;
    ///
    /// let rt = Runtime::builder().workers(1).build()?;
    /// let mut calls = 0;
    /// let task = Task::new(move || {
    ///     calls += 1;
    ///     if calls < 3 { Err("busy") } else { Ok(calls) }
    /// })
    /// .retry(RetryPolicy::fixed(Duration::from_millis(1)).max_attempts(5));
    /// let outcome = rt.spawn_with(task).unwrap().join().unwrap();
    /// assert_eq!((outcome.attempts, outcome.result), (3, Ok(3)));
    /// rt.shutdown();
    /// # Ok::<(), kairos_rt::BuildError>(())
    /// ```
    pub fn retry(self, policy: RetryPolicy) -> RetryTask<Closure<F>> {
        RetryTask { task: self, policy }
    }
}

impl<F, Fut, T, E> Task<AsyncFn<F>>
where
    F: FnMut() -> Fut + Send + 'static,
    Fut: Future<Output = Result<T, E>> + Send + 'static,
    T: Send + 'static,
    E: Send + 'static,
{
    /// Retries an async call: each attempt calls the task's function for a fresh future
    /// and awaits it; an attempt whose future returns `Err` (or panics, if the policy
    /// says so) is followed by the policy's backoff, then the next attempt. Everything
    /// else is as for a [retried closure](Task#method.retry): the same backoff, jitter,
    /// retry priority, gauges ([`PendingSnapshot::retry_waiting`](crate::PendingSnapshot::retry_waiting),
    /// the `retried` and `failed` metrics), deadline (first attempt's start) and timeout
    /// (the whole sequence, attempts and waits, from the first poll).
    ///
    /// At shutdown it follows the rule of futures: queued and never started, it is
    /// cancelled (a retried closure runs its first attempt); started, it is dropped at its
    /// next wait, between attempts or inside one.
    ///
    /// ```
    /// use kairos_rt::{Jitter, RetryPolicy, Runtime, Task};
    /// use std::time::Duration;
    ///
    /// let rt = Runtime::builder().workers(1).build()?;
    /// let flaky = rt.spawn_with(
    ///     Task::from_async(|| async { Err::<(), _>("connection refused") })
    ///         .retry(RetryPolicy::fixed(Duration::from_millis(1)).max_attempts(3).jitter(Jitter::Full)),
    /// ).unwrap();
    /// let outcome = flaky.join().unwrap();
    /// assert_eq!((outcome.attempts, outcome.result), (3, Err("connection refused")));
    /// # Ok::<(), kairos_rt::BuildError>(())
    /// ```
    pub fn retry(self, policy: RetryPolicy) -> RetryTask<AsyncFn<F>> {
        RetryTask { task: self, policy }
    }
}

/// A [`Task`] with a [`RetryPolicy`]; made by [`Task::retry`] on a closure task
/// (`RetryTask<Closure<F>>`) or on an async one made by [`Task::from_async`]
/// (`RetryTask<AsyncFn<F>>`).
///
/// ```
/// use kairos_rt::{RetryPolicy, RetryTask, Task};
/// use std::time::Duration;
///
/// let task = Task::new(|| Ok::<_, ()>(1)).retry(RetryPolicy::fixed(Duration::from_millis(5)));
/// println!("{task:?}");
/// let _closure = task.into_inner();
/// ```
#[must_use = "a RetryTask does nothing until it is spawned with spawn_with"]
pub struct RetryTask<B> {
    task: Task<B>,
    policy: RetryPolicy,
}

impl<B> fmt::Debug for RetryTask<B> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RetryTask").field("task", &self.task).field("policy", &self.policy).finish()
    }
}

impl<F> RetryTask<Closure<F>> {
    /// The closure back (from a refused spawn).
    ///
    /// ```
    /// use kairos_rt::{RetryPolicy, Runtime, Task};
    /// use std::time::Duration;
    ///
    /// let rt = Runtime::builder().workers(1).build()?;
    /// let handle = rt.handle();
    /// rt.shutdown();
    /// let task = Task::new(|| Ok::<_, ()>(5)).retry(RetryPolicy::fixed(Duration::from_millis(1)));
    /// let mut f = handle.spawn_with(task).unwrap_err().into_inner().into_inner();
    /// assert_eq!(f(), Ok(5));
    /// # Ok::<(), kairos_rt::BuildError>(())
    /// ```
    pub fn into_inner(self) -> F {
        self.task.body.0
    }
}

impl<F> RetryTask<AsyncFn<F>> {
    /// The function that makes each attempt's future back (from a refused spawn).
    ///
    /// ```
    /// use kairos_rt::{RetryPolicy, Runtime, Task};
    /// use std::time::Duration;
    ///
    /// let rt = Runtime::builder().workers(1).build()?;
    /// let handle = rt.handle();
    /// rt.shutdown();
    /// let task = Task::from_async(|| async { Ok::<_, ()>(5) }).retry(RetryPolicy::fixed(Duration::from_millis(1)));
    /// let mut make = handle.spawn_with(task).unwrap_err().into_inner().into_inner();
    /// assert_eq!(rt_free_block_on(make()), Ok(5));
    /// # fn rt_free_block_on<F: std::future::Future>(f: F) -> F::Output { futures_lite::future::block_on(f) }
    /// # Ok::<(), kairos_rt::BuildError>(())
    /// ```
    pub fn into_inner(self) -> F {
        self.task.body.0
    }
}
