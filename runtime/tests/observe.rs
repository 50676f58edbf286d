//! `pending()` and `metrics()`: what they count, checked on a runtime held still by gates.

mod common;

use common::{join, runtime, wait_until, Gate};
use kairos_rt::{Priority, RetryPolicy, Task};
use std::time::{Duration, Instant};

#[test]
fn pending_counts_ready_and_timed_tasks_by_level() {
    let rt = runtime(1);
    let timed = rt.spawn_after(Duration::from_secs(3600), Priority::NORMAL, || ());
    assert!(wait_until(|| rt.pending().timed() == 1), "the worker took the timer in");
    let gate = Gate::hold(&rt, Priority::HIGHEST);
    let low: Vec<_> = (0..3).map(|_| rt.spawn(Priority::LOW, || ())).collect();
    let high: Vec<_> = (0..2).map(|_| rt.spawn(Priority::HIGH, || ())).collect();
    let p = rt.pending();
    assert_eq!(p.ready(), 5);
    assert_eq!(p.at(Priority::LOW).ready, 3);
    assert_eq!(p.at(Priority::HIGH).ready, 2);
    assert_eq!(p.at(Priority::NORMAL).timed, 1);
    assert_eq!(p.total(), 6);
    let due = p.next_due().expect("a timer waits");
    let hour = Instant::now() + Duration::from_secs(3600);
    // A lower bound (the wheel's coarse levels report their slot's start), never late.
    assert!(due > Instant::now() && due <= hour, "{due:?}");
    join(gate.open()).unwrap();
    for h in low.into_iter().chain(high) {
        join(h).unwrap();
    }
    assert_eq!(rt.pending().ready(), 0);
    assert!(timed.cancel());
    assert!(wait_until(|| rt.pending().timed() == 0));
    assert!(rt.pending().next_due().is_none());
}

#[test]
fn pending_counts_retries_waiting_for_their_next_attempt() {
    let rt = runtime(1);
    let h = rt
        .spawn_with(
            Task::new(|| Err::<(), _>("down"))
                .retry(RetryPolicy::fixed(Duration::from_secs(3600)).max_attempts(2)),
        )
        .unwrap();
    assert!(wait_until(|| rt.pending().retry_waiting() == 1));
    // `cancel` says false if it caught the future inside its poll; it is then dropped at
    // the poll's end. Either way the task ends cancelled.
    let _ = h.cancel();
    assert!(wait_until(|| rt.pending().retry_waiting() == 0));
    assert!(h.join().unwrap_err().is_cancelled());
    let report = rt.shutdown();
    assert!(report.is_balanced(), "{report:?}");
}

#[test]
fn metrics_count_what_happened() {
    let rt = runtime(2);
    let n = 2_000;
    let hs: Vec<_> = (0..n).map(|i| rt.spawn(Priority::new((i % 64) as u8).unwrap(), || ())).collect();
    for h in hs {
        join(h).unwrap();
    }
    join(rt.spawn(Priority::NORMAL, || panic!("boom"))).unwrap_err();
    let gone = rt.spawn_after(Duration::from_secs(3600), Priority::LOW, || ());
    assert!(gone.cancel());
    // A handle resolves before its worker counts the end: wait for the counts to settle
    // (they must reach these values; a wrong count hangs here and fails the bound).
    assert!(wait_until(|| {
        let m = rt.metrics();
        m.completed == n as u64 && m.panicked == 1 && m.failed == 1 && m.cancelled == 1
    }));
    let m = rt.metrics();
    assert_eq!(m.submitted, n as u64 + 2);
    assert_eq!(m.completed, n as u64);
    assert_eq!(m.panicked, 1);
    assert_eq!(m.failed, 1);
    assert!(wait_until(|| rt.metrics().cancelled == 1));
    assert_eq!(m.started, n as u64 + 1, "the cancelled timer never started");
    assert_eq!(m.workers, 2);
    assert_eq!(m.busy_ratio.len(), 2);
    assert!(m.busy_ratio.iter().all(|r| (0.0..=1.0).contains(r)));
    assert!(m.latency.samples > 0, "1 task in 64 is sampled");
    assert!(m.latency.p50 <= m.latency.p99 && m.latency.p99 <= m.latency.max);
    let text = m.to_prometheus();
    assert!(text.contains(&format!("kairos_tasks_completed_total {n}\n")), "{text}");
    assert!(text.contains("kairos_tasks_panicked_total 1\n"));
    assert!(text.contains("# TYPE kairos_submit_to_start_seconds summary"));
    assert!(rt.shutdown().is_balanced());
}

/// A worker parked for a long time counts as idle while it is still parked, not only
/// once the park ends: an idle runtime does not report busy workers.
#[test]
fn a_parked_worker_counts_as_idle_before_it_wakes() {
    let rt = runtime(1);
    join(rt.spawn(Priority::NORMAL, || ())).unwrap();
    // Keep the worker parked until a due time an hour away.
    let timer = rt.spawn_after(Duration::from_secs(3600), Priority::NORMAL, || ());
    assert!(
        wait_until(|| rt.metrics().busy_ratio[0] < 0.5),
        "a parked worker still reads as busy: {:?}",
        rt.metrics().busy_ratio
    );
    assert!(timer.cancel());
    assert!(rt.shutdown().is_balanced());
}
