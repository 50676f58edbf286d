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

mod blocking;

pub use blocking::BlockingTask;

use super::async_fn::AsyncFn;
use super::expiry::{self, ExpiryLink};
use super::retry_loop::{retry_loop, retry_loop_async, RetryHooks, RetryOutcome};
use super::retry_policy::RetryPolicy;
use crate::runtime::error::SpawnError;
use crate::sched::shared::Shared;
use crate::sched::spawn::{Admit, Due};
use crate::{Handle, Sleep};
use kairos_rt_core::sync::atomic::Ordering::Relaxed;
use kairos_rt_core::sync::Arc;
use kairos_rt_core::task::{Abort, Body, Closure, FutureBody, JoinHandle};
use kairos_rt_core::Priority;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
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
    pub fn priority(mut self, priority: Priority) -> Self {
        self.priority = priority;
        self
    }

    /// Starts no earlier than `delay` from the spawn (see [`Handle::spawn_after`]).
    pub fn after(mut self, delay: Duration) -> Self {
        self.start = Start::After(delay);
        self
    }

    /// Starts no earlier than `when` (see [`Handle::spawn_at`]).
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
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    fn policed(self) -> (Policed<B>, Settings)
    where
        B: Body,
    {
        let Task { body, priority, start, deadline, timeout } = self;
        let settings = Settings { priority, start, deadline, timeout };
        let mut start_by = deadline;
        let mut run_timeout = None;
        match timeout {
            Some(t) if B::IS_FUTURE => run_timeout = Some(t),
            Some(t) => {
                // Beyond `Instant`'s range, there is no deadline at all.
                if let Some(at) = Instant::now().checked_add(t) {
                    start_by = Some(start_by.map_or(at, |d| d.min(at)));
                }
            }
            None => {}
        }
        (Policed { inner: body, start_by, run_timeout, timer: None, expiry: None, started: false }, settings)
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
    /// per `policy`. The handle resolves to a [`RetryOutcome`]: the last attempt's
    /// result and how many attempts ran. Between attempts the task waits on a timer in
    /// the runtime's wheel, holding no thread, and each attempt runs at the task's
    /// priority (or at [`RetryPolicy::retry_priority`] after the first). A deadline
    /// applies to the first attempt's start; a timeout bounds the whole sequence (the
    /// task is a future).
    ///
    /// An invalid policy (see [`RetryPolicy::validate`]) makes `spawn_with` refuse the
    /// task with an error whose [`is_invalid`](SpawnError::is_invalid) is true.
    ///
    /// For an async call, build the task with [`Task::from_async`] and retry that.
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
    pub fn into_inner(self) -> F {
        self.task.body.0
    }
}

impl<F> RetryTask<AsyncFn<F>> {
    /// The function that makes each attempt's future back (from a refused spawn).
    pub fn into_inner(self) -> F {
        self.task.body.0
    }
}

pub(super) mod sealed {
    pub trait Sealed {}
}

/// Something [`Handle::spawn_with`] can spawn: a [`Task`], a [`RetryTask`] or a
/// [`BlockingTask`].
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

/// Makes the retry loop of a body: the attempts, the policy, the runtime's gauges.
type StartRetry<B, T, E> = fn(B, RetryPolicy, RetryGaugeHooks) -> BoxedRetry<T, E>;

