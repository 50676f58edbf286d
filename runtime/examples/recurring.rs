//! Recurring work on kairos: a device polled every 100 ms, a nightly report by cron in
//! its time zone, and a metrics flush every 250 ms, each at its own priority.
//!
//! ```sh
//! cargo run --release -p kairos-rt --example recurring
//! ```

use kairos_rt::{MissedTickBehavior, Overlap, Priority, Runtime, Schedule};
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Arc;
use std::time::Duration;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let rt = Runtime::builder().workers(2).build()?;

    // A device polled every 100 ms, urgently; a slow poll skips the ticks it overlaps.
    let readings = Arc::new(AtomicU64::new(0));
    let r = readings.clone();
    let poll = Schedule::every(Duration::from_millis(100))?.overlap(Overlap::Skip);
    let poller = rt.spawn_recurring(poll, Priority::HIGH, move || {
        r.fetch_add(1, Relaxed); // read the device here
    })?;

    // A report every night at 02:00 Berlin time, at low priority; after a long stall it
    // runs once, not once per missed night.
    let nightly = Schedule::cron_in("0 2 * * *", "Europe/Berlin")?.missed_tick(MissedTickBehavior::Skip);
    println!(
        "nightly report: next runs at {:?}",
        nightly.ticks(chrono::Utc::now()).take(2).collect::<Vec<_>>()
    );
    let report = rt.spawn_recurring(nightly, Priority::LOW, || println!("building the nightly report"))?;

    // Metrics flushed every 250 ms, spread by up to 20 ms of jitter.
    let flush = Schedule::every(Duration::from_millis(250))?.jitter(Duration::from_millis(20));
    let r = readings.clone();
    let flusher = rt.spawn_recurring(flush, Priority::NORMAL, move || {
        println!("flush: {} readings so far", r.load(Relaxed));
    })?;

    std::thread::sleep(Duration::from_secs(1));
    println!(
        "poller: {} runs, {} skipped, max lateness {:?}",
        poller.runs(),
        poller.skipped(),
        poller.max_lateness()
    );
    let next_report = report.next_due().map(chrono::DateTime::<chrono::Utc>::from);
    println!("flusher: {} runs; report next due at {next_report:?}", flusher.runs());
    println!("all schedules: {:?}", rt.handle().schedules());

    poller.cancel();
    let handle = rt.handle();
    let shutdown = rt.shutdown();
    println!("after shutdown: {:?}", handle.schedules());
    println!("{shutdown:?}");
    assert!(shutdown.is_balanced());
    Ok(())
}
