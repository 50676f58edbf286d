//! The five-minute tour: priorities, delays, futures, cancellation, shutdown report.
//!
//! `cargo run --release -p kairos-rt --example quickstart`

use kairos_rt::{Priority, Runtime};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let rt = Runtime::builder().workers(2).thread_name("quickstart").build()?;

    // A payment retry in 20 ms, at high priority.
    let start = Instant::now();
    let retry = rt.spawn_after(Duration::from_millis(20), Priority::HIGH, move || start.elapsed());

    // Bulk log work at low priority, and one urgent probe that overtakes it.
    let processed = Arc::new(AtomicUsize::new(0));
    for _ in 0..10_000 {
        let p = processed.clone();
        drop(rt.spawn(Priority::LOW, move || {
            p.fetch_add(1, Ordering::Relaxed);
        }));
    }
    let probe = rt.spawn(Priority::HIGHEST, || "probe answered");

    // A future that sleeps, then fans out to a child task.
    let job = rt.spawn_future(Priority::NORMAL, async {
        kairos_rt::sleep(Duration::from_millis(5)).await;
        kairos_rt::spawn(Priority::HIGH, || 21).await.map(|v| v * 2)
    });

    // A notification that is no longer needed.
    let stale = rt.spawn_after(Duration::from_secs(60), Priority::LOW, || unreachable!());
    assert!(stale.cancel());

    println!("probe: {}", probe.join()?);
    println!("retry ran after {:?}", retry.join()?);
    println!("job: {}", job.join()??);

    let report = rt.shutdown();
    println!("low-priority tasks processed: {}", processed.load(Ordering::Relaxed));
    println!("shutdown: {report}"); // {report:#?} shows every count
    assert!(report.is_balanced());
    Ok(())
}