/// Spawns `task` as a future that runs `start`'s retry loop, after checking its policy;
/// a refused spawn hands the task back as it was. `STARTS` is the body's shutdown rule
/// ([`Body::STARTS_AT_SHUTDOWN`]).
fn spawn_retrying<B, T, E, const STARTS: bool>(
    task: RetryTask<B>,
    handle: &Handle,
    wait: bool,
    start: StartRetry<B, T, E>,
) -> Result<JoinHandle<RetryOutcome<T, E>>, SpawnError<RetryTask<B>>>
where
    B: Send + 'static,
    T: Send + 'static,
    E: Send + 'static,
{
    if let Err(e) = task.policy.validate() {
        return Err(SpawnError::invalid(task, e.to_string()));
    }
    let RetryTask { task, policy } = task;
    let hooks = RetryGaugeHooks(handle.shared.clone(), policy.retries_at());
    let retrying = task.map_body(|body| {
        let lazy =
            LazyRetry { start: Some((body, policy, start)), hooks: Some(hooks), stats: None, running: None };
        RetryBody::<_, STARTS>(lazy)
    });
    retrying.spawn_on(handle, wait).map_err(|e| {
        e.map(|t| {
            let Task { body: RetryBody(lazy), priority, start, deadline, timeout } = t;
            let (body, policy, _) = lazy.start.expect("a refused retry task never ran");
            RetryTask { task: Task { body, priority, start, deadline, timeout }, policy }
        })
    })
}

/// Keeps the runtime's retry gauges, and moves the task to its retry priority.
struct RetryGaugeHooks(Arc<Shared>, Option<Priority>);

impl RetryHooks for RetryGaugeHooks {
    fn waiting(&mut self, _next_attempt: u32, _delay: Duration) {
        self.0.retries.waiting.fetch_add(1, Relaxed);
        if let Some(p) = self.1.take() {
            // Called inside the task's poll, on its worker: the wake-up that ends this
            // wait queues it at `p`.
            crate::sched::context::with_worker(|w| w.map(|w| w.reprioritize_current(p)));
        }
    }
    fn resumed(&mut self) {
        self.0.retries.waiting.fetch_sub(1, Relaxed);
    }
    fn retrying(&mut self, _attempt: u32) {
        self.0.retries.retried.fetch_add(1, Relaxed);
    }
}

/// The body of a retried task: a future (the retry loop) that keeps the shutdown rule
/// of what it retries (`STARTS`). A retried closure, queued and never started, still runs
/// its first attempt when the runtime shuts down, like any queued closure; a retried
/// async call is cancelled, like any queued future. Once started, shutdown treats both
/// as futures (a retry waiting for its backoff is cancelled).
struct RetryBody<Fut, const STARTS: bool>(Fut);

// SAFETY: `run` polls the future in place and never moves or drops it, as the contract
// for `IS_FUTURE == true` requires (as `FutureBody` does).
unsafe impl<Fut, const STARTS: bool> Body for RetryBody<Fut, STARTS>
where
    Fut: Future + Send + 'static,
    Fut::Output: Send + 'static,
{
    type Output = Fut::Output;
    const IS_FUTURE: bool = true;
    const STARTS_AT_SHUTDOWN: bool = STARTS;

    unsafe fn run(this: *mut Self, cx: &mut Context<'_>) -> Poll<Result<Fut::Output, Abort>> {
        // SAFETY: the caller owns the initialised body exclusively, and the cell never
        // moves (heap-allocated, freed only at the last reference): pinning in place is sound.
        let fut = unsafe { Pin::new_unchecked(&mut (*this).0) };
        fut.poll(cx).map(Ok)
    }
}

type BoxedRetry<T, E> = Pin<Box<dyn Future<Output = RetryOutcome<T, E>> + Send>>;

/// The retry loop, started at the first poll, so a refused spawn can hand the body
/// (closure or async function) back.
struct LazyRetry<B, T, E> {
    start: Option<(B, RetryPolicy, StartRetry<B, T, E>)>,
    hooks: Option<RetryGaugeHooks>,
    /// Counts an exhausted retry (a second handle on the runtime's stats).
    stats: Option<RetryGaugeHooks>,
    running: Option<BoxedRetry<T, E>>,
}

impl<B, T, E> Unpin for LazyRetry<B, T, E> {}

