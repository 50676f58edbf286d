//! Futures on the workers: wake-ups from other threads, wakes racing polls, concurrent
//! wakes, cancellation before/while/after polling, yield order, and awaiting handles.

mod common;

use common::*;
use kairos_rt::Priority;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::SeqCst};
use std::sync::{mpsc, Arc, Mutex};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

#[test]
fn a_future_woken_from_another_thread_completes() {
    let rt = runtime(2);
    let signal = Signal::default();
    let s = signal.clone();
    let h = rt.spawn_future(Priority::NORMAL, async move {
        s.wait().await;
        "woken"
    });
    assert!(wait_until(|| signal.has_waker()), "the future was never polled");
    assert!(!h.is_finished());
    std::thread::spawn(move || signal.fire()).join().unwrap();
    assert_eq!(join(h).unwrap(), "woken");
    let report = rt.shutdown();
    assert_eq!((report.completed, report.futures_dropped), (1, 0), "{report:?}");
}

/// Polls once, hands a clone of its waker to a thread that wakes it at a random moment
/// (often while this poll is still running), and completes on the next poll. A lost
/// wake-up leaves it pending forever.
struct WakeDuringPoll {
    polls: usize,
    spin: u32,
}

impl Future for WakeDuringPoll {
    type Output = usize;
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<usize> {
        self.polls += 1;
        if self.polls > 1 {
            return Poll::Ready(self.polls);
        }
        let waker = cx.waker().clone();
        let spin = self.spin;
        std::thread::spawn(move || {
            for _ in 0..spin {
                std::hint::spin_loop();
            }
            if spin % 2 == 0 {
                waker.wake_by_ref();
            } else {
                waker.wake();
            }
        });
        for _ in 0..(spin / 2) {
            std::hint::spin_loop();
        }
        Poll::Pending
    }
}

#[test]
fn a_wake_racing_the_poll_is_never_lost() {
    let rt = runtime(2);
    let mut r = fastrand::Rng::with_seed(7);
    let hs: Vec<_> = (0..300)
        .map(|_| rt.spawn_future(Priority::NORMAL, WakeDuringPoll { polls: 0, spin: r.u32(0..20_000) }))
        .collect();
    for h in hs {
        assert_eq!(join(h).unwrap(), 2, "polled exactly twice");
    }
    let report = rt.shutdown();
    assert_eq!(report.completed, 300, "{report:?}");
}

