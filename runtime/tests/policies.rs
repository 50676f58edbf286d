//! Task policies: deadlines, run timeouts, retries through `spawn_with`, priority changes,
//! task status, aging and LIFO order. No assertion here depends on how fast anything runs.

mod common;

use common::{join, runtime, wait_until, Gate};
use kairos_rt::{Aging, Priority, RetryPolicy, Runtime, Task, TaskStatus};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::SeqCst};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

#[test]
fn a_deadline_in_the_past_expires_without_running() {
    let rt = runtime(1);
    let ran = Arc::new(AtomicBool::new(false));
    let r = ran.clone();
    let h = rt
        .spawn_with(
            Task::new(move || r.store(true, SeqCst)).deadline(Instant::now() - Duration::from_secs(1)),
        )
        .unwrap();
    assert!(wait_until(|| h.status() == TaskStatus::Expired));
    let err = join(h).unwrap_err();
    assert!(err.is_expired(), "{err:?}");
    assert!(err.to_string().contains("deadline"), "{err}");
    assert!(!ran.load(SeqCst));
    let report = rt.shutdown();
    assert_eq!(report.expired, 1);
    assert!(report.is_balanced(), "{report:?}");
}

#[test]
fn a_task_stuck_behind_busy_workers_past_its_deadline_never_starts() {
    let rt = runtime(1);
    let gate = Gate::hold(&rt, Priority::HIGHEST);
    let ran = Arc::new(AtomicBool::new(false));
    let r = ran.clone();
    let deadline = Instant::now() + Duration::from_millis(20);
    let h = rt.spawn_with(Task::new(move || r.store(true, SeqCst)).deadline(deadline)).unwrap();
    let in_time =
        rt.spawn_with(Task::new(|| 5).deadline(Instant::now() + Duration::from_secs(3600))).unwrap();
    assert_eq!(h.status(), TaskStatus::Pending);
    while Instant::now() <= deadline {
        std::thread::sleep(Duration::from_millis(5));
    }
    join(gate.open()).unwrap();
    assert!(join(h).unwrap_err().is_expired());
    assert_eq!(join(in_time).unwrap(), 5);
    assert!(!ran.load(SeqCst));
    assert!(rt.shutdown().is_balanced());
}

#[test]
fn a_closure_timeout_applies_to_its_start_only() {
    let rt = runtime(1);
    // Zero: a deadline at the spawn, so it always expires.
    let h = rt.spawn_with(Task::new(|| 1).timeout(Duration::ZERO)).unwrap();
    assert!(join(h).unwrap_err().is_expired());
    // A long running closure is not interrupted by a short timeout once started.
    let h = rt
        .spawn_with(
            Task::new(|| {
                std::thread::sleep(Duration::from_millis(30));
                2
            })
            .timeout(Duration::from_secs(3600)),
        )
        .unwrap();
    assert_eq!(join(h).unwrap(), 2);
    assert!(rt.shutdown().is_balanced());
}

#[test]
fn a_future_past_its_run_timeout_is_dropped_at_a_poll_point() {
    let rt = runtime(2);
    let (flag, dropped) = common::DropFlag::new();
    let h = rt
        .spawn_with(
            Task::future(async move {
                let _flag = flag;
                kairos_rt::sleep(Duration::from_secs(3600)).await;
                1
            })
            .timeout(Duration::from_millis(10)),
        )
        .unwrap();
    let err = join(h).unwrap_err();
    assert!(err.is_timed_out(), "{err:?}");
    assert!(dropped.load(SeqCst), "the future was dropped");
    let quick = rt.spawn_with(Task::future(async { 3 }).timeout(Duration::from_secs(3600))).unwrap();
    assert_eq!(join(quick).unwrap(), 3);
    let report = rt.shutdown();
    assert_eq!(report.run_timeouts, 1);
    assert!(report.is_balanced(), "{report:?}");
}

#[test]
fn a_task_can_start_later_at_its_priority() {
    let rt = runtime(1);
    let start = Instant::now();
    let h = rt
        .spawn_with(Task::new(Instant::now).after(Duration::from_millis(5)).priority(Priority::LOW))
        .unwrap();
    assert!(join(h).unwrap() >= start + Duration::from_millis(5));
    let at = Instant::now() + Duration::from_millis(3);
    let h = rt.spawn_with(Task::new(Instant::now).at(at)).unwrap();
    assert!(join(h).unwrap() >= at);
}

