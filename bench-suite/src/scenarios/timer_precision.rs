//! `timer-precision`: N timers spread over a window, light load: how late do they run?
//!
//! N due times are drawn uniformly over the window (seeded; the same for every peer),
//! starting 20 ms after the start so that submission finishes first, and submitted as timed
//! tasks at `NORMAL`. Each task's body reads `Instant::now()` and records `now - due` in its
//! own slot (one relaxed store), and counts a task that ran before its due time as "early"
//! (a bug: timers must never fire early).
//!
//! Figures: lateness p50/p90/p99/p99.9/max in microseconds, the CDF, and the early count.
//! Published: ANCHORS "timer lateness p50 / p99, 10k over 2 s".

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use super::{require, wait_done, warm_up, Better, CaseResult, Ctx, Skip};
use crate::measure::{Completion, Samples};
use crate::peers::{Feature, Peer, Prio};

/// Runs the case.
pub fn run<P: Peer>(ctx: &Ctx) -> Result<CaseResult, Skip> {
    require::<P>(&[Feature::Timers])?;
    let n = ctx.case_count(10_000) as usize;
    let span = Duration::from_secs_f64(ctx.mode.pick(2.0, 1.0));
    let peer: P = ctx.build(None)?;
    warm_up(&peer, 10_000)?;

    let samples = Samples::leak(n);
    let done = Completion::leak();
    let early: &'static AtomicU64 = Box::leak(Box::new(AtomicU64::new(0)));
    let mut rng = fastrand::Rng::with_seed(0x71e5);
    let offsets: Vec<Duration> = (0..n).map(|_| span.mul_f64(rng.f64())).collect();
    let start = Instant::now() + Duration::from_millis(20);
    for (i, off) in offsets.into_iter().enumerate() {
        let due = start + off;
        drop(peer.spawn_at(due, Prio::NORMAL, move || {
            if Instant::now() < due {
                early.fetch_add(1, Ordering::Relaxed);
            }
            samples.record_since(i, due);
            done.hit();
        }));
    }
    wait_done(done, n as u64, span + Duration::from_secs(30), "timer-precision")?;

    let mut r = CaseResult::default();
    r.latency("lateness", "timer lateness", &samples.histogram(), &[0.5, 0.9, 0.99, 0.999, 1.0]);
    r.metric(
        "early",
        "timers run before their due time",
        "tasks",
        early.load(Ordering::Relaxed) as f64,
        Better::Lower,
    );
    r.note(peer.shutdown());
    Ok(r)
}
