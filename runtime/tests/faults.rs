//! Faults: panics in bodies and in destructors, a task that blocks its worker, wakers used
//! after the runtime is gone, and join handles dropped on other threads as tasks finish.

mod common;

use common::*;
use kairos_rt::Priority;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::{mpsc, Arc, Barrier, Mutex};
use std::task::Waker;
use std::time::Duration;

/// Panics when dropped (unless already panicking, to never abort the test binary).
struct PanicOnDrop(&'static str);

impl Drop for PanicOnDrop {
    fn drop(&mut self) {
        if !std::thread::panicking() {
            panic!("{}", self.0);
        }
    }
}

#[test]
fn panic_in_body_and_in_captured_drop_leave_the_worker_alive() {
    let rt = runtime(1);
    // Body panics.
    let a = rt.spawn(Priority::NORMAL, || -> u8 { panic!("body") });
    // The body returns, then a captured value panics while being dropped.
    let bomb = PanicOnDrop("capture drop");
    let b = rt.spawn(Priority::NORMAL, move || {
        let _b = bomb;
        7
    });
    let ea = join(a).unwrap_err();
    assert!(ea.is_panic());
    assert_eq!(panic_message(&*ea.into_panic()), "body");
    let eb = join(b).unwrap_err();
    assert!(eb.is_panic(), "a panic in the capture's drop is the task's panic: {eb:?}");
    assert_eq!(panic_message(&*eb.into_panic()), "capture drop");
    // Later tasks run on the same (only) worker.
    let later: Vec<_> = (0..20).map(|i| rt.spawn(Priority::NORMAL, move || i)).collect();
    for (i, h) in later.into_iter().enumerate() {
        assert_eq!(join(h).unwrap(), i);
    }
    let report = rt.shutdown();
    assert_eq!((report.panicked, report.completed), (2, 20), "{report:?}");
    assert!(report.is_balanced(), "{report:?}");
}

#[test]
fn destructor_panics_off_the_run_path_are_contained() {
    let rt = runtime(1);
    // Cancelled: the closure (and its bomb) is dropped by `cancel`, on this thread.
    let gate = Gate::hold(&rt, Priority::HIGHEST);
    let bomb = PanicOnDrop("dropped by cancel");
    let c = rt.spawn(Priority::NORMAL, move || drop(bomb));
    let cancelled = catch_unwind(AssertUnwindSafe(|| c.cancel()));
    assert!(matches!(cancelled, Ok(true)), "cancel must not unwind into the caller");
    gate.open();
    assert!(join(c).unwrap_err().is_cancelled());
    // A timer dropped at shutdown, an idle future dropped at shutdown, and outputs whose
    // destructor panics (one detached, one dropped with its handle).
    let bomb = PanicOnDrop("timer dropped at shutdown");
    let timer = rt.spawn_after(Duration::from_secs(3600), Priority::NORMAL, move || drop(bomb));
    let signal = Signal::default();
    let s = signal.clone();
    let bomb = PanicOnDrop("future dropped at shutdown");
    let fut = rt.spawn_future(Priority::NORMAL, async move {
        let _b = bomb;
        s.wait().await;
    });
    assert!(wait_until(|| signal.has_waker()));
    drop(rt.spawn(Priority::NORMAL, || PanicOnDrop("detached output")));
    let kept = rt.spawn(Priority::NORMAL, || PanicOnDrop("output dropped with handle"));
    assert!(wait_until(|| kept.is_finished()));
    let _ = catch_unwind(AssertUnwindSafe(move || drop(kept)));
    // Still alive.
    assert_eq!(join(rt.spawn(Priority::NORMAL, || 1)).unwrap(), 1);
    let report = within(move || rt.shutdown()).expect("shutdown hung after destructor panics");
    assert_eq!(report.cancelled, 1, "{report:?}");
    assert_eq!(report.timers_dropped, 1, "{report:?}");
    assert_eq!(report.futures_dropped, 1, "{report:?}");
    assert!(report.is_balanced(), "{report:?}");
    assert!(join(timer).unwrap_err().is_shutdown());
    assert!(join(fut).unwrap_err().is_shutdown());
}

/// A future that completes, then panics when the runtime drops it.
struct ReadyThenBomb {
    _bomb: PanicOnDrop,
}

impl std::future::Future for ReadyThenBomb {
    type Output = u8;
    fn poll(self: std::pin::Pin<&mut Self>, _: &mut std::task::Context<'_>) -> std::task::Poll<u8> {
        std::task::Poll::Ready(5)
    }
}

#[test]
fn a_future_whose_drop_panics_after_completion_is_reported_as_a_panic() {
    let rt = runtime(1);
    let f =
        rt.spawn_future(Priority::NORMAL, ReadyThenBomb { _bomb: PanicOnDrop("future drop after ready") });
    let e = join(f).unwrap_err();
    assert!(e.is_panic(), "{e:?}");
    assert_eq!(join(rt.spawn(Priority::NORMAL, || 2)).unwrap(), 2);
    let report = rt.shutdown();
    assert_eq!((report.panicked, report.completed), (1, 1), "{report:?}");
    assert!(report.is_balanced(), "{report:?}");
}

/// One worker is stuck in a long task; the other keeps running everything else: work
/// from outside, and work the stuck task spawned onto its own queue (stolen).
#[test]
fn a_blocked_worker_does_not_stop_the_other() {
    let rt = runtime(2);
    let (go_tx, go_rx) = mpsc::channel::<()>();
    let children_done = Arc::new(AtomicUsize::new(0));
    let (spawned_tx, spawned_rx) = mpsc::channel();
    let cd = children_done.clone();
    let blocker = rt.spawn(Priority::NORMAL, move || {
        for _ in 0..50 {
            let cd = cd.clone();
            drop(kairos_rt::spawn(Priority::NORMAL, move || cd.fetch_add(1, SeqCst)));
        }
        spawned_tx.send(()).unwrap();
        go_rx.recv_timeout(PATIENCE).expect("never released");
    });
    spawned_rx.recv_timeout(PATIENCE).unwrap();
    let outside: Vec<_> =
        (0..200usize).map(|i| rt.spawn(Priority::new((i % 64) as u8).unwrap(), move || i)).collect();
    for (i, h) in outside.into_iter().enumerate() {
        assert_eq!(join(h).unwrap(), i);
    }
    assert!(
        wait_until(|| children_done.load(SeqCst) == 50),
        "local work of the blocked worker was not stolen"
    );
    let f = rt.spawn_future(Priority::NORMAL, async {
        kairos_rt::yield_now().await;
        3
    });
    assert_eq!(join(f).unwrap(), 3);
    assert!(!blocker.is_finished(), "the blocker must still be blocked: the work above ran elsewhere");
    go_tx.send(()).unwrap();
    join(blocker).unwrap();
    let report = rt.shutdown();
    assert_eq!(report.completed, 1 + 50 + 200 + 1, "{report:?}");
}

/// Timers do not depend on one particular worker being free: with one worker blocked,
/// timers registered from outside (placed on a random worker's wheel) still fire.
#[test]
#[ignore = "known limitation: a timer registered from outside lands in one worker's wheel; if that worker is stuck in a long task, the timer waits (timed-work stealing needs an ownership hand-off protocol)"]
fn timers_fire_while_one_worker_is_blocked() {
    let rt = runtime(2);
    let (started_tx, started_rx) = mpsc::channel();
    let (go_tx, go_rx) = mpsc::channel::<()>();
    let blocker = rt.spawn(Priority::NORMAL, move || {
        started_tx.send(()).unwrap();
        go_rx.recv_timeout(PATIENCE).expect("never released");
    });
    started_rx.recv_timeout(PATIENCE).unwrap();
    let fired = Arc::new(AtomicUsize::new(0));
    let timers: Vec<_> = (0..20)
        .map(|_| {
            let fired = fired.clone();
            rt.spawn_after(Duration::from_millis(1), Priority::NORMAL, move || fired.fetch_add(1, SeqCst))
        })
        .collect();
    // 1 ms timers, 5 s of patience: generous on any machine.
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while fired.load(SeqCst) < 20 && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(1));
    }
    let fired_while_blocked = fired.load(SeqCst);
    let blocked_still = !blocker.is_finished();
    go_tx.send(()).unwrap();
    for t in timers {
        join(t).unwrap();
    }
    assert!(blocked_still);
    assert_eq!(fired_while_blocked, 20, "timers that fired while one worker was blocked");
    drop(rt);
}

