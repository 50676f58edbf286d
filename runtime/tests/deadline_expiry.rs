//! A task whose start deadline passes while it waits ends `Expired` then: its handle and
//! `status()` say so while the workers that would reach it are still busy, not when one
//! finally gets to it. Each test holds the task back until after its expiry can only
//! have come from the deadline's own timer; `PATIENCE` only bounds a hang, no assertion
//! reads the clock.

mod common;

use common::*;
use kairos_rt::{Priority, Runtime, Task, TaskStatus};
use std::sync::atomic::{AtomicBool, Ordering::SeqCst};
use std::sync::mpsc;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// A task blocks its worker on a channel after spawning, from inside, a task that may
/// start in an hour but must start within 10 ms: the idle worker fires the blocked
/// worker's wheel, the deadline's timer expires the task, and the blocked task sees its
/// handle resolve `Expired` while it still holds its worker.
#[test]
fn a_deadline_expires_while_the_task_s_worker_is_held() {
    let rt = runtime(2);
    let ran = Arc::new(AtomicBool::new(false));
    let r = ran.clone();
    let holder = rt.spawn(Priority::NORMAL, move || {
        let here = kairos_rt::try_current().expect("inside a task");
        let now = Instant::now();
        let task = Task::new(move || r.store(true, SeqCst))
            .at(now + Duration::from_secs(3600))
            .deadline(now + Duration::from_millis(10));
        let h = here.spawn_with(task).unwrap();
        // This worker is held here until the handle resolves: only the deadline's timer,
        // fired by the other worker, can resolve it within the next hour.
        let (tx, rx) = mpsc::channel();
        let watcher = std::thread::spawn(move || {
            let _ = tx.send(h.join());
        });
        let outcome = rx.recv_timeout(PATIENCE / 2);
        drop(watcher);
        outcome.map(|r| r.map_err(|e| e.is_expired()))
    });
    assert_eq!(join(holder).unwrap(), Ok(Err(true)), "expired while its worker was held");
    assert!(!ran.load(SeqCst), "an expired task never runs");
    let report = rt.shutdown();
    assert_eq!(report.expired, 1, "{report:?}");
    assert!(report.is_balanced(), "{report:?}");
}

/// One worker kept busy by a stream of HIGH tasks (it never idles) and a LOWEST task with
/// a deadline behind them, strict priority order: the task's status turns `Expired`
/// while the stream still runs, because the busy worker fires its deadline timer between
/// two HIGH tasks; before, it stayed `Pending` until the stream ended.
#[test]
fn a_deadline_expires_behind_a_stream_of_higher_work() {
    let rt = Runtime::builder().workers(1).no_aging().build().unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    fn relay(stop: Arc<AtomicBool>) {
        if !stop.load(SeqCst) {
            std::thread::sleep(Duration::from_micros(200));
            drop(kairos_rt::spawn(Priority::HIGH, move || relay(stop)));
        }
    }
    let s = stop.clone();
    drop(rt.spawn(Priority::HIGH, move || relay(s)));
    let ran = Arc::new(AtomicBool::new(false));
    let r = ran.clone();
    let h = rt
        .spawn_with(
            Task::new(move || r.store(true, SeqCst))
                .priority(Priority::LOWEST)
                .deadline(Instant::now() + Duration::from_millis(5)),
        )
        .unwrap();
    let expired_during_stream = wait_until(|| h.status() == TaskStatus::Expired);
    stop.store(true, SeqCst);
    assert!(expired_during_stream, "still {:?} while the stream ran", h.status());
    assert!(join(h).unwrap_err().is_expired());
    assert!(!ran.load(SeqCst));
    let report = rt.shutdown();
    assert_eq!(report.expired, 1, "{report:?}");
    assert!(report.is_balanced(), "{report:?}");
}

/// A task that starts before its deadline runs to its end and is not expired later by
/// its deadline's timer, a future that started and waits past its deadline included.
#[test]
fn a_task_that_started_in_time_is_never_expired() {
    let rt = runtime(2);
    let closure = rt.spawn_with(Task::new(|| 7).deadline(Instant::now() + Duration::from_secs(5))).unwrap();
    let started = Arc::new(AtomicBool::new(false));
    let s = started.clone();
    let waiter = rt
        .spawn_with(
            Task::future(async move {
                s.store(true, SeqCst);
                kairos_rt::sleep(Duration::from_millis(30)).await;
                9
            })
            .deadline(Instant::now() + Duration::from_millis(10)),
        )
        .unwrap();
    assert_eq!(join(closure).unwrap(), 7);
    // Both workers are free, so it normally starts at once and sleeps past its deadline;
    // on a machine too slow to start it within 10 ms it expires unstarted instead. What
    // must never happen: started, then expired.
    let outcome = join(waiter);
    if started.load(SeqCst) {
        assert_eq!(outcome.unwrap(), 9, "started in time: runs to its end");
    } else {
        assert!(outcome.unwrap_err().is_expired());
    }
    let report = rt.shutdown();
    assert!(report.is_balanced(), "{report:?}");
}
