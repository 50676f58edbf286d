//! Priority order: with one worker held by a gate, queued tasks run highest level first and
//! FIFO within a level; urgent work submitted from outside overtakes local bulk.

mod common;

use common::*;
use kairos_rt::{Priority, Runtime};
use std::sync::mpsc;
use std::time::Duration;

fn p(level: u8) -> Priority {
    Priority::new(level).unwrap()
}

/// Queues `per_level` tasks at each of `levels` (interleaved in submission order) on a
/// single held worker, releases it, and returns the order they ran in as
/// `(level, sequence within level)`.
fn run_order(rt: &Runtime, levels: &[u8], per_level: usize) -> Vec<(u8, usize)> {
    let order = log();
    let gate = Gate::hold(rt, Priority::HIGHEST);
    let mut handles = Vec::new();
    for seq in 0..per_level {
        for &level in levels {
            let order = order.clone();
            handles.push(rt.spawn(p(level), move || order.lock().unwrap().push((level, seq))));
        }
    }
    join(gate.open()).unwrap();
    for h in handles {
        join(h).unwrap();
    }
    let v = order.lock().unwrap().clone();
    v
}

fn expected(levels: &[u8], per_level: usize) -> Vec<(u8, usize)> {
    let mut sorted: Vec<u8> = levels.to_vec();
    sorted.sort_unstable_by(|a, b| b.cmp(a));
    sorted.dedup();
    sorted.iter().flat_map(|&l| (0..per_level).map(move |s| (l, s))).collect()
}

#[test]
fn queued_tasks_run_highest_first_fifo_within_a_level() {
    let rt = runtime(1);
    let levels = [16, 63, 0, 32, 48, 1, 62, 33];
    // Two per level: FIFO is checked without tripping the bug of
    // `long_levels_stay_fifo_across_batches`.
    let order = run_order(&rt, &levels, 2);
    assert_eq!(order, expected(&levels, 2));
    let report = rt.shutdown();
    assert_eq!(report.completed, 1 + 8 * 2, "{report:?}");
    assert!(report.is_balanced(), "{report:?}");
}

#[test]
fn all_64_levels_in_reverse_submission_order() {
    let rt = runtime(1);
    let levels: Vec<u8> = (0..64).collect();
    let order = run_order(&rt, &levels, 2);
    assert_eq!(order, expected(&levels, 2));
    drop(rt);
}

/// Many tasks per level: more than one batch moves from the injectors into the worker's
/// queue, and the order must still be strict priority, FIFO within a level.
#[test]
fn long_levels_stay_fifo_across_batches() {
    let rt = runtime(1);
    let levels = [5, 40, 20];
    let order = run_order(&rt, &levels, 300);
    let want = expected(&levels, 300);
    if order != want {
        let first = order.iter().zip(&want).position(|(a, b)| a != b).unwrap();
        panic!("order differs first at {first}: ran {:?}, expected {:?}", order[first], want[first]);
    }
    drop(rt);
}

#[test]
fn named_levels_are_ordered() {
    assert!(Priority::LOWEST < Priority::LOW);
    assert!(Priority::LOW < Priority::NORMAL);
    assert!(Priority::NORMAL < Priority::HIGH);
    assert!(Priority::HIGH < Priority::HIGHEST);
    assert_eq!(Priority::LOWEST.level(), 0);
    assert_eq!(Priority::HIGHEST.level(), 63);
    assert_eq!(Priority::new(0).unwrap(), Priority::LOWEST);
    assert_eq!(Priority::new(63).unwrap(), Priority::HIGHEST);
    let rt = runtime(1);
    let names = [Priority::LOW, Priority::HIGHEST, Priority::LOWEST, Priority::HIGH, Priority::NORMAL];
    let order = run_order(&rt, &names.map(|p| p.level()), 1);
    assert_eq!(order.iter().map(|&(l, _)| l).collect::<Vec<_>>(), vec![63, 48, 32, 16, 0]);
    drop(rt);
}