fn stored_waker_future(
    rt: &kairos_rt::Runtime,
) -> (Signal, kairos_rt::JoinHandle<()>, Arc<std::sync::atomic::AtomicBool>) {
    let signal = Signal::default();
    let (flag, dropped) = DropFlag::new();
    let s = signal.clone();
    let h = rt.spawn_future(Priority::NORMAL, async move {
        let _f = flag;
        s.wait().await;
    });
    assert!(wait_until(|| signal.has_waker()), "never polled");
    (signal, h, dropped)
}

#[test]
fn a_waker_used_after_shutdown_is_harmless() {
    let rt = runtime(2);
    let (signal, h, dropped) = stored_waker_future(&rt);
    let waker: Waker = signal.waker.lock().unwrap().clone().unwrap();
    let report = rt.shutdown();
    assert_eq!(report.futures_dropped, 1, "{report:?}");
    assert!(dropped.load(SeqCst), "the future is dropped at shutdown even though wakers live on");
    let done = within(move || {
        waker.wake_by_ref();
        let w2 = waker.clone();
        w2.wake();
        waker.wake_by_ref();
        drop(waker);
        signal.fire();
    });
    assert!(done.is_some(), "waking after shutdown hung");
    assert!(join(h).unwrap_err().is_shutdown());
}

