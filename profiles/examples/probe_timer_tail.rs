//! Probe: where the light-load timer tail comes from. Six rounds of 5,000 timers spread
//! over 1 s on 2 workers (the bench's `timer-precision` quick case); each round prints
//! the lateness percentiles, every timer more than 300 us late (its due time, the gap
//! to the timer before it, and the worker that ran it), and the oversleeps of a plain
//! thread that sleeps 100 us in a loop beside the runtime (a stall of the machine, not
//! of kairos, shows there too).
//!
//! `cargo run --release -p kairos-profiles --example probe_timer_tail`
mod common;

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::{Duration, Instant};

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() {
    let n = 5000usize;
    for round in 0..6 {
        let rt = kairos_rt::Runtime::builder().workers(2).build().unwrap();
        for _ in 0..10_000 {
            drop(rt.spawn(kairos_rt::Priority::NORMAL, || {}));
        }
        std::thread::sleep(Duration::from_millis(50));
        let late: &'static Vec<AtomicU64> = Box::leak(Box::new((0..n).map(|_| AtomicU64::new(0)).collect()));
        let who: &'static Vec<AtomicU64> = Box::leak(Box::new((0..n).map(|_| AtomicU64::new(0)).collect()));
        let mut rng = 0x71e5u64;
        let start = Instant::now() + Duration::from_millis(20);
        let mut offs = Vec::new();
        for i in 0..n {
            rng ^= rng << 13;
            rng ^= rng >> 7;
            rng ^= rng << 17;
            let off = Duration::from_nanos(rng % 1_000_000_000);
            offs.push(off);
            let due = start + off;
            drop(rt.spawn_at(due, kairos_rt::Priority::NORMAL, move || {
                late[i].store(due.elapsed().as_nanos() as u64, Relaxed);
                let name =
                    std::thread::current().name().map(|s| s.bytes().last().unwrap_or(0) as u64).unwrap_or(0);
                who[i].store(name, Relaxed);
            }));
        }
        let mon = common::watch_oversleeps(start, start + Duration::from_millis(1100));
        std::thread::sleep(Duration::from_millis(1200));
        println!("  monitor oversleeps (at us, slept us): {:?}", mon.join().unwrap());
        let mut idx: Vec<usize> = (0..n).collect();
        idx.sort_by_key(|&i| offs[i]);
        let mut v: Vec<u64> = late.iter().map(|a| a.load(Relaxed)).collect();
        println!("round {round}: {}", common::percentiles_us(&mut v));
        for (k, &i) in idx.iter().enumerate() {
            let l = late[i].load(Relaxed);
            if l > 300_000 {
                let prev = if k > 0 { offs[idx[k - 1]].as_micros() } else { 0 };
                println!(
                    "  due {:>7} us late {:>5} us worker {} (prev due {} us, gap {} us)",
                    offs[i].as_micros(),
                    l / 1000,
                    who[i].load(Relaxed) as u8 as char,
                    prev,
                    offs[i].as_micros() - prev
                );
            }
        }
        let _ = rt.shutdown();
    }
}
