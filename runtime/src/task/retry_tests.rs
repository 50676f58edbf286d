//! Tests of retry policies and the retry loop.

use super::retry_loop::*;
use super::retry_policy::*;
use crate::{Priority, Runtime};
use std::sync::atomic::{AtomicU32, Ordering::SeqCst};
use std::sync::{Arc, Mutex};
use std::time::Duration;

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
    let out = rt
        .block_on(rt.spawn_future(Priority::HIGH, retry_loop(fails_until(u32::MAX), policy, hooks.clone())));
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
            .block_on(rt.spawn_future(Priority::NORMAL, retry_loop(fails_until(5), policy, hooks.clone())))
            .unwrap();
        assert_eq!((out.attempts, out.result), (1, Err(1)), "max_attempts({n})");
        assert_eq!(hooks.waiting_count(), 0);
    }
}

#[test]
fn zero_delay_yields_without_a_timer() {
    // A sleep is one of the runtime's timers, counted in the report; a zero-delay retry
    // uses none.
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
    assert_eq!(report.runtime_timers.submitted, 0, "{report:?}");

    // The same with a 1 ms delay: the future, and its two timers apart.
    let rt = runtime();
    let policy = RetryPolicy::fixed(MS).max_attempts(5);
    let h = rt.spawn_future(Priority::NORMAL, retry_loop(fails_until(3), policy, ()));
    assert_eq!(h.join().unwrap().attempts, 3);
    let report = rt.shutdown();
    assert_eq!(report.completed, 1, "{report:?}");
    assert_eq!(report.runtime_timers.fired, 2, "{report:?}");
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
