//! Probe: the criterion `spawn_join` case without criterion, for `perf stat` (context
//! switches and CPU per round trip): one empty task submitted from outside and waited
//! for, N times in a row, through the bench suite's own peer (`run_and_wait`).
//!
//! `cargo run --release -p kairos-profiles --example probe_round_trip -- PEER [N]`
//! with PEER one of kairos, tokio, rayon-core, heap-pool.
use kairos_bench::peers::heap::HeapPoolPeer;
use kairos_bench::peers::kairos::KairosPeer;
use kairos_bench::peers::rayon::RayonPeer;
use kairos_bench::peers::tokio::TokioPeer;
use kairos_bench::{Peer, PeerConfig};
use std::time::Instant;

#[global_allocator]
static GLOBAL: kairos_bench::alloc::BenchAlloc = kairos_bench::alloc::BenchAlloc;

fn run<P: Peer>(n: u32) {
    let peer = P::build(&PeerConfig::new(2)).expect("peer builds");
    for _ in 0..1_000 {
        peer.run_and_wait(|| {});
    }
    let t = Instant::now();
    for _ in 0..n {
        peer.run_and_wait(|| {});
    }
    let per = t.elapsed() / n;
    println!("{}: {per:?} per round trip ({n} trips)", P::KIND.name());
    peer.shutdown();
}

fn main() {
    let mut args = std::env::args().skip(1);
    let peer = args.next().unwrap_or_else(|| "kairos".into());
    let n = args.next().and_then(|a| a.parse().ok()).unwrap_or(200_000);
    match peer.as_str() {
        "kairos" => run::<KairosPeer>(n),
        "tokio" => run::<TokioPeer>(n),
        "rayon-core" => run::<RayonPeer>(n),
        "heap-pool" => run::<HeapPoolPeer>(n),
        other => eprintln!("unknown peer {other:?}: kairos, tokio, rayon-core or heap-pool"),
    }
}
