//! Shutdown: intake closes, queued ready closures still run, timers and idle futures are
//! dropped, the report accounts for every task, `shutdown_timeout` gives up, and dropping
//! the runtime does the same as shutting it down without hanging.

mod common;

use common::*;
use kairos_rt::{Priority, Runtime, ShutdownReport};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::SeqCst};
use std::sync::{mpsc, Arc};
use std::thread::JoinHandle as ThreadHandle;
use std::time::Duration;

/// Starts `rt.shutdown()` on another thread and waits until intake is closed.
fn begin_shutdown(rt: Runtime) -> ThreadHandle<ShutdownReport> {
    let handle = rt.handle();
    let t = std::thread::spawn(move || rt.shutdown());
    assert!(wait_until(|| handle.is_shutdown()), "shutdown never closed intake");
    t
}

fn finish(t: ThreadHandle<ShutdownReport>) -> ShutdownReport {
    within(move || t.join().unwrap()).expect("shutdown did not return")
}

#[test]
fn empty_runtime_report() {
    let rt = runtime(2);
    let report = rt.shutdown();
    assert_eq!(report.submitted, 0);
    assert_eq!(report.accounted(), 0);
    assert!(report.is_balanced() && !report.timed_out);
    let mut zero = ShutdownReport::default();
    zero.elapsed = report.elapsed;
    assert_eq!(report, zero);
}

#[test]
fn shutdown_lets_queued_ready_tasks_run() {
    let rt = runtime(1);
    let gate = Gate::hold(&rt, Priority::HIGHEST);
    let ran = Arc::new(AtomicUsize::new(0));
    let hs: Vec<_> = (0..50)
        .map(|i| {
            let ran = ran.clone();
            rt.spawn(Priority::new(i % 64).unwrap(), move || {
                ran.fetch_add(1, SeqCst);
            })
        })
        .collect();
    let gate_handle = rt.handle();
    let t = begin_shutdown(rt);
    // Intake is closed while all 50 still wait behind the gate.
    assert_eq!(ran.load(SeqCst), 0);
    assert!(gate_handle.is_shutdown());
    drop(gate.open());
    let report = finish(t);
    assert_eq!(ran.load(SeqCst), 50, "queued ready tasks must run during shutdown");
    assert_eq!(report.completed, 51, "{report:?}");
    assert_eq!(report.submitted, 51, "{report:?}");
    assert!(report.is_balanced() && report.unfinished == 0 && !report.timed_out, "{report:?}");
    for h in hs {
        join(h).unwrap();
    }
}

