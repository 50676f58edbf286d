//! Probe: what a task submitted from outside into an idle runtime waits for, split in
//! two: the submitter's `spawn` call (stamp before it to stamp after it) and the rest
//! (stamp after `spawn` returns to the task's start). Tasks go out one at a time, paced
//! (default 10,000 a second for 1 s, the bench's `latency/10k` case), through the bench
//! suite's own peers, so kairos and the heap pool are measured the same way.
//!
//! `cargo run --release -p kairos-profiles --example probe_paced_wake -- PEER [RATE] [ROUNDS]`
//! with PEER one of kairos, tokio, rayon-core, heap-pool.
use kairos_bench::peers::heap::HeapPoolPeer;
use kairos_bench::peers::kairos::KairosPeer;
use kairos_bench::peers::rayon::RayonPeer;
use kairos_bench::peers::tokio::TokioPeer;
use kairos_bench::{Peer, PeerConfig, Prio};
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::{Duration, Instant};

#[global_allocator]
static GLOBAL: kairos_bench::alloc::BenchAlloc = kairos_bench::alloc::BenchAlloc;

fn pct(v: &mut [u64], q: f64) -> f64 {
    v.sort_unstable();
    v[((v.len() - 1) as f64 * q) as usize] as f64 / 1000.0
}

fn run<P: Peer>(rate: u64, rounds: u32) {
    let peer = P::build(&PeerConfig::new(2)).expect("peer builds");
    for _ in 0..1_000 {
        peer.run_and_wait(|| {});
    }
    let n = rate as usize;
    for round in 0..rounds {
        let epoch = Instant::now();
        let started: &'static [AtomicU64] = Box::leak((0..n).map(|_| AtomicU64::new(0)).collect());
        let (mut before, mut after) = (vec![0u64; n], vec![0u64; n]);
        let gap = Duration::from_nanos(1_000_000_000 / rate);
        for i in 0..n {
            let due = epoch + gap * i as u32;
            if let Some(d) = due.checked_duration_since(Instant::now()) {
                std::thread::sleep(d);
            }
            before[i] = epoch.elapsed().as_nanos() as u64;
            peer.spawn(Prio::NORMAL, move || started[i].store(epoch.elapsed().as_nanos() as u64, Relaxed));
            after[i] = epoch.elapsed().as_nanos() as u64;
        }
        std::thread::sleep(Duration::from_millis(50));
        let mut call: Vec<u64> = (0..n).map(|i| after[i] - before[i]).collect();
        let mut rest: Vec<u64> = (0..n).map(|i| started[i].load(Relaxed).saturating_sub(after[i])).collect();
        let mut total: Vec<u64> = (0..n).map(|i| started[i].load(Relaxed) - before[i]).collect();
        let early = (0..n).filter(|&i| started[i].load(Relaxed) < after[i]).count();
        println!(
            "{} round {round}: submit-to-start p50 {:.1} p90 {:.1} p99 {:.1} us; spawn call p50 {:.1} p90 {:.1} \
             p99 {:.1} us; after the call p50 {:.1} p90 {:.1} p99 {:.1} us; started before the call returned: {:.0}%",
            P::KIND.name(),
            pct(&mut total, 0.5),
            pct(&mut total, 0.9),
            pct(&mut total, 0.99),
            pct(&mut call, 0.5),
            pct(&mut call, 0.9),
            pct(&mut call, 0.99),
            pct(&mut rest, 0.5),
            pct(&mut rest, 0.9),
            pct(&mut rest, 0.99),
            100.0 * early as f64 / n as f64
        );
    }
    peer.shutdown();
}

fn main() {
    let mut args = std::env::args().skip(1);
    let peer = args.next().unwrap_or_else(|| "kairos".into());
    let rate = args.next().and_then(|a| a.parse().ok()).unwrap_or(10_000);
    let rounds = args.next().and_then(|a| a.parse().ok()).unwrap_or(3);
    match peer.as_str() {
        "kairos" => run::<KairosPeer>(rate, rounds),
        "tokio" => run::<TokioPeer>(rate, rounds),
        "rayon-core" => run::<RayonPeer>(rate, rounds),
        "heap-pool" => run::<HeapPoolPeer>(rate, rounds),
        other => eprintln!("unknown peer {other:?}: kairos, tokio, rayon-core or heap-pool"),
    }
}
