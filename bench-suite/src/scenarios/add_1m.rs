//! `add-1m`: add N tasks with random priorities 1..10 (the heapq tutorial's scaling test).
//!
//! Priorities are drawn up front (seeded, the same sequence for every peer) and mapped to
//! levels `6 * p` (6..60). The main thread submits all N back to back; each task's body is
//! [`Completion::hit`]. Peers without priorities run them in submission order.
//!
//! Figures: ns per add (the submit loop), adds/s, and tasks/s until all ran.

use std::time::{Duration, Instant};

use super::{wait_done, warm_up, Better, CaseResult, Ctx, Skip};
use crate::measure::Completion;
use crate::peers::{Feature, Peer, Prio};

/// Runs the case.
pub fn run<P: Peer>(ctx: &Ctx) -> Result<CaseResult, Skip> {
    let n = ctx.case_count(1_000_000);
    let peer: P = ctx.build(None)?;
    warm_up(&peer, 20_000)?;
    let mut rng = fastrand::Rng::with_seed(0x5eed);
    let prios: Vec<u8> = (0..n).map(|_| rng.u8(1..=10) * 6).collect();

    let done = Completion::leak();
    let t0 = Instant::now();
    for &p in &prios {
        peer.spawn(Prio(p), move || done.hit());
    }
    let submitted = t0.elapsed();
    let end = wait_done(done, n, Duration::from_secs(120), "add-1m")?;

    let mut r = CaseResult::default();
    r.metric("add_ns", "ns per add", "ns", submitted.as_nanos() as f64 / n as f64, Better::Lower);
    r.metric("adds_per_s", "adds/s", "tasks/s", n as f64 / submitted.as_secs_f64(), Better::Higher);
    r.metric(
        "tasks_per_s",
        "tasks/s, first add to all ran",
        "tasks/s",
        n as f64 / (end - t0).as_secs_f64(),
        Better::Higher,
    );
    if !P::supports(Feature::Priorities) {
        r.note(format!("{} has no priorities: tasks ran in FIFO order", P::KIND));
    }
    r.note(peer.shutdown());
    Ok(r)
}