/// Every kind of outcome in one report, each with an exact count.
#[test]
fn report_accounts_for_every_outcome() {
    let rt = runtime(1);
    let handle = rt.handle();
    // 4 completed.
    for i in 0..4 {
        assert_eq!(join(rt.spawn(Priority::NORMAL, move || i)).unwrap(), i);
    }
    // 3 panicked.
    for _ in 0..3 {
        assert!(join(rt.spawn(Priority::NORMAL, || panic!("expected"))).unwrap_err().is_panic());
    }
    // 2 cancelled timers + 1 cancelled ready task behind a gate.
    for _ in 0..2 {
        assert!(rt.spawn_after(Duration::from_secs(3600), Priority::LOW, || ()).cancel());
    }
    let gate = Gate::hold(&rt, Priority::HIGHEST);
    let (flag, dropped) = DropFlag::new();
    let queued = rt.spawn(Priority::NORMAL, move || drop(flag));
    assert!(queued.cancel() && dropped.load(SeqCst));
    // 5 timers dropped at shutdown, their closures freed.
    let mut timer_flags = Vec::new();
    let timers: Vec<_> = (0..5)
        .map(|i| {
            let (flag, dropped) = DropFlag::new();
            timer_flags.push(dropped);
            rt.spawn_after(Duration::from_secs(600 + i), Priority::HIGH, move || drop(flag))
        })
        .collect();
    // 2 futures waiting for a signal that never comes (idle at shutdown).
    let signals: Vec<Signal> = (0..2).map(|_| Signal::default()).collect();
    let mut future_flags = Vec::new();
    let futures: Vec<_> = signals
        .iter()
        .map(|s| {
            let (flag, dropped) = DropFlag::new();
            future_flags.push(dropped);
            let s = s.clone();
            rt.spawn_future(Priority::NORMAL, async move {
                let _f = flag;
                s.wait().await;
            })
        })
        .collect();
    // 6 ready closures still queued behind the gate when shutdown starts: they run.
    let late_runs = Arc::new(AtomicUsize::new(0));
    for _ in 0..6 {
        let l = late_runs.clone();
        drop(rt.spawn(Priority::LOWEST, move || l.fetch_add(1, SeqCst)));
    }
    let t = begin_shutdown(rt);
    // 3 rejected: spawned while shutting down.
    let refused = handle.spawn(Priority::NORMAL, || 1);
    let back = handle.try_spawn(Priority::NORMAL, || 2).unwrap_err().into_inner();
    assert_eq!(back(), 2);
    let refused_timer = handle.spawn_after(Duration::from_millis(1), Priority::NORMAL, || 3);
    drop(gate.open());
    let report = finish(t);
    // The futures were never polled (the gate held the only worker) or idle: either way
    // they end dropped by shutdown.
    assert_eq!(late_runs.load(SeqCst), 6);
    assert_eq!(report.completed, 4 + 1 + 6, "{report:?}");
    assert_eq!(report.panicked, 3, "{report:?}");
    assert_eq!(report.cancelled, 3, "{report:?}");
    assert_eq!(report.timers_dropped, 5, "{report:?}");
    assert_eq!(report.futures_dropped, 2, "{report:?}");
    assert_eq!(report.rejected, 3, "{report:?}");
    assert_eq!(report.unfinished, 0, "{report:?}");
    assert_eq!(report.submitted, 4 + 3 + 3 + 1 + 5 + 2 + 6 + 3, "{report:?}");
    assert!(report.is_balanced() && !report.timed_out, "{report:?}");
    for f in timer_flags.iter().chain(&future_flags) {
        assert!(f.load(SeqCst), "shutdown must drop every pending body");
    }
    for h in timers {
        assert!(join(h).unwrap_err().is_shutdown());
    }
    for h in futures {
        assert!(join(h).unwrap_err().is_shutdown());
    }
    assert!(join(refused).unwrap_err().is_shutdown());
    assert!(join(refused_timer).unwrap_err().is_shutdown());
    assert!(join(queued).unwrap_err().is_cancelled());
    // A signal fired after shutdown wakes nothing and breaks nothing.
    for s in &signals {
        s.fire();
    }
}

#[test]
fn idle_futures_are_dropped_at_shutdown() {
    let rt = runtime(2);
    let signal = Signal::default();
    let (flag, dropped) = DropFlag::new();
    let s = signal.clone();
    let h = rt.spawn_future(Priority::NORMAL, async move {
        let _f = flag;
        s.wait().await;
        "never"
    });
    assert!(wait_until(|| signal.has_waker()), "never polled");
    let report = rt.shutdown();
    assert!(dropped.load(SeqCst));
    assert_eq!(report.futures_dropped, 1, "{report:?}");
    assert!(report.is_balanced(), "{report:?}");
    assert!(join(h).unwrap_err().is_shutdown());
}

/// Tasks spawned from inside a task during shutdown are refused (counted as rejected),
/// so a task that keeps re-spawning itself cannot keep the runtime alive.
#[test]
fn a_self_respawning_chain_cannot_hold_shutdown_open() {
    fn respawn(count: Arc<AtomicUsize>) {
        count.fetch_add(1, SeqCst);
        let c = count.clone();
        if let Err(e) = kairos_rt::try_current().unwrap().try_spawn(Priority::NORMAL, move || respawn(c)) {
            // Hand-back works from inside a task too.
            drop(e.into_inner());
        }
    }
    let rt = runtime(2);
    let count = Arc::new(AtomicUsize::new(0));
    let c = count.clone();
    drop(rt.spawn(Priority::NORMAL, move || respawn(c)));
    assert!(wait_until(|| count.load(SeqCst) > 100));
    let report = within(move || rt.shutdown()).expect("shutdown hung on a self-respawning task");
    assert_eq!(report.rejected, 1, "{report:?}");
    assert_eq!(report.completed, count.load(SeqCst) as u64, "{report:?}");
    assert!(report.is_balanced(), "{report:?}");
}

