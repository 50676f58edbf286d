//! Timed tasks: never early, past instants run now, far-future instants never run and are
//! dropped at shutdown, cancel frees at once, due order within one worker, and remote
//! registration wakes parked workers. Assertions compare instants (ordering), never speed.

mod common;

use common::*;
use kairos_rt::{Builder, Priority, Runtime};
use std::sync::atomic::{AtomicBool, Ordering::SeqCst};
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

fn rng(seed: u64) -> fastrand::Rng {
    fastrand::Rng::with_seed(seed)
}

#[test]
fn timers_never_run_before_their_instant() {
    let rt = runtime(2);
    let mut r = rng(1);
    let mut checks = Vec::new();
    for i in 0..300u64 {
        let d = Duration::from_micros(r.u64(0..20_000));
        let level = Priority::new(r.u8(0..64)).unwrap();
        if i % 2 == 0 {
            let earliest = Instant::now() + d;
            checks.push((earliest, rt.spawn_after(d, level, Instant::now)));
        } else {
            let at = Instant::now() + d;
            checks.push((at, rt.spawn_at(at, level, Instant::now)));
        }
    }
    for (due, h) in checks {
        let ran = join(h).unwrap();
        assert!(ran >= due, "a timer ran {:?} before its instant", due - ran);
    }
    let report = rt.shutdown();
    assert_eq!(report.completed, 300, "{report:?}");
    assert!(report.is_balanced(), "{report:?}");
}

/// The same from inside a task: timers go into the spawning worker's own wheel.
#[test]
fn local_timers_never_run_before_their_instant() {
    let rt = runtime(2);
    let handle = rt.handle();
    let parent = rt.spawn(Priority::NORMAL, move || {
        let mut r = rng(2);
        (0..200)
            .map(|_| {
                let d = Duration::from_micros(r.u64(0..15_000));
                let due = Instant::now() + d;
                (due, handle.spawn_after(d, Priority::NORMAL, Instant::now))
            })
            .collect::<Vec<_>>()
    });
    for (due, h) in join(parent).unwrap() {
        let ran = join(h).unwrap();
        assert!(ran >= due, "a local timer ran {:?} early", due - ran);
    }
    drop(rt);
}

#[test]
fn sleeps_never_end_early() {
    let rt = runtime(2);
    let f = rt.spawn_future(Priority::NORMAL, async {
        let mut r = rng(3);
        for _ in 0..40 {
            let d = Duration::from_micros(r.u64(0..3_000));
            let t0 = Instant::now();
            kairos_rt::sleep(d).await;
            assert!(t0.elapsed() >= d, "sleep({d:?}) ended early");
            let until = Instant::now() + Duration::from_micros(r.u64(0..3_000));
            kairos_rt::sleep_until(until).await;
            assert!(Instant::now() >= until, "sleep_until ended early");
        }
    });
    join(f).unwrap();
    drop(rt);
}

#[test]
fn spawn_at_in_the_past_runs_now() {
    let rt = runtime(1);
    let past = Instant::now().checked_sub(Duration::from_secs(1)).unwrap_or_else(Instant::now);
    // Behind an hour-long timer: the past one must not wait for it.
    let far = rt.spawn_after(Duration::from_secs(3600), Priority::NORMAL, || ());
    assert_eq!(join(rt.spawn_at(past, Priority::LOW, || "past")).unwrap(), "past");
    assert_eq!(join(rt.spawn_after(Duration::ZERO, Priority::LOW, || "zero")).unwrap(), "zero");
    // A past instant is ready work: it keeps FIFO order with plain spawns at its level.
    let order = log();
    let gate = Gate::hold(&rt, Priority::HIGHEST);
    let o = order.clone();
    let a = rt.spawn_at(past, Priority::NORMAL, move || o.lock().unwrap().push("at-past"));
    let o = order.clone();
    let b = rt.spawn(Priority::NORMAL, move || o.lock().unwrap().push("spawn"));
    gate.open();
    join(a).unwrap();
    join(b).unwrap();
    assert_eq!(*order.lock().unwrap(), ["at-past", "spawn"]);
    // From inside a task too (the local wheel path).
    let handle = rt.handle();
    let inner = rt.spawn(Priority::NORMAL, move || handle.spawn_at(past, Priority::HIGH, || 5));
    assert_eq!(join(join(inner).unwrap()).unwrap(), 5);
    // An instant after the runtime started but already past is ready work too: from
    // outside and from inside.
    let recent = Instant::now();
    while Instant::now() < recent + Duration::from_micros(5) {
        std::hint::spin_loop();
    }
    assert_eq!(join(rt.spawn_at(recent, Priority::LOW, || "recent")).unwrap(), "recent");
    let handle = rt.handle();
    let inner = rt.spawn(Priority::NORMAL, move || handle.spawn_at(recent, Priority::HIGH, || 6));
    assert_eq!(join(join(inner).unwrap()).unwrap(), 6);
    assert_eq!(rt.pending().timed(), 1, "only the far timer waits");
    assert!(far.cancel());
    let report = rt.shutdown();
    assert_eq!(report.cancelled, 1, "{report:?}");
    assert!(report.is_balanced(), "{report:?}");
}

