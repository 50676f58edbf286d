//! `spawn_blocking`: jobs run on the blocking pool, never on a worker; they wait in
//! priority order at the pool's cap; the pool never passes its cap and shrinks when idle;
//! `pending()` and `metrics()` show it; shutdown runs queued jobs and accounts for every
//! one, including a call that never returns.

mod common;

use common::*;
use kairos_rt::{JoinHandle, Priority, Runtime};
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::{mpsc, Arc, Condvar, Mutex};
use std::time::Duration;

/// A latch that blocking jobs wait on until the test opens it.
#[derive(Clone, Default)]
struct Latch(Arc<(Mutex<bool>, Condvar)>);

impl Latch {
    fn wait(&self) {
        let (lock, cv) = &*self.0;
        let open = lock.lock().unwrap();
        let (open, timeout) = cv.wait_timeout_while(open, PATIENCE, |open| !*open).unwrap();
        assert!(*open && !timeout.timed_out(), "the latch was never opened");
    }

    fn open(&self) {
        *self.0 .0.lock().unwrap() = true;
        self.0 .1.notify_all();
    }
}

fn pool(workers: usize, max_threads: usize) -> Runtime {
    Runtime::builder().workers(workers).max_blocking_threads(max_threads).build().expect("build runtime")
}

/// Spawns a blocking job that holds its thread until `latch` opens; waits until it runs.
fn hold_blocking(rt: &Runtime, priority: Priority, latch: &Latch) -> JoinHandle<()> {
    let (started, has_started) = mpsc::channel();
    let latch = latch.clone();
    let h = rt.spawn_blocking(priority, move || {
        started.send(()).unwrap();
        latch.wait();
    });
    has_started.recv_timeout(PATIENCE).expect("the blocking job never started");
    h
}

#[test]
fn blocking_calls_never_delay_a_highest_task_on_the_workers() {
    // Two workers, two blocking calls in progress: the case, where both workers
    // used to be held and no priority work ran.
    let rt = pool(2, 4);
    let latch = Latch::default();
    let calls = [hold_blocking(&rt, Priority::NORMAL, &latch), hold_blocking(&rt, Priority::NORMAL, &latch)];
    let urgent = rt.spawn(Priority::HIGHEST, || std::thread::current().name().map(str::to_owned));
    let ran_on = join(urgent).expect("the HIGHEST task ran while both blocking calls were in progress");
    assert!(ran_on.is_some_and(|n| n.starts_with("kairos-worker-")), "it ran on a worker");
    assert!(calls.iter().all(|c| !c.is_finished()), "the blocking calls were still in progress");
    assert_eq!(rt.metrics().blocking_running, 2);
    latch.open();
    for c in calls {
        join(c).unwrap();
    }
    let report = rt.shutdown();
    assert_eq!(report.completed, 3, "{report:?}");
    assert!(report.is_balanced(), "{report:?}");
}

#[test]
fn a_blocking_job_runs_on_a_blocking_thread_inside_the_runtime() {
    let rt = pool(1, 2);
    let h = rt.spawn_blocking(Priority::NORMAL, || {
        let name = std::thread::current().name().map(str::to_owned);
        // The runtime is the current one here: spawning from a blocking job works.
        let child = kairos_rt::spawn(Priority::HIGH, || 6 * 7);
        (name, child.join().unwrap())
    });
    let (name, child) = join(h).unwrap();
    assert_eq!(name.as_deref(), Some("kairos-worker-blocking"));
    assert_eq!(child, 42);
    assert!(rt.shutdown().is_balanced());
}

#[test]
fn an_awaited_blocking_job_leaves_the_only_worker_free() {
    // One worker: the future awaits a blocking job that waits for a task which only that
    // worker can run. Had the wait held the worker, nothing would ever finish.
    let rt = pool(1, 2);
    let (tx, rx) = mpsc::channel::<u32>();
    let fut = rt.spawn_future(Priority::LOW, async move {
        kairos_rt::spawn_blocking(Priority::NORMAL, move || rx.recv_timeout(PATIENCE).unwrap()).await.unwrap()
    });
    let sender = rt.spawn(Priority::HIGHEST, move || tx.send(7).unwrap());
    assert_eq!(join(fut).unwrap(), 7);
    join(sender).unwrap();
    assert!(rt.shutdown().is_balanced());
}