#[test]
fn kairos_spawn_inside_a_task_during_shutdown_is_refused() {
    let rt = runtime(1);
    let handle = rt.handle();
    let (started_tx, started_rx) = mpsc::channel();
    let (go_tx, go_rx) = mpsc::channel::<()>();
    let h = rt.spawn(Priority::NORMAL, move || {
        started_tx.send(()).unwrap();
        go_rx.recv_timeout(PATIENCE).unwrap();
        let child = kairos_rt::spawn(Priority::HIGH, || 1);
        let fut = kairos_rt::spawn_future(Priority::HIGH, async { 2 });
        (child, fut)
    });
    started_rx.recv_timeout(PATIENCE).unwrap();
    let t = begin_shutdown(rt);
    assert!(handle.is_shutdown());
    go_tx.send(()).unwrap();
    let report = finish(t);
    let (child, fut) = join(h).unwrap();
    assert!(join(child).unwrap_err().is_shutdown());
    assert!(join(fut).unwrap_err().is_shutdown());
    assert_eq!((report.completed, report.rejected), (1, 2), "{report:?}");
    assert!(report.is_balanced(), "{report:?}");
}

#[test]
fn shutdown_timeout_gives_up_on_a_blocked_task() {
    let rt = runtime(2);
    let (started_tx, started_rx) = mpsc::channel();
    let (go_tx, go_rx) = mpsc::channel::<()>();
    let finished = Arc::new(AtomicBool::new(false));
    let f = finished.clone();
    let blocked = rt.spawn(Priority::NORMAL, move || {
        started_tx.send(()).unwrap();
        // Blocks until the test has seen shutdown_timeout return.
        go_rx.recv_timeout(PATIENCE).unwrap();
        f.store(true, SeqCst);
        "late"
    });
    started_rx.recv_timeout(PATIENCE).unwrap();
    join(rt.spawn(Priority::NORMAL, || ())).unwrap();
    let report = within(move || rt.shutdown_timeout(Duration::from_millis(50)))
        .expect("shutdown_timeout did not return");
    assert!(report.timed_out, "{report:?}");
    assert!(report.unfinished > 0, "{report:?}");
    assert!(report.is_balanced(), "unfinished closes the balance: {report:?}");
    assert!(!finished.load(SeqCst));
    // The worker finishes the task in the background.
    go_tx.send(()).unwrap();
    assert_eq!(join(blocked).unwrap(), "late");
}

#[test]
fn shutdown_timeout_without_blocked_tasks_does_not_time_out() {
    let rt = runtime(2);
    for _ in 0..20 {
        drop(rt.spawn(Priority::NORMAL, || ()));
    }
    let t = rt.spawn_after(Duration::from_secs(3600), Priority::NORMAL, || ());
    let report = rt.shutdown_timeout(Duration::from_secs(20));
    assert!(!report.timed_out, "{report:?}");
    assert_eq!(report.unfinished, 0, "{report:?}");
    assert_eq!((report.completed, report.timers_dropped), (20, 1), "{report:?}");
    assert!(join(t).unwrap_err().is_shutdown());
}