#[test]
fn duration_max_neither_panics_nor_runs_and_is_dropped_at_shutdown() {
    let rt = runtime(2);
    let (flag_outside, dropped_outside) = DropFlag::new();
    let ran = Arc::new(AtomicBool::new(false));
    let r = ran.clone();
    let outside = rt.spawn_after(Duration::MAX, Priority::HIGHEST, move || {
        let _f = &flag_outside;
        r.store(true, SeqCst);
    });
    // From inside a task (local wheel), and via a far-future Instant.
    let handle = rt.handle();
    let r = ran.clone();
    let inside = join(rt.spawn(Priority::NORMAL, move || {
        handle.spawn_after(Duration::MAX, Priority::NORMAL, move || r.store(true, SeqCst))
    }))
    .unwrap();
    let r = ran.clone();
    let far_instant = Instant::now().checked_add(Duration::from_secs(1000 * 365 * 86_400));
    let at = far_instant.map(|t| rt.spawn_at(t, Priority::NORMAL, move || r.store(true, SeqCst)));
    // Later, shorter timers still fire (the far ones do not clog the wheels).
    for _ in 0..4 {
        join(rt.spawn_after(Duration::from_millis(5), Priority::NORMAL, || ())).unwrap();
    }
    assert!(!outside.is_finished() && !inside.is_finished());
    assert!(!ran.load(SeqCst));
    let report = rt.shutdown();
    assert!(!ran.load(SeqCst), "a never-due timer ran");
    assert!(dropped_outside.load(SeqCst), "shutdown drops the closure");
    let n = 2 + usize::from(at.is_some()) as u64;
    assert_eq!(report.timers_dropped, n, "{report:?}");
    assert!(report.is_balanced(), "{report:?}");
    for h in [Some(outside), Some(inside), at].into_iter().flatten() {
        let e = join(h).unwrap_err();
        assert!(e.is_shutdown(), "{e:?}");
    }
}

#[test]
fn sleep_duration_max_inside_timeout_elapses() {
    let rt = runtime(1);
    let r = rt.block_on(async {
        kairos_rt::timeout(Duration::from_millis(2), kairos_rt::sleep(Duration::MAX)).await
    });
    assert!(r.is_err());
    let report = rt.shutdown();
    assert!(report.is_balanced(), "{report:?}");
    assert_eq!(report.timers_dropped, 0, "the dropped sleep cancelled its timer: {report:?}");
}

/// Cancelling a timed task drops its closure before `cancel` returns, long before the due
/// time, from outside (remote wheel) and from inside a task of the owning worker.
#[test]
fn cancel_of_a_timed_task_frees_its_closure_at_once() {
    let rt = runtime(2);
    for delay in [Duration::from_secs(3600), Duration::from_millis(500), Duration::MAX] {
        let (flag, dropped) = DropFlag::new();
        let ran = Arc::new(AtomicBool::new(false));
        let r = ran.clone();
        let h = rt.spawn_after(delay, Priority::NORMAL, move || {
            let _f = &flag;
            r.store(true, SeqCst);
        });
        assert!(!dropped.load(SeqCst));
        assert!(h.cancel(), "a pending timer is cancellable");
        assert!(dropped.load(SeqCst), "the closure must be dropped when cancel returns");
        assert!(h.is_finished());
        assert!(join(h).unwrap_err().is_cancelled());
        assert!(!ran.load(SeqCst));
    }
    // Inside a task: spawn and cancel on the same worker.
    let handle = rt.handle();
    let inner = rt.spawn(Priority::NORMAL, move || {
        let (flag, dropped) = DropFlag::new();
        let h = handle.spawn_after(Duration::from_secs(3600), Priority::NORMAL, move || drop(flag));
        let cancelled = h.cancel();
        (cancelled, dropped.load(SeqCst), h)
    });
    let (cancelled, dropped_at_once, h) = join(inner).unwrap();
    assert!(cancelled && dropped_at_once);
    assert!(join(h).unwrap_err().is_cancelled());
    let report = rt.shutdown();
    assert_eq!(report.cancelled, 4, "{report:?}");
    assert_eq!(report.timers_dropped, 0, "{report:?}");
    assert!(report.is_balanced(), "{report:?}");
}