#[test]
fn retries_until_success_and_count_attempts() {
    let rt = runtime(2);
    let calls = Arc::new(AtomicUsize::new(0));
    let c = calls.clone();
    let policy = RetryPolicy::exponential(Duration::from_millis(1), Duration::from_millis(4)).max_attempts(5);
    let h = rt
        .spawn_with(
            Task::new(move || {
                let n = c.fetch_add(1, SeqCst) + 1;
                if n < 3 {
                    Err(format!("attempt {n} failed"))
                } else {
                    Ok(n)
                }
            })
            .priority(Priority::HIGH)
            .retry(policy),
        )
        .unwrap();
    let outcome = join(h).unwrap();
    assert_eq!(outcome.attempts, 3);
    assert_eq!(outcome.result, Ok(3));
    assert_eq!(calls.load(SeqCst), 3);
    assert_eq!(rt.metrics().retried, 2);
    assert_eq!(rt.pending().retry_waiting(), 0);
    assert!(rt.shutdown().is_balanced());
}

#[test]
fn retries_give_up_after_max_attempts_with_the_last_error() {
    let rt = runtime(1);
    let mut n = 0;
    let policy = RetryPolicy::fixed(Duration::from_millis(1)).max_attempts(4);
    let h = rt
        .spawn_with(
            Task::new(move || -> Result<(), u32> {
                n += 1;
                Err(n)
            })
            .retry(policy),
        )
        .unwrap();
    let outcome = join(h).unwrap();
    assert_eq!(outcome.attempts, 4);
    assert_eq!(outcome.result, Err(4));
    assert!(rt.metrics().failed >= 1, "an exhausted retry counts as failed");
}

#[test]
fn an_invalid_retry_policy_is_refused_and_the_closure_handed_back() {
    let rt = runtime(1);
    let err = rt
        .spawn_with(Task::new(|| Ok::<u8, ()>(9)).retry(RetryPolicy::fixed(Duration::ZERO).max_attempts(0)))
        .unwrap_err();
    assert!(err.is_invalid() && !err.is_full() && !err.is_shutdown());
    assert!(err.to_string().contains("max_attempts"), "{err}");
    let f = err.into_inner().into_inner();
    assert_eq!(f(), Ok(9));
    let report = rt.shutdown();
    assert_eq!(report.submitted, 0, "a refused policy is not a submission");
}

type Order = Arc<Mutex<Vec<&'static str>>>;

