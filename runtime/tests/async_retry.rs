//! Async retries (issue 24): `Task::from_async(make).retry(policy)` makes a fresh future
//! for each attempt, with the backoff, jitter, priority, deadline, timeout, gauges and
//! shutdown accounting of retried closures. No assertion depends on how fast anything
//! runs.

mod common;

use common::{join, runtime, wait_until, Gate};
use kairos_rt::{Jitter, Priority, RetryPolicy, Runtime, Task, TaskStatus};
use std::sync::atomic::{AtomicU32, Ordering::SeqCst};
use std::sync::Arc;
use std::time::{Duration, Instant};

const MS: Duration = Duration::from_millis(1);

/// An async call that fails (after an await) until its attempt `ok_at`; counts calls.
fn flaky_call(
    calls: &Arc<AtomicU32>,
    ok_at: u32,
) -> impl FnMut() -> std::pin::Pin<Box<dyn std::future::Future<Output = Result<u32, String>> + Send>>
       + Send
       + 'static {
    let calls = calls.clone();
    move || {
        let n = calls.fetch_add(1, SeqCst) + 1;
        Box::pin(async move {
            kairos_rt::sleep(MS).await;
            kairos_rt::yield_now().await;
            if n >= ok_at {
                Ok(n)
            } else {
                Err(format!("attempt {n}: 503"))
            }
        })
    }
}

#[test]
fn an_async_call_is_retried_until_it_succeeds() {
    let rt = runtime(2);
    let calls = Arc::new(AtomicU32::new(0));
    let policy = RetryPolicy::exponential(MS, 4 * MS).max_attempts(5).jitter(Jitter::Equal);
    let h = rt
        .spawn_with(Task::from_async(flaky_call(&calls, 3)).priority(Priority::HIGH).retry(policy))
        .unwrap();
    let outcome = join(h).unwrap();
    assert_eq!((outcome.attempts, outcome.result), (3, Ok(3)));
    assert_eq!(calls.load(SeqCst), 3, "one fresh future per attempt");
    let m = rt.metrics();
    assert_eq!((m.retried, m.failed), (2, 0), "{m:?}");
    assert_eq!(rt.pending().retry_waiting(), 0);
    assert!(rt.shutdown().is_balanced());
}

#[test]
fn an_exhausted_async_retry_returns_the_last_error_and_counts_as_failed() {
    let rt = runtime(1);
    let calls = Arc::new(AtomicU32::new(0));
    let policy = RetryPolicy::fixed(MS).max_attempts(4);
    let h = rt.spawn_with(Task::from_async(flaky_call(&calls, 99)).retry(policy)).unwrap();
    let outcome = join(h).unwrap();
    assert_eq!((outcome.attempts, outcome.result), (4, Err("attempt 4: 503".to_string())));
    let m = rt.metrics();
    assert_eq!((m.retried, m.completed, m.failed), (3, 0, 1), "{m:?}");
    // The attempts' sleeps and the backoffs are the runtime's own timers, counted apart.
    assert_eq!((m.runtime_timers.submitted, m.runtime_timers.fired), (4 + 3, 4 + 3), "{m:?}");
    assert!(rt.shutdown().is_balanced());
}

#[test]
fn an_async_retry_waits_on_a_timer_visible_in_pending() {
    let rt = runtime(1);
    let calls = Arc::new(AtomicU32::new(0));
    let policy = RetryPolicy::fixed(Duration::from_secs(3600)).max_attempts(2);
    let h = rt.spawn_with(Task::from_async(flaky_call(&calls, 2)).retry(policy)).unwrap();
    assert!(wait_until(|| rt.pending().retry_waiting() == 1));
    assert_eq!(h.status(), TaskStatus::Running);
    // The worker is free while the retry waits.
    assert_eq!(join(rt.spawn(Priority::LOW, || 5)).unwrap(), 5);
    assert!(h.cancel());
    assert!(join(h).unwrap_err().is_cancelled());
    assert!(wait_until(|| rt.pending().retry_waiting() == 0));
    assert_eq!(calls.load(SeqCst), 1);
    assert!(rt.shutdown().is_balanced());
}

#[test]
fn a_panic_inside_an_async_attempt_is_retried_only_when_asked() {
    let rt = runtime(1);
    let make = |calls: Arc<AtomicU32>| {
        move || {
            let n = calls.fetch_add(1, SeqCst) + 1;
            async move {
                kairos_rt::yield_now().await;
                if n == 1 {
                    panic!("attempt 1 panics mid-future (expected by the test)");
                }
                Ok::<_, ()>(n)
            }
        }
    };
    let calls = Arc::new(AtomicU32::new(0));
    let policy = RetryPolicy::fixed(MS).max_attempts(3).retry_on_panic(true);
    let out = join(rt.spawn_with(Task::from_async(make(calls.clone())).retry(policy)).unwrap()).unwrap();
    assert_eq!((out.attempts, out.result), (2, Ok(2)));

    let calls = Arc::new(AtomicU32::new(0));
    let policy = RetryPolicy::fixed(MS).max_attempts(3);
    let err = join(rt.spawn_with(Task::from_async(make(calls.clone())).retry(policy)).unwrap()).unwrap_err();
    assert!(err.is_panic(), "{err:?}");
    assert_eq!(calls.load(SeqCst), 1);
    assert!(rt.shutdown().is_balanced());
}

