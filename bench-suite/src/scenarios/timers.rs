//! `timers`: N timed tasks due in an hour: insert rate, memory per pending task, cancel all.
//!
//! 1. Build the peer, warm it up (empty tasks and 1,000 short timers), pre-allocate and
//!    touch a `Vec<Option<Handle>>` of N slots (so the handles' own storage is resident
//!    before the baseline and is not counted), let the process go quiet, then read the
//!    baseline: RSS, heap bytes (the counting allocator of [`crate::alloc`]; this scenario
//!    runs with `KAIROS_BENCH_COUNT_HEAP=1`, for every peer) and process CPU time.
//! 2. Insert N timed tasks at `NORMAL`, due between 1 h and 1 h + 60 s (spread, so they
//!    fall into many wheel slots), each capturing one pointer (8 bytes: the completion
//!    counter) and keep their handles. The submit loop is timed; then the runner waits
//!    until the process is quiet (tokio, for one, registers a task's `Sleep` with its wheel
//!    only when a worker first polls the task), and that time is reported too.
//! 3. Read RSS and heap again: **bytes per pending task** = growth / N.
//! 4. Cancel every task through its handle (timed), drop the handles, wait until quiet, and
//!    read RSS and heap once more: how much of the memory came back. Heap bytes show what
//!    the runtime freed; RSS also depends on whether the allocator returns pages to the OS.
//!
//! Published: ANCHORS "1M timed tasks pending, bytes each", "insert rate", "10M timed tasks
//! pending: RSS, insert time" (aioscheduler's "10 million timed tasks" claim).

use std::time::{Duration, Instant};

use super::{require, wait_done, wait_quiet, warm_up, Better, CaseResult, Ctx, Skip};
use crate::alloc::{counting, heap_stats};
use crate::measure::{cpu_time, rss_bytes, Completion};
use crate::peers::{Feature, Peer, Prio};

/// Runs the case.
pub fn run<P: Peer>(ctx: &Ctx) -> Result<CaseResult, Skip> {
    require::<P>(&[Feature::Timers, Feature::Cancel])?;
    let n = ctx.case_count(1_000_000) as usize;
    let peer: P = ctx.build(None)?;
    warm_up(&peer, 20_000)?;
    let warm = Completion::leak();
    let soon = Instant::now() + Duration::from_millis(2);
    for _ in 0..1_000 {
        drop(peer.spawn_at(soon, Prio::NORMAL, move || warm.hit()));
    }
    wait_done(warm, 1_000, Duration::from_secs(10), "timer warm-up")?;

    let mut handles: Vec<Option<P::Handle>> = Vec::with_capacity(n);
    handles.resize_with(n, || None);
    let quiet_max = Duration::from_secs(120);
    wait_quiet(quiet_max);

    let done = Completion::leak();
    let rss0 = rss_bytes();
    let heap0 = heap_stats();
    let cpu0 = cpu_time();
    let base = Instant::now() + Duration::from_secs(3600);
    let spread_ns = 60_000_000_000u64 / n.max(1) as u64;
    let t0 = Instant::now();
    for (i, slot) in handles.iter_mut().enumerate() {
        let due = base + Duration::from_nanos(i as u64 * spread_ns);
        *slot = Some(peer.spawn_at(due, Prio::NORMAL, move || done.hit()));
    }
    let insert = t0.elapsed();
    let quiet_at = wait_quiet(quiet_max);
    let insert_to_quiet = quiet_at.saturating_duration_since(t0);
    let cpu_insert = cpu_time() - cpu0;
    let rss1 = rss_bytes();
    let heap1 = heap_stats();

    let t1 = Instant::now();
    let mut cancelled = 0usize;
    for h in handles.iter().flatten() {
        cancelled += P::cancel(h) as usize;
    }
    let cancel = t1.elapsed();
    for h in handles.iter_mut() {
        *h = None;
    }
    wait_quiet(quiet_max);
    let rss2 = rss_bytes();
    let heap2 = heap_stats();

    let nf = n as f64;
    let mut r = CaseResult::default();
    r.metric("insert_per_s", "inserts/s (submit loop)", "tasks/s", nf / insert.as_secs_f64(), Better::Higher);
    r.metric("insert_s", "insert time (submit loop)", "s", insert.as_secs_f64(), Better::Lower);
    r.metric(
        "insert_quiet_s",
        "insert until the runtime is quiet",
        "s",
        insert_to_quiet.as_secs_f64(),
        Better::Lower,
    );
    r.metric(
        "cpu_ns_per_insert",
        "process CPU per insert (incl. background work)",
        "ns",
        cpu_insert.as_nanos() as f64 / nf,
        Better::Lower,
    );
    r.metric(
        "rss_bytes_per_task",
        "RSS per pending task",
        "B",
        rss1.saturating_sub(rss0) as f64 / nf,
        Better::Lower,
    );
    r.metric(
        "rss_mb",
        "RSS growth with all pending",
        "MB",
        rss1.saturating_sub(rss0) as f64 / 1e6,
        Better::Lower,
    );
    if counting() {
        r.metric(
            "heap_bytes_per_task",
            "heap bytes per pending task",
            "B",
            (heap1.live_bytes - heap0.live_bytes) as f64 / nf,
            Better::Lower,
        );
        r.metric(
            "heap_blocks_per_task",
            "heap blocks allocated per task",
            "blocks",
            (heap1.total_blocks - heap0.total_blocks) as f64 / nf,
            Better::Lower,
        );
        r.metric(
            "heap_kept_after_cancel_per_task",
            "heap bytes still held per task after cancel-all",
            "B",
            (heap2.live_bytes - heap0.live_bytes).max(0) as f64 / nf,
            Better::Lower,
        );
    }
    r.metric("cancel_ns", "ns per cancel", "ns", cancel.as_nanos() as f64 / nf, Better::Lower);
    r.metric(
        "rss_kept_after_cancel_per_task",
        "RSS still held per task after cancel-all",
        "B",
        rss2.saturating_sub(rss0) as f64 / nf,
        Better::Lower,
    );
    if cancelled != n {
        r.note(format!("only {cancelled} of {n} cancels reported success"));
    }
    if done.count() > 0 {
        r.note(format!("{} timed tasks ran although due in an hour", done.count()));
    }
    r.note(format!(
        "handle size {} B (stored in a pre-touched Vec, not counted above)",
        std::mem::size_of::<P::Handle>()
    ));
    r.note(peer.shutdown());
    Ok(r)
}
