//! `Builder::max_pending`: refusals hand the task back, blocking spawns wait for room,
//! `spawn_async` waits without blocking, the count is exact under concurrency, and the
//! shutdown report still balances.

mod common;

use common::{join, wait_until, within, Gate, PATIENCE};
use kairos_rt::{Priority, Runtime};
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::{mpsc, Arc, Barrier};
use std::time::Duration;

fn bounded(workers: usize, max: usize) -> Runtime {
    Runtime::builder().workers(workers).max_pending(max).build().expect("build")
}

#[test]
fn max_pending_zero_is_refused() {
    let err = Runtime::builder().max_pending(0).build().unwrap_err();
    assert!(err.is_zero_limit());
    assert!(err.to_string().contains("max_pending"), "{err}");
}

#[test]
fn try_spawn_at_the_limit_hands_the_closure_back_until_a_task_starts() {
    let rt = bounded(1, 3);
    let gate = Gate::hold(&rt, Priority::HIGHEST);
    let queued: Vec<_> = (0..3).map(|i| rt.try_spawn(Priority::NORMAL, move || i).unwrap()).collect();
    let err = rt.try_spawn(Priority::NORMAL, || 99).unwrap_err();
    assert!(err.is_full() && !err.is_shutdown());
    assert!(err.to_string().contains("max_pending"), "{err}");
    assert_eq!((err.into_inner())(), 99, "nothing lost");
    join(gate.open()).unwrap();
    for (i, h) in queued.into_iter().enumerate() {
        assert_eq!(join(h).unwrap(), i);
    }
    assert_eq!(join(rt.try_spawn(Priority::NORMAL, || 7).unwrap()).unwrap(), 7);
    let report = rt.shutdown();
    assert_eq!(report.submitted, 5, "the gate, three queued, one after: a refusal is no submission");
    assert!(report.is_balanced(), "{report:?}");
}

#[test]
fn timed_tasks_wait_too() {
    let rt = bounded(1, 2);
    let a = rt.spawn_after(Duration::from_secs(3600), Priority::LOW, || ());
    let b = rt.spawn_after(Duration::from_secs(3600), Priority::LOW, || ());
    assert!(rt.try_spawn(Priority::NORMAL, || ()).unwrap_err().is_full());
    assert!(a.cancel());
    assert!(wait_until(|| rt.try_spawn(Priority::NORMAL, || ()).is_ok()), "a cancel frees room");
    assert!(b.cancel());
}

#[test]
fn the_limit_is_exact_under_concurrent_submitters() {
    const LIMIT: usize = 50;
    const THREADS: usize = 4;
    const TRIES: usize = 100;
    let rt = bounded(1, LIMIT);
    let gate = Gate::hold(&rt, Priority::HIGHEST);
    let handle = rt.handle();
    let barrier = Arc::new(Barrier::new(THREADS));
    let ran = Arc::new(AtomicUsize::new(0));
    let threads: Vec<_> = (0..THREADS)
        .map(|_| {
            let (handle, barrier, ran) = (handle.clone(), barrier.clone(), ran.clone());
            std::thread::spawn(move || {
                barrier.wait();
                let mut ok = Vec::new();
                for _ in 0..TRIES {
                    let ran = ran.clone();
                    if let Ok(h) = handle.try_spawn(Priority::NORMAL, move || ran.fetch_add(1, SeqCst)) {
                        ok.push(h);
                    }
                }
                ok
            })
        })
        .collect();
    let admitted: Vec<_> = threads.into_iter().flat_map(|t| t.join().unwrap()).collect();
    assert_eq!(admitted.len(), LIMIT, "exactly the limit got in while nothing could start");
    join(gate.open()).unwrap();
    for h in admitted {
        join(h).unwrap();
    }
    assert_eq!(ran.load(SeqCst), LIMIT);
    assert!(rt.shutdown().is_balanced());
}

#[test]
fn spawn_blocks_until_there_is_room() {
    let rt = bounded(1, 1);
    let gate = Gate::hold(&rt, Priority::HIGHEST);
    let first = rt.spawn(Priority::NORMAL, || 1);
    let handle = rt.handle();
    let (tx, rx) = mpsc::channel();
    let blocked = std::thread::spawn(move || {
        let h = handle.spawn(Priority::NORMAL, || 2);
        tx.send(()).unwrap();
        h
    });
    assert!(rx.recv_timeout(Duration::from_millis(100)).is_err(), "spawn returned while full");
    join(gate.open()).unwrap();
    rx.recv_timeout(PATIENCE).expect("spawn never got room");
    assert_eq!(join(blocked.join().unwrap()).unwrap(), 2);
    assert_eq!(join(first).unwrap(), 1);
}

