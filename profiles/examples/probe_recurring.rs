//! Probe: CPU of 100,000 schedules of 1 s (phases spread over the period) on 2 workers,
//! over a steady window, for `perf stat` / `perf record` (the bench's `recurring/100k/1s`
//! case without the peers and the report).
//!
//! `cargo run --release -p kairos-profiles --example probe_recurring [SCHEDULES] [SECONDS]`
//! (environment: `WORKERS`, default 2; `PERIOD_US`, default 1,000,000: `PERIOD_US=1000`
//! with 1,000 schedules is the bench's `1000/1ms` case; `SLACK_US`, the runtime's
//! `Builder::dense_timer_slack` in microseconds, default the builder's)
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

use kairos_bench::measure::cpu_time as cpu;

fn main() {
    let mut args = std::env::args().skip(1);
    let n: u64 = args.next().and_then(|a| a.parse().ok()).unwrap_or(100_000);
    let secs: u64 = args.next().and_then(|a| a.parse().ok()).unwrap_or(4);
    let workers: usize = std::env::var("WORKERS").ok().and_then(|w| w.parse().ok()).unwrap_or(2);
    let period_us: u64 = std::env::var("PERIOD_US").ok().and_then(|p| p.parse().ok()).unwrap_or(1_000_000);
    let period = Duration::from_micros(period_us);
    let mut builder = kairos_rt::Runtime::builder().workers(workers);
    if let Some(us) = std::env::var("SLACK_US").ok().and_then(|s| s.parse().ok()) {
        builder = builder.dense_timer_slack(Duration::from_micros(us));
    }
    let rt = builder.build().unwrap();
    let fired = Arc::new(AtomicU64::new(0));
    let start = SystemTime::now() + Duration::from_millis(500);
    for i in 0..n {
        let phase = Duration::from_nanos(period_us * 1_000 * i / n);
        let every = kairos_rt::Schedule::every(period).unwrap().starting_at(start + phase);
        let f = fired.clone();
        drop(rt.spawn_recurring(every, kairos_rt::Priority::NORMAL, move || {
            f.fetch_add(1, Relaxed);
        }));
    }
    std::thread::sleep(Duration::from_millis(1500));
    let (c0, f0, t0) = (cpu(), fired.load(Relaxed), Instant::now());
    std::thread::sleep(Duration::from_secs(secs));
    let (c1, f1, t1) = (cpu(), fired.load(Relaxed), Instant::now());
    let wall = (t1 - t0).as_secs_f64();
    println!(
        "{n} schedules: {:.0} firings/s, CPU {:.1}% of one core",
        (f1 - f0) as f64 / wall,
        100.0 * (c1 - c0).as_secs_f64() / wall
    );
    let _ = rt.shutdown();
}
