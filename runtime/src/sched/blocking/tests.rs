//! The pool when the OS refuses threads. A `#[cfg(test)]` hook (`fail_next_spawns`)
//! makes the next thread starts fail: deterministic, unlike an absurd
//! `thread_stack_size` (the workers share that setting, so the runtime would not even
//! build) or a process-wide thread limit (it would hit every other test's threads too).

use crate::{Priority, Runtime};
use std::time::{Duration, Instant};

fn runtime() -> Runtime {
    Runtime::builder().workers(1).max_blocking_threads(2).build().expect("build runtime")
}

/// Polls `cond` for up to 10 s.
fn eventually(mut cond: impl FnMut() -> bool) -> bool {
    let end = Instant::now() + Duration::from_secs(10);
    while Instant::now() < end {
        if cond() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    cond()
}

#[test]
fn a_job_is_never_left_queued_with_no_thread_to_run_it() {
    let rt = runtime();
    rt.handle().shared.blocking.fail_next_spawns(1);
    match rt.try_spawn_blocking(Priority::NORMAL, || 5) {
        Ok(h) => assert!(eventually(|| h.is_finished()), "a job queued with no blocking thread never ran"),
        Err(e) => panic!("unexpected refusal: {e}"),
    }
    assert!(rt.shutdown().is_balanced());
}