#[test]
fn spawn_async_waits_without_blocking_a_worker() {
    let rt = bounded(2, 1);
    let gate = Gate::hold(&rt, Priority::HIGHEST);
    let first = rt.spawn(Priority::NORMAL, || 1);
    // Runs on the other worker: it must wait for room without blocking that worker.
    let handle = rt.handle();
    let waiter = rt.spawn_future(Priority::HIGH, async move {
        let h = handle.spawn_async(Priority::NORMAL, || 2).await;
        h.await.unwrap()
    });
    // The second worker is free to run other futures meanwhile.
    let other = rt.spawn_future(Priority::HIGH, async { 3 });
    assert_eq!(join(other).unwrap(), 3);
    join(gate.open()).unwrap();
    assert_eq!(join(waiter).unwrap(), 2);
    assert_eq!(join(first).unwrap(), 1);
}

#[test]
fn shutdown_releases_blocked_submitters_with_a_refusal() {
    let rt = bounded(1, 1);
    let gate = Gate::hold(&rt, Priority::HIGHEST);
    let _first = rt.spawn(Priority::NORMAL, || ());
    let handle = rt.handle();
    let blocked = std::thread::spawn(move || handle.spawn(Priority::NORMAL, || ()));
    std::thread::sleep(Duration::from_millis(20));
    let opener = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(20));
        gate.open()
    });
    let report = within(move || rt.shutdown()).expect("shutdown hung on a blocked submitter");
    let h = blocked.join().unwrap();
    let r = join(h);
    assert!(r.is_ok() || r.unwrap_err().is_shutdown());
    drop(opener.join().unwrap());
    assert!(report.is_balanced(), "{report:?}");
}

#[test]
fn spawns_from_inside_tasks_never_block_but_try_spawn_respects_the_limit() {
    let rt = bounded(1, 1);
    let outcome = rt.spawn(Priority::NORMAL, || {
        let children: Vec<_> = (0..5).map(|i| kairos_rt::spawn(Priority::LOW, move || i)).collect();
        let refused = kairos_rt::try_current().unwrap().try_spawn(Priority::LOW, || 0).is_err();
        (children, refused)
    });
    let (children, refused) = join(outcome).unwrap();
    assert!(refused, "try_spawn inside a task sees the runtime full");
    let sum: usize = children.into_iter().map(|h| join(h).unwrap()).sum();
    assert_eq!(sum, 10);
    let report = rt.shutdown();
    assert!(report.is_balanced(), "{report:?}");
}

#[test]
fn every_blocked_submitter_gets_in_as_tasks_start() {
    const BLOCKED: usize = 4;
    let rt = bounded(1, 2);
    let gate = Gate::hold(&rt, Priority::HIGHEST);
    let queued: Vec<_> = (0..2).map(|_| rt.spawn(Priority::NORMAL, || 0)).collect();
    let handle = rt.handle();
    let blocked: Vec<_> = (0..BLOCKED)
        .map(|i| {
            let handle = handle.clone();
            std::thread::spawn(move || handle.spawn(Priority::NORMAL, move || i + 1))
        })
        .collect();
    std::thread::sleep(Duration::from_millis(20));
    join(gate.open()).unwrap();
    for h in queued {
        join(h).unwrap();
    }
    let got = within(move || blocked.into_iter().map(|t| join(t.join().unwrap()).unwrap()).sum::<usize>())
        .expect("a blocked submitter never got in although tasks kept starting");
    assert_eq!(got, (1..=BLOCKED).sum::<usize>());
    let report = rt.shutdown();
    assert!(report.is_balanced(), "{report:?}");
}

#[test]
fn the_runtimes_own_timers_take_no_room() {
    let rt = bounded(1, 1);
    // A running future waiting on a sleep: the sleep's timer is not a waiting task.
    let sleeper = rt.spawn_future(Priority::NORMAL, async {
        kairos_rt::sleep(Duration::from_secs(3600)).await;
    });
    assert!(wait_until(|| sleeper.status() == kairos_rt::TaskStatus::Running));
    let h = rt.try_spawn(Priority::NORMAL, || 5).expect("room for one task");
    assert_eq!(join(h).unwrap(), 5);
    // A full runtime (one task waiting for its time) with an idle worker: a sleep inside
    // `block_on` does not wait for room.
    let waiting = rt.spawn_after(Duration::from_secs(3600), Priority::LOW, || ());
    assert!(rt.try_spawn(Priority::NORMAL, || ()).unwrap_err().is_full());
    let outside = rt.handle();
    let slept = within(move || {
        outside.block_on(async {
            kairos_rt::sleep(Duration::from_millis(1)).await;
            7
        })
    });
    assert_eq!(slept, Some(7), "a sleep waited for room");
    assert!(waiting.cancel());
    assert!(sleeper.cancel());
}