#[test]
fn dropping_the_runtime_does_not_hang_and_cancels_timers() {
    let rt = runtime(2);
    let (flag, dropped) = DropFlag::new();
    let timer = rt.spawn_after(Duration::from_secs(3600), Priority::NORMAL, move || drop(flag));
    let never = rt.spawn_after(Duration::MAX, Priority::NORMAL, || ());
    let signal = Signal::default();
    let s = signal.clone();
    let fut = rt.spawn_future(Priority::NORMAL, async move { s.wait().await });
    let done = rt.spawn(Priority::NORMAL, || 5);
    assert_eq!(join(done).unwrap(), 5);
    assert!(wait_until(|| signal.has_waker()));
    within(move || drop(rt)).expect("dropping the runtime hung");
    assert!(dropped.load(SeqCst), "the pending timer's closure must be dropped");
    assert!(join(timer).unwrap_err().is_shutdown());
    assert!(join(never).unwrap_err().is_shutdown());
    assert!(join(fut).unwrap_err().is_shutdown());
}

/// The last handle to a runtime is moved into one of its own tasks and dropped there.
#[test]
fn dropping_the_runtime_from_inside_its_own_task_does_not_hang() {
    let rt = runtime(2);
    let handle = rt.handle();
    let (tx, rx) = mpsc::channel();
    let (flag, dropped) = DropFlag::new();
    drop(rt.spawn_after(Duration::from_secs(3600), Priority::NORMAL, move || drop(flag)));
    drop(handle.spawn(Priority::NORMAL, move || {
        drop(rt);
        tx.send(()).unwrap();
    }));
    rx.recv_timeout(PATIENCE).expect("drop inside a task hung");
    assert!(wait_until(|| dropped.load(SeqCst)), "the timer was never dropped");
    assert!(handle.is_shutdown());
}

/// Other threads spawn (ready, timed, futures) right through the shutdown: the report
/// still balances with nothing unfinished, and nothing leaks.
#[test]
fn shutdown_racing_spawns_from_other_threads_balances() {
    for round in 0..20 {
        let live = Live::leak();
        let rt = runtime(2);
        let stop = Arc::new(AtomicBool::new(false));
        let spawned = Arc::new(AtomicUsize::new(0));
        let threads: Vec<_> = (0..2)
            .map(|t| {
                let handle = rt.handle();
                let stop = stop.clone();
                let spawned = spawned.clone();
                std::thread::spawn(move || {
                    let mut i = 0u64;
                    while !stop.load(SeqCst) {
                        i += 1;
                        let g = Tracked::new(live);
                        match (i + t) % 4 {
                            0 => drop(handle.spawn(Priority::NORMAL, move || drop(g))),
                            1 => drop(handle.spawn_after(
                                Duration::from_micros(i % 300),
                                Priority::LOW,
                                move || drop(g),
                            )),
                            2 => drop(handle.spawn_future(Priority::HIGH, async move {
                                kairos_rt::yield_now().await;
                                drop(g)
                            })),
                            _ => {
                                if let Err(e) = handle.try_spawn(Priority::LOWEST, move || drop(g)) {
                                    drop(e.into_inner());
                                }
                            }
                        }
                        spawned.fetch_add(1, SeqCst);
                    }
                })
            })
            .collect();
        assert!(wait_until(|| spawned.load(SeqCst) > 2_000));
        let report = within(move || rt.shutdown()).expect("shutdown hung");
        stop.store(true, SeqCst);
        for t in threads {
            t.join().unwrap();
        }
        assert!(wait_until(|| live.now() == 0), "round {round}: {} bodies never dropped", live.now());
        assert!(!report.timed_out);
        assert_eq!(report.unfinished, 0, "round {round}: {report:?}");
        assert!(report.is_balanced(), "round {round}: {report:?}");
    }
}

