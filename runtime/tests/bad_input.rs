//! Bad input gets a clear error, never a silent clamp.

mod common;

use common::*;
use kairos_rt::{BuildError, Builder, InvalidPriority, Priority, Runtime};
use std::time::{Duration, Instant};

#[test]
fn priority_out_of_range_is_an_error_naming_the_range() {
    for level in [64u8, 65, 100, 200, 255] {
        let err: InvalidPriority = Priority::new(level).unwrap_err();
        assert_eq!(err.level(), level);
        let msg = err.to_string();
        assert!(msg.contains(&level.to_string()), "names the bad level: {msg}");
        assert!(msg.contains('0') && msg.contains("63"), "names the valid range: {msg}");
        assert!(Priority::try_from(level).is_err());
    }
}

#[test]
fn every_valid_priority_level_round_trips() {
    for level in 0u8..64 {
        let p = Priority::new(level).unwrap();
        assert_eq!(p.level(), level);
        assert_eq!(u8::from(p), level);
        assert_eq!(Priority::try_from(level).unwrap(), p);
    }
    assert_eq!(Priority::LEVELS, 64);
}

#[test]
fn zero_workers_is_a_clear_error() {
    let err: BuildError = Runtime::builder().workers(0).build().unwrap_err();
    assert!(err.is_zero_workers() && !err.is_too_many_workers());
    let msg = err.to_string();
    assert!(msg.contains("at least one worker") && msg.contains("workers(0)"), "{msg}");
}

#[test]
fn too_many_workers_is_a_clear_error() {
    for n in [1025usize, 100_000, usize::MAX] {
        let err = Runtime::builder().workers(n).build().unwrap_err();
        assert!(err.is_too_many_workers() && !err.is_zero_workers(), "{n}");
        let msg = err.to_string();
        assert!(msg.contains(&n.to_string()), "names the request: {msg}");
        assert!(msg.contains("1024"), "names the maximum: {msg}");
        assert!(std::error::Error::source(&err).is_none());
    }
}

/// The boundary itself is allowed: 1,024 workers (small stacks, no spinning), shut
/// down at once.
#[test]
fn exactly_the_maximum_worker_count_builds() {
    let rt = Runtime::builder()
        .workers(1024)
        .thread_stack_size(64 * 1024)
        .spin_before_park(Duration::ZERO)
        .build()
        .expect("1024 workers is the documented maximum");
    assert_eq!(rt.workers(), 1024);
    assert_eq!(join(rt.spawn(Priority::NORMAL, || 1)).unwrap(), 1);
    assert!(rt.shutdown().is_balanced());
}

#[test]
fn extreme_delays_and_instants_do_not_panic() {
    let rt = runtime(1);
    let hs = vec![
        rt.spawn_after(Duration::MAX, Priority::NORMAL, || 0),
        rt.spawn_after(Duration::from_secs(u64::MAX), Priority::NORMAL, || 1),
        rt.spawn_after(Duration::new(u64::MAX / 2, 999_999_999), Priority::NORMAL, || 2),
        rt.spawn_after(Duration::from_nanos(1), Priority::NORMAL, || 3),
        rt.spawn_at(Instant::now(), Priority::NORMAL, || 4),
    ];
    let mut results = Vec::new();
    for h in hs.into_iter().rev().take(2) {
        results.push(join(h).unwrap());
    }
    assert_eq!(results, vec![4, 3]);
    let report = rt.shutdown();
    assert_eq!(report.timers_dropped, 3, "{report:?}");
    assert!(report.is_balanced(), "{report:?}");
}

#[test]
fn zero_spin_and_tiny_stack_are_accepted() {
    let rt = Runtime::builder()
        .workers(1)
        .spin_before_park(Duration::ZERO)
        .thread_stack_size(64 * 1024)
        .thread_name("")
        .build()
        .unwrap();
    assert_eq!(join(rt.spawn(Priority::NORMAL, || 1)).unwrap(), 1);
    drop(rt);
}

#[test]
fn a_thread_name_with_a_nul_byte_is_a_clear_error() {
    let err = Runtime::builder().workers(1).thread_name("pool\0x").build().unwrap_err();
    assert!(err.is_bad_thread_setting() && !err.is_spawn(), "{err:?}");
    let msg = err.to_string();
    assert!(msg.contains("NUL") && msg.contains("thread_name"), "{msg}");
}

#[test]
fn a_zero_stack_size_is_a_clear_error() {
    let err = Runtime::builder().workers(1).thread_stack_size(0).build().unwrap_err();
    assert!(err.is_bad_thread_setting(), "{err:?}");
    assert!(err.to_string().contains("thread_stack_size(0)"), "{err}");
}

#[test]
fn a_dense_timer_slack_above_the_maximum_is_a_clear_error() {
    let over = Builder::MAX_DENSE_TIMER_SLACK + Duration::from_nanos(1);
    let err = Runtime::builder().workers(1).dense_timer_slack(over).build().unwrap_err();
    assert!(err.is_dense_timer_slack_too_long(), "{err:?}");
    let msg = err.to_string();
    assert!(msg.contains("dense_timer_slack(800.001µs)") && msg.contains("give at most 800µs"), "{msg}");
}

#[test]
fn a_spin_budget_of_duration_max_spins_until_work_a_due_timer_or_shutdown() {
    let rt = Runtime::builder().workers(1).spin_before_park(Duration::MAX).build().unwrap();
    assert_eq!(join(rt.spawn(Priority::NORMAL, || 1)).unwrap(), 1);
    // The worker spins with no end of budget: only its wheel's deadline ends the spin.
    let at = Instant::now() + Duration::from_millis(5);
    let timed = rt.spawn_at(at, Priority::NORMAL, move || Instant::now() >= at);
    assert!(join(timed).unwrap(), "ran before its due time");
    let report = within(move || rt.shutdown()).expect("shutdown hung behind the spin");
    assert_eq!(report.completed, 2, "{report:?}");
}

#[test]
fn a_shutdown_timeout_of_duration_max_waits_like_shutdown() {
    let rt = runtime(1);
    let h = rt.spawn(Priority::NORMAL, || std::thread::sleep(Duration::from_millis(20)));
    let report = within(move || rt.shutdown_timeout(Duration::MAX)).expect("shutdown_timeout(MAX) hung");
    assert!(!report.timed_out, "{report:?}");
    assert_eq!(report.completed, 1, "{report:?}");
    assert!(join(h).is_ok());
}