#[test]
fn at_the_cap_jobs_start_in_priority_order_then_arrival_order() {
    let rt = pool(1, 1);
    let latch = Latch::default();
    let busy = hold_blocking(&rt, Priority::LOWEST, &latch);
    let order = Arc::new(Mutex::new(Vec::new()));
    let jobs: Vec<_> = [
        ("low", Priority::LOW),
        ("high-1", Priority::HIGH),
        ("normal", Priority::NORMAL),
        ("high-2", Priority::HIGH),
    ]
    .into_iter()
    .map(|(name, priority)| {
        let order = order.clone();
        rt.spawn_blocking(priority, move || order.lock().unwrap().push(name))
    })
    .collect();

    let p = rt.pending();
    assert_eq!((p.blocking_queued(), p.blocking_running()), (4, 1), "{p}");
    assert_eq!(p.at(Priority::HIGH).blocking, 2, "{p}");
    assert_eq!(p.total(), 4, "queued blocking jobs are pending, the running one is not: {p}");
    let m = rt.metrics();
    assert_eq!((m.blocking_queued, m.blocking_running, m.blocking_threads), (4, 1, 1), "{m}");
    assert!(m.to_prometheus().contains("\nkairos_blocking_queued 4\n"));

    latch.open();
    join(busy).unwrap();
    for j in jobs {
        join(j).unwrap();
    }
    assert_eq!(*order.lock().unwrap(), ["high-1", "high-2", "normal", "low"]);
    assert!(rt.shutdown().is_balanced());
}

#[test]
fn the_pool_never_runs_more_threads_than_its_cap() {
    let rt = pool(2, 3);
    let latch = Latch::default();
    let (now, most) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let jobs: Vec<_> = (0..10)
        .map(|_| {
            let (latch, now, most) = (latch.clone(), now.clone(), most.clone());
            rt.spawn_blocking(Priority::NORMAL, move || {
                let running = now.fetch_add(1, SeqCst) + 1;
                most.fetch_max(running, SeqCst);
                latch.wait();
                now.fetch_sub(1, SeqCst);
            })
        })
        .collect();
    assert!(wait_until(|| rt.metrics().blocking_running == 3), "three jobs start");
    let m = rt.metrics();
    assert_eq!((m.blocking_queued, m.blocking_threads), (7, 3), "the rest wait: {m}");
    latch.open();
    for j in jobs {
        join(j).unwrap();
    }
    assert_eq!(most.load(SeqCst), 3, "never more than the cap at once");
    assert!(rt.shutdown().is_balanced());
}

#[test]
fn idle_blocking_threads_exit_after_the_keep_alive() {
    let rt = Runtime::builder()
        .workers(1)
        .blocking_keep_alive(Duration::from_millis(20))
        .build()
        .expect("build runtime");
    join(rt.spawn_blocking(Priority::NORMAL, || ())).unwrap();
    assert!(wait_until(|| rt.metrics().blocking_threads == 0), "the idle thread exits");
    // And the pool grows again on demand.
    assert_eq!(join(rt.spawn_blocking(Priority::NORMAL, || 5)).unwrap(), 5);
    assert!(rt.shutdown().is_balanced());
}

#[test]
fn shutdown_runs_queued_blocking_jobs_and_accounts_for_each() {
    let rt = pool(1, 1);
    let latch = Latch::default();
    let busy = hold_blocking(&rt, Priority::NORMAL, &latch);
    let queued: Vec<_> = (0..2u32).map(|i| rt.spawn_blocking(Priority::LOW, move || i)).collect();
    let handle = rt.handle();
    let shutting_down = std::thread::spawn(move || rt.shutdown());
    assert!(wait_until(|| handle.is_shutdown()), "shutdown closed intake");
    assert!(handle.spawn_blocking(Priority::HIGH, || ()).join().unwrap_err().is_shutdown());
    latch.open();
    let report = within(move || shutting_down.join().unwrap()).expect("shutdown returned");
    join(busy).unwrap();
    let ran: Vec<u32> = queued.into_iter().map(|h| join(h).unwrap()).collect();
    assert_eq!(ran, [0, 1], "queued jobs ran at shutdown");
    assert_eq!((report.submitted, report.completed, report.rejected), (4, 3, 1), "{report:?}");
    assert!(report.is_balanced(), "{report:?}");
}

#[test]
fn shutdown_timeout_counts_a_blocking_call_that_never_returns_as_unfinished() {
    let rt = pool(1, 1);
    let latch = Latch::default();
    let stuck = hold_blocking(&rt, Priority::NORMAL, &latch);
    let behind = rt.spawn_blocking(Priority::NORMAL, || ());
    // The timeout only has to cover joining the idle worker (the stuck call outlasts any
    // timeout): 1 s, so a loaded machine does not leave the worker unjoined (that would
    // be `(1, 1)` below), as 50 ms could.
    let report = rt.shutdown_timeout(Duration::from_secs(1));
    assert!(report.timed_out, "{report:?}");
    assert_eq!((report.unjoined_workers, report.unjoined_blocking_threads), (0, 1), "{report:?}");
    assert_eq!(
        (report.submitted, report.unfinished, report.blocking_unfinished),
        (2, 2, 2),
        "the stuck call and the job behind it, both counted in the pool: {report:?}"
    );
    assert!(report.is_balanced(), "{report:?}");
    // Once the call returns, the pool finishes in the background.
    latch.open();
    join(stuck).unwrap();
    join(behind).unwrap();
}