/// A spawn refused for room is counted (`refused_full`), from outside and from inside a
/// task, and is no submission: the task went back to its caller.
#[test]
fn refusals_for_room_are_counted() {
    let rt = bounded(1, 1);
    let gate = Gate::hold(&rt, Priority::HIGHEST);
    let queued = rt.try_spawn(Priority::NORMAL, || ()).unwrap();
    for _ in 0..10 {
        assert!(rt.try_spawn(Priority::NORMAL, || ()).unwrap_err().is_full());
    }
    let m = rt.metrics();
    assert_eq!(m.refused_full, 10, "{m}");
    assert_eq!(m.rejected, 0, "{m}");
    assert_eq!(m.submitted, 2, "the gate and the queued task: {m}");
    let text = m.to_prometheus();
    assert!(text.contains("\nkairos_tasks_refused_full_total 10\n"), "{text}");
    assert!(text.contains("\nkairos_tasks_rejected_total 0\n"), "{text}");
    join(gate.open()).unwrap();
    join(queued).unwrap();
    // From inside a task (counted by the worker itself), at the limit.
    let inside = rt.spawn(Priority::NORMAL, || {
        let handle = kairos_rt::try_current().unwrap();
        let blocker = handle.spawn_after(Duration::from_secs(3600), Priority::LOW, || ());
        let refused = handle.try_spawn(Priority::LOW, || ()).is_err();
        assert!(blocker.cancel());
        refused
    });
    assert!(join(inside).unwrap(), "the timed task filled the runtime");
    assert!(wait_until(|| rt.metrics().refused_full == 11));
    let report = rt.shutdown();
    assert_eq!(report.submitted, 4, "{report:?}");
    assert!(report.is_balanced(), "{report:?}");
}

/// A `spawn_async` that waits for room is never refused (no error reaches its caller,
/// no task is handed back), so it counts no refusal, as the same wait through `spawn`
/// counts none. Seen to fail (2 refusals) when each of its internal tries counted one.
#[test]
fn a_spawn_async_that_waits_for_room_counts_no_refusal() {
    let rt = bounded(1, 1);
    let gate = Gate::hold(&rt, Priority::HIGHEST);
    let queued = rt.spawn(Priority::NORMAL, || 1); // holds the only unit of room
    let handle = rt.handle();
    let (started_tx, started) = mpsc::channel();
    let waiter = std::thread::spawn(move || {
        let h = handle.clone();
        started_tx.send(()).unwrap();
        // In a tuple: the handle is a future itself, not to be awaited here.
        handle.block_on(async move { (h.spawn_async(Priority::NORMAL, || 2).await,) }).0
    });
    started.recv().unwrap();
    // Time for the spawn_async to find the runtime full (not asserted: a spawn that
    // comes later is admitted at once, and counts no refusal either).
    std::thread::sleep(Duration::from_millis(100));
    join(gate.open()).unwrap();
    assert_eq!(join(queued).unwrap(), 1);
    let h = within(move || waiter.join().unwrap()).expect("spawn_async never got room");
    assert_eq!(join(h).unwrap(), 2);
    let m = rt.metrics();
    assert_eq!(m.submitted, 3, "{m}");
    assert_eq!(m.refused_full, 0, "no spawn was refused, no task handed back: {m}");
}

/// A `spawn_async` future polled once and then kept without being polled again holds the
/// wake-up it got; a thread blocked in `spawn` behind it must still be woken when room is
/// made (both listened on one event, whose single wake-up per release went to the idle
/// future: the thread slept on with the runtime empty; from a review, seen to fail).
#[test]
fn a_blocked_spawn_is_not_starved_by_an_idle_spawn_async_listener() {
    use std::future::Future;
    use std::task::{Context, Waker};
    let rt = bounded(1, 1);
    let gate = Gate::hold(&rt, Priority::HIGHEST);
    let queued = rt.spawn(Priority::NORMAL, || ()); // full now
    let handle = rt.handle();
    let mut idle = Box::pin(async move { drop(handle.spawn_async(Priority::NORMAL, || ()).await) });
    assert!(idle.as_mut().poll(&mut Context::from_waker(Waker::noop())).is_pending());
    let handle = rt.handle();
    let (done_tx, done_rx) = mpsc::channel();
    let blocked = std::thread::spawn(move || {
        let h = handle.spawn(Priority::NORMAL, || ());
        done_tx.send(()).unwrap();
        let _ = h.join();
    });
    // Let it block (if it has not yet, it finds room later, and the test passes anyway).
    std::thread::sleep(Duration::from_millis(200));
    join(gate.open()).unwrap();
    join(queued).unwrap();
    let woken = done_rx.recv_timeout(Duration::from_secs(10)).is_ok();
    let pending_now = rt.pending().total();
    drop(idle);
    blocked.join().unwrap();
    assert!(
        woken,
        "the blocked spawn still waits with the runtime empty (pending().total() = {pending_now})"
    );
}