/// The worker holds LOW work in its own queue (spawned from inside); a HIGHEST task
/// submitted from outside meanwhile must run before the remaining LOW tasks.
#[test]
fn urgent_outside_task_overtakes_local_bulk() {
    for round in 0..5 {
        let rt = runtime(1);
        let order = log();
        let (reached_tx, reached_rx) = mpsc::channel();
        let (go_tx, go_rx) = mpsc::channel::<()>();
        let o = order.clone();
        let parent = rt.spawn(Priority::LOW, move || {
            let mut children = Vec::new();
            let go_rx = std::sync::Mutex::new(go_rx);
            let go_rx = std::sync::Arc::new(go_rx);
            for i in 0..40usize {
                let o = o.clone();
                let reached_tx = reached_tx.clone();
                let go_rx = go_rx.clone();
                children.push(kairos_rt::spawn(Priority::LOW, move || {
                    o.lock().unwrap().push(format!("low{i}"));
                    if i == 10 {
                        // Let the test submit the urgent task while 29 LOW tasks wait locally.
                        reached_tx.send(()).unwrap();
                        go_rx.lock().unwrap().recv_timeout(PATIENCE).unwrap();
                    }
                }));
            }
            children
        });
        reached_rx.recv_timeout(PATIENCE).expect("low task 10 never ran");
        let o = order.clone();
        let urgent = rt.spawn(Priority::HIGHEST, move || o.lock().unwrap().push("HIGHEST".to_string()));
        go_tx.send(()).unwrap();
        join(urgent).unwrap();
        for c in join(parent).unwrap() {
            join(c).unwrap();
        }
        let order = order.lock().unwrap().clone();
        let mut want: Vec<String> = (0..=10).map(|i| format!("low{i}")).collect();
        want.push("HIGHEST".to_string());
        want.extend((11..40).map(|i| format!("low{i}")));
        assert_eq!(order, want, "round {round}");
        drop(rt);
    }
}

/// Same as above, but the LOW bulk comes from the test thread and the urgent task is
/// submitted once the worker is busy with it.
#[test]
fn urgent_task_runs_next_when_bulk_was_queued_from_outside() {
    let rt = runtime(1);
    let order = log();
    let gate = Gate::hold(&rt, Priority::HIGHEST);
    let (reached_tx, reached_rx) = mpsc::channel();
    let (go_tx, go_rx) = mpsc::channel::<()>();
    let mut go_rx = Some(go_rx);
    let mut hs = Vec::new();
    for i in 0..30usize {
        let o = order.clone();
        let reached = (i == 0).then(|| (reached_tx.clone(), go_rx.take().unwrap()));
        hs.push(rt.spawn(Priority::LOWEST, move || {
            o.lock().unwrap().push(i as i64);
            if let Some((tx, rx)) = reached {
                tx.send(()).unwrap();
                rx.recv_timeout(PATIENCE).unwrap();
            }
        }));
    }
    gate.open();
    reached_rx.recv_timeout(PATIENCE).unwrap();
    let o = order.clone();
    hs.push(rt.spawn(Priority::HIGH, move || o.lock().unwrap().push(-1)));
    go_tx.send(()).unwrap();
    for h in hs {
        join(h).unwrap();
    }
    let order = order.lock().unwrap().clone();
    assert_eq!(order[..2], [0, -1], "the urgent task must run right after the one running");
    // (Exact FIFO among the LOWEST tasks is `long_levels_stay_fifo_across_batches`'s job.)
    let mut rest = order[2..].to_vec();
    rest.sort_unstable();
    assert_eq!(rest, (1..30).collect::<Vec<i64>>());
    drop(rt);
}

