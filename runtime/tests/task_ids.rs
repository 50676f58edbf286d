//! Task ids (issue 24): an id names one task for the life of the process. The cells of
//! finished tasks are freed and their memory given to new tasks, but an id never repeats,
//! whatever runtime, thread or kind of task made it.

mod common;

use common::{join, runtime};
use kairos_rt::{Priority, Task, TaskId};
use std::collections::HashSet;
use std::time::Duration;

/// Records `id`, failing the test if it was seen before.
fn record(seen: &mut HashSet<TaskId>, id: TaskId) {
    assert!(seen.insert(id), "{id:?} named two tasks");
}

#[test]
fn ids_of_freed_and_reallocated_tasks_never_repeat() {
    let rt = runtime(1);
    let mut seen = HashSet::new();
    // One at a time: each task's cell is freed before the next is allocated, so the
    // allocator hands the same memory back again and again.
    for i in 0..2_000u32 {
        let h = rt.spawn(Priority::NORMAL, move || i);
        record(&mut seen, h.id());
        assert_eq!(join(h).unwrap(), i);
    }
    for _ in 0..200 {
        let h = rt.spawn_future(Priority::LOW, async { kairos_rt::yield_now().await });
        record(&mut seen, h.id());
        join(h).unwrap();
    }
    // Errors carry their task's id.
    let h = rt.spawn_after(Duration::from_secs(3600), Priority::LOW, || ());
    let id = h.id();
    record(&mut seen, id);
    assert!(h.cancel());
    assert_eq!(join(h).unwrap_err().id(), id);
    assert!(rt.shutdown().is_balanced());
}

#[test]
fn ids_never_repeat_across_runtimes_threads_and_refusals() {
    let spawners: Vec<_> = (0..3)
        .map(|_| {
            std::thread::spawn(|| {
                let rt = runtime(1);
                let ids: Vec<TaskId> = (0..1_500)
                    .map(|_| {
                        let h = rt.spawn_with(Task::new(|| ())).unwrap();
                        let id = h.id();
                        join(h).unwrap();
                        id
                    })
                    .collect();
                let handle = rt.handle();
                assert!(rt.shutdown().is_balanced());
                // Refused after shutdown: ids of their own too.
                let refused = (0..10).map(|_| handle.spawn(Priority::NORMAL, || ()).id());
                ids.into_iter().chain(refused).collect::<Vec<_>>()
            })
        })
        .collect();
    let mut seen = HashSet::new();
    for t in spawners {
        for id in t.join().unwrap() {
            record(&mut seen, id);
        }
    }
    assert_eq!(seen.len(), 3 * 1_510);
}