/// Records the order in which tasks ran.
fn recorder() -> (Order, impl Fn(&'static str) -> Box<dyn FnOnce() + Send>) {
    let order = Arc::new(Mutex::new(Vec::new()));
    let o = order.clone();
    (order, move |name| {
        let o = o.clone();
        Box::new(move || o.lock().unwrap().push(name))
    })
}

#[test]
fn set_priority_moves_a_queued_task_to_its_new_level() {
    let rt = runtime(1);
    let gate = Gate::hold(&rt, Priority::HIGHEST);
    let (order, rec) = recorder();
    let a = rt.spawn(Priority::LOW, rec("a"));
    let b = rt.spawn(Priority::NORMAL, rec("b"));
    let c = rt.spawn(Priority::HIGH, rec("c"));
    assert!(a.set_priority(Priority::HIGHEST), "raise a queued task");
    assert!(c.set_priority(Priority::LOWEST), "lower a queued task");
    join(gate.open()).unwrap();
    for h in [a, b, c] {
        join(h).unwrap();
    }
    assert_eq!(*order.lock().unwrap(), ["a", "b", "c"]);
    let report = rt.shutdown();
    assert_eq!(report.completed, 4);
    assert!(report.is_balanced(), "{report:?}");
}

#[test]
fn set_priority_of_a_timed_task_applies_when_it_fires() {
    let rt = runtime(1);
    let gate = Gate::hold(&rt, Priority::HIGHEST);
    let (order, rec) = recorder();
    let t = rt.spawn_after(Duration::from_millis(1), Priority::LOWEST, rec("timed"));
    let n = rt.spawn(Priority::NORMAL, rec("normal"));
    assert_eq!(t.status(), TaskStatus::Timed);
    assert!(t.set_priority(Priority::HIGH));
    std::thread::sleep(Duration::from_millis(5));
    join(gate.open()).unwrap();
    join(t).unwrap();
    join(n).unwrap();
    assert_eq!(*order.lock().unwrap(), ["timed", "normal"]);
}

#[test]
fn every_task_runs_exactly_once_whatever_its_priority_changes() {
    let rt = runtime(2);
    let gates = [Gate::hold(&rt, Priority::HIGHEST), Gate::hold(&rt, Priority::HIGHEST)];
    let runs: Arc<Vec<AtomicUsize>> = Arc::new((0..200).map(|_| AtomicUsize::new(0)).collect());
    let handles: Vec<_> = (0..200)
        .map(|i| {
            let runs = runs.clone();
            rt.spawn(Priority::new((i % 64) as u8).unwrap(), move || {
                runs[i].fetch_add(1, SeqCst);
            })
        })
        .collect();
    let levels = [Priority::LOW, Priority::HIGH, Priority::NORMAL, Priority::LOWEST];
    for (i, h) in handles.iter().enumerate() {
        for k in 0..(i % 8) {
            let changed = h.set_priority(levels[(i + k) % 4]);
            assert!(changed || k >= 7, "change {k} of task {i} refused");
        }
    }
    for g in gates {
        join(g.open()).unwrap();
    }
    for h in handles {
        join(h).unwrap();
    }
    assert!(runs.iter().all(|r| r.load(SeqCst) == 1), "a task ran twice or never");
    let report = rt.shutdown();
    assert_eq!(report.completed, 202);
    assert!(report.is_balanced(), "{report:?}");
}

#[test]
fn set_priority_is_refused_once_started_or_after_seven_queued_changes() {
    let rt = runtime(1);
    let gate = Gate::hold(&rt, Priority::HIGHEST);
    assert!(!gate.handle.set_priority(Priority::LOW), "running");
    let h = rt.spawn(Priority::LOW, || ());
    assert!(h.set_priority(Priority::LOW), "same level: nothing to do");
    for k in 0..7 {
        assert!(h.set_priority(if k % 2 == 0 { Priority::HIGH } else { Priority::LOW }), "change {k}");
    }
    assert!(!h.set_priority(Priority::NORMAL), "the eighth change of a queued task");
    join(gate.open()).unwrap();
    assert!(wait_until(|| h.is_finished()));
    assert!(!h.set_priority(Priority::HIGHEST), "finished");
    join(h).unwrap();
}

#[test]
fn status_follows_the_life_of_a_task() {
    let rt = runtime(1);
    let gate = Gate::hold(&rt, Priority::HIGHEST);
    assert_eq!(gate.handle.status(), TaskStatus::Running);
    let pending = rt.spawn(Priority::NORMAL, || ());
    let timed = rt.spawn_after(Duration::from_secs(3600), Priority::NORMAL, || ());
    let cancelled = rt.spawn(Priority::NORMAL, || ());
    let failing = rt.spawn(Priority::NORMAL, || panic!("boom"));
    assert_eq!(pending.status(), TaskStatus::Pending);
    assert_eq!(timed.status(), TaskStatus::Timed);
    assert!(cancelled.cancel());
    assert_eq!(cancelled.status(), TaskStatus::Cancelled);
    join(gate.open()).unwrap();
    assert!(wait_until(|| pending.status() == TaskStatus::Done));
    assert!(wait_until(|| failing.status() == TaskStatus::Failed));
    let sleeper =
        rt.spawn_future(Priority::NORMAL, async { kairos_rt::sleep(Duration::from_secs(3600)).await });
    assert!(wait_until(|| sleeper.status() == TaskStatus::Running), "a started future that waits");
    assert!(timed.cancel());
    // `cancel` says false if it caught the future inside its poll (a worker may be
    // polling it right then); it is then dropped at the poll's end. Either way it ends
    // cancelled.
    let _ = sleeper.cancel();
    assert!(join(sleeper).unwrap_err().is_cancelled());
}

/// A HIGHEST task that re-spawns itself until `stop` is set or `cap` runs happened.
fn flood(rt: &Runtime, stop: Arc<AtomicBool>, count: Arc<AtomicUsize>, cap: usize) {
    fn step(stop: Arc<AtomicBool>, count: Arc<AtomicUsize>, cap: usize) {
        if stop.load(SeqCst) || count.fetch_add(1, SeqCst) >= cap {
            return;
        }
        kairos_rt::spawn(Priority::HIGHEST, move || step(stop, count, cap));
    }
    rt.spawn(Priority::HIGHEST, move || step(stop, count, cap));
}

/// How many flood runs happened before a LOWEST task ran.
fn flood_runs_before_lowest(rt: Runtime, cap: usize) -> usize {
    let gate = Gate::hold(&rt, Priority::HIGHEST);
    let stop = Arc::new(AtomicBool::new(false));
    let count = Arc::new(AtomicUsize::new(0));
    let seen = Arc::new(AtomicUsize::new(usize::MAX));
    let (s, c, seen2) = (stop.clone(), count.clone(), seen.clone());
    let low = rt.spawn(Priority::LOWEST, move || {
        seen2.store(c.load(SeqCst), SeqCst);
        s.store(true, SeqCst);
    });
    flood(&rt, stop, count, cap);
    join(gate.open()).unwrap();
    join(low).unwrap();
    rt.shutdown();
    seen.load(SeqCst)
}

#[test]
fn aging_serves_a_starved_level_during_a_flood_and_strict_order_does_not() {
    const CAP: usize = 300_000;
    let aging =
        Runtime::builder().workers(1).aging(Aging::uniform(Duration::from_millis(1))).build().unwrap();
    let with_aging = flood_runs_before_lowest(aging, CAP);
    assert!(with_aging < CAP, "aging let LOWEST run during the flood ({with_aging} runs)");
    let strict = Runtime::builder().workers(1).no_aging().build().unwrap();
    let without = flood_runs_before_lowest(strict, CAP);
    assert!(without >= CAP, "without aging LOWEST waits for the flood to end ({without} runs)");
}

#[test]
fn a_zero_aging_budget_is_refused() {
    let err = Runtime::builder().aging(Aging::uniform(Duration::ZERO)).build().unwrap_err();
    assert!(err.is_zero_aging());
    assert!(err.to_string().contains("aging"), "{err}");
}

fn local_order(lifo: bool) -> Vec<u8> {
    let rt = Runtime::builder().workers(1).lifo_within_level(lifo).build().unwrap();
    let order = Arc::new(Mutex::new(Vec::new()));
    let o = order.clone();
    let parent = rt.spawn(Priority::HIGHEST, move || {
        for i in 0..3u8 {
            let o = o.clone();
            kairos_rt::spawn(Priority::NORMAL, move || o.lock().unwrap().push(i));
        }
    });
    join(parent).unwrap();
    assert!(wait_until(|| order.lock().unwrap().len() == 3));
    let v = order.lock().unwrap().clone();
    v
}

#[test]
fn order_within_a_level_is_fifo_by_default_and_lifo_on_request() {
    assert_eq!(local_order(false), [0, 1, 2]);
    assert_eq!(local_order(true), [2, 1, 0]);
}

/// `lifo_within_level` orders a worker's own spawns; tasks submitted from outside are
/// still taken oldest first, as its docs say. Seen to fail ([0, 5, 4, 3, 2, 1]) when the
/// injector pushed a batch oldest first into the LIFO run queue.
#[test]
fn outside_submissions_run_oldest_first_with_lifo_within_level() {
    let rt = Runtime::builder().workers(1).lifo_within_level(true).build().unwrap();
    let order = Arc::new(Mutex::new(Vec::new()));
    let gate = Gate::hold(&rt, Priority::HIGHEST);
    let handles: Vec<_> = (0..6)
        .map(|i| {
            let order = order.clone();
            rt.spawn(Priority::NORMAL, move || order.lock().unwrap().push(i))
        })
        .collect();
    join(gate.open()).unwrap();
    for h in handles {
        join(h).unwrap();
    }
    assert_eq!(*order.lock().unwrap(), [0, 1, 2, 3, 4, 5]);
}

/// A retrying task whose first attempt fails; returns the order in which its second
/// attempt and a NORMAL task queued meanwhile ran.
fn retry_vs_normal(policy: RetryPolicy) -> Vec<&'static str> {
    let rt = runtime(1);
    let (order, rec) = recorder();
    let attempts = Arc::new(AtomicUsize::new(0));
    let (started_tx, started_rx) = std::sync::mpsc::channel();
    let (release_tx, release_rx) = std::sync::mpsc::channel::<()>();
    let release_rx = Mutex::new(Some(release_rx));
    let a = attempts.clone();
    let o = order.clone();
    let retrying = rt
        .spawn_with(
            Task::new(move || {
                if a.fetch_add(1, SeqCst) == 0 {
                    // The first attempt queues a gate that holds the only worker through
                    // the backoff, then fails.
                    let (started, release) = (started_tx.clone(), release_rx.lock().unwrap().take());
                    kairos_rt::spawn(Priority::HIGHEST, move || {
                        started.send(()).unwrap();
                        release.unwrap().recv_timeout(common::PATIENCE).unwrap();
                    });
                    Err("first attempt fails")
                } else {
                    o.lock().unwrap().push("retry");
                    Ok(())
                }
            })
            .priority(Priority::HIGH)
            .retry(policy),
        )
        .unwrap();
    started_rx.recv_timeout(common::PATIENCE).unwrap();
    let normal = rt.spawn(Priority::NORMAL, rec("normal"));
    // Past the 20 ms backoff, with the worker held since before it began: when the gate
    // opens, the retry and the NORMAL task are both ready.
    std::thread::sleep(Duration::from_millis(60));
    release_tx.send(()).unwrap();
    join(normal).unwrap();
    assert_eq!(join(retrying).unwrap().attempts, 2);
    let v = order.lock().unwrap().clone();
    v
}

