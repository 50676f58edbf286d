//! `recurring`: many schedules firing at a fixed period, by each peer's own means for
//! recurring work (kairos `spawn_recurring`, one tokio task with an `interval` per
//! schedule, a heap-pool timed task that re-inserts itself; see [`Peer::spawn_every`]).
//!
//! Case `N/1s` (the "100,000 schedules of 1 s"): N schedules of period 1 s at
//! `NORMAL`, their phases spread uniformly over the second (seeded; the same for every
//! peer). Each firing reads the clock and records its lateness behind its own grid tick
//! (`(now - first) mod period`, valid while lateness stays under the period) in a slot of
//! its own (slot `k * N + i` for firing `k` of schedule `i`). Measured: lateness
//! p50/p99/max over the whole run and after each schedule's first firing; bytes per schedule (RSS
//! and heap growth from creating them, read before the first tick; the closure's own
//! 72 bytes of captures (a 16-byte `Instant`, seven 8-byte words) are included for every peer alike); process CPU over a steady
//! window of whole seconds, as a percentage of one core; firings that came early.
//!
//! Case `N/1ms` (the "1,000 schedules of 1 ms": 1M firings/s offered, more than
//! 2 workers can run): firings/s achieved over a steady window, the ticks not run (skipped
//! or missed, offered minus achieved) per second, CPU, and RSS growth over the window
//! (memory must stay flat: nothing piles up).
//!
//! Published: issue 21's bars (lateness p99 <= 200 us at 100k x 1 s, <= 128 B per
//! schedule, CPU <= tokio's).

use std::sync::atomic::{AtomicU32, AtomicU64, Ordering::Relaxed};
use std::time::{Duration, Instant};

use super::{require, wait_quiet, warm_up, Better, CaseResult, Ctx, Skip};
use crate::alloc::{counting, heap_stats, stop_counting};
use crate::measure::{cpu_time, rss_bytes, Samples};
use crate::peers::{Feature, Peer, Prio};

/// The period named after the `/` of the case (`1s`, `1ms`).
fn period_of(case: &str) -> Option<Duration> {
    match case.split('/').nth(1)?.trim() {
        "1s" => Some(Duration::from_secs(1)),
        "1ms" => Some(Duration::from_millis(1)),
        "10ms" => Some(Duration::from_millis(10)),
        _ => None,
    }
}

/// Sleeps until `t`.
fn sleep_until(t: Instant) {
    std::thread::sleep(t.saturating_duration_since(Instant::now()));
}

