//! `spawn`: N empty tasks submitted from outside the runtime, until all ran.
//!
//! The main thread submits N tasks back to back at `NORMAL` priority; each task's body is
//! [`Completion::hit`] (one uncontended atomic add on a per-thread slot). The clock runs from
//! the first submission until the main thread sees all N hits.
//!
//! Figures: tasks/s end to end (the headline), the submission rate of the loop alone, and
//! CPU time per task of the whole process (workers + submitter). Published: ANCHORS "1M empty
//! tasks from outside".

use std::time::Duration;

use super::{wait_done, warm_up, Better, CaseResult, Ctx, Skip};
use crate::measure::{cpu_time, Completion};
use crate::peers::{Peer, Prio};

/// Runs the case.
pub fn run<P: Peer>(ctx: &Ctx) -> Result<CaseResult, Skip> {
    let n = ctx.case_count(1_000_000);
    let peer: P = ctx.build(None)?;
    warm_up(&peer, 20_000)?;

    let done = Completion::leak();
    let cpu0 = cpu_time();
    let t0 = std::time::Instant::now();
    for _ in 0..n {
        peer.spawn(Prio::NORMAL, move || done.hit());
    }
    let submitted = t0.elapsed();
    let end = wait_done(done, n, Duration::from_secs(120), "spawn")?;
    let elapsed = end - t0;
    let cpu = cpu_time() - cpu0;

    let mut r = CaseResult::default();
    r.metric(
        "tasks_per_s",
        "tasks/s, submit to all done",
        "tasks/s",
        n as f64 / elapsed.as_secs_f64(),
        Better::Higher,
    );
    r.metric(
        "submit_per_s",
        "submissions/s (submit loop only)",
        "tasks/s",
        n as f64 / submitted.as_secs_f64(),
        Better::Higher,
    );
    r.metric(
        "cpu_ns_per_task",
        "process CPU time per task",
        "ns",
        cpu.as_nanos() as f64 / n as f64,
        Better::Lower,
    );
    r.note(peer.shutdown());
    Ok(r)
}
