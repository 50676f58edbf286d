//! `latency`: open-loop submission at a fixed rate; submit-to-start latency.
//!
//! The main thread is the load generator. Task `i` is due for submission at
//! `start + i / rate`; the generator submits every task that is due, then sleeps until the
//! next one (a sleep overshoots by ~50-60 us on Linux, so at high rates tasks go out in
//! small bursts, as from any real producer). It never waits for the runtime: the load is
//! open-loop, and a slow runtime builds a queue. Each task captures the `Instant` read just
//! before its submission; its body records `now - submitted` in its own slot and counts
//! itself done.
//!
//! Figures: submit-to-start p50/p95/p99/p99.9/max in microseconds, the CDF, the rate
//! actually offered, and the CPU the whole process used over the window (generator
//! included, in cores: 1.0 is one core busy), which is what a runtime's spinning costs.
//! The window is 2 s (0.3 s in quick mode). Published: ANCHORS "open loop 50k/s" and
//! "200k/s".

use std::time::{Duration, Instant};

use super::{wait_done, warm_up, Better, CaseResult, Ctx, Skip};
use crate::measure::{cpu_time, Completion, Samples};
use crate::peers::{Peer, Prio};

/// Runs the case.
pub fn run<P: Peer>(ctx: &Ctx) -> Result<CaseResult, Skip> {
    let rate = ctx.case_count(50_000).max(1);
    let window = Duration::from_secs_f64(ctx.mode.pick(2.0, 0.3));
    let n = ((rate as f64 * window.as_secs_f64()) as usize).max(1);
    let peer: P = ctx.build(None)?;
    warm_up(&peer, 20_000)?;

    let samples = Samples::leak(n);
    let done = Completion::leak();
    let interval_ns = 1e9 / rate as f64;
    let cpu0 = cpu_time();
    let start = Instant::now();
    let mut i = 0usize;
    while i < n {
        let now = Instant::now();
        let due = ((now - start).as_nanos() as f64 / interval_ns) as usize + 1;
        while i < due.min(n) {
            let submitted = Instant::now();
            let idx = i;
            peer.spawn(Prio::NORMAL, move || {
                samples.record_since(idx, submitted);
                done.hit();
            });
            i += 1;
        }
        if i < n {
            let next = start + Duration::from_nanos((i as f64 * interval_ns) as u64);
            let now = Instant::now();
            if next > now {
                std::thread::sleep(next - now);
            }
        }
    }
    let offered = start.elapsed();
    let cpu = cpu_time() - cpu0;
    wait_done(done, n as u64, Duration::from_secs(60), "latency")?;

    let mut r = CaseResult::default();
    r.latency("latency", "submit-to-start", &samples.histogram(), &[0.5, 0.95, 0.99, 0.999, 1.0]);
    r.metric("offered_per_s", "rate offered", "tasks/s", n as f64 / offered.as_secs_f64(), Better::Neither);
    r.metric(
        "cpu_cores",
        "process CPU over the window",
        "cores",
        cpu.as_secs_f64() / offered.as_secs_f64(),
        Better::Lower,
    );
    r.note(peer.shutdown());
    Ok(r)
}
