//! Spawning a [`RetryTask`]: its retry loop becomes the body of a task (a future that
//! keeps the shutdown rule of what it retries), started lazily so that a refused spawn
//! hands the closure or async function back, and kept in the runtime's retry gauges.

use super::super::retry_loop::{RetryHooks, RetryOutcome};
use super::super::retry_policy::RetryPolicy;
use super::{RetryTask, Spawnable, Task};
use crate::runtime::error::SpawnError;
use crate::sched::shared::Shared;
use crate::Handle;
use kairos_rt_core::sync::Arc;
use kairos_rt_core::task::{Abort, Body, JoinHandle};
use kairos_rt_core::Priority;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

/// Makes the retry loop of a body: the attempts, the policy, the runtime's gauges.
pub(super) type StartRetry<B, T, E> = fn(B, RetryPolicy, RetryGaugeHooks) -> BoxedRetry<T, E>;

/// Spawns `task` as a future that runs `start`'s retry loop, after checking its policy;
/// a refused spawn hands the task back as it was. `STARTS` is the body's shutdown rule
/// ([`Body::STARTS_AT_SHUTDOWN`]).
pub(super) fn spawn_retrying<B, T, E, const STARTS: bool>(
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
pub(super) struct RetryGaugeHooks(Arc<Shared>, Option<Priority>);

impl RetryHooks for RetryGaugeHooks {
    fn waiting(&mut self, _next_attempt: u32, _delay: Duration) {
        self.0.record_retry_wait_began();
        if let Some(p) = self.1.take() {
            // Called inside the task's poll, on its worker: the wake-up that ends this
            // wait queues it at `p`.
            crate::sched::context::with_worker(|w| w.map(|w| w.reprioritize_current(p)));
        }
    }
    fn resumed(&mut self) {
        self.0.record_retry_wait_ended();
    }
    fn retrying(&mut self, _attempt: u32) {
        self.0.record_retry();
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

pub(super) type BoxedRetry<T, E> = Pin<Box<dyn Future<Output = RetryOutcome<T, E>> + Send>>;

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
                            stats.0.record_retries_exhausted();
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