/// A cancelled timed task leaves its wheel (and is counted as cancelled) at once, not
/// at its due time an hour later: the cancel message reaches the wheel's owner, whether
/// it is sent from outside or from a task on another worker.
#[test]
fn a_cancelled_timer_leaves_its_wheel_at_once() {
    let rt = runtime(2);
    let mut hs: Vec<_> =
        (0..50).map(|_| rt.spawn_after(Duration::from_secs(3600), Priority::NORMAL, || ())).collect();
    let handle = rt.handle();
    let inner = rt.spawn(Priority::NORMAL, move || {
        (0..50)
            .map(|_| handle.spawn_after(Duration::from_secs(3600), Priority::LOW, || ()))
            .collect::<Vec<_>>()
    });
    hs.extend(join(inner).unwrap());
    assert!(wait_until(|| rt.metrics().timers_pending == 100), "{:?}", rt.metrics());
    // Half from this thread, half from inside a task.
    let inside = hs.split_off(50);
    assert!(hs.iter().all(|h| h.cancel()));
    let canceller = rt.spawn(Priority::NORMAL, move || inside.iter().all(|h| h.cancel()));
    assert!(join(canceller).unwrap(), "a pending timer is cancellable from a task");
    let report = shut_down_once_out_of_the_wheels(rt, 100, "the cancelled timers are");
    assert!(report.is_balanced(), "{report:?}");
}

/// Waits until the wheels hold no timer and `cancelled` tasks were counted cancelled
/// (panics naming `what` if that never happens), then shuts `rt` down and checks that
/// its report says the same.
fn shut_down_once_out_of_the_wheels(rt: Runtime, cancelled: u64, what: &str) -> kairos_rt::ShutdownReport {
    assert!(
        wait_until(|| {
            let m = rt.metrics();
            m.timers_pending == 0 && m.cancelled == cancelled
        }),
        "{what} still in a wheel: {:?}",
        rt.metrics()
    );
    let report = rt.shutdown();
    assert_eq!((report.cancelled, report.timers_dropped), (cancelled, 0), "{report:?}");
    report
}

/// Cancels the timer it holds when it is dropped, and records whether that worked (an
/// assertion here would be swallowed: a closure's drop runs under `catch_unwind`).
struct CancelOnDrop(Option<kairos_rt::JoinHandle<()>>, Arc<AtomicBool>);

impl Drop for CancelOnDrop {
    fn drop(&mut self) {
        if let Some(h) = self.0.take() {
            self.1.store(h.cancel(), SeqCst);
        }
    }
}

/// Cancelling a timer whose closure, when dropped, cancels a sibling timer of the same
/// runtime (a cancel inside a cancel) cancels both, and both leave their wheels.
#[test]
fn a_cancel_inside_a_cancel_cancels_both_timers() {
    let rt = runtime(2);
    let hour = Duration::from_secs(3600);
    let sibling = rt.spawn_after(hour, Priority::NORMAL, || ());
    let sibling_id = sibling.id();
    let sibling_cancelled = Arc::new(AtomicBool::new(false));
    let guard = CancelOnDrop(Some(sibling), sibling_cancelled.clone());
    let outer = rt.spawn_after(hour, Priority::NORMAL, move || drop(guard));
    assert!(wait_until(|| rt.metrics().timers_pending == 2), "{:?}", rt.metrics());
    assert!(outer.cancel());
    assert!(sibling_cancelled.load(SeqCst), "the sibling timer was still pending");
    let what = format!("timer {sibling_id:?} or its canceller is");
    let report = shut_down_once_out_of_the_wheels(rt, 2, &what);
    assert!(report.is_balanced(), "{report:?}");
}

