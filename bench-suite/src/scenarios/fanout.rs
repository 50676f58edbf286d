//! `fanout`: one task spawns N children from inside the runtime.
//!
//! The main thread submits one parent task; the parent submits N children through the
//! peer's in-runtime path ([`Peer::spawn_inside`]: `kairos_rt::spawn`, `tokio::spawn`,
//! `rayon_core::spawn`, the heap pool's thread-local handle). Each child's body is
//! [`Completion::hit`]. The clock runs from the parent's submission until all children ran.
//!
//! Figures: tasks/s (the headline) and process CPU time per task. Published: ANCHORS "1 task
//! spawns 1M children".

use std::time::{Duration, Instant};

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
    let t0 = Instant::now();
    peer.spawn(Prio::NORMAL, move || {
        for _ in 0..n {
            P::spawn_inside(Prio::NORMAL, move || done.hit());
        }
    });
    let end = wait_done(done, n, Duration::from_secs(120), "fanout")?;
    let elapsed = end - t0;
    let cpu = cpu_time() - cpu0;

    let mut r = CaseResult::default();
    r.metric(
        "tasks_per_s",
        "tasks/s, children spawned from inside",
        "tasks/s",
        n as f64 / elapsed.as_secs_f64(),
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