/// Many threads wake the same future many times: it is never polled concurrently, and it
/// completes exactly once.
#[test]
fn concurrent_wakes_poll_one_at_a_time_and_complete_once() {
    struct Counted {
        wakers: Arc<Mutex<Option<Waker>>>,
        in_poll: Arc<AtomicBool>,
        polls: Arc<AtomicUsize>,
        done: Arc<AtomicBool>,
    }
    impl Future for Counted {
        type Output = usize;
        fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<usize> {
            assert!(!self.in_poll.swap(true, SeqCst), "polled concurrently");
            let n = self.polls.fetch_add(1, SeqCst) + 1;
            *self.wakers.lock().unwrap() = Some(cx.waker().clone());
            std::hint::spin_loop();
            self.in_poll.store(false, SeqCst);
            if self.done.load(SeqCst) {
                Poll::Ready(n)
            } else {
                Poll::Pending
            }
        }
    }
    let rt = runtime(2);
    for _ in 0..10 {
        let wakers = Arc::new(Mutex::new(None::<Waker>));
        let polls = Arc::new(AtomicUsize::new(0));
        let done = Arc::new(AtomicBool::new(false));
        let fut = Counted {
            wakers: wakers.clone(),
            in_poll: Arc::new(AtomicBool::new(false)),
            polls: polls.clone(),
            done: done.clone(),
        };
        let h = rt.spawn_future(Priority::HIGH, fut);
        assert!(wait_until(|| wakers.lock().unwrap().is_some()));
        let threads: Vec<_> = (0..3)
            .map(|_| {
                let wakers = wakers.clone();
                std::thread::spawn(move || {
                    for _ in 0..300 {
                        let w = wakers.lock().unwrap().clone();
                        if let Some(w) = w {
                            w.wake();
                        }
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        done.store(true, SeqCst);
        let w = wakers.lock().unwrap().clone().unwrap();
        w.wake();
        let n = join(h).unwrap();
        assert!(n >= 2 && n == polls.load(SeqCst), "no poll after completion");
        // Further wakes after completion do nothing.
        wakers.lock().unwrap().take().unwrap().wake();
        assert_eq!(polls.load(SeqCst), n);
    }
    let report = rt.shutdown();
    assert_eq!(report.completed, 10, "{report:?}");
}

#[test]
fn cancel_before_the_first_poll_drops_the_future_unpolled() {
    let rt = runtime(1);
    let gate = Gate::hold(&rt, Priority::HIGHEST);
    let (flag, dropped) = DropFlag::new();
    let polled = Arc::new(AtomicBool::new(false));
    let p = polled.clone();
    let h = rt.spawn_future(Priority::NORMAL, async move {
        let _f = flag;
        p.store(true, SeqCst);
    });
    assert!(h.cancel());
    assert!(dropped.load(SeqCst), "the future must be dropped when cancel returns");
    gate.open();
    assert!(join(h).unwrap_err().is_cancelled());
    let report = rt.shutdown();
    assert!(!polled.load(SeqCst));
    assert_eq!(report.cancelled, 1, "{report:?}");
    assert!(report.is_balanced(), "{report:?}");
}

#[test]
fn cancel_of_an_idle_future_drops_it_at_once() {
    let rt = runtime(2);
    let signal = Signal::default();
    let (flag, dropped) = DropFlag::new();
    let s = signal.clone();
    let after = Arc::new(AtomicBool::new(false));
    let a = after.clone();
    let h = rt.spawn_future(Priority::NORMAL, async move {
        let _f = flag;
        s.wait().await;
        a.store(true, SeqCst);
    });
    assert!(wait_until(|| signal.has_waker()));
    assert!(h.cancel(), "an idle future is not running: it can be cancelled");
    assert!(dropped.load(SeqCst));
    // A wake through the waker it left behind does nothing.
    signal.fire();
    assert!(join(h).unwrap_err().is_cancelled());
    let report = rt.shutdown();
    assert!(!after.load(SeqCst));
    assert_eq!(report.cancelled, 1, "{report:?}");
    assert!(report.is_balanced(), "{report:?}");
}

/// Cancel while the future is being polled: `false`, and the future is dropped at its
/// next pending point (join reports cancellation) or completes if this poll finishes it.
#[test]
fn cancel_while_polling_stops_at_the_next_pending_point() {
    for completes in [false, true] {
        let rt = runtime(2);
        let (started_tx, started_rx) = mpsc::channel();
        let (go_tx, go_rx) = mpsc::channel::<()>();
        let (flag, dropped) = DropFlag::new();
        let second_poll = Arc::new(AtomicBool::new(false));
        let sp = second_poll.clone();
        let mut first = true;
        let fut = std::future::poll_fn(move |cx| {
            let _f = &flag;
            if first {
                first = false;
                started_tx.send(()).unwrap();
                go_rx.recv_timeout(PATIENCE).unwrap();
                if completes {
                    return Poll::Ready(1);
                }
                cx.waker().wake_by_ref();
                return Poll::Pending;
            }
            sp.store(true, SeqCst);
            Poll::Ready(2)
        });
        let h = rt.spawn_future(Priority::NORMAL, fut);
        started_rx.recv_timeout(PATIENCE).unwrap();
        assert!(!h.cancel(), "a future being polled has started: cancel is false");
        go_tx.send(()).unwrap();
        let r = join(h);
        if completes {
            assert_eq!(r.unwrap(), 1);
        } else {
            assert!(r.unwrap_err().is_cancelled());
            assert!(!second_poll.load(SeqCst), "polled again after a cancel request");
        }
        assert!(dropped.load(SeqCst));
        let report = rt.shutdown();
        assert!(report.is_balanced(), "{report:?}");
        assert_eq!(report.cancelled, u64::from(!completes), "{report:?}");
    }
}

/// `yield_now` sends the task to the back of its level: other ready tasks of that level
/// run before it resumes, whether they came from the task's own worker or from outside.
#[test]
fn yield_now_lets_same_level_tasks_run_local() {
    let rt = runtime(1);
    let order = log();
    let o = order.clone();
    let h = rt.spawn_future(Priority::NORMAL, async move {
        let mut hs = Vec::new();
        for i in 0..3 {
            let o = o.clone();
            hs.push(kairos_rt::spawn(Priority::NORMAL, move || o.lock().unwrap().push(format!("c{i}"))));
        }
        o.lock().unwrap().push("before".to_string());
        kairos_rt::yield_now().await;
        o.lock().unwrap().push("after".to_string());
        for h in hs {
            h.await.unwrap();
        }
    });
    join(h).unwrap();
    assert_eq!(*order.lock().unwrap(), ["before", "c0", "c1", "c2", "after"]);
    drop(rt);
}

#[test]
fn yield_now_lets_same_level_tasks_from_outside_run() {
    let rt = runtime(1);
    let order = log();
    let gate = Gate::hold(&rt, Priority::HIGHEST);
    let mut hs = Vec::new();
    for name in ["a", "b"] {
        let o = order.clone();
        hs.push(rt.spawn_future(Priority::NORMAL, async move {
            for step in 0..3 {
                o.lock().unwrap().push(format!("{name}{step}"));
                kairos_rt::yield_now().await;
            }
        }));
    }
    gate.open();
    for h in hs {
        join(h).unwrap();
    }
    assert_eq!(*order.lock().unwrap(), ["a0", "b0", "a1", "b1", "a2", "b2"]);
    drop(rt);
}

#[test]
fn nested_futures_await_their_children() {
    fn chain(depth: u32) -> Pin<Box<dyn Future<Output = u32> + Send>> {
        Box::pin(async move {
            if depth == 0 {
                kairos_rt::sleep(Duration::from_micros(100)).await;
                return 0;
            }
            let child = kairos_rt::spawn_future(Priority::new((depth % 64) as u8).unwrap(), chain(depth - 1));
            kairos_rt::yield_now().await;
            child.await.unwrap() + 1
        })
    }
    let rt = runtime(2);
    assert_eq!(join(rt.spawn_future(Priority::LOW, chain(60))).unwrap(), 60);
    assert_eq!(rt.block_on(chain(30)), 30);
    let report = rt.shutdown();
    assert!(report.is_balanced(), "{report:?}");
    assert_eq!(report.futures_dropped, 0, "{report:?}");
}

/// Awaiting a handle whose task panics resolves with the panic; a future awaiting a
/// never-due timer is dropped at shutdown, and so is the timer.
#[test]
fn awaited_handles_report_panic_and_shutdown() {
    let rt = runtime(2);
    let victim = rt.spawn_after(Duration::from_secs(3600), Priority::NORMAL, || 1);
    let (awaiting_tx, awaiting_rx) = mpsc::channel();
    let waiter = rt.spawn_future(Priority::NORMAL, async move {
        awaiting_tx.send(()).unwrap();
        victim.await
    });
    awaiting_rx.recv_timeout(PATIENCE).unwrap();
    let boom = rt.spawn_future(Priority::NORMAL, async {
        let p = kairos_rt::spawn(Priority::NORMAL, || -> u8 { panic!("child panicked") });
        let e = p.await.unwrap_err();
        assert!(e.is_panic());
        panic_message(&*e.into_panic())
    });
    assert_eq!(join(boom).unwrap(), "child panicked");
    let report = rt.shutdown();
    assert_eq!(report.futures_dropped, 1, "{report:?}");
    assert_eq!(report.timers_dropped, 1, "{report:?}");
    assert_eq!(report.panicked, 1, "{report:?}");
    assert!(report.is_balanced(), "{report:?}");
    assert!(join(waiter).unwrap_err().is_shutdown());
}

#[test]
fn an_awaited_cancelled_task_resolves_with_cancelled() {
    let rt = runtime(2);
    let victim = Arc::new(rt.spawn_after(Duration::from_secs(3600), Priority::NORMAL, || 1));
    // JoinHandle is not Clone; await it through a small wrapper future that polls the
    // shared handle (the test thread cancels through its `&self`).
    struct PollShared(Arc<kairos_rt::JoinHandle<i32>>);
    impl Future for PollShared {
        type Output = bool;
        fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<bool> {
            // Only `is_finished` is available through `&`; wake and re-check cheaply.
            if self.0.is_finished() {
                Poll::Ready(true)
            } else {
                cx.waker().wake_by_ref();
                Poll::Pending
            }
        }
    }
    let v = victim.clone();
    let waiter = rt.spawn_future(Priority::LOW, PollShared(v));
    assert!(victim.cancel());
    assert!(join(waiter).unwrap());
    let victim = Arc::try_unwrap(victim).unwrap();
    assert!(join(victim).unwrap_err().is_cancelled());
    // And with a real `.await` on the handle: cancel from inside the awaiting future
    // before awaiting resolves to a cancellation error.
    let r = rt.block_on(async {
        let h = kairos_rt::spawn_future(Priority::LOW, async {
            kairos_rt::sleep(Duration::from_secs(3600)).await;
        });
        // Queued, idle, or being polled right now: in every case the future never
        // completes and the awaiting side sees a cancellation.
        let _ = h.cancel();
        h.await
    });
    assert!(r.unwrap_err().is_cancelled());
    let report = rt.shutdown();
    assert!(report.is_balanced(), "{report:?}");
}

#[test]
fn many_futures_with_sleeps_and_yields_complete() {
    let rt = runtime(2);
    let total = Arc::new(AtomicUsize::new(0));
    let mut r = fastrand::Rng::with_seed(11);
    let hs: Vec<_> = (0..500u64)
        .map(|i| {
            let total = total.clone();
            let sleep_us = r.u64(0..500);
            let yields = r.u32(0..4);
            rt.spawn_future(Priority::new(r.u8(0..64)).unwrap(), async move {
                for _ in 0..yields {
                    kairos_rt::yield_now().await;
                }
                if i % 3 == 0 {
                    kairos_rt::sleep(Duration::from_micros(sleep_us)).await;
                }
                total.fetch_add(1, SeqCst);
                i
            })
        })
        .collect();
    for (i, h) in hs.into_iter().enumerate() {
        assert_eq!(join(h).unwrap(), i as u64);
    }
    assert_eq!(total.load(SeqCst), 500);
    let report = rt.shutdown();
    assert!(report.is_balanced(), "{report:?}");
    assert_eq!(report.futures_dropped + report.panicked + report.cancelled, 0, "{report:?}");
}

#[test]
fn a_loop_of_sleeps_does_not_keep_shutdown_waiting() {
    let rt = runtime(1);
    let polls = Arc::new(AtomicUsize::new(0));
    let p = polls.clone();
    let h = rt.spawn_future(Priority::NORMAL, async move {
        loop {
            p.fetch_add(1, SeqCst);
            // Busy most of the time, so shutdown most likely finds the future mid-poll
            // and its next sleep's timer refused.
            let t0 = std::time::Instant::now();
            while t0.elapsed() < Duration::from_millis(5) {
                std::hint::spin_loop();
            }
            kairos_rt::sleep(Duration::from_micros(100)).await;
        }
    });
    assert!(wait_until(|| polls.load(SeqCst) >= 3), "the loop never ran");
    let report = within(move || rt.shutdown()).expect("shutdown waited forever for a loop of sleeps");
    assert_eq!(report.futures_dropped, 1, "{report:?}");
    assert!(join(h).unwrap_err().is_shutdown());
}

/// A `Sleep` made on one runtime and awaited in a task of another ends when its own
/// runtime shuts down (as it does in `block_on`), instead of leaving the other runtime's
/// task waiting with no waker, and is never polled again after its timer gave its result.
#[test]
fn a_sleep_of_a_runtime_that_shut_down_ends_in_a_task_of_another() {
    let a = runtime(1);
    let b = runtime(1);
    // Made inside a task of `a` (a sleep needs its runtime's context), handed out unawaited.
    #[allow(clippy::async_yields_async)]
    let made = a.spawn_future(Priority::NORMAL, async { kairos_rt::sleep(Duration::from_secs(3600)) });
    let sleep = join(made).unwrap();
    let (polled_tx, polled_rx) = mpsc::channel();
    let waiter = b.spawn_future(Priority::NORMAL, async move {
        let mut sleep = Box::pin(sleep);
        let mut first = true;
        std::future::poll_fn(|cx| {
            if first {
                first = false;
                polled_tx.send(()).unwrap();
            }
            sleep.as_mut().poll(cx)
        })
        .await;
    });
    polled_rx.recv_timeout(PATIENCE).expect("the waiter never polled the sleep");
    let report = a.shutdown();
    assert!(report.is_balanced(), "{report:?}");
    join(waiter).expect("the sleep ended when its runtime shut down");
    b.shutdown();
}