/// A thread that cancelled a timer of a runtime since dropped, then cancels one of a new
/// runtime (which likely got the same home slot): the message reaches the new runtime,
/// whose timer leaves its wheel at once.
#[test]
fn a_cancel_after_another_runtime_left_reaches_the_new_one() {
    for _ in 0..3 {
        let rt = runtime(1);
        let h = rt.spawn_after(Duration::from_secs(3600), Priority::NORMAL, || ());
        assert!(h.cancel());
        shut_down_once_out_of_the_wheels(rt, 1, "the cancelled timer is");
    }
}

/// A timer cancelled while it still waits in the owner's inbox (the owner is busy) is
/// counted once, and its closure is freed at once.
#[test]
fn cancel_while_the_owner_is_busy_counts_once() {
    let rt = runtime(1);
    let gate = Gate::hold(&rt, Priority::NORMAL);
    let mut flags = Vec::new();
    let mut hs = Vec::new();
    for i in 0..20u64 {
        let (flag, dropped) = DropFlag::new();
        flags.push(dropped);
        hs.push(rt.spawn_after(Duration::from_millis(1 + i % 3), Priority::NORMAL, move || drop(flag)));
    }
    for (i, h) in hs.iter().enumerate() {
        if i % 2 == 0 {
            assert!(h.cancel());
            assert!(flags[i].load(SeqCst));
        }
    }
    join(gate.open()).unwrap();
    for (i, h) in hs.into_iter().enumerate() {
        let r = join(h);
        assert_eq!(r.is_ok(), i % 2 == 1, "timer {i}: {r:?}");
    }
    let report = rt.shutdown();
    assert_eq!((report.cancelled, report.completed), (10, 11), "{report:?}");
    assert!(report.is_balanced(), "{report:?}");
}

/// Runs `n` timers with distinct random due instants (`lead` + k * 100 µs, shuffled) on
/// one worker and returns the indices in run order, plus the due instants.
///
/// From inside, the submitting task also keeps the worker busy until every timer is due,
/// so they all come out of the wheel in one go and must still be in due order. Returns
/// `None` if submitting took longer than `lead` (a timer due at spawn time runs at once,
/// legitimately ahead of earlier-due ones still in the wheel): the caller retries.
fn fire_order(
    rt: &Runtime,
    n: usize,
    from_inside: bool,
    lead: Duration,
    seed: u64,
) -> Option<(Vec<usize>, Vec<Instant>)> {
    let mut r = rng(seed);
    let mut offsets: Vec<u64> = (0..n as u64).collect();
    r.shuffle(&mut offsets);
    let order = log();
    let handle = rt.handle();
    let o = order.clone();
    let submit = move || {
        let base = Instant::now() + lead;
        let mut dues = Vec::new();
        let mut hs = Vec::new();
        for (i, &k) in offsets.iter().enumerate() {
            let due = base + Duration::from_micros(k * 100);
            let o = o.clone();
            dues.push(due);
            hs.push(handle.spawn_at(due, Priority::NORMAL, move || o.lock().unwrap().push(i)));
        }
        let in_time = Instant::now() < base;
        if from_inside {
            let last = *dues.iter().max().unwrap();
            std::thread::sleep(last.saturating_duration_since(Instant::now()) + Duration::from_millis(1));
        }
        (dues, hs, in_time)
    };
    let (dues, hs, in_time) =
        if from_inside { join(rt.spawn(Priority::NORMAL, submit)).unwrap() } else { submit() };
    for h in hs {
        join(h).unwrap();
    }
    let v = order.lock().unwrap().clone();
    in_time.then_some((v, dues))
}

fn fire_order_retrying(rt: &Runtime, n: usize, from_inside: bool, seed: u64) -> (Vec<usize>, Vec<Instant>) {
    for attempt in 0..5 {
        if let Some(r) = fire_order(rt, n, from_inside, Duration::from_millis(30 << attempt), seed) {
            return r;
        }
    }
    panic!("could not submit {n} timers within 480 ms");
}

fn assert_due_order(order: &[usize], dues: &[Instant]) {
    assert_eq!(order.len(), dues.len());
    for w in order.windows(2) {
        assert!(
            dues[w[0]] <= dues[w[1]],
            "timer {} (due later) ran before timer {} (due {:?} earlier)",
            w[0],
            w[1],
            dues[w[0]] - dues[w[1]]
        );
    }
}