/// Runs the case.
pub fn run<P: Peer>(ctx: &Ctx) -> Result<CaseResult, Skip> {
    require::<P>(&[Feature::Recurring])?;
    let period =
        period_of(&ctx.case).ok_or_else(|| Skip::Failed(format!("no period in case {:?}", ctx.case)))?;
    let n = ctx.case_count(100_000) as usize;
    let peer: P = ctx.build(None)?;
    warm_up(&peer, 10_000)?;
    let window = ctx.mode.pick(5u32, 3);
    // Lateness slots per schedule: every firing of the run, for the slow case.
    let per = if period >= Duration::from_secs(1) { window as usize + 3 } else { 0 };
    let samples = Samples::leak(n * per);
    let counts: &'static [AtomicU32] = Box::leak((0..n).map(|_| AtomicU32::new(0)).collect());
    let early: &'static AtomicU64 = Box::leak(Box::new(AtomicU64::new(0)));
    wait_quiet(Duration::from_secs(10));

    let rss0 = rss_bytes();
    let heap0 = heap_stats();
    // Time to create them all before the first tick (1.5 s covers 100k on any peer).
    let lead = if per > 0 { Duration::from_millis(1500) } else { Duration::from_millis(300) };
    let base = Instant::now() + lead;
    let mut rng = fastrand::Rng::with_seed(0x5eed_0021);
    let period_ns = period.as_nanos() as u64;
    let t0 = Instant::now();
    for (i, count) in counts.iter().enumerate() {
        let first = base + Duration::from_nanos(rng.u64(0..period_ns));
        peer.spawn_every(first, period, Prio::NORMAL, move || {
            let now = Instant::now();
            if now < first {
                early.fetch_add(1, Relaxed);
            }
            let k = count.fetch_add(1, Relaxed) as usize;
            if k < per {
                let late = (now.saturating_duration_since(first).as_nanos() % u128::from(period_ns)) as u64;
                samples.record(k * n + i, late);
            }
        });
    }
    let create = t0.elapsed();
    if Instant::now() >= base {
        return Err(Skip::Failed(format!("creating {n} schedules took {create:?}, past the first tick")));
    }
    sleep_until(base - Duration::from_millis(50));
    let rss1 = rss_bytes();
    let heap1 = heap_stats();
    // The timed figures below are taken without the heap counters: they would cost the
    // peers that allocate per firing (kairos, the heap pool) and not tokio's interval.
    let counted = counting();
    stop_counting();

    // A steady window of whole periods, one second after the first ticks.
    let from = base + Duration::from_secs(1);
    sleep_until(from);
    let (cpu0, rss_from) = (cpu_time(), rss_bytes());
    let fired0: u64 = counts.iter().map(|c| u64::from(c.load(Relaxed))).sum();
    let w0 = Instant::now();
    sleep_until(from + Duration::from_secs(u64::from(window)));
    let (cpu1, rss_to) = (cpu_time(), rss_bytes());
    let fired1: u64 = counts.iter().map(|c| u64::from(c.load(Relaxed))).sum();
    let wall = w0.elapsed().as_secs_f64();

    let nf = n as f64;
    let fired_per_s = (fired1 - fired0) as f64 / wall;
    let offered_per_s = nf / period.as_secs_f64();
    let mut r = CaseResult::default();
    r.metric("create_per_s", "schedules created/s", "schedules/s", nf / create.as_secs_f64(), Better::Higher);
    r.metric("firings_per_s", "firings/s (steady window)", "firings/s", fired_per_s, Better::Higher);
    r.metric(
        "cpu_pct",
        "process CPU (steady window), % of one core",
        "%",
        (cpu1 - cpu0).as_secs_f64() / wall * 100.0,
        Better::Lower,
    );
    if per > 0 {
        let q = [0.5, 0.9, 0.99, 0.999, 1.0];
        r.latency("lateness", "firing lateness", &samples.histogram(), &q);
        // The first firings of all schedules come while the runtime takes in their
        // registrations; after them, the steady state.
        r.latency(
            "steady_lateness",
            "lateness after each first firing",
            &samples.histogram_of(n..n * per),
            &q,
        );
        r.metric("early", "firings before their tick", "firings", early.load(Relaxed) as f64, Better::Lower);
        r.metric(
            "rss_bytes_per_schedule",
            "RSS per schedule",
            "B",
            rss1.saturating_sub(rss0) as f64 / nf,
            Better::Lower,
        );
        if counted {
            r.metric(
                "heap_bytes_per_schedule",
                "heap bytes per schedule",
                "B",
                (heap1.live_bytes - heap0.live_bytes) as f64 / nf,
                Better::Lower,
            );
        }
    } else {
        r.metric("offered_per_s", "ticks offered/s", "ticks/s", offered_per_s, Better::Neither);
        r.metric(
            "not_run_per_s",
            "ticks not run/s (skipped or missed)",
            "ticks/s",
            (offered_per_s - fired_per_s).max(0.0),
            Better::Neither,
        );
        r.metric(
            "rss_growth_mb",
            "RSS growth over the steady window",
            "MB",
            (rss_to as f64 - rss_from as f64) / 1e6,
            Better::Lower,
        );
    }
    r.note(peer.shutdown());
    Ok(r)
}

#[cfg(test)]
mod tests {
    use super::period_of;
    use std::time::Duration;

    #[test]
    fn periods_parse() {
        assert_eq!(period_of("100k/1s"), Some(Duration::from_secs(1)));
        assert_eq!(period_of("1000/1ms"), Some(Duration::from_millis(1)));
        assert_eq!(period_of("1000"), None);
    }
}