/// Futures are re-queued at their own priority when woken: a HIGH future that yields
/// still runs before queued LOW closures.
#[test]
fn woken_futures_keep_their_priority() {
    let rt = runtime(1);
    let order = log();
    let gate = Gate::hold(&rt, Priority::HIGHEST);
    let mut hs = Vec::new();
    for i in 0..5 {
        let o = order.clone();
        hs.push(rt.spawn(Priority::LOW, move || o.lock().unwrap().push(format!("low{i}"))));
    }
    let o = order.clone();
    let fut = rt.spawn_future(Priority::HIGH, async move {
        for step in 0..3 {
            o.lock().unwrap().push(format!("high{step}"));
            kairos_rt::yield_now().await;
        }
    });
    gate.open();
    join(fut).unwrap();
    for h in hs {
        join(h).unwrap();
    }
    let order = order.lock().unwrap().clone();
    assert_eq!(order[..3], ["high0", "high1", "high2"]);
    // (FIFO among the LOW tasks is `long_levels_stay_fifo_across_batches`'s job.)
    let mut lows = order[3..].to_vec();
    lows.sort();
    assert_eq!(lows, ["low0", "low1", "low2", "low3", "low4"]);
    drop(rt);
}

/// Due timers enter the run queues at their own priority.
#[test]
fn due_timers_run_at_their_priority() {
    let rt = runtime(1);
    let order = log();
    let gate = Gate::hold(&rt, Priority::HIGHEST);
    let mut hs = Vec::new();
    for (i, level) in [3u8, 60, 30, 45].into_iter().enumerate() {
        let o = order.clone();
        hs.push(rt.spawn_after(Duration::from_millis(1 + i as u64), p(level), move || {
            o.lock().unwrap().push(level)
        }));
    }
    // Hold the worker until every timer is due (a precondition, not a race: a thread sleep
    // never returns early), so they all reach the run queue together.
    std::thread::sleep(Duration::from_millis(10));
    gate.open();
    for h in hs {
        join(h).unwrap();
    }
    let order = order.lock().unwrap().clone();
    assert_eq!(order, vec![60, 45, 30, 3]);
    drop(rt);
}

/// Due timers (local queue) and a task from outside (injectors) compete: the outside
/// task's level sits between the timers' levels.
#[test]
fn due_timers_and_outside_tasks_interleave_by_priority() {
    let rt = runtime(1);
    let order = log();
    let gate = Gate::hold(&rt, Priority::HIGHEST);
    let mut hs = Vec::new();
    for (i, level) in [3u8, 60, 30].into_iter().enumerate() {
        let o = order.clone();
        hs.push(rt.spawn_after(Duration::from_millis(1 + i as u64), p(level), move || {
            o.lock().unwrap().push(level)
        }));
    }
    let o = order.clone();
    hs.push(rt.spawn(p(10), move || o.lock().unwrap().push(10)));
    std::thread::sleep(Duration::from_millis(10));
    gate.open();
    for h in hs {
        join(h).unwrap();
    }
    let order = order.lock().unwrap().clone();
    assert_eq!(order, vec![60, 30, 10, 3]);
    drop(rt);
}

/// Minimal repro of the priority inversion: local {HIGH, LOW}, injectors {NORMAL}. After
/// HIGH runs, NORMAL must run before LOW ("a worker never runs local work of a lower level
/// while the global mask shows a higher one").
#[test]
fn global_work_beats_lower_local_work_after_the_local_level_empties() {
    let rt = runtime(1);
    let order = log();
    let (spawned_tx, spawned_rx) = mpsc::channel();
    let (go_tx, go_rx) = mpsc::channel::<()>();
    let o = order.clone();
    let parent = rt.spawn(Priority::HIGHEST, move || {
        let o1 = o.clone();
        let high = kairos_rt::spawn(Priority::HIGH, move || o1.lock().unwrap().push("HIGH"));
        let o2 = o.clone();
        let low = kairos_rt::spawn(Priority::LOW, move || o2.lock().unwrap().push("LOW"));
        spawned_tx.send(()).unwrap();
        go_rx.recv_timeout(PATIENCE).unwrap();
        (high, low)
    });
    spawned_rx.recv_timeout(PATIENCE).unwrap();
    let o = order.clone();
    let normal = rt.spawn(Priority::NORMAL, move || o.lock().unwrap().push("NORMAL"));
    go_tx.send(()).unwrap();
    let (high, low) = join(parent).unwrap();
    for h in [high, normal, low] {
        join(h).unwrap();
    }
    assert_eq!(*order.lock().unwrap(), ["HIGH", "NORMAL", "LOW"]);
    drop(rt);
}

