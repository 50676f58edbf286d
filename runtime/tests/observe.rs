//! `pending()` and `metrics()`: what they count, checked on a runtime held still by gates.

mod common;

use common::{join, runtime, wait_until, Gate, PATIENCE};
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

/// The runtime's own timers (sleeps, timeouts, retry backoffs) are not user tasks: a
/// future that sleeps three times is one submitted, started and completed task, and its
/// timers are counted apart, balancing on their own.
#[test]
fn sleeps_timeouts_and_backoffs_are_counted_apart_from_tasks() {
    let rt = runtime(2);
    let slept = rt.spawn_future(Priority::NORMAL, async {
        for _ in 0..3 {
            kairos_rt::sleep(Duration::from_millis(1)).await;
        }
        // Finishes within its limit: the timeout's timer is cancelled.
        kairos_rt::timeout(Duration::from_secs(3600), async { 5 }).await.unwrap()
    });
    assert_eq!(join(slept).unwrap(), 5);
    let mut failures = 0;
    let retried = rt
        .spawn_with(
            Task::new(move || {
                failures += 1;
                if failures <= 2 {
                    Err("down")
                } else {
                    Ok("up")
                }
            })
            .retry(RetryPolicy::fixed(Duration::from_millis(1)).max_attempts(3)),
        )
        .unwrap();
    assert_eq!(join(retried).unwrap().result, Ok("up"));
    // Handles resolve before their worker counts the ends: wait for the counts to settle.
    assert!(wait_until(|| {
        let t = rt.metrics().runtime_timers;
        t.fired == 5 && t.cancelled == 1 && rt.metrics().completed == 2
    }));
    let m = rt.metrics();
    assert_eq!(m.submitted, 2, "two user tasks, not {} tasks: {m}", m.submitted);
    assert_eq!(m.completed, 2);
    assert_eq!(m.started, 4, "one run of the future, three attempts of the retried task");
    assert_eq!(m.cancelled, 0, "a dropped timeout timer is no cancelled task");
    assert_eq!(m.retried, 2);
    assert_eq!(m.runtime_timers.submitted, 6, "3 sleeps, 1 timeout, 2 backoffs");
    assert_eq!(m.runtime_timers.unaccounted(), 0);
    assert_eq!(m.runtime_timers_pending, 0);
    let text = m.to_prometheus();
    assert!(text.contains("\nkairos_tasks_submitted_total 2\n"), "{text}");
    assert!(text.contains("\nkairos_runtime_timers_fired_total 5\n"), "{text}");
    assert!(text.contains("\nkairos_runtime_timers_cancelled_total 1\n"), "{text}");

    // A sleep still waiting at shutdown: its task is a dropped future, its timer is
    // dropped unfired (or cancelled, if the future is dropped first), not a user task.
    let sleeper = rt.spawn_future(Priority::NORMAL, async {
        kairos_rt::sleep(Duration::from_secs(3600)).await;
    });
    assert!(wait_until(|| rt.pending().runtime_timers() == 1));
    assert_eq!(rt.pending().total(), 0, "a sleeping future waits for nothing to run");
    assert_eq!(rt.metrics().timers_pending, 0);
    assert_eq!(rt.metrics().runtime_timers_pending, 1);
    let report = rt.shutdown();
    assert!(sleeper.join().unwrap_err().is_shutdown());
    assert_eq!(report.submitted, 3, "{report:?}");
    assert_eq!(report.completed, 2, "{report:?}");
    assert_eq!(report.futures_dropped, 1, "{report:?}");
    assert_eq!((report.cancelled, report.timers_dropped), (0, 0), "{report:?}");
    let timers = report.runtime_timers;
    assert_eq!(timers.submitted, 7, "{report:?}");
    assert_eq!((timers.fired, timers.dropped + timers.cancelled), (5, 2), "{report:?}");
    assert!(report.is_balanced(), "{report:?}");
}

