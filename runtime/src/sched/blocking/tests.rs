//! The pool when the OS refuses threads. A `#[cfg(test)]` hook (`fail_next_spawns`)
//! makes the next thread starts fail: deterministic, unlike an absurd
//! `thread_stack_size` (the workers share that setting, so the runtime would not even
//! build) or a process-wide thread limit (it would hit every other test's threads too).

use crate::test_support::{eventually, PATIENCE};
use crate::{Priority, Runtime, Task};
use std::error::Error as _;
use std::sync::mpsc;

fn runtime() -> Runtime {
    Runtime::builder().workers(1).max_blocking_threads(2).build().expect("build runtime")
}

#[test]
fn a_job_is_never_left_queued_with_no_thread_to_run_it() {
    let rt = runtime();
    rt.handle().shared.blocking.fail_next_spawns(1);
    match rt.try_spawn_blocking(Priority::NORMAL, || 5) {
        Ok(h) => assert!(eventually(|| h.is_finished()), "a job queued with no blocking thread never ran"),
        Err(e) => {
            assert!(e.is_no_thread() && !e.is_shutdown() && !e.is_full(), "{e}");
            assert!(e.source().is_some(), "the OS error is the source");
            assert!(e.to_string().contains("OS refused"), "{e}");
            assert_eq!((e.into_inner())(), 5, "the closure is handed back");
        }
    }
    let m = rt.metrics();
    assert_eq!((m.blocking_threads, m.blocking_queued), (0, 0), "nothing queued, no thread counted");
    // The next spawn starts a thread again.
    assert_eq!(rt.spawn_blocking(Priority::NORMAL, || 6).join().unwrap(), 6);
    let report = rt.shutdown();
    assert_eq!((report.submitted, report.completed), (1, 1), "a refused job is no submission: {report:?}");
    assert!(report.is_balanced(), "{report:?}");
}

#[test]
fn spawn_blocking_panics_when_the_os_refuses_the_only_thread() {
    let rt = runtime();
    rt.handle().shared.blocking.fail_next_spawns(1);
    let panic =
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| rt.spawn_blocking(Priority::NORMAL, || ())))
            .expect_err("no thread, no job: spawn_blocking panics");
    let msg = panic.downcast_ref::<String>().expect("a formatted message");
    assert!(msg.contains("OS refused to start one"), "{msg}");
    let report = rt.shutdown();
    assert_eq!(report.submitted, 0, "{report:?}");
    assert!(report.is_balanced(), "{report:?}");
}

#[test]
fn a_blocking_task_is_handed_back_when_the_os_refuses_the_only_thread() {
    let rt = runtime();
    rt.handle().shared.blocking.fail_next_spawns(1);
    let refused = rt.spawn_with(Task::new(|| 7).priority(Priority::HIGH).blocking()).unwrap_err();
    assert!(refused.is_no_thread(), "{refused}");
    assert_eq!((refused.into_inner().into_inner())(), 7);
    assert!(rt.shutdown().is_balanced());
}

#[test]
fn with_a_thread_alive_a_refused_extra_thread_refuses_nothing_and_the_next_spawn_retries() {
    let rt = runtime();
    let (started, has_started) = mpsc::channel();
    let (release, released) = mpsc::channel::<()>();
    let busy = rt.spawn_blocking(Priority::NORMAL, move || {
        started.send(()).unwrap();
        released.recv_timeout(PATIENCE).expect("released");
    });
    has_started.recv_timeout(PATIENCE).expect("the busy job started");
    rt.handle().shared.blocking.fail_next_spawns(1);
    // The pool's one thread is busy and a second is refused: the job waits, queued.
    let waiting = rt.try_spawn_blocking(Priority::NORMAL, || 1).expect("a thread exists: no refusal");
    assert_eq!(rt.metrics().blocking_queued, 1);
    // The next spawn starts the second thread, which runs both while the first is busy.
    let next = rt.spawn_blocking(Priority::NORMAL, || 2);
    assert!(eventually(|| waiting.is_finished() && next.is_finished()), "the second thread ran both");
    assert_eq!((waiting.join().unwrap(), next.join().unwrap()), (1, 2));
    release.send(()).unwrap();
    busy.join().unwrap();
    let report = rt.shutdown();
    assert_eq!((report.submitted, report.completed), (3, 3), "{report:?}");
    assert!(report.is_balanced(), "{report:?}");
}

#[test]
fn a_refused_thread_at_shutdown_ends_the_job_with_a_shutdown_error() {
    let rt = runtime();
    let shared = rt.handle().shared.clone();
    // The pool is shut down (no thread left) while a late submission is admitted, as a
    // worker that shutdown did not wait for may do; the OS refuses its thread.
    let reservation = shared.blocking.reserve(&shared).expect("a thread starts");
    let waited = shared.blocking.shut_down(&shared, None);
    assert_eq!(waited.unjoined_threads, 0, "shutdown does not keep threads for a reservation");
    shared.blocking.fail_next_spawns(1);
    let (task, join) = kairos_rt_core::task::allocate(
        kairos_rt_core::task::Closure(|| 3),
        None::<super::Sched>,
        kairos_rt_core::task::TaskOptions {
            priority: Priority::NORMAL,
            due: None,
            join: true,
            home: 0,
            holds_unit: false,
            owner: 0,
            sample_tick: 0,
        },
    );
    shared.counters.add_shared(crate::stats::Count::Admitted, 1);
    shared.blocking.push(&shared, task, reservation);
    let h: crate::JoinHandle<i32> = super::wrap(join);
    assert!(h.is_finished(), "the stranded job ended at once");
    assert!(h.join().unwrap_err().is_shutdown());
    assert_eq!(shared.blocking.gauges().queued.iter().sum::<u64>(), 0);
    let report = rt.shutdown();
    assert_eq!(report.submitted, 1, "{report:?}");
    assert_eq!(report.accounted(), report.submitted, "the stranded job is counted: {report:?}");
    assert!(report.is_balanced(), "{report:?}");
}
