//! The public API of issue 2, call by call: spawning, joining, awaiting, cancelling,
//! handles, spawning after shutdown, the context functions and their misuse panics, and
//! panicking tasks.

mod common;

use common::*;
use kairos_rt::{Handle, JoinHandle, Priority, Runtime, SpawnError};
use std::collections::HashSet;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::SeqCst};
use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, Instant};

#[test]
fn spawn_returns_the_closure_output() {
    let rt = runtime(2);
    let h: JoinHandle<u32> = rt.spawn(Priority::NORMAL, || 6 * 7);
    assert_eq!(join(h).unwrap(), 42);
    let s = rt.spawn(Priority::LOWEST, || String::from("owned"));
    assert_eq!(join(s).unwrap(), "owned");
    let report = rt.shutdown();
    assert_eq!(report.completed, 2);
    assert!(report.is_balanced(), "{report:?}");
}

#[test]
fn spawn_after_and_spawn_at_run_their_closures() {
    let rt = runtime(2);
    let a = rt.spawn_after(Duration::from_millis(3), Priority::HIGH, || "after");
    let b = rt.spawn_at(Instant::now() + Duration::from_millis(2), Priority::LOW, || "at");
    assert_eq!(join(a).unwrap(), "after");
    assert_eq!(join(b).unwrap(), "at");
    let report = rt.shutdown();
    assert_eq!((report.submitted, report.completed), (2, 2), "{report:?}");
}

#[test]
fn spawn_future_and_block_on() {
    let rt = runtime(2);
    let h = rt.spawn_future(Priority::NORMAL, async {
        kairos_rt::sleep(Duration::from_millis(1)).await;
        7
    });
    assert_eq!(join(h).unwrap(), 7);
    assert_eq!(rt.block_on(async { 40 + 2 }), 42);
    // block_on of a JoinHandle (a future) from the outside.
    let h = rt.spawn(Priority::HIGH, || 5u8);
    assert_eq!(rt.block_on(h).unwrap(), 5);
    assert!(rt.shutdown().is_balanced());
}

#[test]
fn join_handle_is_awaitable_in_block_on_and_in_tasks() {
    let rt = runtime(2);
    let inner = rt.spawn(Priority::NORMAL, || 3);
    let outer = rt.spawn_future(Priority::NORMAL, async move { inner.await.unwrap() * 2 });
    let v = rt.block_on(async move { outer.await.unwrap() + 1 });
    assert_eq!(v, 7);
    // An awaited task that is still gated: the await must wait, then wake.
    let gate = Gate::hold(&rt, Priority::NORMAL);
    let (tx, rx) = mpsc::channel();
    let gated = rt.spawn(Priority::NORMAL, || 11);
    let awaiter = rt.spawn_future(Priority::NORMAL, async move {
        let v = gated.await.unwrap();
        tx.send(v).unwrap();
        v
    });
    gate.open();
    assert_eq!(rx.recv_timeout(PATIENCE).unwrap(), 11);
    assert_eq!(join(awaiter).unwrap(), 11);
    assert!(rt.shutdown().is_balanced());
}

#[test]
fn cancel_before_run_is_true_and_the_body_never_runs() {
    let rt = runtime(1);
    let gate = Gate::hold(&rt, Priority::HIGHEST);
    let ran = Arc::new(AtomicBool::new(false));
    let r = ran.clone();
    let h = rt.spawn(Priority::NORMAL, move || r.store(true, SeqCst));
    assert!(!h.is_finished());
    assert!(h.cancel(), "a queued task must be cancellable");
    assert!(h.is_finished(), "a cancelled task is finished");
    assert!(!h.cancel(), "a second cancel does nothing");
    // A later task in the same queue still runs: the cancelled one was skipped, not lost.
    let after = rt.spawn(Priority::NORMAL, || 1);
    join(gate.open()).unwrap();
    assert_eq!(join(after).unwrap(), 1);
    let id = h.id();
    let err = join(h).unwrap_err();
    assert!(err.is_cancelled(), "{err:?}");
    assert!(!err.is_panic() && !err.is_shutdown());
    assert_eq!(err.id(), id);
    let report = rt.shutdown();
    assert!(!ran.load(SeqCst), "the cancelled body ran");
    assert_eq!(report.cancelled, 1, "{report:?}");
    assert_eq!(report.completed, 2, "{report:?}");
    assert!(report.is_balanced(), "{report:?}");
}

