//! Backpressure: a bounded runtime that slows producers down instead of growing without
//! limit, three ways.
//!
//! ```sh
//! cargo run --release -p kairos-rt --example backpressure
//! ```
//!
//! With [`Builder::max_pending`](kairos_rt::Builder::max_pending)`(500)` at most 500
//! tasks wait to start at once. Then:
//!
//! - `spawn` (here from a plain thread) **blocks** the producer until a task starts;
//! - `spawn_async` (from a future) **waits without blocking** a worker;
//! - `try_spawn` **refuses** at once ([`SpawnError::is_full`](kairos_rt::SpawnError::is_full))
//!   and hands the closure back: the producer decides (here: it sheds low-value
//!   telemetry and counts it; it could also write it elsewhere).
//!
//! Spawns from inside a task of the same runtime are never blocked by `spawn` (a worker
//! waiting for room could be the one that makes it): use `spawn_async` or `try_spawn`
//! there, as below.

use kairos_rt::{Priority, Runtime};
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Arc;
use std::time::{Duration, Instant};

const LIMIT: usize = 500;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let rt = Runtime::builder().workers(2).max_pending(LIMIT).build()?;
    let done = Arc::new(AtomicU64::new(0));
    let started = Instant::now();

    // 1. A thread producing orders faster than they are processed: `spawn` blocks it
    //    whenever 500 tasks wait, so memory stays bounded.
    let handle = rt.handle();
    let d = done.clone();
    let orders = std::thread::spawn(move || {
        for _ in 0..10_000 {
            let d = d.clone();
            drop(handle.spawn(Priority::NORMAL, move || {
                work(Duration::from_micros(20));
                d.fetch_add(1, Relaxed);
            }));
        }
    });

    // 2. A future ingesting events: `spawn_async` waits for room without holding a
    //    worker, so the workers keep draining the queue meanwhile.
    let handle = rt.handle();
    let d = done.clone();
    let events = rt.spawn_future(Priority::HIGH, async move {
        for _ in 0..5_000 {
            let d = d.clone();
            drop(
                handle
                    .spawn_async(Priority::HIGH, move || {
                        work(Duration::from_micros(10));
                        d.fetch_add(1, Relaxed);
                    })
                    .await,
            );
        }
    });

    // 3. Telemetry that is only worth something now: `try_spawn`, and shed it when full.
    let mut shed = 0u64;
    for _ in 0..20_000 {
        let d = done.clone();
        match rt.try_spawn(Priority::LOW, move || {
            d.fetch_add(1, Relaxed);
        }) {
            Ok(h) => drop(h),
            Err(e) if e.is_full() => {
                shed += 1;
                drop(e.into_inner()); // the closure is back: store it, or drop it as here
            }
            Err(e) => return Err(e.into()),
        }
    }

    orders.join().expect("the order producer panicked");
    events.join()?;
    println!("telemetry: {} accepted, {shed} shed because {LIMIT} tasks were waiting", 20_000 - shed);
    let report = rt.shutdown();
    println!("{} jobs done in {:.1?}", done.load(Relaxed), started.elapsed());
    println!("shutdown: {report}");
    assert!(report.is_balanced());
    Ok(())
}

/// Stands for a job's real work.
fn work(d: Duration) {
    let until = Instant::now() + d;
    while Instant::now() < until {
        std::hint::spin_loop();
    }
}
