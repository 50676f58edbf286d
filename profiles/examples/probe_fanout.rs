//! Fan-out probe for profiling: one task spawns N children, empty bodies, striped counter.
//! `cargo run --release -p kairos-profiles --example probe_fanout` (under `perf record` or
//! `valgrind --tool=callgrind` for a profile of the fan-out path).
use kairos_rt::{Priority, Runtime};

#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

static DONE: [crossbeam_utils::CachePadded<AtomicUsize>; 8] =
    [const { crossbeam_utils::CachePadded::new(AtomicUsize::new(0)) }; 8];
thread_local! { static SLOT: usize = { static NEXT: AtomicUsize = AtomicUsize::new(0); NEXT.fetch_add(1, Ordering::Relaxed) % 8 }; }
fn bump() {
    SLOT.with(|s| DONE[*s].fetch_add(1, Ordering::Relaxed));
}
fn total() -> usize {
    DONE.iter().map(|c| c.load(Ordering::Relaxed)).sum()
}

fn main() {
    let n = 1_000_000;
    let mode = std::env::args().nth(1).unwrap_or_else(|| "fanout".into());
    let rt = Runtime::builder().workers(2).build().unwrap();
    for _ in 0..5 {
        let base = total();
        let t = Instant::now();
        if mode == "fanout" {
            drop(rt.spawn(Priority::NORMAL, move || {
                for _ in 0..n {
                    drop(kairos_rt::spawn(Priority::NORMAL, bump));
                }
            }));
        } else {
            for _ in 0..n {
                drop(rt.spawn(Priority::NORMAL, bump));
            }
        }
        while total() - base < n {
            std::thread::yield_now();
        }
        println!("{mode}: {:.2} M/s", n as f64 / t.elapsed().as_secs_f64() / 1e6);
    }
}