#[test]
fn a_past_deadline_expires_an_async_retry_without_calling_it() {
    let rt = runtime(1);
    let calls = Arc::new(AtomicU32::new(0));
    let h = rt
        .spawn_with(
            Task::from_async(flaky_call(&calls, 1))
                .deadline(Instant::now() - Duration::from_secs(1))
                .retry(RetryPolicy::fixed(MS)),
        )
        .unwrap();
    assert!(join(h).unwrap_err().is_expired());
    assert_eq!(calls.load(SeqCst), 0);
    let report = rt.shutdown();
    assert_eq!(report.expired, 1, "{report:?}");
    assert!(report.is_balanced(), "{report:?}");
}

#[test]
fn a_timeout_bounds_the_whole_async_retry_sequence() {
    let rt = runtime(1);
    let calls = Arc::new(AtomicU32::new(0));
    // Every attempt fails and the backoff is an hour: only the timeout can end it.
    let policy = RetryPolicy::fixed(Duration::from_secs(3600)).max_attempts(u32::MAX);
    let h =
        rt.spawn_with(Task::from_async(flaky_call(&calls, u32::MAX)).timeout(20 * MS).retry(policy)).unwrap();
    assert!(join(h).unwrap_err().is_timed_out());
    assert_eq!(calls.load(SeqCst), 1);
    assert!(wait_until(|| rt.pending().retry_waiting() == 0));
    let report = rt.shutdown();
    assert_eq!(report.run_timeouts, 1, "{report:?}");
    assert!(report.is_balanced(), "{report:?}");
}

#[test]
fn an_invalid_policy_is_refused_and_the_function_handed_back() {
    let rt = runtime(1);
    let err = rt
        .spawn_with(
            Task::from_async(|| async { Ok::<u8, ()>(9) }).retry(RetryPolicy::fixed(MS).max_attempts(0)),
        )
        .unwrap_err();
    assert!(err.is_invalid(), "{err}");
    assert!(err.to_string().contains("max_attempts"), "{err}");
    let mut make = err.into_inner().into_inner();
    assert_eq!(rt.block_on(make()), Ok(9));
    assert_eq!(rt.shutdown().submitted, 0);
}

#[test]
fn a_refused_async_task_hands_its_function_back_uncalled() {
    let rt = runtime(1);
    let handle = rt.handle();
    assert!(rt.shutdown().is_balanced());
    let calls = Arc::new(AtomicU32::new(0));
    let err =
        handle.spawn_with(Task::from_async(flaky_call(&calls, 1)).retry(RetryPolicy::fixed(MS))).unwrap_err();
    assert!(err.is_shutdown(), "{err}");
    let err = handle.spawn_with(Task::from_async(flaky_call(&calls, 1))).unwrap_err();
    assert!(err.is_shutdown(), "{err}");
    assert_eq!(calls.load(SeqCst), 0);
}

#[test]
fn from_async_without_retry_is_a_lazily_made_future() {
    let rt = runtime(1);
    let calls = Arc::new(AtomicU32::new(0));
    let h = rt.spawn_with(Task::from_async(flaky_call(&calls, 1)).priority(Priority::LOW)).unwrap();
    assert_eq!(join(h).unwrap(), Ok(1));
    assert_eq!(calls.load(SeqCst), 1);
    // A run timeout applies to it as to any future.
    let h =
        rt.spawn_with(Task::from_async(|| kairos_rt::sleep(Duration::from_secs(3600))).timeout(MS)).unwrap();
    assert!(join(h).unwrap_err().is_timed_out());
    assert!(rt.shutdown().is_balanced());
}

/// Shutdown: a queued async retry that never started is cancelled unpolled (the rule of
/// futures; its function is never called), and one waiting for its backoff is dropped
/// (`futures_dropped`) without a further attempt.
#[test]
fn shutdown_cancels_queued_and_waiting_async_retries() {
    let rt: Runtime = runtime(1);
    let waiting_calls = Arc::new(AtomicU32::new(0));
    let policy = || RetryPolicy::fixed(Duration::from_secs(3600)).max_attempts(3);
    let waiting = rt.spawn_with(Task::from_async(flaky_call(&waiting_calls, 99)).retry(policy())).unwrap();
    assert!(wait_until(|| rt.pending().retry_waiting() == 1));
    let gate = Gate::hold(&rt, Priority::HIGHEST);
    let queued_calls = Arc::new(AtomicU32::new(0));
    let queued = rt.spawn_with(Task::from_async(flaky_call(&queued_calls, 1)).retry(policy())).unwrap();
    let handle = rt.handle();
    let t = std::thread::spawn(move || rt.shutdown());
    assert!(wait_until(|| handle.is_shutdown()));
    drop(gate.open());
    let report = t.join().unwrap();
    assert!(join(waiting).unwrap_err().is_shutdown());
    assert!(join(queued).unwrap_err().is_shutdown());
    assert_eq!(waiting_calls.load(SeqCst), 1, "no attempt after shutdown began");
    assert_eq!(queued_calls.load(SeqCst), 0, "a queued async retry is not started at shutdown");
    assert!(report.futures_dropped >= 2, "{report:?}");
    assert!(report.is_balanced() && !report.timed_out, "{report:?}");
}