#[test]
fn many_timers_fire_in_due_order_on_one_worker() {
    let rt = runtime(1);
    // Inserted from inside a task into the worker's own wheel, all due at once.
    for seed in 0..3 {
        let (order, dues) = fire_order_retrying(&rt, 300, true, seed);
        assert_due_order(&order, &dues);
    }
    // From outside (through the inbox), fired as they come due.
    let (order, dues) = fire_order_retrying(&rt, 300, false, 9);
    assert_due_order(&order, &dues);
    drop(rt);
}

/// Timers spread over several wheel levels (µs to 300 ms) still fire in due order.
#[test]
fn timers_across_wheel_levels_fire_in_due_order() {
    let rt = runtime(1);
    // Offsets in ticks (1,024 ns) around the 64^k level boundaries.
    let offsets: [u64; 14] =
        [262_200, 63, 4_095, 64, 1, 262_143, 4_097, 100_000, 65, 0, 300_000, 4_096, 262_144, 2];
    for attempt in 0..5 {
        let order = log();
        // The lead keeps every timer in the future while they are submitted; if the
        // machine was too slow for that, the round proves nothing and is retried.
        let base = Instant::now() + Duration::from_millis(20 << attempt);
        let mut hs = Vec::new();
        let mut dues = Vec::new();
        for (i, &ticks) in offsets.iter().enumerate() {
            let due = base + Duration::from_nanos(ticks * 1024);
            dues.push(due);
            let o = order.clone();
            hs.push(rt.spawn_at(due, Priority::NORMAL, move || {
                o.lock().unwrap().push(i);
                Instant::now()
            }));
        }
        let in_time = Instant::now() < base;
        for (i, h) in hs.into_iter().enumerate() {
            assert!(join(h).unwrap() >= dues[i], "timer {i} ran early");
        }
        if in_time {
            let order = order.lock().unwrap().clone();
            assert_due_order(&order, &dues);
            return;
        }
    }
    panic!("could not submit 14 timers ahead of their due times");
}

/// All workers parked (no spinning), then a timer is registered from outside: it must
/// fire (a lost wake-up would hang until PATIENCE and fail).
#[test]
fn remote_timer_registration_wakes_parked_workers() {
    let rt = Runtime::builder().workers(2).spin_before_park(Duration::ZERO).build().unwrap();
    // Also hold an hour-long timer in every worker's wheel, so they park with a far
    // deadline rather than indefinitely, in the second half of the rounds.
    let mut far = Vec::new();
    for round in 0..40u64 {
        if round == 20 {
            far = (0..16).map(|_| rt.spawn_after(Duration::from_secs(3600), Priority::LOW, || ())).collect();
        }
        // Let the workers go idle and park (a precondition: sleeping too little only makes
        // the round weaker, never wrong).
        std::thread::sleep(Duration::from_millis(3));
        let (tx, rx) = mpsc::channel();
        let d = Duration::from_micros(200 * (round % 5));
        let _h = rt.spawn_after(d, Priority::NORMAL, move || tx.send(()).unwrap());
        rx.recv_timeout(PATIENCE).unwrap_or_else(|_| panic!("round {round}: timer never fired"));
    }
    let report = rt.shutdown();
    assert_eq!(report.timers_dropped, far.len() as u64, "{report:?}");
    assert!(report.is_balanced(), "{report:?}");
    for h in far {
        assert!(join(h).unwrap_err().is_shutdown());
    }
}

/// Workers parked with a deadline (an hour-long timer each) while a burst of timers due
/// even later arrives from outside: none needs a worker before its deadline, yet every one
/// is taken into a wheel while the workers sleep, where `pending()` counts it. Before the
/// fix they waited in the owner's inbox until its deadline (an hour), uncounted.
#[test]
fn far_timers_from_outside_reach_the_wheels_while_workers_sleep() {
    const BURST: u64 = 20_000;
    let rt = Runtime::builder().workers(2).spin_before_park(Duration::ZERO).build().unwrap();
    let first: Vec<_> =
        (0..8).map(|_| rt.spawn_after(Duration::from_secs(3600), Priority::LOW, || ())).collect();
    assert!(wait_until(|| rt.pending().timed() == first.len() as u64));
    std::thread::sleep(Duration::from_millis(5));
    let later = Instant::now() + Duration::from_secs(7200);
    let burst: Vec<_> =
        (0..BURST).map(|i| rt.spawn_at(later + Duration::from_micros(i), Priority::LOW, || ())).collect();
    let total = first.len() as u64 + BURST;
    assert!(
        wait_until(|| rt.pending().timed() == total),
        "timers stranded in an inbox: pending counts {} of {total}",
        rt.pending().timed()
    );
    let report = rt.shutdown();
    assert_eq!(report.timers_dropped, total, "{report:?}");
    assert!(report.is_balanced(), "{report:?}");
    drop((first, burst));
}