#[test]
fn a_queued_blocking_job_can_be_cancelled() {
    let rt = pool(1, 1);
    let latch = Latch::default();
    let busy = hold_blocking(&rt, Priority::NORMAL, &latch);
    let queued = rt.spawn_blocking(Priority::NORMAL, || ());
    assert!(queued.cancel());
    assert!(!queued.set_priority(Priority::HIGH), "a blocking job keeps its level");
    latch.open();
    join(busy).unwrap();
    assert!(join(queued).unwrap_err().is_cancelled());
    let report = rt.shutdown();
    assert_eq!((report.completed, report.cancelled), (1, 1), "{report:?}");
    assert!(report.is_balanced(), "{report:?}");
}

#[test]
fn a_panicking_blocking_job_is_reported_and_its_thread_goes_on() {
    let rt = pool(1, 1);
    let err = join(rt.spawn_blocking(Priority::NORMAL, || panic!("driver failed"))).unwrap_err();
    assert!(err.is_panic());
    assert_eq!(panic_message(&*err.into_panic()), "driver failed");
    assert_eq!(join(rt.spawn_blocking(Priority::NORMAL, || 1)).unwrap(), 1);
    let report = rt.shutdown();
    assert_eq!((report.panicked, report.completed), (1, 1), "{report:?}");
    assert!(report.is_balanced(), "{report:?}");
}

#[test]
fn queued_blocking_jobs_count_against_max_pending() {
    let rt = Runtime::builder().workers(1).max_blocking_threads(1).max_pending(1).build().unwrap();
    let latch = Latch::default();
    let busy = hold_blocking(&rt, Priority::NORMAL, &latch); // started: waits no more
    let queued = rt.try_spawn_blocking(Priority::NORMAL, || 1).expect("room for one waiting task");
    let full = rt.try_spawn_blocking(Priority::NORMAL, || 2).unwrap_err();
    assert!(full.is_full(), "{full}");
    assert_eq!((full.into_inner())(), 2, "the refused closure comes back");
    latch.open();
    join(busy).unwrap();
    assert_eq!(join(queued).unwrap(), 1);
    assert!(rt.shutdown().is_balanced());
}

/// A blocking job that spawns while `max_pending` is full is admitted past the limit, as
/// a task on a worker is: the unit it would wait for is held by a job queued behind it
/// in the full pool, which cannot start before it returns (a deadlock on the old code).
#[test]
fn a_blocking_job_spawning_at_the_limit_is_admitted_not_blocked() {
    let rt = Runtime::builder().workers(1).max_blocking_threads(1).max_pending(1).build().unwrap();
    let spawner = rt.spawn_blocking(Priority::NORMAL, || {
        let here = kairos_rt::try_current().expect("inside the runtime");
        // Queued behind this job (the pool's only thread): it holds the only unit.
        let first = here.spawn_blocking(Priority::NORMAL, || 1);
        // At the limit: a blocking job and a task for the workers, neither may wait.
        let second = here.spawn_blocking(Priority::NORMAL, || 2);
        let on_worker = here.spawn(Priority::NORMAL, || 3);
        (first, second, on_worker)
    });
    let (first, second, on_worker) = within(move || spawner.join().unwrap())
        .expect("the blocking job waited for room that only its own return could make");
    assert_eq!((join(first).unwrap(), join(second).unwrap(), join(on_worker).unwrap()), (1, 2, 3));
    let report = rt.shutdown();
    assert_eq!((report.submitted, report.completed), (4, 4), "{report:?}");
    assert!(report.is_balanced(), "{report:?}");
}

#[test]
fn zero_pool_settings_are_errors_that_say_so() {
    let err = Runtime::builder().max_blocking_threads(0).build().unwrap_err();
    assert!(err.is_zero_limit());
    assert!(err.to_string().contains("max_blocking_threads(0)"), "{err}");
    let err = Runtime::builder().blocking_keep_alive(Duration::ZERO).build().unwrap_err();
    assert!(err.is_zero_keep_alive());
    assert!(err.to_string().contains("blocking_keep_alive"), "{err}");
}

#[test]
#[should_panic(expected = "Handle::spawn_blocking")]
fn spawn_blocking_outside_a_runtime_says_what_to_use() {
    drop(kairos_rt::spawn_blocking(Priority::NORMAL, || ()));
}

