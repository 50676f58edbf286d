//! `timer-precision` case `busy-owner`: timers registered by a task that then computes.
//!
//! One task (submitted from outside, so it runs on some worker) schedules 200 timed
//! children from inside, by the peer's own nested timed spawn ([`Peer::spawn_at_inside`]),
//! due 2 ms to 42 ms after it starts (200 us apart), and then computes for 300 ms
//! ([`spin_for`]). The other workers idle throughout. A runtime whose timers live with
//! the worker that registered them fires them only when that worker is free again (about
//! 300 ms late); one whose idle workers serve them fires them about on time. The shape is
//! run [`TRIALS`] times in a row (each waits for the previous one's children), and each
//! child records `now - due`.
//!
//! Figures: lateness p50/p90/p99/max in microseconds over every trial, the CDF, and the
//! early count (a child that ran before its due time: a bug).

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use super::{require, wait_done, warm_up, Better, CaseResult, Ctx, Skip};
use crate::measure::{spin_for, Completion, Samples};
use crate::peers::{Feature, Peer, Prio};

/// The case name.
pub const CASE: &str = "busy-owner";
/// Timed children per trial.
pub const CHILDREN: usize = 200;
/// Trials per run.
pub const TRIALS: usize = 3;
/// How long the parent computes after scheduling its children.
pub const COMPUTE: Duration = Duration::from_millis(300);

/// Runs the case.
pub fn run<P: Peer>(ctx: &Ctx) -> Result<CaseResult, Skip> {
    require::<P>(&[Feature::Timers])?;
    let peer: P = ctx.build(None)?;
    warm_up(&peer, 10_000)?;

    let samples = Samples::leak(CHILDREN * TRIALS);
    let early: &'static AtomicU64 = Box::leak(Box::new(AtomicU64::new(0)));
    for trial in 0..TRIALS {
        let done = Completion::leak();
        peer.spawn(Prio::NORMAL, move || {
            let start = Instant::now();
            for i in 0..CHILDREN {
                let due = start + Duration::from_micros(2_000 + 200 * i as u64);
                let slot = trial * CHILDREN + i;
                P::spawn_at_inside(due, Prio::NORMAL, move || {
                    if Instant::now() < due {
                        early.fetch_add(1, Ordering::Relaxed);
                    }
                    samples.record_since(slot, due);
                    done.hit();
                });
            }
            spin_for(COMPUTE);
            done.hit();
        });
        wait_done(done, CHILDREN as u64 + 1, Duration::from_secs(30), "busy-owner")?;
    }

    let mut r = CaseResult::default();
    r.latency("lateness", "busy-owner timer lateness", &samples.histogram(), &[0.5, 0.9, 0.99, 1.0]);
    r.metric(
        "early",
        "timers run before their due time",
        "tasks",
        early.load(Ordering::Relaxed) as f64,
        Better::Lower,
    );
    r.note(format!(
        "{TRIALS} trials of {CHILDREN} timers due 2-42 ms ahead, registered from inside a task that then computes {} ms",
        COMPUTE.as_millis()
    ));
    r.note(peer.shutdown());
    Ok(r)
}