impl<B, T, E> Future for LazyRetry<B, T, E> {
    type Output = RetryOutcome<T, E>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        if self.running.is_none() {
            if let (Some((body, policy, start)), Some(hooks)) = (self.start.take(), self.hooks.take()) {
                self.stats = Some(RetryGaugeHooks(hooks.0.clone(), None));
                self.running = Some(start(body, policy, hooks));
            }
        }
        match self.running.as_mut() {
            Some(fut) => {
                let done = fut.as_mut().poll(cx);
                if let Poll::Ready(outcome) = &done {
                    if outcome.result.is_err() {
                        if let Some(stats) = &self.stats {
                            stats.0.retries.exhausted.fetch_add(1, Relaxed);
                        }
                    }
                }
                done
            }
            // Unreachable: `start` and `hooks` are only ever taken together, here.
            None => Poll::Pending,
        }
    }
}

/// The body of a task spawned with policies (see the module docs).
struct Policed<B> {
    inner: B,
    start_by: Option<Instant>,
    run_timeout: Option<Duration>,
    timer: Option<Sleep>,
    /// The expiry timer's link (a task with a deadline): taken at the first run, which
    /// cancels the timer (see `expiry.rs`).
    expiry: Option<Arc<ExpiryLink>>,
    started: bool,
}

impl<B> Policed<B> {
    /// For a task with a start deadline: a new expiry link, kept by the body, and the
    /// deadline, for the spawner to `expiry::arm` once the task is spawned.
    fn link_expiry(&mut self) -> Option<(Instant, Arc<ExpiryLink>)> {
        let deadline = self.start_by?;
        let link = Arc::new(ExpiryLink::default());
        self.expiry = Some(link.clone());
        Some((deadline, link))
    }
}

// SAFETY: delegates to the inner body's `run`, which follows the contract. On expiry a
// closure's inner body is moved out and dropped, and the remaining fields need no drop
// (`timer` is only ever armed for futures, `expiry` is taken at the first run), so the
// body is gone after the call as the contract requires; a future's body stays in place
// for the harness to drop.
unsafe impl<B: Body> Body for Policed<B> {
    type Output = B::Output;
    const IS_FUTURE: bool = B::IS_FUTURE;
    const STARTS_AT_SHUTDOWN: bool = B::STARTS_AT_SHUTDOWN;

    unsafe fn run(this: *mut Self, cx: &mut Context<'_>) -> Poll<Result<B::Output, Abort>> {
        // SAFETY: the caller owns the initialised body exclusively for this call.
        let me = unsafe { &mut *this };
        if !me.started {
            me.started = true;
            // The task has started (or is about to expire here): its expiry timer goes.
            drop(me.expiry.take());
            if me.start_by.is_some_and(|d| Instant::now() > d) {
                if !B::IS_FUTURE {
                    // SAFETY: a closure body must be gone after `run`: move it out, drop it.
                    drop(unsafe { core::ptr::addr_of_mut!(me.inner).read() });
                }
                return Poll::Ready(Err(Abort::Expired));
            }
            if B::IS_FUTURE {
                if let Some(limit) = me.run_timeout {
                    me.timer = Some(crate::sleep(limit));
                }
            }
        }
        if let Some(timer) = me.timer.as_mut() {
            if Pin::new(timer).poll(cx).is_ready() {
                return Poll::Ready(Err(Abort::TimedOut));
            }
        }
        // SAFETY: `inner` is initialised and owned by this call, per our own contract.
        unsafe { B::run(core::ptr::addr_of_mut!(me.inner), cx) }
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
    /// settings are invalid (a retry policy that fails [`RetryPolicy::validate`]).
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
    pub fn try_spawn_with<S: Spawnable>(&self, task: S) -> Result<JoinHandle<S::Output>, SpawnError<S>> {
        task.spawn_on(self, false)
    }
}

impl crate::Runtime {
    /// See [`Handle::spawn_with`].
    pub fn spawn_with<S: Spawnable>(&self, task: S) -> Result<JoinHandle<S::Output>, SpawnError<S>> {
        self.handle.spawn_with(task)
    }

    /// See [`Handle::try_spawn_with`].
    pub fn try_spawn_with<S: Spawnable>(&self, task: S) -> Result<JoinHandle<S::Output>, SpawnError<S>> {
        self.handle.try_spawn_with(task)
    }
}