/// Spawner threads run into a shutdown that a gate task holds open; they stop once they
/// see it and are joined before the gate opens. Every spawn call is then in the report,
/// exactly: submitted = our calls + the gate, rejected = the calls that came back refused.
#[test]
fn spawns_during_shutdown_are_counted_exactly() {
    for round in 0..10 {
        let live = Live::leak();
        let rt = runtime(2);
        let gate = Gate::hold(&rt, Priority::HIGHEST);
        let calls = Arc::new(AtomicUsize::new(0));
        let refused = Arc::new(AtomicUsize::new(0));
        let go = Arc::new(std::sync::Barrier::new(3));
        let threads: Vec<_> = (0..2u64)
            .map(|t| {
                let handle = rt.handle();
                let (calls, refused, go) = (calls.clone(), refused.clone(), go.clone());
                std::thread::spawn(move || {
                    go.wait();
                    let mut i = 0u64;
                    loop {
                        i += 1;
                        let closed_before = handle.is_shutdown();
                        let g = Tracked::new(live);
                        calls.fetch_add(1, SeqCst);
                        match (i + t) % 3 {
                            0 => {
                                if let Err(e) = handle.try_spawn(Priority::NORMAL, move || drop(g)) {
                                    refused.fetch_add(1, SeqCst);
                                    drop(e.into_inner());
                                }
                            }
                            1 => drop(handle.spawn_after(
                                Duration::from_micros(i % 500),
                                Priority::LOW,
                                move || drop(g),
                            )),
                            _ => drop(handle.spawn_future(Priority::HIGH, async move {
                                kairos_rt::yield_now().await;
                                drop(g)
                            })),
                        }
                        if closed_before {
                            return;
                        }
                    }
                })
            })
            .collect();
        go.wait();
        assert!(wait_until(|| calls.load(SeqCst) > 500));
        let t = begin_shutdown(rt);
        for th in threads {
            th.join().unwrap();
        }
        drop(gate.open());
        let report = finish(t);
        assert!(wait_until(|| live.now() == 0), "round {round}: {} bodies never dropped", live.now());
        assert_eq!(report.submitted, calls.load(SeqCst) as u64 + 1, "round {round}: {report:?}");
        // Each spawner's last call came after it saw intake closed.
        assert!(report.rejected >= 2, "{report:?}");
        assert!(report.rejected >= refused.load(SeqCst) as u64, "{report:?}");
        assert_eq!(report.unfinished, 0, "round {round}: {report:?}");
        assert!(report.is_balanced() && !report.timed_out, "round {round}: {report:?}");
    }
}

/// Cancels a sibling timed task when dropped.
struct CancelOnDrop(Option<kairos_rt::JoinHandle<()>>);

impl Drop for CancelOnDrop {
    fn drop(&mut self) {
        if let Some(h) = self.0.take() {
            h.cancel();
        }
    }
}

/// At shutdown a worker drops the timed tasks of its wheel; a dropped closure that cancels
/// another timed task of the same wheel must not unlink it from under the teardown. This
/// used to free the sibling while the wheel still linked it: a subtraction overflow in
/// debug builds, a use-after-free in release. Pairs in both due orders, so whichever of
/// the two the teardown reaches first, some pair has the canceller dropped first.
#[test]
fn a_timer_dropped_at_shutdown_may_cancel_a_sibling_timer() {
    const PAIRS: u64 = 8;
    let rt = runtime(1);
    rt.spawn(Priority::NORMAL, || {
        let here = kairos_rt::try_current().expect("inside a task");
        for i in 0..PAIRS {
            let (first, second) = (Duration::from_secs(3600 + i), Duration::from_secs(7200 + i));
            let (sibling_due, canceller_due) = if i % 2 == 0 { (second, first) } else { (first, second) };
            let sibling = here.spawn_after(sibling_due, Priority::LOW, || ());
            let guard = CancelOnDrop(Some(sibling));
            drop(here.spawn_after(canceller_due, Priority::LOW, move || drop(guard)));
        }
    })
    .join()
    .unwrap();
    let report = rt.shutdown();
    assert!(report.is_balanced(), "{report:?}");
    assert_eq!(report.timers_dropped + report.cancelled, 2 * PAIRS, "{report:?}");
}

#[test]
fn refused_tasks_of_two_runtimes_never_share_an_id() {
    let (a, b) = (runtime(1), runtime(1));
    let (ha, hb) = (a.handle(), b.handle());
    assert!(a.shutdown().is_balanced());
    assert!(b.shutdown().is_balanced());
    let ids: Vec<_> = (0..4)
        .flat_map(|_| [ha.spawn(Priority::NORMAL, || ()).id(), hb.spawn(Priority::NORMAL, || ()).id()])
        .collect();
    let mut unique = ids.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), ids.len(), "refused ids repeat: {ids:?}");
}