#[test]
fn a_blocking_task_keeps_its_priority_and_its_deadline() {
    use kairos_rt::Task;
    use std::time::Instant;

    let rt = pool(1, 1);
    let latch = Latch::default();
    let busy = hold_blocking(&rt, Priority::NORMAL, &latch);
    let order = Arc::new(Mutex::new(Vec::new()));
    let (o1, o2) = (order.clone(), order.clone());
    let low =
        rt.spawn_with(Task::new(move || o1.lock().unwrap().push("low")).priority(Priority::LOW).blocking());
    let high =
        rt.spawn_with(Task::new(move || o2.lock().unwrap().push("high")).priority(Priority::HIGH).blocking());
    let stale = rt.spawn_with(Task::new(|| ()).deadline(Instant::now() - Duration::from_secs(1)).blocking());
    assert_eq!(rt.pending().blocking_queued(), 3);
    // Its deadline has passed: it ends `Expired` while the only blocking thread is busy,
    // without waiting for a thread to reach it.
    assert!(join(stale.unwrap()).unwrap_err().is_expired());
    latch.open();
    join(busy).unwrap();
    join(low.unwrap()).unwrap();
    join(high.unwrap()).unwrap();
    assert_eq!(*order.lock().unwrap(), ["high", "low"]);
    let report = rt.shutdown();
    assert_eq!((report.completed, report.expired), (3, 1), "{report:?}");
    assert!(report.is_balanced(), "{report:?}");
}

#[test]
fn a_blocking_task_with_a_start_time_is_refused_with_the_closure_back() {
    use kairos_rt::Task;

    let rt = pool(1, 1);
    let err = rt.spawn_with(Task::new(|| 9).after(Duration::from_secs(1)).blocking()).unwrap_err();
    assert!(err.is_invalid(), "{err}");
    assert!(err.to_string().contains("blocking task starts now"), "{err}");
    assert_eq!((err.into_inner().into_inner())(), 9);
    assert!(rt.shutdown().is_balanced());
}

#[test]
fn a_runtime_dropped_inside_a_blocking_job_waits_for_the_other_blocking_threads_only() {
    let rt = pool(1, 2);
    let latch = Latch::default();
    let other = hold_blocking(&rt, Priority::NORMAL, &latch);
    let slot = Arc::new(Mutex::new(None::<Runtime>));
    let (dropped, was_dropped) = mpsc::channel();
    let (taken, handle) = (slot.clone(), rt.handle());
    *slot.lock().unwrap() = Some(rt);
    let dropper = handle.spawn_blocking(Priority::NORMAL, move || {
        let rt = taken.lock().unwrap().take().expect("the runtime is in the slot");
        drop(rt); // shuts down from one of its own blocking threads
        dropped.send(()).unwrap();
    });
    latch.open(); // the other blocking job can end; the drop must not wait for itself
    was_dropped.recv_timeout(PATIENCE).expect("the drop inside a blocking job returned");
    join(other).unwrap();
    join(dropper).unwrap();
}

#[test]
fn a_runtime_dropped_inside_a_worker_task_still_stops_its_idle_blocking_threads() {
    let rt = Runtime::builder()
        .workers(1)
        .blocking_keep_alive(Duration::from_secs(3600))
        .build()
        .expect("build runtime");
    join(rt.spawn_blocking(Priority::NORMAL, || ())).unwrap();
    let handle = rt.handle();
    assert_eq!(handle.metrics().blocking_threads, 1, "an idle blocking thread, kept for an hour");
    let slot = Arc::new(Mutex::new(Some(rt)));
    let taken = slot.clone();
    // Dropped on its own worker: shutdown gives up waiting for that worker...
    drop(handle.spawn(Priority::NORMAL, move || drop(taken.lock().unwrap().take())));
    // ...and still tells the pool to stop: the idle thread exits long before its keep-alive.
    assert!(wait_until(|| handle.metrics().blocking_threads == 0), "the idle blocking thread exited");
    assert!(slot.lock().unwrap().is_none());
}

#[test]
fn a_shutdown_inside_a_blocking_job_reports_that_job_as_left_in_the_pool() {
    let rt = pool(1, 1);
    let slot = Arc::new(Mutex::new(None::<Runtime>));
    let (taken, handle) = (slot.clone(), rt.handle());
    *slot.lock().unwrap() = Some(rt);
    let shut = handle.spawn_blocking(Priority::NORMAL, move || {
        let rt = taken.lock().unwrap().take().expect("the runtime is in the slot");
        rt.shutdown() // from its own blocking thread: this very job is still running
    });
    let report = join(shut).unwrap();
    assert_eq!((report.unjoined_workers, report.unjoined_blocking_threads), (0, 1), "{report:?}");
    assert_eq!(
        (report.submitted, report.unfinished, report.blocking_unfinished),
        (1, 1, 1),
        "the caller's own job, counted in the pool, not merely missing: {report:?}"
    );
    assert!(report.is_balanced(), "{report:?}");
}
