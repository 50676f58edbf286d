//! `idle`: CPU, wake-ups and memory of an idle runtime.
//!
//! The child measures RSS, builds the peer, runs 1,000 tasks (and, for peers with timers,
//! one timed task) so every worker has started, waits 100 ms, then sleeps through the window
//! (1 s; 0.5 s in quick mode) and reads `getrusage` before and after.
//!
//! Figures: process CPU during the window as % of one core, context switches per second
//! (a runtime that polls or ticks shows up here), RSS added by building and warming the
//! runtime, and the whole process's RSS.

use std::time::{Duration, Instant};

use super::{wait_done, warm_up, Better, CaseResult, Ctx, Skip};
use crate::measure::{context_switches, cpu_time, rss_bytes, Completion};
use crate::peers::{Feature, Peer, Prio};

/// Runs the case.
pub fn run<P: Peer>(ctx: &Ctx) -> Result<CaseResult, Skip> {
    let window = Duration::from_secs_f64(ctx.mode.pick(1.0, 0.5));
    let rss_before = rss_bytes();
    let peer: P = ctx.build(None)?;
    warm_up(&peer, 1_000)?;
    if P::supports(Feature::Timers) {
        let done = Completion::leak();
        let h = peer.spawn_at(Instant::now() + Duration::from_millis(1), Prio::NORMAL, move || done.hit());
        wait_done(done, 1, Duration::from_secs(10), "idle warm-up timer")?;
        drop(h);
    }
    std::thread::sleep(Duration::from_millis(100));

    let cpu0 = cpu_time();
    let csw0 = context_switches();
    let t0 = Instant::now();
    std::thread::sleep(window);
    let wall = t0.elapsed();
    let cpu = cpu_time() - cpu0;
    let csw = context_switches() - csw0;
    let rss = rss_bytes();

    let mut r = CaseResult::default();
    r.metric(
        "cpu_pct",
        "CPU while idle, % of one core",
        "%",
        100.0 * cpu.as_secs_f64() / wall.as_secs_f64(),
        Better::Lower,
    );
    r.metric(
        "wakeups_per_s",
        "context switches/s while idle",
        "/s",
        csw as f64 / wall.as_secs_f64(),
        Better::Lower,
    );
    r.metric(
        "runtime_rss_kb",
        "RSS added by the runtime",
        "KiB",
        rss.saturating_sub(rss_before) as f64 / 1024.0,
        Better::Lower,
    );
    r.metric("process_rss_kb", "process RSS", "KiB", rss as f64 / 1024.0, Better::Lower);
    r.note(peer.shutdown());
    Ok(r)
}