/// Issue 19 item 2: a queued ready closure runs at shutdown whatever policy wraps it (a
/// deadline, a run timeout, a retry); a retry whose first attempt fails and that would
/// wait for its backoff is cancelled (`futures_dropped`), not retried.
#[test]
fn queued_closures_with_policies_run_at_shutdown() {
    use kairos_rt::{RetryPolicy, Task};
    use std::time::Instant;
    let rt = runtime(1);
    let gate = Gate::hold(&rt, Priority::HIGHEST);
    let ran = Arc::new(AtomicUsize::new(0));
    let r = ran.clone();
    let plain = rt.spawn(Priority::NORMAL, move || r.fetch_add(1, SeqCst));
    let r = ran.clone();
    let far = Instant::now() + Duration::from_secs(3600);
    let deadline = rt.spawn_with(Task::new(move || r.fetch_add(1, SeqCst)).deadline(far)).unwrap();
    let r = ran.clone();
    let limited =
        rt.spawn_with(Task::new(move || r.fetch_add(1, SeqCst)).timeout(Duration::from_secs(3600))).unwrap();
    let policy = || RetryPolicy::fixed(Duration::from_secs(3600)).max_attempts(3);
    let r = ran.clone();
    let retried =
        rt.spawn_with(Task::new(move || Ok::<_, ()>(r.fetch_add(1, SeqCst))).retry(policy())).unwrap();
    let r = ran.clone();
    let failing =
        rt.spawn_with(Task::new(move || Err::<(), _>(r.fetch_add(1, SeqCst))).retry(policy())).unwrap();
    let t = begin_shutdown(rt);
    assert_eq!(ran.load(SeqCst), 0, "all five wait behind the gate");
    drop(gate.open());
    let report = finish(t);
    assert_eq!(ran.load(SeqCst), 5, "every queued closure ran exactly once: {report:?}");
    join(plain).unwrap();
    join(deadline).unwrap();
    join(limited).unwrap();
    let ok = join(retried).unwrap();
    assert_eq!((ok.is_ok(), ok.attempts), (true, 1));
    // Its first attempt ran and failed; waiting for its backoff it is cancelled like any
    // waiting future: no second attempt, and the report counts it in `futures_dropped`.
    assert!(join(failing).unwrap_err().is_shutdown());
    assert_eq!(report.futures_dropped, 1, "{report:?}");
    // The gate and the five. The runtime's own timers: the expiry timers of the two with
    // a start deadline (each cancelled when its task started) and the backoff timer the
    // failed retry asked for (refused: intake is closed).
    assert_eq!((report.submitted, report.completed, report.rejected), (6, 5, 0), "{report:?}");
    let timers = &report.runtime_timers;
    assert_eq!((timers.submitted, timers.cancelled, timers.refused), (3, 2, 1), "{report:?}");
    assert!(report.is_balanced() && !report.timed_out, "{report:?}");
}

/// A future that reports its first poll on `started`, then waits on `pending()` forever
/// (or on an hour-long `kairos_rt::sleep` if `sleeps`), holding `flag` until dropped.
fn waits_forever(
    rt: &Runtime,
    sleeps: bool,
    flag: DropFlag,
    started: mpsc::Sender<()>,
) -> kairos_rt::JoinHandle<()> {
    rt.spawn_future(Priority::NORMAL, async move {
        let _flag = flag;
        started.send(()).unwrap();
        if sleeps {
            kairos_rt::sleep(Duration::from_secs(3600)).await;
        } else {
            std::future::pending::<()>().await;
        }
    })
}