#[test]
fn retries_keep_the_task_priority_or_use_the_configured_one() {
    let backoff = RetryPolicy::fixed(Duration::from_millis(20));
    assert_eq!(retry_vs_normal(backoff.clone()), ["retry", "normal"], "HIGH retry before NORMAL");
    assert_eq!(retry_vs_normal(backoff.retry_priority(Priority::LOWEST)), ["normal", "retry"]);
}

#[test]
fn a_timed_future_is_counted_once_whether_cancelled_or_dropped_at_shutdown() {
    let rt = Runtime::builder().workers(1).max_pending(4).build().unwrap();
    let cancelled = rt.spawn_with(Task::future(async { 1 }).after(Duration::from_secs(3600))).unwrap();
    let dropped = rt.spawn_with(Task::future(async { 2 }).after(Duration::from_secs(3600))).unwrap();
    assert!(wait_until(|| rt.pending().timed() == 2));
    assert!(cancelled.cancel());
    assert!(join(cancelled).unwrap_err().is_cancelled());
    assert!(wait_until(|| rt.metrics().cancelled == 1));
    // Its admission unit came back exactly once: three more fit, a fourth does not.
    let more: Vec<_> =
        (0..3).map(|_| rt.spawn_after(Duration::from_secs(3600), Priority::LOW, || ())).collect();
    assert!(rt.try_spawn(Priority::LOW, || ()).unwrap_err().is_full());
    let report = rt.shutdown();
    assert_eq!(report.cancelled, 1, "{report:?}");
    assert_eq!(report.futures_dropped + report.timers_dropped, 4, "{report:?}");
    assert!(report.is_balanced(), "{report:?}");
    assert!(join(dropped).unwrap_err().is_shutdown());
    drop(more);
}

