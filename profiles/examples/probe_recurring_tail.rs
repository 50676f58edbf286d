//! Probe: when the late firings of 100,000 schedules of 1 s (phases spread over the
//! second, 2 workers) happen. Each body computes its own lateness from its tick; those
//! more than 400 us late are kept with the time they ran, and printed in clusters (late
//! firings less than 2 ms apart), beside the oversleeps of a plain thread that sleeps
//! 100 us in a loop (a stall of the machine, not of kairos, shows there too).
//!
//! Clusters every 268 ms (2^18 ticks of 1,024 ns) are the wheel cascading the level-3
//! slot that holds the next quarter second of timers; the rest line up with the
//! monitor's oversleeps.
//!
//! `cargo run --release -p kairos-profiles --example probe_recurring_tail [SECONDS]`
mod common;

use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime};

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// (microseconds since the start, lateness in microseconds) of each late firing.
static LATE: Mutex<Vec<(u64, u64)>> = Mutex::new(Vec::new());

fn main() {
    let secs: u64 = std::env::args().nth(1).and_then(|a| a.parse().ok()).unwrap_or(4);
    let n: u64 = 100_000;
    let rt = kairos_rt::Runtime::builder().workers(2).build().unwrap();
    let first_tick = SystemTime::now() + Duration::from_millis(500);
    let t0 = Instant::now();
    for i in 0..n {
        let first = first_tick + Duration::from_nanos(1_000_000_000 * i / n);
        let every = kairos_rt::Schedule::every(Duration::from_secs(1)).unwrap().starting_at(first);
        drop(rt.spawn_recurring(every, kairos_rt::Priority::NORMAL, move || {
            let since = SystemTime::now().duration_since(first).unwrap_or_default().as_nanos() as u64;
            let late = since % 1_000_000_000;
            if late > 400_000 && late < 500_000_000 {
                LATE.lock().unwrap().push((t0.elapsed().as_micros() as u64, late / 1000));
            }
        }));
    }
    let window = Duration::from_millis(500 + 1000 * secs);
    let monitor = common::watch_oversleeps(t0, t0 + window);
    let stalls = monitor.join().unwrap();
    let late = std::mem::take(&mut *LATE.lock().unwrap());
    let _ = rt.shutdown();
    println!("{} firings more than 400 us late, of about {}", late.len(), n * secs);
    let mut k = 0;
    while k < late.len() {
        let first = k;
        let mut worst = 0;
        while k < late.len() && late[k].0 < late[first].0 + 2000 {
            worst = worst.max(late[k].1);
            k += 1;
        }
        println!("  at {:>8} us: {:>4} late, worst {:>5} us", late[first].0, k - first, worst);
    }
    println!("monitor oversleeps (at us, slept us): {stalls:?}");
}