/// Issue 19 item 1, first bullet: `shutdown_timeout` gives up on a stuck worker; the
/// futures waiting on `pending()` and on an hour-long sleep are cancelled anyway (their
/// handles used to block forever), and once the stuck task returns the runtime's state
/// is freed.
#[test]
fn shutdown_timeout_that_gives_up_still_resolves_every_future() {
    let (rt, freed) = runtime_with_freed_flag(2);
    let gate = Gate::hold(&rt, Priority::HIGHEST);
    let (started, has_started) = mpsc::channel();
    let (pending_flag, pending_dropped) = DropFlag::new();
    let (sleep_flag, sleep_dropped) = DropFlag::new();
    let pending = waits_forever(&rt, false, pending_flag, started.clone());
    let sleeping = waits_forever(&rt, true, sleep_flag, started);
    for _ in 0..2 {
        has_started.recv_timeout(PATIENCE).expect("a future never started");
    }
    let report = within(move || rt.shutdown_timeout(Duration::from_millis(10))).expect("hung");
    assert!(report.timed_out && report.unjoined_workers >= 1, "{report:?}");
    assert!(report.is_balanced(), "{report:?}");
    assert!(report.unfinished >= 1, "the gate is still running: {report:?}");
    let e = join_within(pending).expect("the pending future's handle never resolved").unwrap_err();
    assert!(e.is_shutdown(), "{e:?}");
    let e = join_within(sleeping).expect("the sleeping future's handle never resolved").unwrap_err();
    assert!(e.is_shutdown(), "{e:?}");
    assert!(pending_dropped.load(SeqCst) && sleep_dropped.load(SeqCst), "both futures dropped");
    assert!(!freed.load(SeqCst), "the stuck worker still holds the runtime");
    join(gate.open()).unwrap();
    assert!(wait_until(|| freed.load(SeqCst)), "the runtime's state was never freed");
}

/// Shuts `rt` down from inside one of its own tasks (`drop_it`: drops it there instead)
/// with an idle future and a queued timer; checks that every handle resolves, the report
/// is honest, and the state is freed.
fn end_from_inside(drop_it: bool) {
    let (rt, freed) = runtime_with_freed_flag(2);
    let handle = rt.handle();
    let (started, has_started) = mpsc::channel();
    let (flag, future_dropped) = DropFlag::new();
    let idle = waits_forever(&rt, false, flag, started);
    has_started.recv_timeout(PATIENCE).expect("the future never started");
    let timer = rt.spawn_after(Duration::from_secs(3600), Priority::NORMAL, || ());
    let (tx, rx) = mpsc::channel();
    let ender = handle.spawn(Priority::NORMAL, move || {
        if drop_it {
            drop(rt);
            tx.send(None).unwrap();
        } else {
            tx.send(Some(rt.shutdown())).unwrap();
        }
    });
    drop(handle);
    let report = rx.recv_timeout(PATIENCE).expect("ending the runtime inside its own task hung");
    if let Some(report) = report {
        assert!(!report.timed_out, "no timeout was asked for: {report:?}");
        assert_eq!(report.unjoined_workers, 1, "the caller's own worker: {report:?}");
        assert!(report.is_balanced(), "{report:?}");
        assert!(report.unfinished >= 1, "the calling task was still running: {report:?}");
    }
    let e = join_within(idle).expect("the idle future's handle never resolved").unwrap_err();
    assert!(e.is_shutdown(), "{e:?}");
    assert!(future_dropped.load(SeqCst));
    assert!(join(timer).unwrap_err().is_shutdown());
    join(ender).unwrap();
    assert!(wait_until(|| freed.load(SeqCst)), "the runtime's state was never freed");
}

/// Issue 19 item 1, second bullet: `shutdown()` inside a task reported `timed_out` and
/// left an idle future's handle unresolved.
#[test]
fn shutdown_from_inside_a_task_resolves_every_handle() {
    end_from_inside(false);
}

/// The same with the `Runtime` dropped inside the task.
#[test]
fn drop_from_inside_a_task_resolves_every_handle() {
    end_from_inside(true);
}