#[test]
fn a_waker_used_after_the_runtime_is_dropped_is_harmless() {
    let rt = runtime(1);
    let (signal, h, dropped) = stored_waker_future(&rt);
    drop(h);
    within(move || drop(rt)).expect("drop hung");
    assert!(dropped.load(SeqCst));
    // The waker may now hold the last reference to the task: waking and dropping it must
    // free it cleanly, from a thread that never saw the runtime.
    let w = signal.waker.lock().unwrap().take().unwrap();
    within(move || {
        w.wake_by_ref();
        w.wake();
    })
    .expect("waking after drop hung");
}

/// Wakers fired from other threads while the runtime shuts down.
#[test]
fn wakers_racing_shutdown_are_harmless() {
    for _ in 0..20 {
        let rt = runtime(2);
        let futs: Vec<_> = (0..8).map(|_| stored_waker_future(&rt)).collect();
        let wakers: Vec<Waker> =
            futs.iter().map(|(s, _, _)| s.waker.lock().unwrap().clone().unwrap()).collect();
        let barrier = Arc::new(Barrier::new(2));
        let b = barrier.clone();
        let waking = std::thread::spawn(move || {
            b.wait();
            for _ in 0..50 {
                for w in &wakers {
                    w.wake_by_ref();
                }
            }
        });
        barrier.wait();
        let report = within(move || rt.shutdown()).expect("shutdown hung");
        waking.join().unwrap();
        assert!(report.is_balanced(), "{report:?}");
        assert_eq!(report.futures_dropped, 8, "{report:?}");
        for (_, h, dropped) in futs {
            assert!(dropped.load(SeqCst));
            assert!(join(h).unwrap_err().is_shutdown());
        }
    }
}