/// The same for `sleep` inside `block_on` (the sleeping thread is not a worker).
#[test]
fn block_on_sleeps_wake_up_with_parked_workers() {
    let rt = Runtime::builder().workers(1).spin_before_park(Duration::ZERO).build().unwrap();
    let done = within(move || {
        for i in 0..30u64 {
            let d = Duration::from_micros(300 * (i % 4));
            let t0 = Instant::now();
            rt.block_on(async move { kairos_rt::sleep(d).await });
            assert!(t0.elapsed() >= d);
        }
        rt.shutdown()
    });
    let report = done.expect("a block_on sleep never woke up");
    assert!(report.is_balanced(), "{report:?}");
}

/// A dense stream of timers (here 40,000 over about 200 ms, 200 a millisecond: past the
/// density at which a worker waits for its timers in windows instead of one by one):
/// every one fires exactly once, none before its instant, and the report balances; with
/// the default dense timer slack and at both ends of its range.
#[test]
fn a_dense_stream_of_timers_all_fire_once_and_never_early() {
    for slack in [Builder::DEFAULT_DENSE_TIMER_SLACK, Duration::ZERO, Builder::MAX_DENSE_TIMER_SLACK] {
        let rt = Runtime::builder().workers(2).dense_timer_slack(slack).build().unwrap();
        let n = 40_000;
        let early = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let fired: Arc<Vec<std::sync::atomic::AtomicU8>> =
            Arc::new((0..n).map(|_| std::sync::atomic::AtomicU8::new(0)).collect());
        // From inside a task, so the timers land in the workers' own wheels.
        let (e, f) = (early.clone(), fired.clone());
        let start = Instant::now() + Duration::from_millis(20);
        let spawner = rt.spawn(Priority::NORMAL, move || {
            let handle = kairos_rt::try_current().unwrap();
            (0..n)
                .map(|i| {
                    let at = start + Duration::from_micros(5 * i as u64);
                    let (e, f) = (e.clone(), f.clone());
                    handle.spawn_at(at, Priority::NORMAL, move || {
                        if Instant::now() < at {
                            e.fetch_add(1, SeqCst);
                        }
                        f[i].fetch_add(1, SeqCst);
                    })
                })
                .collect::<Vec<_>>()
        });
        let handles = join(spawner).unwrap();
        let joined = within(move || handles.into_iter().all(|h| h.join().is_ok()));
        assert_eq!(joined, Some(true), "slack {slack:?}: a timer failed or did not run in time");
        assert_eq!(early.load(SeqCst), 0, "slack {slack:?}: timers ran before their instant");
        assert!(fired.iter().all(|c| c.load(SeqCst) == 1), "slack {slack:?}: a timer fired other than once");
        let report = rt.shutdown();
        assert_eq!(report.completed, n as u64 + 1, "slack {slack:?}: {report:?}");
        assert!(report.is_balanced(), "slack {slack:?}: {report:?}");
    }
}

/// A timed task whose priority changes while it waits leaves the pending counts as it
/// found them once it fires or is cancelled: `pending().timed()` and
/// `metrics().timers_pending` go back to 0 (they stayed at 1 per such task).
#[test]
fn a_timed_task_reprioritized_while_it_waits_leaves_the_pending_counts_at_zero() {
    let rt = runtime(1);
    let fires = rt.spawn_after(Duration::from_millis(30), Priority::LOW, || ());
    assert!(wait_until(|| rt.pending().timed() == 1), "taken into the wheel");
    assert!(fires.set_priority(Priority::HIGH));
    join(fires).unwrap();
    assert!(wait_until(|| rt.pending().timed() == 0), "{:?}", rt.pending());
    let waits = rt.spawn_after(Duration::from_secs(60), Priority::LOW, || ());
    assert!(wait_until(|| rt.pending().timed() == 1), "taken into the wheel");
    assert!(waits.set_priority(Priority::NORMAL));
    assert!(waits.cancel());
    assert!(
        wait_until(|| rt.pending().timed() == 0 && rt.metrics().timers_pending == 0),
        "{:?}",
        rt.pending()
    );
    let report = rt.shutdown();
    assert!(report.is_balanced(), "{report:?}");
}