/// The same from a hook: worker 0's start hook receives the `Runtime` and drops it.
#[test]
fn drop_from_a_start_hook_resolves_every_handle() {
    let (flag, freed) = DropFlag::new();
    let (give, take) = mpsc::channel::<Runtime>();
    let take = std::sync::Mutex::new(take);
    let (dropped_tx, dropped_rx) = mpsc::channel();
    let dropped_tx = std::sync::Mutex::new(dropped_tx);
    let rt = Runtime::builder()
        .workers(2)
        .thread_name("hooked")
        .on_thread_start(move || {
            if std::thread::current().name() == Some("hooked-0") {
                let rt = take.lock().unwrap().recv_timeout(PATIENCE).expect("no runtime handed over");
                drop(rt);
                dropped_tx.lock().unwrap().send(()).unwrap();
            }
        })
        .on_thread_stop(move || {
            let _ = &flag;
        })
        .build()
        .unwrap();
    let (started, has_started) = mpsc::channel();
    let (future_flag, future_dropped) = DropFlag::new();
    let idle = waits_forever(&rt, false, future_flag, started);
    has_started.recv_timeout(PATIENCE).expect("the future never started");
    give.send(rt).unwrap();
    dropped_rx.recv_timeout(PATIENCE).expect("dropping the runtime in its hook hung");
    let e = join_within(idle).expect("the idle future's handle never resolved").unwrap_err();
    assert!(e.is_shutdown(), "{e:?}");
    assert!(future_dropped.load(SeqCst));
    assert!(wait_until(|| freed.load(SeqCst)), "the runtime's state was never freed");
}

/// Issue 19 item 1, third bullet: runtimes dropped inside their own tasks with idle
/// futures holding 10 kB each used to leak their whole state and their home slot; after
/// 127 of them `set_priority` failed on every new runtime. Each is freed now, and a new
/// runtime's tasks can still change priority.
#[test]
fn runtimes_dropped_inside_their_tasks_are_freed() {
    for i in 0..200 {
        let (rt, freed) = runtime_with_freed_flag(1);
        let live = Arc::new(());
        for _ in 0..20 {
            let (held, block) = (live.clone(), vec![0u8; 10_000]);
            drop(rt.spawn_future(Priority::NORMAL, async move {
                let _held = (held, block);
                std::future::pending::<()>().await;
            }));
        }
        let handle = rt.handle();
        drop(handle.spawn(Priority::LOW, move || drop(rt)));
        drop(handle);
        assert!(wait_until(|| freed.load(SeqCst)), "runtime {i} was never freed");
        assert_eq!(Arc::strong_count(&live), 1, "runtime {i}: its futures were never dropped");
    }
    let rt = runtime(1);
    let gate = Gate::hold(&rt, Priority::HIGHEST);
    let queued = rt.spawn(Priority::LOW, || 1);
    assert!(queued.set_priority(Priority::HIGH), "a queued task of a new runtime changes priority");
    join(gate.open()).unwrap();
    assert_eq!(join(queued).unwrap(), 1);
}

/// A future whose poll is stuck when `shutdown_timeout` gives up is cancelled when that
/// poll returns, with the shutdown's outcome (it used to end as `cancelled`, as if its
/// handle had cancelled it).
#[test]
fn a_future_stuck_in_its_poll_ends_as_shutdown_when_the_poll_returns() {
    let rt = runtime(1);
    let (started, has_started) = mpsc::channel();
    let (release, released) = mpsc::channel::<()>();
    let stuck = rt.spawn_future(Priority::NORMAL, async move {
        started.send(()).unwrap();
        released.recv_timeout(PATIENCE).unwrap(); // blocks inside the poll
        std::future::pending::<()>().await;
    });
    has_started.recv_timeout(PATIENCE).unwrap();
    let report = within(move || rt.shutdown_timeout(Duration::from_millis(10))).expect("hung");
    assert!(report.timed_out && report.unfinished == 1, "{report:?}");
    assert!(!stuck.is_finished(), "still inside its poll");
    release.send(()).unwrap();
    let e = join(stuck).unwrap_err();
    assert!(e.is_shutdown(), "{e:?}");
}
