//! `priority`: does urgent work get through a flood, and does low work still progress?
//!
//! **Case `probes`** (ANCHORS "100k lowest 20 us tasks + highest probes"): the main thread
//! submits N `LOWEST` tasks that each spin for 20 us (N = 100k, 2 s of CPU; 25k in quick
//! mode), then submits `HIGHEST` probes 1 ms apart while the flood runs (500; 150 in quick
//! mode). A probe's body records `start - submitted`. Figures: probe wait p50/p99/max, the
//! CDF, and how long the flood took. The case runs twice, once with each allocator
//! ([`PROBES_MIMALLOC`], [`PROBES_SYSTEM`]; the runner sets the child's allocator from the
//! case name, whatever `--alloc` says), so the report shows both side by side: an
//! independent harness measured the probe wait with glibc malloc.
//!
//! What set kairos's p99 under glibc (issue 20, measured): the slow probes were exactly
//! every 63rd one (indices 62, 125, 188, ... in every run, 140-225 us each; the rest
//! under 40 us). crossbeam-deque's `Injector` allocated a new block of 63 slots (a bit
//! over 1 KB) on the push that filled a block, in the submitting thread, before the task
//! was visible. glibc serves a request of 1 KB or more from its large bins, and first runs
//! `malloc_consolidate`, which walks every chunk in the fast bins: here the flood's task
//! cells, freed by the workers (tens of thousands). With fast bins off
//! (`GLIBC_TUNABLES=glibc.malloc.mxfast=0`) the periodic outliers were gone and the p99
//! was 97 us; under mimalloc there is no consolidation (p99 16-36 us). kairos's injector
//! now uses 31-slot blocks of 504 bytes (`kairos_rt_core::sync::injector`), a small-bin
//! request that glibc serves without consolidating: quick mode, 5 rounds, p99 299 us
//! (202-415) before, 25.8 us (17.5-46.9) after, heap pool 88 us in the same run.

//! **Case `starvation`**: the reverse. 2 x workers self-renewing `HIGHEST` chains (each task
//! spins 20 us, then re-submits itself from inside) keep the high level busy, while 100k
//! `LOWEST` 20 us tasks wait (30k in quick mode). After a window (1 s; 0.3 s quick) the
//! runner reads how much low work ran. Figure: the low level's share of the CPU (%). Strict
//! priority gives 0% (starvation); FIFO peers give most of the CPU to the low flood (they
//! ignore priorities); a runtime with aging gives a bounded, non-zero share. Everything
//! stops at the end of the window (tasks check a flag), so shutdown is quick.
//!
//! Peers without priorities run both cases and ignore the levels.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use super::{wait_done, warm_up, Better, CaseResult, Ctx, Skip};
use crate::measure::{spin_for, Completion, Samples};
use crate::peers::{Feature, Peer, Prio};

const WORK: Duration = Duration::from_micros(20);

/// The probe case under mimalloc.
pub const PROBES_MIMALLOC: &str = "probes-mimalloc";
/// The probe case under the system allocator (glibc malloc).
pub const PROBES_SYSTEM: &str = "probes-system";

/// Runs the case.
pub fn run<P: Peer>(ctx: &Ctx) -> Result<CaseResult, Skip> {
    let mut r = match ctx.case.as_str() {
        "starvation" => starvation::<P>(ctx)?,
        _ => probes::<P>(ctx)?,
    };
    if !P::supports(Feature::Priorities) {
        r.note(format!("{} has no priorities: levels ignored (FIFO)", P::KIND));
    }
    Ok(r)
}

fn probes<P: Peer>(ctx: &Ctx) -> Result<CaseResult, Skip> {
    let n_low = ctx.mode.pick(100_000u64, 25_000);
    let n_probe = ctx.mode.pick(500usize, 150);
    let peer: P = ctx.build(None)?;
    warm_up(&peer, 10_000)?;

    let low_done = Completion::leak();
    let probe_done = Completion::leak();
    let samples = Samples::leak(n_probe);
    let t0 = Instant::now();
    for _ in 0..n_low {
        peer.spawn(Prio::LOWEST, move || {
            spin_for(WORK);
            low_done.hit();
        });
    }
    for i in 0..n_probe {
        std::thread::sleep(Duration::from_millis(1));
        let submitted = Instant::now();
        peer.spawn(Prio::HIGHEST, move || {
            samples.record_since(i, submitted);
            probe_done.hit();
        });
    }
    let timeout = Duration::from_secs(120);
    wait_done(probe_done, n_probe as u64, timeout, "priority probes")?;
    let flood_end = wait_done(low_done, n_low, timeout, "priority flood")?;

    let mut r = CaseResult::default();
    r.latency("probe_wait", "probe wait", &samples.histogram(), &[0.5, 0.99, 1.0]);
    r.metric("flood_s", "time to run the LOWEST flood", "s", (flood_end - t0).as_secs_f64(), Better::Lower);
    r.note(peer.shutdown());
    Ok(r)
}

fn starvation<P: Peer>(ctx: &Ctx) -> Result<CaseResult, Skip> {
    let n_low = ctx.mode.pick(100_000u64, 30_000);
    let window = Duration::from_secs_f64(ctx.mode.pick(1.0, 0.3));
    let chains = 2 * ctx.workers;
    let peer: P = ctx.build(None)?;
    warm_up(&peer, 10_000)?;

    let stop: &'static AtomicBool = Box::leak(Box::new(AtomicBool::new(false)));
    let low_done = Completion::leak();
    let high_done = Completion::leak();

    fn chain<P: Peer>(stop: &'static AtomicBool, done: &'static Completion) {
        if stop.load(Ordering::Relaxed) {
            return;
        }
        spin_for(WORK);
        done.hit();
        P::spawn_inside(Prio::HIGHEST, move || chain::<P>(stop, done));
    }
    for _ in 0..chains {
        peer.spawn(Prio::HIGHEST, move || chain::<P>(stop, high_done));
    }
    let t0 = Instant::now();
    for _ in 0..n_low {
        peer.spawn(Prio::LOWEST, move || {
            if !stop.load(Ordering::Relaxed) {
                spin_for(WORK);
                low_done.hit();
            }
        });
    }
    std::thread::sleep(window.saturating_sub(t0.elapsed()));
    let lows = low_done.count();
    let highs = high_done.count();
    let wall = t0.elapsed();
    stop.store(true, Ordering::Relaxed);

    let capacity = wall.as_secs_f64() * ctx.workers as f64 / WORK.as_secs_f64();
    let mut r = CaseResult::default();
    r.metric(
        "low_share_pct",
        "LOWEST share of CPU under a HIGHEST flood",
        "%",
        100.0 * lows as f64 / capacity,
        Better::Neither,
    );
    r.metric("high_share_pct", "HIGHEST share of CPU", "%", 100.0 * highs as f64 / capacity, Better::Neither);
    if lows == 0 {
        r.note("starvation: no LOWEST task ran during the window");
    }
    r.note(peer.shutdown());
    Ok(r)
}
