//! A quick throughput probe of the three headline paths (outside spawn, fan-out from
//! inside, timed inserts). The bench suite is the real measurement; this is for a fast
//! look while developing: `cargo run --release -p kairos-profiles --example probe`.

use kairos_rt::{Priority, Runtime};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

fn wait_for(counter: &AtomicUsize, n: usize) {
    while counter.load(Ordering::Acquire) < n {
        std::thread::yield_now();
    }
}

fn main() {
    let n = 1_000_000;
    let rt = Runtime::builder().workers(2).build().expect("runtime");
    for round in 0..3 {
        let done = Arc::new(AtomicUsize::new(0));
        let t = Instant::now();
        for _ in 0..n {
            let d = done.clone();
            drop(rt.spawn(Priority::NORMAL, move || {
                d.fetch_add(1, Ordering::Relaxed);
            }));
        }
        wait_for(&done, n);
        let spawn = n as f64 / t.elapsed().as_secs_f64();

        let done = Arc::new(AtomicUsize::new(0));
        let t = Instant::now();
        let d0 = done.clone();
        drop(rt.spawn(Priority::NORMAL, move || {
            for _ in 0..n {
                let d = d0.clone();
                drop(kairos_rt::spawn(Priority::NORMAL, move || {
                    d.fetch_add(1, Ordering::Relaxed);
                }));
            }
        }));
        wait_for(&done, n);
        let fanout = n as f64 / t.elapsed().as_secs_f64();

        let t = Instant::now();
        let handles: Vec<_> =
            (0..n).map(|i| rt.spawn_after(Duration::from_secs(3600), Priority::LOW, move || i)).collect();
        let insert = n as f64 / t.elapsed().as_secs_f64();
        let t = Instant::now();
        let cancelled = handles.iter().filter(|h| h.cancel()).count();
        let cancel = n as f64 / t.elapsed().as_secs_f64();
        assert_eq!(cancelled, n);
        drop(handles);
        println!(
            "round {round}: spawn {:.2}M/s  fanout {:.2}M/s  timer insert {:.2}M/s  cancel {:.2}M/s",
            spawn / 1e6,
            fanout / 1e6,
            insert / 1e6,
            cancel / 1e6
        );
    }
    let report = rt.shutdown();
    println!("{report:?}");
    assert!(report.is_balanced());
}
