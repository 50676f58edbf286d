//! Probe: where the open-loop tail comes from. Rounds of the bench's `latency` case
//! (tasks submitted from outside at a fixed rate, 2 workers, submit-to-start measured in
//! each body); each round prints the percentiles and every run of late tasks (more than
//! 300 us from submit to start): when it began, how many, the worst, and which workers
//! ran them, beside the oversleeps of a plain thread that sleeps 100 us in a loop (a
//! stall of the machine, not of kairos, shows there too).
//!
//! `cargo run --release -p kairos-profiles --example probe_open_loop -- [rate] [window ms] [rounds]`
mod common;

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::{Duration, Instant};

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() {
    let args: Vec<u64> = std::env::args().skip(1).map(|a| a.parse().expect("numbers")).collect();
    let rate = args.first().copied().unwrap_or(50_000);
    let window_ms = args.get(1).copied().unwrap_or(1000);
    let rounds = args.get(2).copied().unwrap_or(4);
    let n = (rate * window_ms / 1000) as usize;
    for round in 0..rounds {
        let rt = kairos_rt::Runtime::builder().workers(2).build().unwrap();
        for _ in 0..20_000 {
            drop(rt.spawn(kairos_rt::Priority::NORMAL, || {}));
        }
        std::thread::sleep(Duration::from_millis(50));
        let late: &'static Vec<AtomicU64> = Box::leak(Box::new((0..n).map(|_| AtomicU64::new(0)).collect()));
        let who: &'static Vec<AtomicU64> = Box::leak(Box::new((0..n).map(|_| AtomicU64::new(0)).collect()));
        let sent: &'static Vec<AtomicU64> = Box::leak(Box::new((0..n).map(|_| AtomicU64::new(0)).collect()));
        let start = Instant::now();
        let window = Duration::from_millis(window_ms);
        let mon = common::watch_oversleeps(start, start + window);
        let interval_ns = 1e9 / rate as f64;
        let mut i = 0usize;
        while i < n {
            let due = (start.elapsed().as_nanos() as f64 / interval_ns) as usize + 1;
            while i < due.min(n) {
                let submitted = Instant::now();
                sent[i].store(submitted.duration_since(start).as_nanos() as u64, Relaxed);
                let idx = i;
                drop(rt.spawn(kairos_rt::Priority::NORMAL, move || {
                    late[idx].store(submitted.elapsed().as_nanos() as u64, Relaxed);
                    let name = std::thread::current()
                        .name()
                        .map(|s| s.bytes().last().unwrap_or(0) as u64)
                        .unwrap_or(0);
                    who[idx].store(name, Relaxed);
                }));
                i += 1;
            }
            let next = start + Duration::from_nanos((i as f64 * interval_ns) as u64);
            let now = Instant::now();
            if next > now {
                std::thread::sleep(next - now);
            }
        }
        std::thread::sleep(Duration::from_millis(100));
        let stalls = mon.join().unwrap();
        let mut v: Vec<u64> = late.iter().map(|a| a.load(Relaxed)).collect();
        println!("round {round}: {rate}/s {}", common::percentiles_us(&mut v));
        println!("  monitor oversleeps (at us, slept us): {stalls:?}");
        // Runs of late tasks: consecutive submissions more than 300 us late.
        let mut k = 0;
        while k < n {
            if late[k].load(Relaxed) <= 300_000 {
                k += 1;
                continue;
            }
            let first = k;
            let (mut worst, mut workers) = (0, Vec::new());
            while k < n && late[k].load(Relaxed) > 300_000 {
                worst = worst.max(late[k].load(Relaxed));
                let w = who[k].load(Relaxed) as u8 as char;
                if !workers.contains(&w) {
                    workers.push(w);
                }
                k += 1;
            }
            println!(
                "  from {:>7} us: {:>4} late, worst {:>5} us, first {:>5} us, workers {:?}",
                sent[first].load(Relaxed) / 1000,
                k - first,
                worst / 1000,
                late[first].load(Relaxed) / 1000,
                workers
            );
        }
        let _ = rt.shutdown();
    }
}