#[test]
fn cancel_after_finish_is_false_and_keeps_the_output() {
    let rt = runtime(2);
    let h = rt.spawn(Priority::NORMAL, || 9);
    assert!(wait_until(|| h.is_finished()), "task never finished");
    assert!(!h.cancel());
    assert_eq!(join(h).unwrap(), 9);
    let report = rt.shutdown();
    assert_eq!((report.completed, report.cancelled), (1, 0), "{report:?}");
}

#[test]
fn cancel_while_running_is_false_and_the_body_completes() {
    let rt = runtime(1);
    let (started_tx, started_rx) = mpsc::channel();
    let (go_tx, go_rx) = mpsc::channel::<()>();
    let h = rt.spawn(Priority::NORMAL, move || {
        started_tx.send(()).unwrap();
        go_rx.recv_timeout(PATIENCE).unwrap();
        "done"
    });
    started_rx.recv_timeout(PATIENCE).unwrap();
    assert!(!h.cancel(), "a running closure cannot be cancelled");
    go_tx.send(()).unwrap();
    assert_eq!(join(h).unwrap(), "done");
    assert!(rt.shutdown().is_balanced());
}

#[test]
fn is_finished_tracks_completion() {
    let rt = runtime(1);
    let gate = Gate::hold(&rt, Priority::NORMAL);
    let h = rt.spawn(Priority::NORMAL, || ());
    assert!(!h.is_finished());
    assert!(!gate.handle.is_finished());
    let g = gate.open();
    assert!(wait_until(|| h.is_finished() && g.is_finished()));
    join(h).unwrap();
    join(g).unwrap();
    drop(rt);
}

#[test]
fn ids_are_distinct_and_match_join_errors() {
    let rt = runtime(2);
    let handles: Vec<_> = (0..200).map(|i| rt.spawn(Priority::NORMAL, move || i)).collect();
    let ids: HashSet<_> = handles.iter().map(|h| h.id()).collect();
    assert_eq!(ids.len(), handles.len(), "task ids must be distinct among live tasks");
    for (i, h) in handles.into_iter().enumerate() {
        assert_eq!(join(h).unwrap(), i);
    }
    let p = rt.spawn(Priority::NORMAL, || panic!("boom"));
    let id = p.id();
    assert_eq!(join(p).unwrap_err().id(), id);
    drop(rt);
}

#[test]
fn dropping_a_join_handle_detaches_the_task() {
    let rt = runtime(1);
    let gate = Gate::hold(&rt, Priority::NORMAL);
    let (tx, rx) = mpsc::channel();
    drop(rt.spawn(Priority::NORMAL, move || tx.send("ran").unwrap()));
    let (ftx, frx) = mpsc::channel();
    drop(rt.spawn_future(Priority::NORMAL, async move {
        kairos_rt::yield_now().await;
        ftx.send("future ran").unwrap();
    }));
    let (ttx, trx) = mpsc::channel();
    drop(rt.spawn_after(Duration::from_millis(1), Priority::NORMAL, move || ttx.send("timer ran").unwrap()));
    gate.open();
    assert_eq!(rx.recv_timeout(PATIENCE).unwrap(), "ran");
    assert_eq!(frx.recv_timeout(PATIENCE).unwrap(), "future ran");
    assert_eq!(trx.recv_timeout(PATIENCE).unwrap(), "timer ran");
    let report = rt.shutdown();
    assert_eq!(report.completed, 4, "{report:?}");
}