/// A worker busy with a stream of LOWEST work (that it keeps spawning locally, so it never
/// runs out and never searches) still takes the HIGHEST tasks queued behind its busy peer.
#[test]
fn urgent_tasks_queued_behind_a_busy_peer_are_stolen_from_less_urgent_work() {
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::SeqCst};
    static STOP: AtomicBool = AtomicBool::new(false);
    static CHAIN_RUNNING: AtomicBool = AtomicBool::new(false);
    static CHILDREN: AtomicUsize = AtomicUsize::new(0);
    fn spin(d: Duration) {
        let t = std::time::Instant::now();
        while t.elapsed() < d {
            std::hint::spin_loop();
        }
    }
    fn low_chain() {
        CHAIN_RUNNING.store(true, SeqCst);
        spin(Duration::from_micros(50));
        if !STOP.load(SeqCst) {
            drop(kairos_rt::spawn(Priority::LOWEST, low_chain));
        }
    }
    let rt = Runtime::builder().workers(2).build().unwrap();
    let parent = rt.spawn(Priority::HIGHEST, || {
        assert!(wait_until(|| CHAIN_RUNNING.load(SeqCst)), "the LOWEST chain never started");
        for _ in 0..3 {
            drop(kairos_rt::spawn(Priority::HIGHEST, || {
                CHILDREN.fetch_add(1, SeqCst);
            }));
        }
        // Still busy: the children can only run if the other worker takes them.
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        while CHILDREN.load(SeqCst) < 3 && std::time::Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(1));
        }
        let stolen = CHILDREN.load(SeqCst) == 3;
        STOP.store(true, SeqCst);
        stolen
    });
    drop(rt.spawn(Priority::LOWEST, low_chain));
    assert!(join(parent).unwrap(), "HIGHEST children waited behind their busy parent");
    assert!(rt.shutdown().is_balanced());
}

/// A task spawned from outside while the only worker runs a gate, against a less urgent
/// task queued locally (or a timer that came due meanwhile): the worker took its first
/// task from the injectors in a batch steal, which could leave a stale bit for that level
/// in its queue, and a stale bit at the injected task's level hid the injectors, so the
/// local LOWEST task ran first. Returns the order the two ran in.
fn outside_normal_vs_local_lowest(timed: bool) -> Vec<&'static str> {
    let rt = Runtime::builder().workers(1).build().unwrap();
    let order = log();
    let (started_tx, started_rx) = mpsc::channel();
    let (release_tx, release_rx) = mpsc::channel::<()>();
    let o = order.clone();
    let parent = rt.spawn(Priority::NORMAL, move || {
        kairos_rt::spawn(Priority::HIGHEST, move || {
            started_tx.send(()).unwrap();
            release_rx.recv_timeout(PATIENCE).unwrap();
        });
        let low = move || o.lock().unwrap().push("lowest");
        if timed {
            // Due long before the gate opens (the test waits past it below).
            kairos_rt::try_current().unwrap().spawn_after(Duration::from_millis(20), Priority::LOWEST, low)
        } else {
            kairos_rt::spawn(Priority::LOWEST, low)
        }
    });
    started_rx.recv_timeout(PATIENCE).unwrap();
    let o = order.clone();
    let normal = rt.spawn(Priority::NORMAL, move || o.lock().unwrap().push("normal"));
    if timed {
        std::thread::sleep(Duration::from_millis(60));
    }
    release_tx.send(()).unwrap();
    let lowest = join(parent).unwrap();
    join(normal).unwrap();
    join(lowest).unwrap();
    let v = order.lock().unwrap().clone();
    v
}

#[test]
fn an_outside_task_runs_before_less_urgent_local_work_queued_while_the_worker_was_busy() {
    assert_eq!(outside_normal_vs_local_lowest(false), ["normal", "lowest"]);
}

#[test]
fn an_outside_task_runs_before_a_less_urgent_timer_that_came_due_while_the_worker_was_busy() {
    assert_eq!(outside_normal_vs_local_lowest(true), ["normal", "lowest"]);
}
