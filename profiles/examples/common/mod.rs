//! What the tail probes share: a plain thread that watches for the machine's stalls, and
//! a one-line summary of a latency sample. (Each probe uses what it needs of it.)
#![allow(dead_code)]

use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// Starts a plain thread that sleeps 100 us in a loop until `until` and returns every
/// oversleep of more than 600 us as (microseconds after `from`, microseconds slept): a
/// stall of the machine (a vCPU the hypervisor did not run), not of the runtime.
pub fn watch_oversleeps(from: Instant, until: Instant) -> JoinHandle<Vec<(u128, u128)>> {
    std::thread::spawn(move || {
        let mut out = Vec::new();
        while Instant::now() < until {
            let t = Instant::now();
            std::thread::sleep(Duration::from_micros(100));
            let slept = t.elapsed();
            if slept > Duration::from_micros(600) {
                out.push((t.saturating_duration_since(from).as_micros(), slept.as_micros()));
            }
        }
        out
    })
}

/// "p50 .. p99 .. p99.9 .. max .. us" of `nanos` (sorted here; not empty).
pub fn percentiles_us(nanos: &mut [u64]) -> String {
    nanos.sort_unstable();
    let n = nanos.len();
    let at = |q: usize| nanos[(n * q / 1000).min(n - 1)] / 1000;
    format!("p50 {} p99 {} p99.9 {} max {} us", at(500), at(990), at(999), nanos[n - 1] / 1000)
}