/// `pending()` counts what waits to run, not the sleeps of running futures: with
/// `max_pending(LIMIT)` and eight submitters outside the runtime, every snapshot stays
/// within the documented bound (`LIMIT` plus the tasks that started during the read),
/// and once every future sleeps nothing is pending.
#[test]
fn pending_stays_within_max_pending_while_futures_sleep() {
    use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::SeqCst};
    use std::sync::Arc;
    const LIMIT: u64 = 40;
    const THREADS: usize = 8;
    const PER_THREAD: usize = 100;
    const ALL: u64 = (THREADS * PER_THREAD) as u64;
    let rt = kairos_rt::Runtime::builder().workers(1).max_pending(LIMIT as usize).build().unwrap();
    // First polls so far: a task that started during a snapshot's read may be counted.
    let started = Arc::new(AtomicU64::new(0));
    let done = Arc::new(AtomicBool::new(false));
    let monitor = {
        let (handle, started, done) = (rt.handle(), started.clone(), done.clone());
        std::thread::spawn(move || {
            let mut worst = (0, 0);
            while !done.load(SeqCst) {
                let before = started.load(SeqCst);
                let p = handle.pending();
                let in_flight = started.load(SeqCst) - before + 1;
                if p.total() > LIMIT + in_flight && p.total() - in_flight > worst.0 {
                    worst = (p.total(), in_flight);
                }
            }
            worst
        })
    };
    let submitters: Vec<_> = (0..THREADS)
        .map(|_| {
            let (handle, started) = (rt.handle(), started.clone());
            std::thread::spawn(move || {
                (0..PER_THREAD)
                    .map(|_| {
                        let started = started.clone();
                        // `spawn_future` waits for room: at most LIMIT wait to start.
                        handle.spawn_future(Priority::NORMAL, async move {
                            started.fetch_add(1, SeqCst);
                            kairos_rt::sleep(Duration::from_secs(3600)).await;
                        })
                    })
                    .collect::<Vec<_>>()
            })
        })
        .collect();
    let handles: Vec<_> = submitters.into_iter().flat_map(|t| t.join().unwrap()).collect();
    assert!(wait_until(|| rt.pending().runtime_timers() == ALL), "{}", rt.pending());
    done.store(true, SeqCst);
    let (total, in_flight) = monitor.join().unwrap();
    assert_eq!(
        total, 0,
        "pending().total() read {total} with {in_flight} in flight, over max_pending {LIMIT}"
    );
    let p = rt.pending();
    assert_eq!(p.total(), 0, "every future sleeps; nothing waits to run: {p}");
    assert_eq!(rt.metrics().runtime_timers_pending, ALL);
    for h in &handles {
        let _ = h.cancel();
    }
    let report = rt.shutdown();
    assert_eq!(report.submitted, ALL);
    assert!(report.is_balanced(), "{report:?}");
}

/// Every priority level has its `kairos_queue_depth` series, at 0 when empty, so a
/// scrape of an idle runtime already shows them.
#[test]
fn queue_depth_series_exist_at_zero_when_queues_are_empty() {
    let rt = runtime(1);
    let text = rt.metrics().to_prometheus();
    let depth: Vec<&str> = text.lines().filter(|l| l.starts_with("kairos_queue_depth{")).collect();
    assert_eq!(depth.len(), Priority::LEVELS, "{text}");
    assert!(depth.iter().all(|l| l.ends_with("} 0")), "{depth:?}");
    assert!(depth.contains(&"kairos_queue_depth{priority=\"63\"} 0"), "{depth:?}");
    assert!(depth.contains(&"kairos_queue_depth{priority=\"0\"} 0"), "{depth:?}");
    assert!(rt.shutdown().is_balanced());
}

/// `completed` is a counter: it never goes down between two snapshots. An exhausted
/// retry is counted failed a moment before its task is counted completed; a snapshot
/// between the two (held open here by the `Drop` of the outcome nobody reads) showed
/// `completed` one lower than the snapshot before. Seen to fail (1, then 0).
#[test]
fn the_completed_counter_never_goes_down_when_a_retry_runs_out() {
    use std::sync::mpsc;

    struct SlowDrop(mpsc::Sender<()>, mpsc::Receiver<()>);
    impl Drop for SlowDrop {
        fn drop(&mut self) {
            let _ = self.0.send(());
            let _ = self.1.recv_timeout(PATIENCE);
        }
    }

    let rt = runtime(1);
    join(rt.spawn(Priority::NORMAL, || ())).unwrap();
    assert!(wait_until(|| rt.metrics().completed == 1));
    let before = rt.metrics().completed;
    let (in_drop_tx, in_drop) = mpsc::channel();
    let (release, release_rx) = mpsc::channel();
    let (go_tx, go) = mpsc::channel::<()>();
    let mut parts = Some((in_drop_tx, release_rx, go));
    let task = Task::new(move || {
        let (tx, rx, go) = parts.take().unwrap();
        go.recv_timeout(PATIENCE).unwrap();
        Err::<(), _>(SlowDrop(tx, rx))
    })
    .retry(RetryPolicy::fixed(Duration::ZERO).max_attempts(1));
    drop(rt.spawn_with(task).unwrap()); // nobody reads the outcome: it is dropped
    go_tx.send(()).unwrap();
    in_drop.recv_timeout(PATIENCE).expect("the outcome was never dropped");
    let during = rt.metrics();
    release.send(()).unwrap();
    assert!(during.completed >= before, "completed went from {before} down to {}", during.completed);
    assert_eq!(during.failed, 1, "{during}");
    assert!(wait_until(|| rt.metrics().completed == 1 && rt.metrics().failed == 1));
    rt.shutdown();
}