#[test]
fn an_exhausted_retry_counts_as_failed_not_completed() {
    let rt = runtime(1);
    let h = rt
        .spawn_with(
            Task::new(|| Err::<(), _>("no")).retry(RetryPolicy::fixed(Duration::ZERO).max_attempts(2)),
        )
        .unwrap();
    assert!(join(h).unwrap().result.is_err());
    let m = rt.metrics();
    assert_eq!((m.completed, m.failed), (0, 1), "{m:?}");
}

/// Each round: spawn a NORMAL closure onto the worker's own queue, then yield. Returns
/// the rounds in which the future resumed before that closure ran.
fn yield_overtakes(lifo: bool) -> Vec<u32> {
    let rt = Runtime::builder().workers(1).lifo_within_level(lifo).no_aging().build().unwrap();
    let h = rt.spawn_future(Priority::NORMAL, async {
        let mut overtaken = Vec::new();
        for i in 0..200u32 {
            let ran = Arc::new(AtomicBool::new(false));
            let r = ran.clone();
            drop(kairos_rt::spawn(Priority::NORMAL, move || r.store(true, SeqCst)));
            kairos_rt::yield_now().await;
            if !ran.load(SeqCst) {
                overtaken.push(i);
            }
        }
        overtaken
    });
    let v = join(h).unwrap();
    rt.shutdown();
    v
}

/// A future that yields goes behind the work its worker queued at its level: always with
/// FIFO; with LIFO, except on the fairness turn for outside work (every 61st pick: the
/// Builder's docs, which claimed "in both modes" until a review showed otherwise).
#[test]
fn a_yielding_future_goes_behind_local_work_at_its_level() {
    assert_eq!(yield_overtakes(false), Vec::<u32>::new());
    let lifo = yield_overtakes(true);
    assert!(lifo.len() <= 200 / 61, "more overtakes than fairness turns: {lifo:?}");
}