#[test]
fn handle_is_clone_send_sync_and_spawns_from_other_threads() {
    fn assert_traits<T: Clone + Send + Sync + 'static>() {}
    assert_traits::<Handle>();
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<JoinHandle<u64>>();

    let rt = runtime(2);
    let handle = rt.handle();
    let sum = Arc::new(AtomicUsize::new(0));
    let threads: Vec<_> = (0..4)
        .map(|t| {
            let handle = handle.clone();
            let sum = sum.clone();
            std::thread::spawn(move || {
                let hs: Vec<_> = (0..250)
                    .map(|i| {
                        let sum = sum.clone();
                        handle.spawn(Priority::new((i % 64) as u8).unwrap(), move || {
                            sum.fetch_add(1, SeqCst);
                            t * 1000 + i
                        })
                    })
                    .collect();
                for (i, h) in hs.into_iter().enumerate() {
                    assert_eq!(h.join().unwrap(), t * 1000 + i);
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    assert_eq!(sum.load(SeqCst), 1000);
    assert_eq!(handle.workers(), 2);
    assert!(!handle.is_shutdown());
    let report = rt.shutdown();
    assert!(handle.is_shutdown());
    assert_eq!(report.completed, 1000, "{report:?}");
}

#[test]
fn try_spawn_after_shutdown_hands_the_closure_back() {
    let rt = runtime(1);
    let handle = rt.handle();
    let ok = handle.try_spawn(Priority::NORMAL, || 1).expect("accepted while running");
    assert_eq!(join(ok).unwrap(), 1);
    let _report = rt.shutdown();
    let (flag, dropped) = DropFlag::new();
    let err: SpawnError<_> = handle
        .try_spawn(Priority::NORMAL, move || {
            let _f = &flag;
            5
        })
        .unwrap_err();
    assert!(err.is_shutdown());
    assert!(err.to_string().contains("shut down"), "{err}");
    assert!(!dropped.load(SeqCst), "the refused closure must come back intact");
    let f = err.into_inner();
    assert_eq!(f(), 5);
    assert!(dropped.load(SeqCst));
}

#[test]
fn spawn_after_shutdown_gives_a_shutdown_error() {
    let rt = runtime(1);
    let handle = rt.handle();
    let _report = rt.shutdown();
    let ran = Arc::new(AtomicBool::new(false));
    let r1 = ran.clone();
    let a = handle.spawn(Priority::NORMAL, move || r1.store(true, SeqCst));
    let r2 = ran.clone();
    let b = handle.spawn_after(Duration::from_millis(1), Priority::NORMAL, move || r2.store(true, SeqCst));
    let r3 = ran.clone();
    let c = handle.spawn_at(Instant::now(), Priority::NORMAL, move || r3.store(true, SeqCst));
    let r4 = ran.clone();
    let d = handle.spawn_future(Priority::NORMAL, async move { r4.store(true, SeqCst) });
    assert!(a.is_finished(), "a refused task is finished at once");
    assert!(!a.cancel(), "a refused task cannot be cancelled");
    for h in [a, b, c, d] {
        let e = join(h).unwrap_err();
        assert!(e.is_shutdown(), "{e:?}");
        assert!(!e.is_cancelled() && !e.is_panic());
    }
    assert!(!ran.load(SeqCst));
}

#[test]
fn context_functions_work_inside_tasks() {
    let rt = runtime(2);
    let h = rt.spawn(Priority::NORMAL, || {
        let child = kairos_rt::spawn(Priority::HIGH, || 2);
        let fut = kairos_rt::spawn_future(Priority::LOW, async { 3 });
        (child, fut)
    });
    let (child, fut) = join(h).unwrap();
    assert_eq!(join(child).unwrap(), 2);
    assert_eq!(join(fut).unwrap(), 3);

    let f = rt.spawn_future(Priority::NORMAL, async {
        let t0 = Instant::now();
        kairos_rt::sleep(Duration::from_millis(2)).await;
        assert!(t0.elapsed() >= Duration::from_millis(2));
        let until = Instant::now() + Duration::from_millis(2);
        kairos_rt::sleep_until(until).await;
        assert!(Instant::now() >= until);
        kairos_rt::yield_now().await;
        let ok = kairos_rt::timeout(Duration::from_secs(60), async { 5 }).await;
        let late = kairos_rt::timeout(Duration::from_millis(1), std::future::pending::<()>()).await;
        let child = kairos_rt::spawn(Priority::NORMAL, || 4).await.unwrap();
        (ok, late, child)
    });
    let (ok, late, child) = join(f).unwrap();
    assert_eq!(ok, Ok(5));
    let elapsed = late.unwrap_err();
    assert!(elapsed.to_string().contains("deadline"), "{elapsed}");
    assert_eq!(child, 4);
    let report = rt.shutdown();
    assert!(report.is_balanced(), "{report:?}");
}

#[test]
fn context_functions_work_inside_block_on() {
    let rt = runtime(1);
    let (ok, late, child, fut) = rt.block_on(async {
        let t0 = Instant::now();
        kairos_rt::sleep(Duration::from_millis(2)).await;
        assert!(t0.elapsed() >= Duration::from_millis(2));
        let until = Instant::now() + Duration::from_millis(1);
        kairos_rt::sleep_until(until).await;
        assert!(Instant::now() >= until);
        kairos_rt::yield_now().await;
        let ok = kairos_rt::timeout(Duration::from_secs(60), async { "fast" }).await;
        let late =
            kairos_rt::timeout(Duration::from_millis(1), kairos_rt::sleep(Duration::from_secs(3600))).await;
        let child = kairos_rt::spawn(Priority::HIGH, || 8).await.unwrap();
        let fut = kairos_rt::spawn_future(Priority::HIGH, async { 9 }).await.unwrap();
        (ok, late, child, fut)
    });
    assert_eq!(ok, Ok("fast"));
    assert!(late.is_err());
    assert_eq!((child, fut), (8, 9));
    assert!(kairos_rt::try_current().is_none(), "block_on must leave the context when it returns");
    let report = rt.shutdown();
    assert!(report.is_balanced(), "{report:?}");
    // The hour-long sleep inside the timed-out `timeout` was cancelled when it was dropped.
    assert_eq!(report.timers_dropped, 0, "{report:?}");
}

fn outside_panic_message(f: impl FnOnce()) -> String {
    let payload = catch_unwind(AssertUnwindSafe(f)).expect_err("must panic outside a runtime");
    panic_message(&*payload)
}

fn expect_outside_panic(what: &str, f: impl FnOnce()) {
    let msg = outside_panic_message(f);
    assert!(msg.contains(&format!("kairos_rt::{what}")), "message names the function: {msg}");
    assert!(msg.contains("inside a kairos task or Runtime::block_on"), "message says where: {msg}");
    assert!(msg.contains(&format!("Handle::{what}")), "message says what to use instead: {msg}");
}

#[test]
fn spawn_outside_a_runtime_panics_with_advice() {
    expect_outside_panic("spawn", || drop(kairos_rt::spawn(Priority::NORMAL, || ())));
    expect_outside_panic("spawn_future", || drop(kairos_rt::spawn_future(Priority::NORMAL, async {})));
    assert!(kairos_rt::try_current().is_none());
    // A runtime existing somewhere does not make a plain thread "inside" it.
    let rt = runtime(1);
    expect_outside_panic("spawn", || drop(kairos_rt::spawn(Priority::NORMAL, || ())));
    drop(rt);
}

#[test]
fn sleep_and_timeout_outside_a_runtime_panic() {
    for msg in [
        outside_panic_message(|| drop(kairos_rt::sleep(Duration::from_millis(1)))),
        outside_panic_message(|| drop(kairos_rt::sleep_until(Instant::now()))),
        outside_panic_message(|| drop(kairos_rt::timeout(Duration::from_millis(1), async {}))),
    ] {
        assert!(msg.contains("inside a kairos task or Runtime::block_on"), "{msg}");
    }
}

/// The advice must name something that exists: there is no `Handle::sleep`,
/// `Runtime::sleep`, `Handle::sleep_until` or `Runtime::sleep_until`, and `timeout` should
/// name itself rather than `sleep`.
#[test]
fn sleep_outside_a_runtime_advises_something_that_exists() {
    for (what, msg) in [
        ("sleep", outside_panic_message(|| drop(kairos_rt::sleep(Duration::from_millis(1))))),
        ("sleep_until", outside_panic_message(|| drop(kairos_rt::sleep_until(Instant::now())))),
        ("timeout", outside_panic_message(|| drop(kairos_rt::timeout(Duration::from_millis(1), async {})))),
    ] {
        assert!(msg.contains(&format!("kairos_rt::{what}")), "{msg}");
        assert!(!msg.contains(&format!("Handle::{what} ")), "advises a method that does not exist: {msg}");
        assert!(!msg.contains(&format!("Runtime::{what} ")), "advises a method that does not exist: {msg}");
    }
}

#[test]
fn block_on_inside_a_task_panics_and_says_to_await() {
    let rt = runtime(2);
    let handle = rt.handle();
    let h = rt.spawn(Priority::NORMAL, move || handle.block_on(async { 1 }));
    let err = join(h).unwrap_err();
    assert!(err.is_panic(), "{err:?}");
    let msg = panic_message(&*err.into_panic());
    assert!(msg.contains("block_on"), "{msg}");
    assert!(msg.contains(".await"), "message must say to use .await: {msg}");
    // The same from inside a future.
    let handle = rt.handle();
    let f = rt.spawn_future(Priority::NORMAL, async move { handle.block_on(async { 2 }) });
    let err = join(f).unwrap_err();
    assert!(err.is_panic());
    assert!(panic_message(&*err.into_panic()).contains(".await"));
    // The workers survived.
    assert_eq!(join(rt.spawn(Priority::NORMAL, || 3)).unwrap(), 3);
    let report = rt.shutdown();
    assert_eq!(report.panicked, 2, "{report:?}");
    assert!(report.is_balanced(), "{report:?}");
}

#[test]
fn a_panicking_task_is_reported_and_the_worker_survives() {
    let rt = runtime(1);
    let p = rt.spawn(Priority::NORMAL, || -> u32 { panic!("task failed: {}", 17) });
    let err = join(p).unwrap_err();
    assert!(err.is_panic() && !err.is_cancelled() && !err.is_shutdown(), "{err:?}");
    assert!(err.to_string().contains("task failed: 17"), "{err}");
    assert_eq!(panic_message(&*err.into_panic()), "task failed: 17");
    // A panicking future too, with a `&str` payload.
    let f = rt.spawn_future(Priority::NORMAL, async {
        kairos_rt::yield_now().await;
        panic!("future failed")
    });
    let err = join(f).unwrap_err();
    let payload = err.try_into_panic().expect("a panic error");
    assert_eq!(panic_message(&*payload), "future failed");
    // The single worker is still there.
    let later: Vec<_> = (0..10).map(|i| rt.spawn(Priority::NORMAL, move || i)).collect();
    for (i, h) in later.into_iter().enumerate() {
        assert_eq!(join(h).unwrap(), i);
    }
    let report = rt.shutdown();
    assert_eq!(report.panicked, 2, "{report:?}");
    assert_eq!(report.completed, 10, "{report:?}");
    assert!(report.is_balanced(), "{report:?}");
}

#[test]
fn builder_names_threads_and_runs_hooks() {
    let started = Arc::new(AtomicUsize::new(0));
    let stopped = Arc::new(AtomicUsize::new(0));
    let (s, t) = (started.clone(), stopped.clone());
    let rt = Runtime::builder()
        .workers(3)
        .thread_name("stress-me")
        .thread_stack_size(512 * 1024)
        .spin_before_park(Duration::ZERO)
        .on_thread_start(move || {
            s.fetch_add(1, SeqCst);
        })
        .on_thread_stop(move || {
            t.fetch_add(1, SeqCst);
        })
        .build()
        .unwrap();
    assert_eq!(rt.workers(), 3);
    let names = Arc::new(Mutex::new(HashSet::new()));
    let hs: Vec<_> = (0..30)
        .map(|_| {
            let names = names.clone();
            rt.spawn(Priority::NORMAL, move || {
                let name = std::thread::current().name().map(str::to_string);
                names.lock().unwrap().insert(name);
            })
        })
        .collect();
    for h in hs {
        join(h).unwrap();
    }
    for name in names.lock().unwrap().iter() {
        let name = name.as_deref().expect("workers are named");
        assert!(name.starts_with("stress-me-"), "{name}");
    }
    assert!(wait_until(|| started.load(SeqCst) == 3));
    let _report = rt.shutdown();
    assert_eq!(stopped.load(SeqCst), 3, "every worker runs the stop hook before shutdown returns");
    let dbg = format!("{:?}", Runtime::builder().workers(2));
    assert!(dbg.contains("workers"), "{dbg}");
}

#[test]
fn default_runtime_uses_available_parallelism() {
    let rt = Runtime::new().unwrap();
    let expected = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1);
    assert_eq!(rt.workers(), expected.min(1024));
    assert_eq!(join(rt.spawn(Priority::default(), || 1)).unwrap(), 1);
    assert!(rt.shutdown().is_balanced());
}
