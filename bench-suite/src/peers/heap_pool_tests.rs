//! Tests of the binary-heap pool.

use super::*;
use std::sync::mpsc;
use std::time::Duration;

fn tagged(order: &Arc<Mutex<Vec<u32>>>, tag: u32) -> impl FnOnce() + Send + 'static {
    let order = order.clone();
    move || order.lock().unwrap().push(tag)
}

#[test]
fn ready_tasks_pop_by_priority_then_fifo() {
    let order = Arc::new(Mutex::new(Vec::new()));
    let mut q = Queues::default();
    for (tag, prio) in [(1, 10), (2, 50), (3, 10), (4, 63), (5, 50), (6, 0)] {
        q.push_ready(new_task(prio, tagged(&order, tag)));
    }
    while let Some(t) = q.pop(None) {
        t.run();
    }
    assert_eq!(*order.lock().unwrap(), vec![4, 2, 5, 1, 3, 6]);
    assert!(q.pop(None).is_none());
}

#[test]
fn timed_tasks_become_ready_in_due_order_at_their_priority() {
    let order = Arc::new(Mutex::new(Vec::new()));
    let mut q = Queues::default();
    let t0 = Instant::now();
    let ms = Duration::from_millis;
    q.push_timed(t0 + ms(30), new_task(5, tagged(&order, 30)));
    q.push_timed(t0 + ms(10), new_task(5, tagged(&order, 10)));
    assert!(q.push_timed(t0 + ms(5), new_task(5, tagged(&order, 5))));
    assert!(!q.push_timed(t0 + ms(20), new_task(60, tagged(&order, 20))));
    assert_eq!(q.next_due(), Some(t0 + ms(5)));
    // Nothing is due yet.
    assert!(q.pop(Some(t0)).is_none());
    // At +10 ms, two are due and run in due order.
    while let Some(t) = q.pop(Some(t0 + ms(10))) {
        t.run();
    }
    assert_eq!(*order.lock().unwrap(), vec![5, 10]);
    // A ready task of priority 50 waits behind the due timed task of priority 60,
    // and ahead of the due one of priority 5.
    q.push_ready(new_task(50, tagged(&order, 99)));
    while let Some(t) = q.pop(Some(t0 + ms(40))) {
        t.run();
    }
    assert_eq!(*order.lock().unwrap(), vec![5, 10, 20, 99, 30]);
    assert_eq!(q.pending(), 0);
}

#[test]
fn cancelled_tasks_never_run_and_compaction_frees_entries() {
    let ran = Arc::new(AtomicUsize::new(0));
    let mut q = Queues::default();
    let t0 = Instant::now();
    let tasks: Vec<TaskRef> = (0..200)
        .map(|i| {
            let ran = ran.clone();
            let t = new_task(1, move || {
                ran.fetch_add(1, Ordering::Relaxed);
            });
            q.push_timed(t0 + Duration::from_secs(i), t.clone());
            t
        })
        .collect();
    for t in &tasks[..150] {
        assert!(t.cancel());
        assert!(!t.cancel());
        q.note_cancelled_timed();
    }
    assert!(q.timed.len() < 200, "compaction removed cancelled entries");
    assert_eq!(q.pending(), 50);
    while let Some(t) = q.pop(Some(t0 + Duration::from_secs(1000))) {
        t.run();
    }
    assert_eq!(ran.load(Ordering::Relaxed), 50);
}

#[test]
fn reprioritised_task_runs_once_at_its_new_priority() {
    let order = Arc::new(Mutex::new(Vec::new()));
    let pool_shared = Arc::new(Shared {
        queues: Mutex::new(Queues::default()),
        work: Condvar::new(),
        finished: Condvar::new(),
        joiners: AtomicUsize::new(0),
        max_pending: None,
    });
    let a = new_task(10, tagged(&order, 1));
    let b = new_task(20, tagged(&order, 2));
    pool_shared.lock().push_ready(a.clone());
    pool_shared.lock().push_ready(b);
    let h = TaskHandle { task: a, shared: pool_shared.clone() };
    assert!(h.set_priority(30));
    let mut q = pool_shared.lock();
    while let Some(t) = q.pop(None) {
        t.run();
    }
    drop(q);
    assert_eq!(*order.lock().unwrap(), vec![1, 2]);
    assert!(h.is_finished());
    assert!(!h.set_priority(40), "a finished task cannot be re-prioritised");
}

#[test]
fn pool_runs_by_priority_behind_a_gate() {
    let pool = HeapPool::new(1, None);
    let (gate_tx, gate_rx) = mpsc::channel::<()>();
    let (started_tx, started_rx) = mpsc::channel::<()>();
    pool.spawn(63, move || {
        started_tx.send(()).unwrap();
        gate_rx.recv().unwrap();
    });
    started_rx.recv().unwrap();
    let order = Arc::new(Mutex::new(Vec::new()));
    for (tag, prio) in [(1, 1), (2, 40), (3, 1), (4, 63)] {
        pool.spawn(prio, tagged(&order, tag));
    }
    let last = pool.spawn_handle(0, || {});
    gate_tx.send(()).unwrap();
    last.join();
    assert_eq!(*order.lock().unwrap(), vec![4, 2, 1, 3]);
    let s = pool.shutdown();
    assert_eq!(s.completed, 6);
}

#[test]
fn pool_bounds_pending_and_cancels_timed() {
    let pool = HeapPool::new(1, Some(2));
    let (gate_tx, gate_rx) = mpsc::channel::<()>();
    let (started_tx, started_rx) = mpsc::channel::<()>();
    pool.spawn(63, move || {
        started_tx.send(()).unwrap();
        gate_rx.recv().unwrap();
    });
    started_rx.recv().unwrap();
    assert!(pool.try_spawn(1, || {}));
    assert!(pool.try_spawn(1, || {}));
    assert!(!pool.try_spawn(1, || {}), "third pending task is rejected");
    gate_tx.send(()).unwrap();
    let far = pool.spawn_at(Instant::now() + Duration::from_secs(3600), 1, || panic!("cancelled task ran"));
    assert!(far.cancel());
    assert!(far.is_finished());
    let later = pool.spawn_at(Instant::now() + Duration::from_secs(3600), 1, || {});
    let s = pool.shutdown();
    assert_eq!(s.dropped_timed, 1);
    assert!(later.is_finished());
}

#[test]
fn panics_are_caught_and_spawn_current_works_inside() {
    let pool = HeapPool::new(2, None);
    let h = pool.spawn_handle(1, || panic!("boom"));
    let task = h.task.clone();
    h.join();
    assert_eq!(task.header().state.load(Ordering::Acquire), PANICKED);
    let (tx, rx) = mpsc::channel();
    pool.spawn(1, move || {
        let inner = tx.clone();
        assert!(HeapPool::spawn_current(1, move || inner.send(7).unwrap()));
    });
    assert_eq!(rx.recv().unwrap(), 7);
    assert!(!HeapPool::spawn_current(1, || {}), "not inside a pool");
}