/// A join handle is dropped on another thread right as its task completes; the output is
/// dropped exactly once, whether the handle or the task lets go last.
#[test]
fn join_handles_dropped_on_other_threads_while_tasks_complete() {
    let live = Live::leak();
    let rt = runtime(2);
    let (tx, rx) = mpsc::channel::<kairos_rt::JoinHandle<Tracked>>();
    let dropper = std::thread::spawn(move || {
        for h in rx {
            drop(h);
        }
    });
    for i in 0..3000u32 {
        let h = rt.spawn(Priority::NORMAL, move || {
            for _ in 0..(i % 64) {
                std::hint::spin_loop();
            }
            Tracked::new(live)
        });
        tx.send(h).unwrap();
    }
    drop(tx);
    dropper.join().unwrap();
    let report = rt.shutdown();
    assert_eq!(report.completed, 3000, "{report:?}");
    assert_eq!(live.now(), 0, "outputs leaked");
    assert_eq!(live.created.load(SeqCst), 3000);
    assert_eq!(live.dropped.load(SeqCst), 3000, "an output dropped twice or never");
}

/// Same, but the handle was polled first (its waker is registered, JOIN_WAITING set), so
/// the drop has to remove the registration while the completer may be waking it.
#[test]
fn polled_join_handles_dropped_while_tasks_complete() {
    let live = Live::leak();
    let rt = runtime(2);
    let pending = Arc::new(Mutex::new(0usize));
    for round in 0..1500u32 {
        let barrier = Arc::new(Barrier::new(2));
        let b = barrier.clone();
        let mut h = rt.spawn(Priority::NORMAL, move || {
            b.wait();
            for _ in 0..(round % 100) {
                std::hint::spin_loop();
            }
            Tracked::new(live)
        });
        let waker = noop_waker();
        let mut cx = std::task::Context::from_waker(&waker);
        // The task waits on the barrier, so this poll registers the waker and is pending.
        if std::pin::Pin::new(&mut h).poll_fn_once(&mut cx) {
            *pending.lock().unwrap() += 1;
        }
        let t = std::thread::spawn(move || {
            barrier.wait();
            drop(h);
        });
        t.join().unwrap();
    }
    let report = rt.shutdown();
    assert_eq!(report.completed, 1500, "{report:?}");
    assert_eq!(live.now(), 0, "outputs leaked");
    assert_eq!(live.dropped.load(SeqCst), 1500);
    assert_eq!(*pending.lock().unwrap(), 1500);
}

trait PollOnce {
    /// Polls once; true if pending.
    fn poll_fn_once(self, cx: &mut std::task::Context<'_>) -> bool;
}

impl<T> PollOnce for std::pin::Pin<&mut kairos_rt::JoinHandle<T>> {
    fn poll_fn_once(self, cx: &mut std::task::Context<'_>) -> bool {
        use std::future::Future;
        self.poll(cx).is_pending()
    }
}

#[test]
fn panicking_start_and_stop_hooks_do_not_take_the_workers_with_them() {
    let starts = Arc::new(AtomicUsize::new(0));
    let stops = Arc::new(AtomicUsize::new(0));
    let (s1, s2) = (starts.clone(), stops.clone());
    let rt = kairos_rt::Runtime::builder()
        .workers(2)
        .on_thread_start(move || {
            s1.fetch_add(1, SeqCst);
            panic!("start hook fails");
        })
        .on_thread_stop(move || {
            s2.fetch_add(1, SeqCst);
            panic!("stop hook fails");
        })
        .build()
        .unwrap();
    // Both workers survived their start hook: two tasks that wait for each other finish.
    let (tx, rx) = mpsc::channel::<()>();
    let a = rt.spawn(Priority::NORMAL, move || rx.recv_timeout(PATIENCE).is_ok());
    let b = rt.spawn(Priority::NORMAL, move || tx.send(()).is_ok());
    assert!(join(b).unwrap());
    assert!(join(a).unwrap(), "the second worker never ran the waiting pair's other half");
    // A timed task sent from outside reaches a live wheel, whichever worker owns it.
    let timed = rt.spawn_after(Duration::from_millis(2), Priority::NORMAL, || 7);
    assert_eq!(join(timed).unwrap(), 7);
    let report = within(move || rt.shutdown()).expect("shutdown hung");
    assert_eq!(report.completed, 3, "{report:?}");
    assert_eq!(starts.load(SeqCst), 2);
    assert_eq!(stops.load(SeqCst), 2, "each worker ran its stop hook and exited");
}
